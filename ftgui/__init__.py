"""ftgui: fine-tune timm image classifiers on your own images.

The public Python API is the same engine the CLI and the GUI drive::

    import ftgui
    result = ftgui.train(ftgui.TrainConfig(data="photos/", model="resnet18", strategy="head-only"))
    for row in ftgui.predict(result.run_dir, ["new.jpg"]):
        print(row["label"], row["score"])

Heavy modules (torch, timm) load on first use, so ``import ftgui`` and ``ftgui --help`` are fast.
"""
from __future__ import annotations

import importlib
from typing import Any

import pluggy

from .callback_types import Callback, TrainState
from .errors import FtguiError
from .plugin_types import InitContext, Initializer, Param, Strategy, TrainContext

__version__ = "0.1.0"
PLUGIN_API = 2
"""The plugin API's version; docs/plugins.md says what changed in each."""

hookimpl = pluggy.HookimplMarker("ftgui")

_LAZY = {
    "TrainConfig": "ftgui.config",
    "train": "ftgui.engine",
    "TrainResult": "ftgui.engine",
    "resume": "ftgui.engine",
    "RunRecord": "ftgui.record",
    "predict": "ftgui.predict",
    "Predictor": "ftgui.predict",
    "load_run": "ftgui.runs",
    "list_runs": "ftgui.runs",
    "load_registry": "ftgui.registry",
    "load_images": "ftgui.data",
    "SAMPLE_DATA": "ftgui.sample_data",
    "DEMO_BACKBONE": "ftgui.sample_data",
}

__all__ = ["PLUGIN_API", "Callback", "FtguiError", "InitContext", "Initializer", "Param", "Strategy",
           "TrainContext", "TrainState", "hookimpl", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ftgui' has no attribute {name!r}")
