"""The bundled digits as small vectors: the Lab's offline data set.

``sample:digits`` holds scikit-learn's 8x8 digits enlarged to 32x32 by nearest-neighbour
resampling, so every 4th pixel gives the original 8x8 image back exactly: 64 grey levels per
digit, which a small MLP learns in a second on a CPU. The train/validation split is the
engine's own stratified split (:func:`ftgui.data.stratified_split`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data import load_images, stratified_split

SCALE = 4
"""32x32 PNGs enlarged from 8x8: one pixel in four per side is the original."""


@dataclass
class Digits:
    x_train: torch.Tensor
    """(n, 64) float, standardised (mean 0, std 1 over the training pixels)."""
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    classes: list[str]

    @property
    def chance(self) -> float:
        """The accuracy of always guessing the largest validation class."""
        return float(torch.bincount(self.y_val).max()) / max(len(self.y_val), 1)


def load_digits(val_split: float = 0.2, seed: int = 0) -> Digits:
    """The bundled digits as 64-value vectors, split as a training run splits them."""
    collection = load_images("sample:digits")
    pixels = np.stack([np.asarray(collection.open_image(i).convert("L"), dtype=np.float32)[::SCALE, ::SCALE]
                       for i in range(len(collection.paths))]).reshape(len(collection.paths), -1)
    x = torch.from_numpy(pixels)
    y = torch.tensor(collection.labels)
    train, val = stratified_split(collection.labels, val_split, seed)
    mean, std = x[train].mean(), x[train].std()
    x = (x - mean) / std
    return Digits(x[train], y[train], x[val], y[val], list(collection.classes))
