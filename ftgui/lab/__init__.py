"""The Init Lab: small, offline experiments that make the seed's claims visible.

Each module runs one experiment and returns a typed report the CLI prints and the GUI draws:

- :mod:`.activations`: how the signal's spread changes layer by layer in a deep MLP
  (small random numbers shrink it, 1/sqrt(n) calibrates it, std 1 saturates tanh);
- :mod:`.stages`: the same statistics per stage of a real timm backbone on the user's images;
- :mod:`.symmetry`: zeros and constants leave every unit a copy of the others (the trap);
- :mod:`.gradients`: gradient diffusion - early layers of a deep sigmoid MLP barely learn.

:mod:`.mlp` builds the MLPs and initialises them through the same ``Initializer.initialize``
path training uses, so what the Lab shows is what a run would start from; :mod:`.digits`
reads the bundled digits as small vectors. Nothing here downloads anything, and torch loads
only when an experiment runs.
"""
