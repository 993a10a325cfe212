"""From an ImageCollection to normalised batches on the device, decoding each image once.

This follows timm's prefetcher design: transforms are built with ``use_prefetcher=True`` so
they end in a uint8 tensor; batches travel to the device as uint8 (a quarter of float32) and
are normalised there in one operation. Each image is decoded and resized once per run into a
uint8 tensor cache, up to a memory budget; images beyond it are decoded from disk each time.
Cached images already have the evaluation size, so evaluation transforms are no-ops on them;
random crops are resampled by Pillow on a view of the cached tensor (on the CPU its SIMD
resampling is some 25x faster than torch's antialiased resize of a single image).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from timm.data import create_transform, resolve_model_data_config
from torch import nn
from torchvision import transforms as T

from .data import ImageCollection

DECODE_BUDGET_ENV = "FTGUI_DECODE_CACHE_MB"
DEFAULT_DECODE_BUDGET_MB = 2048


def decode_budget_bytes() -> int:
    return int(float(os.environ.get(DECODE_BUDGET_ENV, DEFAULT_DECODE_BUDGET_MB)) * 2**20)


@dataclass
class Transforms:
    train: T.Compose
    eval: T.Compose
    data_config: dict
    train_on_pil: bool
    """Random crops (and RandAugment) run on a Pillow view of each cached tensor."""

    @property
    def cache_resize(self) -> Callable[[Image.Image], Image.Image] | None:
        """timm's own evaluation resize (shorter side to size / crop_pct), applied once when
        an image is cached: the evaluation transform then finds the size already right and
        skips it, and cached images are exactly what prediction resizes to. None for crop
        modes whose resize is not a plain shorter-side one (images are cached as decoded)."""
        first = self.eval.transforms[0]
        if isinstance(first, T.Resize) and isinstance(first.size, int):
            return first
        return None


def build_transforms(model: nn.Module, img_size: int | None, aug: str) -> Transforms:
    """Train and eval transforms from timm's data config for the model.

    ``light`` (the default) is a fine-tuning recipe for small data sets: a mild random crop
    and horizontal flips, no colour jitter, no erasing. ``strong`` is closer to an ImageNet
    recipe (RandAugment, colour jitter); ``none`` trains on the evaluation transform.
    """
    data_config = resolve_model_data_config(model)
    if img_size:
        data_config["input_size"] = (data_config["input_size"][0], img_size, img_size)
    common = dict(**data_config, use_prefetcher=True)
    eval_tf = create_transform(**common, is_training=False)
    if aug == "none":
        return Transforms(eval_tf, eval_tf, data_config, False)
    if aug == "light":
        # timm accepts color_jitter=None (no jitter) though its annotation leaves None out
        train_tf = create_transform(**common, is_training=True, scale=(0.6, 1.0), hflip=0.5,
                                    color_jitter=None)  # type: ignore[arg-type]
        return Transforms(train_tf, eval_tf, data_config, True)
    train_tf = create_transform(**common, is_training=True, scale=(0.08, 1.0), hflip=0.5,
                                color_jitter=0.4, auto_augment="rand-m9-mstd0.5-inc1")
    return Transforms(train_tf, eval_tf, data_config, True)


Resize = Callable[[Image.Image], Image.Image] | None


def _decode(collection: ImageCollection, index: int, resize: Resize) -> torch.Tensor:
    image = collection.open_image(index)
    if resize is not None:
        image = resize(image)
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


class DecodedImages:
    """``collection``'s images at ``indices`` as uint8 CHW tensors, each passed through
    ``resize`` once: decoded up front (in threads: Pillow releases the GIL) until the budget
    is spent; the rest are decoded on each use. ``known``: images decoded already (by path,
    through the same ``resize``), which are taken as they are."""

    def __init__(self, collection: ImageCollection, indices: list[int], resize: Resize,
                 budget_bytes: int | None = None, known: dict[str, torch.Tensor] | None = None) -> None:
        self.collection = collection
        self.indices = list(indices)
        self.resize = resize
        self.tensors: list[torch.Tensor | None] = [None] * len(self.indices)
        budget = decode_budget_bytes() if budget_bytes is None else budget_bytes
        known = known or {}

        def decode(i: int) -> torch.Tensor:
            tensor = known.get(collection.paths[i])
            return tensor if tensor is not None else _decode(collection, i, resize)

        used = 0
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
            chunk = 64
            for start in range(0, len(self.indices), chunk):
                if used >= budget:
                    break
                part = self.indices[start:start + chunk]
                for offset, tensor in enumerate(pool.map(decode, part)):
                    if used + tensor.numel() <= budget:
                        self.tensors[start + offset] = tensor
                        used += tensor.numel()
        self.cached_bytes = used

    @property
    def fully_cached(self) -> bool:
        return all(t is not None for t in self.tensors)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> torch.Tensor:
        tensor = self.tensors[i]
        return tensor if tensor is not None else _decode(self.collection, self.indices[i], self.resize)

    def by_path(self) -> dict[str, torch.Tensor]:
        """The images decoded up front, by path (for :class:`DecodedImages`' ``known``)."""
        return {self.collection.paths[i]: t for i, t in zip(self.indices, self.tensors) if t is not None}


class ImageBatches(torch.utils.data.Dataset):
    """(transform(image) as uint8 tensor, label) pairs over decoded images."""

    def __init__(self, images: DecodedImages, labels: list[int], transform, needs_pil: bool = False):
        self.images, self.labels, self.transform, self.needs_pil = images, labels, transform, needs_pil

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        tensor = self.images[i]
        image = Image.fromarray(tensor.permute(1, 2, 0).numpy()) if self.needs_pil else tensor
        return self.transform(image), self.labels[i]


class Normalizer:
    """uint8 batch on the host -> normalised float batch on the device."""

    def __init__(self, data_config: dict, device: torch.device, channels_last: bool = False) -> None:
        shape = (1, -1, 1, 1)
        self.mean = torch.tensor(data_config["mean"], device=device).view(shape) * 255
        self.std = torch.tensor(data_config["std"], device=device).view(shape) * 255
        self.device = device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.to(self.device, non_blocking=True).float()
        return ((batch - self.mean) / self.std).contiguous(memory_format=self.memory_format)


def loader_options(device: torch.device, fully_cached: bool, workers: int | None) -> dict:
    """DataLoader workers and pinned memory for the device.

    On the CPU the model's own threads use every core, so with every image already decoded the
    cheap tensor transforms run in the main process; streaming from disk gets a couple of
    workers. On a GPU, workers keep it fed and pinned memory makes copies asynchronous.
    """
    cpus = os.cpu_count() or 2
    if workers is None:
        if device.type == "cpu":
            workers = 0 if fully_cached else min(2, max(1, cpus // 2))
        else:
            workers = min(8, max(1, cpus - 1))
    return {"num_workers": workers, "pin_memory": device.type == "cuda",
            "persistent_workers": workers > 0}
