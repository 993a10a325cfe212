"""Callbacks: plugins that see into the training loop, and the state they see.

A callback subclasses :class:`Callback`, overrides the events it cares about and registers
an instance through ``ftgui_register_callbacks``. Every event gets the run's
:class:`TrainState` and the callback's resolved parameters as keyword arguments.

Per epoch the loop calls ``on_epoch_start``; per batch ``on_batch_start``, then (after the
forward and backward pass, gradients present and unscaled) ``on_after_backward``, then the
optimiser step, then ``on_batch_end``; after evaluation ``on_validation_end``; and
``on_epoch_end`` with the epoch's metrics row complete (a callback may add to it: what it
adds is written to ``metrics.jsonl``). ``on_fit_start`` comes once the model, optimiser and
run folder exist, ``on_fit_end`` once training has ended.

One callback instance serves every run, so it keeps no per-run state on ``self``: it keeps
it in ``state.store[self.name]``, a dict that is saved in the resume checkpoint (through
:meth:`Callback.state_dict`) and given back on ``--resume`` (:meth:`Callback.load_state_dict`).

This module imports no torch at run time so that the CLI starts fast.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .plugin_types import Plugin

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from .config import TrainConfig


@dataclass
class TrainState:
    """The run as the loop sees it, handed to every callback event."""

    config: TrainConfig
    """The settings as given: epochs, batch size and warm-up may be ``auto`` there (chosen from
    the data); :attr:`epochs` and ``steps_per_epoch`` are the numbers the run uses."""
    run_dir: Path
    model: nn.Module
    device: torch.device
    epochs: int
    optimizer: torch.optim.Optimizer | None = None
    epoch: int = 0
    """The current epoch, 0-based (``metrics['epoch']`` is 1-based, as in metrics.jsonl)."""
    step: int = 0
    """Optimiser steps taken so far in the run (all epochs)."""
    batch_index: int = 0
    """The batch's position in the current epoch."""
    steps_per_epoch: int = 0
    inputs: torch.Tensor | None = None
    """The batch going into the model: normalised images, or, while only the head learns and
    its inputs are cached (``cached_features``), the backbone's pooled features."""
    targets: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    loss: torch.Tensor | None = None
    cached_features: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)
    """This epoch's row (train_loss, val_acc, ...); complete from ``on_validation_end``."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """The rows of the epochs before this one (a resumed run's included)."""
    eval_model: nn.Module | None = None
    """The model validation runs and the run saves; None: ``model``. The ``ema`` callback
    sets its averaged copy here."""
    store: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per-run memory of each callback, by callback name."""
    resumed: bool = False
    refit: bool = False
    """True in the run's training again on all images (``--refit``), a second fit after the
    first one ended: from the same start, without validation (``metrics`` has no val_loss or
    val_acc), up to the validated epoch; its model is the one saved. With ``--refit-runs`` N
    (3 by default when pretrained weights learn) there are N such fits one after the other, and
    the average of their models is saved. Callbacks that shape the training (``ema``,
    ``clip-grad``) act in each as in the first; loggers may skip them."""
    status: str = "running"
    """How the run ended, from ``on_fit_end``: completed, stopped, evaluated, initialised or failed."""
    best: dict[str, Any] | None = None
    """The best epoch's row so far (the one the run saves)."""
    stop_reason: str | None = None
    """Set by :meth:`stop`: training ends after the current batch, as completed."""
    _log: Callable[[str], None] = field(default=print, repr=False)

    def stop(self, reason: str) -> None:
        """End training after the current batch (early stopping, say); ``reason`` is logged
        and recorded in the run."""
        if self.stop_reason is None:
            self.stop_reason = reason

    def log(self, message: str) -> None:
        """A line in the CLI's output, the GUI's log and the run's events."""
        self._log(message)

    def trained_model(self) -> nn.Module:
        """The model validation runs and the run saves (``eval_model`` or ``model``)."""
        return self.eval_model if self.eval_model is not None else self.model


class Callback(Plugin):
    """Reacts to training events; override only the ones you need."""

    kind = "callback"

    def on_fit_start(self, state: TrainState, **params: Any) -> None: ...

    def on_epoch_start(self, state: TrainState, **params: Any) -> None: ...

    def on_batch_start(self, state: TrainState, **params: Any) -> None: ...

    def on_after_backward(self, state: TrainState, **params: Any) -> None: ...

    def on_batch_end(self, state: TrainState, **params: Any) -> None: ...

    def on_validation_end(self, state: TrainState, **params: Any) -> None: ...

    def on_epoch_end(self, state: TrainState, **params: Any) -> None: ...

    def on_fit_end(self, state: TrainState, **params: Any) -> None: ...

    def state_dict(self, state: TrainState) -> dict[str, Any]:
        """What the resume checkpoint keeps of this callback: by default its ``state.store``
        entry. Plain values and tensors only (the checkpoint is read with weights_only)."""
        return dict(state.store.get(self.name, {}))

    def load_state_dict(self, state: TrainState, saved: dict[str, Any]) -> None:
        """On ``--resume``, after ``on_fit_start``: take back what :meth:`state_dict` gave."""
        state.store[self.name] = dict(saved)


EVENTS = ("on_fit_start", "on_epoch_start", "on_batch_start", "on_after_backward", "on_batch_end",
          "on_validation_end", "on_epoch_end", "on_fit_end")
