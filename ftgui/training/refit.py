"""Training again on all images once the validation chose the epoch (``--refit``).

With few images, holding a fifth of them back for validation costs the model a fifth of what
it could learn from, and which images happen to be held back decides much of how good it gets
(benchmarks/defaults.py: at 5 images per class that luck of the split outweighed every other).
So, after the run has chosen its epoch on the validation images, it trains once more from the
same start (the same weights, the new head initialised with the same seed - an initialiser that
looks at a batch of images sees the same images it saw then) on every image, the validation
ones too, with the same settings and learning-rate schedule, up to the chosen epoch, and saves
that model. Its validation accuracy cannot be measured any more (it has seen those images): the
run keeps reporting the validated epoch's, measured before, which if anything understates it.

When pretrained weights learn it does that three times (``--refit-runs``), each with its own
order of images and augmentation, and saves the average of their weights: most of the luck left
after the refit is one training's order of images, and the average has less of it (see
auto_settings.REFIT_RUNS and benchmarks/RESULTS.md).

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
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .. import pipeline, runs
from ..callback_types import TrainState
from ..device import autocast
from ..record import REFIT_PHASE, End, Epoch, Event, Log, Row, Start, Step
from .distributed import Processes
from .hooks import EventStream, Listener
from .plan import RunPlan
from .setup import RunSetup, seed_everything, set_up
from .sources import BatchSources
from .writer import RunWriter

if TYPE_CHECKING:
    from .loop import TrainResult


def refit_plan(plan: RunPlan, batch_size: int, init_images: tuple[int, ...]) -> RunPlan:
    """``plan`` for every image: no validation, and the first training's epochs (its schedule),
    batch size (as it ended: smaller if memory ran out), warm-up and learning rate as numbers,
    so nothing is chosen again for the larger number of images; an initialiser that looks at
    images sees ``init_images``, those the first training's saw."""
    config = dataclasses.replace(plan.config, val_split=0.0, val_data=None, lr=plan.lr, epochs=plan.epochs,
                                 batch_size=batch_size, warmup_epochs=plan.warmup_epochs, refit="no")
    return dataclasses.replace(plan, config=config, sizes=None, auto_settings=None, refit=False,
                               init_images=init_images or None)


class RefitEvents:
    """The listener's view of the training again: its steps as phase ``refit`` (with the epoch
    it ends with, and which of the ``runs`` trainings on all images it is), each epoch as a log
    line, and nothing of its own start or end - the run's End event comes after it, with
    RunRecord.refit."""

    def __init__(self, listener: Listener, until: int, runs: int = 1) -> None:
        self.listener, self.until, self.runs = listener, until, runs
        self.run = 1

    def __call__(self, event: Event) -> None:
        if isinstance(event, Step):
            self.listener(dataclasses.replace(event, phase=REFIT_PHASE, epochs=self.until, run=self.run,
                                              runs=self.runs))
        elif isinstance(event, Log):
            self.listener(event)
        elif isinstance(event, Epoch):
            self.listener(Log(epoch_words(event.row, self.until, self.run, self.runs)))
        elif not isinstance(event, (Start, End)):
            raise TypeError(f"unknown event {event!r}")


def epoch_words(row: Row, until: int, run: int = 1, runs: int = 1) -> str:
    which = f" ({run} of {runs})" if runs > 1 else ""
    return (f"all images{which}, epoch {row['epoch']}/{until}: train_loss {row['train_loss']:.4f} "
            f"train_acc {row['train_acc']:.4f}")


def start_words(images: int, until: int, runs: int) -> str:
    """The log line that announces the training again on all images."""
    if runs == 1:
        return (f"training again on all {images} images (the validation ones too) from the same start to epoch "
                f"{until}, the epoch the validation chose; that model is the one saved")
    return (f"training again on all {images} images (the validation ones too) from the same start to epoch {until}, "
            f"the epoch the validation chose, {runs} times, each with its own order of images and augmentation; "
            "the average of their weights is the model saved")


