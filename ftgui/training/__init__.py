"""The training engine, one job per module, in the order a run goes through them:

- :mod:`.plan`: a TrainConfig checked and resolved (plugins, weights, device) before any
  image is read;
- :mod:`.setup`: data read and split, model built, parameter groups set, new layers
  initialised;
- :mod:`.sources`: the batches an epoch trains and validates on (images, or cached features);
- :mod:`.optim`: the optimiser and its schedule;
- :mod:`.writer`: the run folder (record, best model, metrics, checkpoint);
- :mod:`.hooks`: callbacks, the built-in ones included (events, metrics);
- :mod:`.loop`: the epochs.

:mod:`ftgui.engine` is the public entry point.
"""
