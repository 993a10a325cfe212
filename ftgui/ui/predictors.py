"""Loaded models kept between predictions, so a second image does not reload the model."""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from . import heavy


class PredictorCache:
    """The ``size`` most recently used Predictors, keyed by run folder (and the time its
    weights were written, so a retrained run is reloaded) or by timm model name."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def for_run(self, run_dir: Path):
        weights = Path(run_dir) / "model.safetensors"
        mtime = weights.stat().st_mtime_ns if weights.is_file() else 0
        return self._get(("run", str(run_dir), mtime), lambda p: p.from_run(run_dir))

    def for_pretrained(self, name: str):
        return self._get(("pretrained", name), lambda p: p.from_pretrained(name))

    def _get(self, key: tuple, load):
        with self._lock:  # one load at a time: two clicks must not load a model twice
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            heavy.load()
            from ..predict import Predictor

            predictor = load(Predictor)
            self._items[key] = predictor
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return predictor
