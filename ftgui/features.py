"""The feature cache: while the backbone is frozen, it runs once per image, not once per epoch.

With ``head-only`` (and when ``predict-only`` evaluates) nothing before the classifier learns,
so its output - timm's pre-logits, ``forward_head(forward_features(x), pre_logits=True)`` - is
a fixed function of the image. It is computed once and the classifier trains on it. Features
are keyed by the data, the model's frozen weights, the transform and the view, so any change
computes them anew; small sets stay in memory (and are reused by later runs in the same
process, e.g. the GUI), large ones are spilled to a file under the cache directory.
"""
from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .timm_api import classifier, timm_model

MEMORY_BUDGET_ENV = "FTGUI_FEATURE_CACHE_MB"
CACHE_DIR_ENV = "FTGUI_CACHE_DIR"
_MEMO: OrderedDict[str, torch.Tensor] = OrderedDict()
_MEMO_ENTRIES = 6


def only_head_learns(model: nn.Module) -> bool:
    """True when every trainable parameter belongs to the classifier."""
    head = {id(p) for p in classifier(model).parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    return bool(trainable) and all(id(p) in head for p in trainable)


def backbone_digest(model: nn.Module) -> str:
    """A hash of every tensor before the classifier (weights and BatchNorm statistics)."""
    head = {id(t) for t in classifier(model).state_dict(keep_vars=True).values()}
    digest = hashlib.sha256()
    for name, tensor in model.state_dict(keep_vars=True).items():
        if id(tensor) in head:
            continue
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def feature_key(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "ftgui") / "features"


def memory_budget_bytes() -> int:
    return int(float(os.environ.get(MEMORY_BUDGET_ENV, 1024)) * 2**20)


def pre_logits(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    timm_view = timm_model(model)
    return timm_view.forward_head(timm_view.forward_features(images), pre_logits=True)


def cached_features(key: str, rows: int, batches: Callable[[], Iterable[torch.Tensor]]) -> torch.Tensor:
    """Features for ``key``: from the in-process memo, a spilled file, or computed by
    consuming ``batches()`` (feature batches, in order, ``rows`` rows in all)."""
    if key in _MEMO:
        _MEMO.move_to_end(key)
        return _MEMO[key]
    path = cache_dir() / f"{key}.npy"
    if path.is_file():
        stored = np.load(path, mmap_mode="c")
        if stored.shape[0] == rows:
            return torch.from_numpy(stored)
    features = None
    spilled = None
    row = 0
    for batch in batches():
        if features is None:
            dim = batch.shape[1]
            if rows * dim * 4 <= memory_budget_bytes():
                features = torch.empty(rows, dim)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                spilled = path.with_name(f".{path.name}.{os.getpid()}.partial")
                features = torch.from_numpy(np.lib.format.open_memmap(
                    spilled, mode="w+", dtype=np.float32, shape=(rows, dim)))
        features[row:row + len(batch)] = batch.float().cpu()
        row += len(batch)
    if features is None or row != rows:
        raise RuntimeError(f"feature extraction produced {row} rows, expected {rows}")
    if spilled is not None:
        del features
        os.replace(spilled, path)  # complete files only: a crash leaves no half-written cache
        return torch.from_numpy(np.load(path, mmap_mode="c"))
    _MEMO[key] = features
    while len(_MEMO) > _MEMO_ENTRIES:
        _MEMO.popitem(last=False)
    return features


class FeatureRows(torch.utils.data.Dataset):
    """Batches of (features, labels) looked up by a list of indices at once (used with a
    BatchSampler), so the head trains on exactly the batches an image loader would give."""

    def __init__(self, features: torch.Tensor, labels: list[int]) -> None:
        self.features, self.labels = features, torch.tensor(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices)
        return self.features[index], self.labels[index]
