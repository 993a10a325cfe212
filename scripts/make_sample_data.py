"""Write the bundled sample data set: ``ftgui/sample_data/digits/<digit>/<n>.png``.

The images are the first 40 of each class from scikit-learn's ``load_digits()`` (8x8 pixels,
grey levels 0..16), scaled to 0..255 and enlarged to 32x32 with NEAREST so they stay sharp.
scikit-learn ships the data inside its wheel, so this needs no network. Run from anywhere:

    python scripts/make_sample_data.py

It replaces the folder, so the output is the same on every run.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

PER_CLASS = 40
SIZE = 32
OUT = Path(__file__).resolve().parent.parent / "ftgui" / "sample_data" / "digits"


def main() -> None:
    digits = load_digits()
    if OUT.exists():
        shutil.rmtree(OUT)
    for digit in range(10):
        folder = OUT / str(digit)
        folder.mkdir(parents=True)
        picks = np.flatnonzero(digits.target == digit)[:PER_CLASS]
        for n, index in enumerate(picks):
            grey = np.rint(digits.images[index] * (255 / 16)).astype(np.uint8)
            image = Image.fromarray(grey)  # uint8 2-D array -> mode "L"
            image = image.resize((SIZE, SIZE), Image.Resampling.NEAREST)
            # optimize=True keeps the files small; no metadata, so the bytes are reproducible
            image.save(folder / f"{n}.png", optimize=True)
    print(f"wrote {10 * PER_CLASS} images to {OUT}")


if __name__ == "__main__":
    main()
