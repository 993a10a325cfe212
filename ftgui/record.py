"""What a run reports: the progress events a listener receives, the run record
(``ftgui.json``), and the one rule for which epoch is best.

The engine, the CLI and the GUI all read these types; none of them re-derives a field
from a dict with fallbacks.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]
"""One epoch's metrics, as in metrics.jsonl: epoch (1-based), train_loss, train_acc, val_loss,
val_acc, lr, seconds, ... and whatever callbacks add."""


def is_better(row: Row, best: Row | None) -> bool:
    """Whether ``row`` beats ``best``: the higher validation accuracy, then the lower
    validation loss (a missing loss ranks last); without validation the newest epoch wins."""
    if best is None or row.get("val_acc") is None:
        return True
    if best.get("val_acc") is None:
        return True

    def key(r: Row) -> tuple[float, float]:
        loss = r.get("val_loss")
        return r["val_acc"], -(loss if loss is not None else math.inf)

    return key(row) > key(best)


def best_row(rows: list[Row]) -> Row | None:
    """The best of ``rows`` by :func:`is_better` (the earliest of equals)."""
    best: Row | None = None
    for row in rows:
        if is_better(row, best):
            best = row
    return best


# -- progress events ---------------------------------------------------------------------
@dataclass(frozen=True)
class Log:
    message: str


@dataclass(frozen=True)
class Start:
    run_dir: str
    epochs: int
    steps_per_epoch: int
    train_images: int
    val_images: int
    earlier_epochs: list[Row] = field(default_factory=list)
    """A resumed run's epochs before this start (their rows), so a view can draw them."""


@dataclass(frozen=True)
class Step:
    phase: str
    """train, eval, or features (computing the frozen backbone's cached features)."""
    epoch: int
    step: int
    steps: int
    loss: float | None = None


@dataclass(frozen=True)
class Epoch:
    row: Row


@dataclass(frozen=True)
class End:
    status: str
    best: Row | None
    run_dir: str
    reason: str | None = None
    """Why a callback ended training early, if one did."""


Event = Log | Start | Step | Epoch | End


# -- the run record ----------------------------------------------------------------------
@dataclass
class PluginUse:
    """A plugin a run used: its name, parameters and where it came from."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    source: str = ""


@dataclass
class InitializerUse(PluginUse):
    bias: float = 0.0
    """The bias value the initialised layers got."""
    applied_to: str = ""
    """every layer, new head, or nothing (pretrained head kept)."""


@dataclass
class RunRecord:
    """``ftgui.json``: what reproduces a run, and how it went."""

    status: str
    """running, completed, stopped, failed, evaluated (predict-only) or initialised (0 epochs)."""
    config: dict[str, Any]
    architecture: str
    created: str = ""
    ftgui_version: str = ""
    weights_source: str = ""
    label_names: list[str] = field(default_factory=list)
    new_head: bool = False
    strategy: PluginUse | None = None
    initializer: InitializerUse | None = None
    callbacks: list[PluginUse] = field(default_factory=list)
    data: dict[str, Any] | None = None
    data_config: dict[str, Any] = field(default_factory=dict)
    device: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    best: Row | None = None
    """The epoch whose weights model.safetensors holds."""
    epochs_done: int = 0
    lr_finder: dict[str, Any] | None = None
    """With ``--lr auto``: the range test's learning rates, smoothed losses and suggestion."""
    batch_size_used: int | None = None
    """The batch size training ended with, when running out of memory made it smaller."""
    selected_by: str = "validation accuracy"
    """What chose the saved epoch (and on which weights: 'ema' when the ema callback is on)."""
    stop_reason: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunRecord:
        """Read a record; keys it does not know (a newer ftgui's) are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in values.items() if k in known}
        if isinstance(kept.get("strategy"), dict):
            kept["strategy"] = _plugin_use(kept["strategy"])
        if isinstance(kept.get("initializer"), dict):
            init = kept["initializer"]
            kept["initializer"] = InitializerUse(**vars(_plugin_use(init)), bias=float(init.get("bias") or 0.0),
                                                 applied_to=str(init.get("applied_to") or ""))
        kept["callbacks"] = [_plugin_use(c) for c in kept.get("callbacks") or [] if isinstance(c, dict)]
        kept.setdefault("status", "unknown")
        kept.setdefault("config", {})
        kept.setdefault("architecture", kept["config"].get("model") or "")
        return cls(**kept)


def _plugin_use(values: dict[str, Any]) -> PluginUse:
    return PluginUse(str(values.get("name", "")), dict(values.get("params") or {}), str(values.get("source", "")))
