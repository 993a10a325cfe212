"""Calling callbacks, and the built-in ones that are always on.

The CLI's progress output and the GUI's job both listen to :class:`EventStream`, which turns
callback events into typed progress events. It comes last, after the user's callbacks and the
loop's own run keeper (metrics, best model, checkpoint), so what callbacks add to an epoch's
row is written and shown.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..callback_types import EVENTS, Callback, TrainState
from ..record import End, Epoch, Event, Log, Start, Step
from ..registry import Registered

Listener = Callable[[Event], None]


class CallbackList:
    """Callbacks with their parameters, called in order; only those that override an event
    are called for it (a batch costs nothing for callbacks that do not watch batches)."""

    def __init__(self, entries: list[tuple[Registered, dict[str, Any]]]) -> None:
        self.entries = entries
        self.by_event = {
            event: [(reg, params) for reg, params in entries
                    if getattr(type(reg.item), event) is not getattr(Callback, event)]
            for event in EVENTS
        }

    def fire(self, event: str, state: TrainState) -> None:
        for reg, params in self.by_event[event]:
            reg.call(event, state, **params)

    def state_dicts(self, state: TrainState) -> dict[str, dict]:
        return {reg.item.name: reg.call("state_dict", state) for reg, _ in self.entries}

    def load_state_dicts(self, state: TrainState, saved: dict[str, dict]) -> None:
        for reg, _ in self.entries:
            if reg.item.name in saved:
                reg.call("load_state_dict", state, saved[reg.item.name])


class BuiltIn(Registered):
    """ftgui's own always-on callbacks: their exceptions (a listener's) pass through as they are."""

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.item, method)(*args, **kwargs)


def built_in(callback: Callback) -> tuple[Registered, dict[str, Any]]:
    return BuiltIn(callback, "ftgui", "built-in"), {}


class EventStream(Callback):
    """Progress events for a listener: Start, Step (train, eval, features), Epoch, End, Log."""

    name = "event-stream"
    description = "progress events for the CLI and the GUI"

    def __init__(self, listener: Listener, train_images: int, val_images: int) -> None:
        self.listener = listener
        self.train_images, self.val_images = train_images, val_images
        self.chosen: dict[str, int] = {}
        """The settings the run chose (``auto``: Start.chosen), for the Start event."""
        self.refit_planned, self.refit_runs = False, 1
        """Whether the run will train again on all images, and how many times (RunPlan.refit and
        refit_runs), for the Start event."""
        self.refit: dict[str, Any] | None = None
        """How the training again on all images went (RunRecord.refit), for the End event."""

    def log(self, message: str) -> None:
        self.listener(Log(message))

    def progress(self, phase: str, epoch: int, step: int, steps: int) -> None:
        self.listener(Step(phase, epoch, step, steps))

    def on_fit_start(self, state: TrainState, **params: Any) -> None:
        self.listener(Start(str(state.run_dir), state.epochs, state.steps_per_epoch, self.train_images, self.val_images,
                            list(state.history), dict(self.chosen), self.refit_planned, self.refit_runs))

    def on_batch_end(self, state: TrainState, **params: Any) -> None:
        loss = float(state.loss.item()) if state.loss is not None else None
        self.listener(Step("train", state.epoch + 1, state.batch_index + 1, state.steps_per_epoch, loss))

    def on_epoch_end(self, state: TrainState, **params: Any) -> None:
        self.listener(Epoch(dict(state.metrics)))

    def on_fit_end(self, state: TrainState, **params: Any) -> None:
        self.listener(End(state.status, state.best, str(state.run_dir), state.stop_reason, self.refit))
