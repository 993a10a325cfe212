"""Planning a run: a TrainConfig checked and resolved before any image is read.

Everything that can be wrong with the settings (an unknown plugin or parameter, weights
that do not exist or cannot be fetched, an output folder in use) fails here, in one line.
What depends on the data - the ``auto`` epochs, batch size and warm-up, and the rule that
picks the best epoch - is resolved by :func:`resolve_for_data` once the images are listed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import features, models, runs
from ..config import AUTO, DEFAULT_MODEL, TrainConfig
from ..device import pick_device
from ..errors import SettingError
from ..i18n import N_
from ..plugin_types import Initializer, Strategy
from ..record import refit_decision, selection_rule
from ..registry import Registered, Registry, load_registry
from .auto_settings import FINE_TUNE, HEAD, SCRATCH, Sizes, choose, refit_runs


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
    sizes: Sizes | None = None
    """Epochs, batch size and warm-up; None until :func:`resolve_for_data`."""
    auto_settings: dict[str, Any] | None = None
    """What was chosen automatically and why (the run record's ``auto_settings``)."""
    select: str = ""
    """The rule that picks the best epoch (:func:`ftgui.record.selection_rule`), once resolved."""
    processes: int = 1
    """How many processes train together (torchrun's world size): ``batch_size`` is each one's."""
    refit: bool = False
    """Whether the run trains again on all images to the validated epoch (``--refit``), once resolved."""
    refit_runs: int = 1
    """How many times it does, their weights averaged (``--refit-runs``), once resolved."""
    init_images: tuple[int, ...] | None = None
    """The images (indices into the data) an initialiser that looks at images sees; None: the
    first batch of the training images. The training again on all images names the first
    training's, so that it starts where that one started (refit.refit_plan)."""

    def resolved(self) -> Sizes:
        if self.sizes is None:
            raise RuntimeError("the run's epochs and batch size are chosen once its data is read")
        return self.sizes

    @property
    def epochs(self) -> int:
        return self.resolved().epochs

    @property
    def batch_size(self) -> int:
        return self.resolved().batch_size

    @property
    def warmup_epochs(self) -> int:
        return self.resolved().warmup_epochs

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
    item: Strategy = strategy.item  # type: ignore[assignment]
    initializer = registry.get("initializer", config.init or item.default_init)
    callbacks = [(registry.get("callback", name), registry.callback(name).resolve(params or {}))
                 for name, params in config.callbacks.items()]
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


def training_kind(plan: RunPlan, model: nn.Module) -> str:
    """What learns, as the automatic settings see it (the strategy's groups are set on ``model``)."""
    if not plan.strategy_item.needs_pretrained:
        return SCRATCH
    return HEAD if features.only_head_learns(model) else FINE_TUNE


def resolve_for_data(plan: RunPlan, train_images: int, val_images: int, kind: str) -> None:
    """Fill in what depends on the data: ``auto`` epochs, batch size and warm-up (see
    :mod:`.auto_settings`; a number given always wins; under torchrun, ``plan.processes`` > 1,
    the batch size is per process and the rules count the steps of all of them) and the
    best-epoch rule, and whether the run trains again on all images."""
    config = plan.config

    def given(value: int | str) -> int | None:
        return None if value == AUTO else int(value)

    plan.sizes = choose(train_images, kind, given(config.epochs), given(config.batch_size),
                        given(config.warmup_epochs), plan.processes)
    plan.auto_settings = plan.sizes.record(train_images, kind)
    plan.select = selection_rule(config.select, val_images)
    split_off = not config.val_data
    trains = plan.strategy_item.trains and plan.epochs > 0
    if config.refit == "yes" and trains and not (split_off and val_images):
        raise SettingError(N_("{setting[refit]} yes trains again on the validation images split off the data, and "
                              "this run has none: give {setting[val_split]} above 0 without {setting[val_data]}, "
                              "or set {setting[refit]} to auto or no"))
    plan.refit = trains and refit_decision(config.refit, val_images, split_off)
    plan.refit_runs = refit_runs(config.refit_runs, kind) if plan.refit else 1


def _weights(config: TrainConfig, strategy: Strategy) -> str:
    weights = config.weights
    if strategy.needs_pretrained:
        if weights is None:
            return "hub"
        if weights == "none":
            raise SettingError(N_(
                "mode '{name}' starts from pretrained weights: give {setting[weights]} hub or a weights "
                "file or run, or train from scratch ({setting[strategy]} scratch)"), name=strategy.name)
        return weights
    if weights not in (None, "none"):
        raise SettingError(N_(
            "mode '{name}' trains from scratch and loads no weights: leave {setting[weights]} out, or pick "
            "a fine-tuning mode such as full in {setting[strategy]}"), name=strategy.name)
    return "none"


def _architecture(config: TrainConfig, weights: str) -> str:
    if config.model:
        return config.model
    path = Path(weights).expanduser()
    if weights not in ("hub", "none") and models.is_run_dir(path):
        return models.run_architecture(path)
    return DEFAULT_MODEL
