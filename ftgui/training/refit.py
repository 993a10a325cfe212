"""Training again on all images once the validation chose the epoch (``--refit``).

With few images, holding a fifth of them back for validation costs the model a fifth of what
it could learn from, and which images happen to be held back decides much of how good it gets
(benchmarks/defaults.py: at 5 images per class that luck of the split outweighed every other).
So, after the run has chosen its epoch on the validation images, it trains once more from the
same start (the same weights, the new head initialised with the same seed - an initialiser that
looks at a batch of images sees the first batch of all of them) on every image, the validation
ones too, with the same settings and learning-rate schedule, up to the chosen epoch, and saves
that model. Its validation accuracy cannot be measured any more (it has seen those images): the
run keeps reporting the validated epoch's, measured before, which if anything understates it.

The run's folder keeps the first training's curves and validation predictions; its record's
``refit`` says how the training again went. If it is stopped or fails, the validated model
stays saved: nothing already saved is lost.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import runs
from ..callback_types import TrainState
from ..record import REFIT_PHASE, End, Epoch, Event, Log, Row, Start, Step
from .distributed import Processes
from .hooks import EventStream, Listener
from .plan import RunPlan
from .setup import set_up
from .sources import BatchSources
from .writer import RunWriter


def refit_plan(plan: RunPlan, batch_size: int) -> RunPlan:
    """``plan`` for every image: no validation, and the first training's epochs (its schedule),
    batch size (as it ended: smaller if memory ran out), warm-up and learning rate as numbers,
    so nothing is chosen again for the larger number of images."""
    config = dataclasses.replace(plan.config, val_split=0.0, val_data=None, lr=plan.lr, epochs=plan.epochs,
                                 batch_size=batch_size, warmup_epochs=plan.warmup_epochs, refit="no")
    return dataclasses.replace(plan, config=config, sizes=None, auto_settings=None, refit=False)


class RefitEvents:
    """The listener's view of the training again: its steps as phase ``refit`` (with the epoch
    it ends with), each epoch as a log line, and nothing of its own start or end - the run's
    End event comes after it, with RunRecord.refit."""

    def __init__(self, listener: Listener, until: int) -> None:
        self.listener, self.until = listener, until

    def __call__(self, event: Event) -> None:
        if isinstance(event, Step):
            self.listener(dataclasses.replace(event, phase=REFIT_PHASE, epochs=self.until))
        elif isinstance(event, Log):
            self.listener(event)
        elif isinstance(event, Epoch):
            self.listener(Log(epoch_words(event.row, self.until)))
        elif not isinstance(event, (Start, End)):
            raise TypeError(f"unknown event {event!r}")


def epoch_words(row: Row, until: int) -> str:
    return (f"all images, epoch {row['epoch']}/{until}: train_loss {row['train_loss']:.4f} "
            f"train_acc {row['train_acc']:.4f}")


def train_on_all(plan: RunPlan, best: Row, earlier: BatchSources, run_dir: Path, events: EventStream,
                 stop: threading.Event, processes: Processes, writer: RunWriter,
                 save_record: Callable[[], None]) -> None:
    """Train again on all images to ``best``'s epoch and save that model into ``run_dir``
    (``earlier``: the first training's batches, whose batch size and cached features it reuses);
    ``writer.refit`` (the record's ``refit``) says how it went, ``save_record`` writes it. A failure
    is recorded there and logged, not raised: the run completed and its validated model stays."""
    until = int(best["epoch"])
    start = time.perf_counter()
    info: dict[str, Any] = {"status": "running", "auto": plan.config.refit == "auto", "epoch": until}
    writer.refit = info
    save_record()  # a crash from here on leaves a completed run with its validated model
    listener = RefitEvents(events.listener, until)
    again = refit_plan(plan, earlier.batch_size)
    quiet = EventStream(listener, 0, 0)
    try:
        setup = set_up(again, lambda message: None, sync_batch_norm=processes.many, earlier=earlier.setup)
        info["images"] = len(setup.train.indices) if setup.train else 0
        events.log(f"training again on all {info['images']} images (the validation ones too) from the same start "
                   f"to epoch {until}, the epoch the validation chose; that model is the one saved")
        sources = BatchSources(again, setup, quiet.progress, processes)
        sources.adopt_features(earlier)
        try:
            from .loop import Loop  # the loop calls this module back at its end

            state = TrainState(config=again.config, run_dir=run_dir, model=setup.model, device=again.device,
                               epochs=again.epochs, steps_per_epoch=sources.steps_per_epoch(),
                               store={reg.item.name: {} for reg, _ in again.callbacks}, _log=quiet.log,
                               refit=True)
            loop = Loop(again, setup, sources, RunWriter(run_dir, again, setup, writer.created, writes=False),
                        state, quiet, stop, None, until=until)
            result = loop.fit()
            if result.status == "completed" and writer.writes:
                runs.save_model(run_dir, state.trained_model(), setup.label_names, setup.data_config)
        finally:
            sources.close()
        last = result.metrics[-1] if result.metrics else {}
        info.update(status=result.status, train_loss=last.get("train_loss"), train_acc=last.get("train_acc"))
        events.log("the model trained on all images is saved" if result.status == "completed" else
                   "the training on all images was stopped; the validated model stays saved")
    except Exception as exc:  # the run itself completed: its validated model stays, and the record says why
        info.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        events.log(f"the training on all images failed ({exc}); the validated model stays saved")
    finally:
        info["seconds"] = round(time.perf_counter() - start, 1)
        events.refit = info
        save_record()
