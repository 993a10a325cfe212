"""Planning a run: a TrainConfig checked and resolved before any image is read.

Everything that can be wrong with the settings (an unknown plugin or parameter, weights
that do not exist or cannot be fetched, an output folder in use) fails here, in one line.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import models, runs
from ..config import AUTO, DEFAULT_MODEL, TrainConfig
from ..device import pick_device
from ..errors import SettingError
from ..plugin_types import Initializer, Strategy
from ..registry import Registered, Registry, load_registry


@dataclass
class RunPlan:
    config: TrainConfig
    registry: Registry
    strategy: Registered
    strategy_params: dict[str, Any]
    initializer: Registered
    init_params: dict[str, Any]
    callbacks: list[tuple[Registered, dict[str, Any]]]
    bias: float
    lr: float
    weights: str
    """``hub``, ``none`` or a path."""
    architecture: str
    device: torch.device

    @property
    def strategy_item(self) -> Strategy:
        return self.strategy.item  # type: ignore[return-value]

    @property
    def initializer_item(self) -> Initializer:
        return self.initializer.item  # type: ignore[return-value]


def plan_run(config: TrainConfig, registry: Registry | None = None, check_out: bool = True) -> RunPlan:
    """Check ``config`` and resolve what it names; raise FtguiError for anything unusable.
    ``check_out``: the run folder must be new or empty (not when resuming, and only on the
    process that will create it)."""
    config.validate()
    if check_out:
        runs.check_out_dir(config.out)
    registry = registry or load_registry(config.plugins_dirs)
    strategy = registry.get("strategy", config.strategy)
    initializer = registry.get("initializer", config.init)
    callbacks = [(registry.get("callback", name), registry.callback(name).resolve(params or {}))
                 for name, params in config.callbacks.items()]
    item: Strategy = strategy.item  # type: ignore[assignment]
    weights = _weights(config, item)
    architecture = _architecture(config, weights)
    if weights == "none":
        models.check_model_name(architecture)
    else:
        models.check_weights(architecture, weights)
    return RunPlan(
        config=config, registry=registry, strategy=strategy,
        strategy_params=item.resolve(config.strategy_params), initializer=initializer,
        init_params=initializer.item.resolve(config.init_params), callbacks=callbacks,
        bias=config.bias_value(), lr=item.default_lr if config.lr in (None, AUTO) else float(config.lr),
        weights=weights,
        architecture=architecture, device=pick_device(config.device),
    )


def _weights(config: TrainConfig, strategy: Strategy) -> str:
    weights = config.weights
    if strategy.needs_pretrained:
        if weights is None:
            return "hub"
        if weights == "none":
            raise SettingError(
                "mode '{name}' starts from pretrained weights: give {setting[weights]} hub or a weights "
                "file or run, or train from scratch ({setting[strategy]} scratch)", name=strategy.name)
        return weights
    if weights not in (None, "none"):
        raise SettingError(
            "mode '{name}' trains from scratch and loads no weights: leave {setting[weights]} out, or pick "
            "a fine-tuning mode such as full in {setting[strategy]}", name=strategy.name)
    return "none"


def _architecture(config: TrainConfig, weights: str) -> str:
    if config.model:
        return config.model
    path = Path(weights).expanduser()
    if weights not in ("hub", "none") and models.is_run_dir(path):
        return models.run_architecture(path)
    return DEFAULT_MODEL