AVERAGE_TOLERANCE = 0.02
"""How much lower than the worst of its trainings the average may score on the images they
trained on before it is refused, and the first training's model saved instead. Trainings that
stayed near their common start average into a model that scores as each does; trainings that a
high learning rate took apart average into one that scores lower, down to knowing nothing. On
the few-shot digits (full fine-tuning, seeds 117-119), where each training alone classified all
its images right: the average scored 100% at the default rate 1e-3 (and 87%, 91% and 84% on
the test images), 92% and 96% at 3e-3, 56% at 1e-2; unchecked, the averages at 1e-2 and 3e-2
scored chance (20%) on the test images on every seed tried."""


class WeightSum:
    """The running sum of several models' weights, to average them: the models of the trainings
    on all images, which share their start (see auto_settings.REFIT_RUNS). On the CPU in double
    precision, where the sum of a few float32 values of like size is exact: a weight no training
    changed (a frozen layer) comes back bit for bit, and the mean is the correctly rounded one."""

    def __init__(self) -> None:
        self.total: dict[str, torch.Tensor] = {}
        self.first: dict[str, torch.Tensor] = {}
        """The first model's weights as they were (the fallback when the average fails)."""
        self.count = 0

    def add(self, model: nn.Module) -> None:
        if not self.count:
            self.first = {name: value.detach().to("cpu", copy=True) for name, value in model.state_dict().items()}
        for name, value in model.state_dict().items():
            if not value.is_floating_point():
                self.total[name] = value.detach().to("cpu", copy=True)  # counters: the last model's
            elif name in self.total:
                self.total[name] += value.detach().to("cpu", torch.float64)
            else:
                self.total[name] = value.detach().to("cpu", torch.float64, copy=True)
        self.count += 1

    def load_mean_into(self, model: nn.Module) -> None:
        model.load_state_dict({name: value / self.count if value.is_floating_point() else value
                               for name, value in self.total.items()})

    def load_first_into(self, model: nn.Module) -> None:
        model.load_state_dict(self.first)


def accuracy_on_all(model: nn.Module, setup: RunSetup, plan: RunPlan) -> float:
    """The share of the training images - here all images - that ``model`` classifies right, as
    the validation would see them (no augmentation)."""
    images = setup.train
    assert images is not None
    dataset = pipeline.ImageBatches(images.decoded, images.labels, setup.transforms.eval)
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, **pipeline.loader_options(
        plan.device, images.decoded.fully_cached, plan.config.num_workers))
    was_training, correct, known = model.training, 0, 0
    model.eval()
    with torch.inference_mode():
        for inputs, targets in loader:
            targets = targets.to(plan.device)
            with autocast(plan.device):
                predicted = model(setup.normalize(inputs.to(plan.device))).argmax(dim=1)
            correct += int(((predicted == targets) & (targets >= 0)).sum())
            known += int((targets >= 0).sum())
    model.train(was_training)
    return correct / max(known, 1)


