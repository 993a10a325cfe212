"""Prediction: a Predictor loads a model once and labels images in batches."""
from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from PIL import Image
from timm.data import create_transform, resolve_model_data_config

from . import models
from .archive import Unusable
from .data import iter_prediction_inputs
from .decode import check_size, to_rgb
from .device import autocast, pick_device
from .errors import FtguiError
from .i18n import tr


class Predictor:
    """A model ready to label images: from a run folder, or a pretrained timm model as it is
    (the seed's state 1)."""

    def __init__(self, model: torch.nn.Module, label_names: list[str], device: str = "auto") -> None:
        self.device = pick_device(device)
        self.model = model.eval().to(self.device)
        self.label_names = label_names
        self.data_config = resolve_model_data_config(model)
        self.transform = create_transform(**self.data_config, is_training=False)

    @classmethod
    def from_run(cls, run_dir: str | os.PathLike, device: str = "auto") -> Predictor:
        path = Path(run_dir)
        if not models.is_run_dir(path) or not (path / "model.safetensors").is_file():
            raise FtguiError(tr("{path} holds no trained model (config.json + model.safetensors)", path=path))
        loaded = models.load_weights(models.run_architecture(path), str(path))
        return cls(loaded.model, loaded.labels(), device)

    @classmethod
    def from_pretrained(cls, model_name: str, device: str = "auto") -> Predictor:
        loaded = models.load_weights(model_name, "hub")
        return cls(loaded.model, loaded.labels(), device)

    def predict_images(self, images: list[Image.Image], top_k: int = 5) -> list[dict]:
        """Label PIL images; one dict per image with label, score and topk.

        Raises FtguiError for an image too large or too narrow to resize safely (the app's
        single images); :meth:`predict_paths` reports such files itself and labels the rest.
        """
        if not images:
            return []
        for image in images:
            try:
                check_size(image)
            except Unusable as exc:
                raise FtguiError(tr("cannot label this image: {reason}", reason=exc)) from None
        batch = torch.stack([self.transform(to_rgb(img)) for img in images]).to(self.device)
        with torch.inference_mode(), autocast(self.device):
            probs = self.model(batch).float().softmax(dim=1).cpu()
        if not torch.isfinite(probs).all():
            raise FtguiError(tr("the model's output is not a number (NaN): its weights are damaged, probably by "
                                "a learning rate far too high; train it again with a lower one"))
        k = max(1, min(top_k, probs.shape[1]))
        scores, indices = probs.topk(k, dim=1)
        rows = []
        for score_row, index_row in zip(scores.tolist(), indices.tolist()):
            topk = [[self.label_names[i], round(s, 6)] for i, s in zip(index_row, score_row)]
            rows.append({"label": topk[0][0], "score": topk[0][1], "topk": topk})
        return rows

    def predict_paths(self, paths: Iterable[str], top_k: int = 5, batch_size: int = 32) -> Iterator[dict]:
        """Label every image found under ``paths`` (files, folders searched recursively, zips).

        Yields ``{"path", "label", "score", "topk"}`` per image, or ``{"path", "error"}`` for a
        file that cannot be read, in input order. Each batch is decoded in threads (Pillow
        releases the GIL) and predicted in one forward pass.
        """
        inputs = iter_prediction_inputs(list(paths))
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
            while chunk := list(itertools.islice(inputs, batch_size)):
                loaded = list(pool.map(_load, chunk))
                good = [(display, image) for display, image in loaded if not isinstance(image, str)]
                rows = iter(self.predict_images([image for _, image in good], top_k))
                for display, image in loaded:
                    if isinstance(image, str):
                        yield {"path": display, "error": image}
                    else:
                        yield {"path": display, **next(rows)}


def _load(item: tuple[str, Callable[[], Image.Image]]) -> tuple[str, Image.Image | str]:
    """(display path, image) or (display path, the reason it cannot be read)."""
    display, loader = item
    try:
        return display, loader()
    except FtguiError as exc:
        return display, str(exc)


def predict(run_or_model: str | os.PathLike, paths: Iterable[str], top_k: int = 5,
            batch_size: int = 32, device: str = "auto") -> list[dict]:
    """Label images with a run folder's model, or with a pretrained timm model by name."""
    source = Path(run_or_model)
    predictor = (Predictor.from_run(source, device) if source.is_dir()
                 else Predictor.from_pretrained(str(run_or_model), device))
    return list(predictor.predict_paths(paths, top_k, batch_size))