def train_on_all(plan: RunPlan, best: Row, earlier: BatchSources, run_dir: Path, events: EventStream,
                 stop: threading.Event, processes: Processes, writer: RunWriter,
                 save_record: Callable[[], None]) -> None:
    """Train again on all images to ``best``'s epoch, ``plan.refit_runs`` times (their weights
    averaged), and save that model into ``run_dir`` (``earlier``: the first training's batches,
    whose batch size and cached features it reuses); ``writer.refit`` (the record's ``refit``) says
    how it went, ``save_record`` writes it. A failure is recorded there and logged, not raised: the
    run completed and its validated model stays."""
    until, count = int(best["epoch"]), plan.refit_runs
    start = time.perf_counter()
    info: dict[str, Any] = {"status": "running", "auto": plan.config.refit == "auto", "epoch": until, "runs": count}
    writer.refit = info
    save_record()  # a crash from here on leaves a completed run with its validated model
    listener = RefitEvents(events.listener, until, count)
    again = refit_plan(plan, earlier.batch_size, earlier.setup.init_images)
    quiet = EventStream(listener, 0, 0)
    weights, losses, accuracies, alone = WeightSum(), [], [], []
    try:
        for run in range(1, count + 1):
            listener.run = run
            result, model, setup = _train_once(again, run, until, earlier, run_dir, quiet, stop, processes,
                                               writer, lambda images: events.log(start_words(images, until, count)))
            info["images"] = len(setup.train.indices) if setup.train else 0
            last = result.metrics[-1] if result.metrics else {}
            losses.append(last.get("train_loss"))
            accuracies.append(last.get("train_acc"))
            if result.status != "completed":
                break
            if count > 1:
                weights.add(model)
                alone.append(accuracy_on_all(model, setup, again))
            if run < count:
                del model, setup  # one model in memory at a time
        completed = result.status == "completed"  # the loop ends at the first that is not
        if completed and count > 1:
            weights.load_mean_into(model)
            info["accuracy_alone"], info["accuracy_averaged"] = alone, accuracy_on_all(model, setup, again)
            info["averaged"] = info["accuracy_averaged"] >= min(alone) - AVERAGE_TOLERANCE
            events.log(averaged_words(info))
            if not info["averaged"]:
                weights.load_first_into(model)
        if completed and writer.writes:
            runs.save_model(run_dir, model, setup.label_names, setup.data_config)
        info.update(status=result.status, train_loss=_mean(losses), train_acc=_mean(accuracies))
        events.log(("the model trained on all images is saved" if count == 1 or not info["averaged"] else
                    f"the average of the {count} models trained on all images is saved") if completed else
                   "the training on all images was stopped; the validated model stays saved")
    except Exception as exc:  # the run itself completed: its validated model stays, and the record says why
        info.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        events.log(f"the training on all images failed ({exc}); the validated model stays saved")
    finally:
        info["seconds"] = round(time.perf_counter() - start, 1)
        events.refit = info
        save_record()


def averaged_words(info: dict[str, Any]) -> str:
    """The log line that says how the average of the trainings on all images did on those images."""
    alone = ", ".join(f"{accuracy:.0%}" for accuracy in info["accuracy_alone"])
    if info["averaged"]:
        return (f"the average of their weights classifies {info['accuracy_averaged']:.0%} of the images right "
                f"(each alone: {alone})")
    return (f"the average of their weights classifies only {info['accuracy_averaged']:.0%} of the images right "
            f"(each alone: {alone}): the trainings went too far apart to average, as a high learning rate makes "
            "them; the first of them is saved instead")


def _mean(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return sum(known) / len(known) if known else None


def _train_once(again: RunPlan, run: int, until: int, earlier: BatchSources, run_dir: Path, quiet: EventStream,
                stop: threading.Event, processes: Processes, writer: RunWriter,
                announce: Callable[[int], None]) -> tuple[TrainResult, nn.Module, RunSetup]:
    """The ``run``-th training on all images: from the same start as the others (the run's seed
    sets up the model and initialises the new layers), then with a seed of its own for everything
    after - the order of the images, the augmentation, dropout: the run's seed plus ``run - 1``."""
    setup = set_up(again, lambda message: None, sync_batch_norm=processes.many, earlier=earlier.setup)
    if run == 1:
        announce(len(setup.train.indices) if setup.train else 0)
    own = again
    if run > 1:  # the first goes on as a plain run on all images would
        own = dataclasses.replace(again, config=dataclasses.replace(again.config, seed=again.config.seed + run - 1))
        seed_everything(own.config.seed)
    sources = BatchSources(own, setup, quiet.progress, processes)
    sources.adopt_features(earlier)
    try:
        from .loop import Loop  # the loop calls this module back at its end

        state = TrainState(config=own.config, run_dir=run_dir, model=setup.model, device=own.device,
                           epochs=own.epochs, steps_per_epoch=sources.steps_per_epoch(),
                           store={reg.item.name: {} for reg, _ in own.callbacks}, _log=quiet.log, refit=True)
        loop = Loop(own, setup, sources, RunWriter(run_dir, own, setup, writer.created, writes=False),
                    state, quiet, stop, None, until=until)
        return loop.fit(), state.trained_model(), setup
    finally:
        sources.close()
