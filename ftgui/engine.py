"""Training, the public entry point: from a TrainConfig to a run folder.

``train`` is what the CLI, the GUI and Python all call; ``resume`` carries on an interrupted
run. Progress reaches an optional listener as typed events (:mod:`ftgui.record`); training
stops cooperatively when ``stop`` is set (finishing the current step and saving) and keeps
the best epoch by validation accuracy. The work is done by :mod:`ftgui.training`.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import torch

from . import checkpoint, runs
from .callback_types import TrainState
from .config import AUTO, TrainConfig
from .errors import FtguiError
from .record import Event, RunRecord
from .registry import Registry
from .training import distributed
from .training.distributed import Processes
from .training.hooks import EventStream, Listener
from .training.loop import Loop, NonFinite, TrainResult, non_finite_message
from .training.lr_find import STEPS, TESTS, LrFinding, find_lr
from .training.plan import RunPlan, plan_run
from .training.refit import train_on_all
from .training.setup import set_up
from .training.sources import BatchSources
from .training.writer import RunWriter

__all__ = ["Event", "TrainResult", "lr_find", "resume", "train"]


def train(
    config: TrainConfig,
    listener: Listener | None = None,
    stop: threading.Event | None = None,
    registry: Registry | None = None,
) -> TrainResult:
    """Train (or, for a strategy that does not train, evaluate) and write a run folder.

    ``listener`` receives every progress event; set ``stop`` to stop after the current step.
    """
    with distributed.joined() as processes:
        plan = plan_run(config, registry, check_out=processes.is_main)
        return _run(plan, listener, stop, processes)


def resume(
    run_dir: str | Path,
    listener: Listener | None = None,
    stop: threading.Event | None = None,
    registry: Registry | None = None,
    device: str | None = None,
) -> TrainResult:
    """Carry on an interrupted run from its last checkpoint, in its own folder.

    Model, optimiser, scheduler, callbacks' state, every RNG and the data order are restored,
    so on the same device the run ends as it would have without the interruption.
    """
    run = runs.load_run(run_dir)
    if run.status == "completed":
        raise FtguiError(f"{run_dir} already completed all its epochs; nothing to resume")
    with distributed.joined() as processes:
        if processes.is_main:
            runs.claim(run.path)  # before any work: a second resume started at the same time loses here
        try:
            if processes.is_main:
                runs.remove_partial_writes(run.path)
            state = checkpoint.load(run.path)
            values = dict(run.info.config)
            values["out"] = str(run.path)
            if device:
                values["device"] = device
            plan = plan_run(TrainConfig.from_dict(values), registry, check_out=False)
            return _run(plan, listener, stop, processes, run.info, Path(run.path), state)
        finally:
            if processes.is_main:
                runs.release(run.path)


def _run(plan: RunPlan, listener: Listener | None, stop: threading.Event | None, processes: Processes,
         old_record: RunRecord | None = None, run_dir: Path | None = None,
         resume_state: dict | None = None) -> TrainResult:
    if processes.many and plan.device.type == "cuda":
        plan.device = torch.device("cuda", processes.local_rank)
    quiet = not processes.is_main  # one process speaks for all
    events = EventStream((listener if listener and not quiet else (lambda event: None)), 0, 0)
    plan.processes = processes.world
    setup = set_up(plan, events.log, sync_batch_norm=processes.many)
    events.train_images = len(setup.train.indices) if setup.train else 0
    events.val_images = len(setup.val.indices) if setup.val else 0
    if old_record is not None:  # what was chosen when the run started (its config now holds the values)
        plan.auto_settings = plan.auto_settings or old_record.auto_settings
    events.chosen = {name: info["value"] for name, info in (plan.auto_settings or {}).items()
                     if isinstance(info, dict)}
    events.refit_planned, events.refit_runs = plan.refit, plan.refit_runs
    if plan.refit and plan.config.refit_runs == AUTO:
        events.chosen["refit_runs"] = plan.refit_runs
    created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if run_dir is not None and old_record is not None:
        _check_same_data(plan, setup, old_record, run_dir)
        created = old_record.created or created
    else:
        made = runs.new_run_dir(plan.config.out, plan.architecture, plan.strategy_item.name) if not quiet else None
        run_dir = Path(processes.share(str(made) if made else None))
    writer = RunWriter(run_dir, plan, setup, created, writes=not quiet)
    if resume_state is None:
        writer.write_report()
    sources = BatchSources(plan, setup, events.progress, processes)
    if old_record is not None:
        writer.lr_finding = old_record.lr_finder
    if plan.config.lr == AUTO and resume_state is None and plan.strategy_item.trains and plan.epochs > 0 \
            and sources.train_loader is not None:
        events.log(f"finding a learning rate: {TESTS} range tests of at most {STEPS} steps, averaged")
        finding = find_lr(plan, setup, sources)
        plan.lr = processes.share(finding.suggestion)  # every process trains with rank 0's finding
        writer.lr_finding = {**finding.to_dict(), "suggestion": plan.lr}
        events.log(f"learning rate {plan.lr:.2g}, found over {finding.tests} tests of {finding.steps} steps")
    state = TrainState(config=plan.config, run_dir=run_dir, model=setup.model, device=plan.device,
                       epochs=plan.epochs, steps_per_epoch=sources.steps_per_epoch(),
                       store={reg.item.name: {} for reg, _ in plan.callbacks}, _log=events.log)
    stop = stop or threading.Event()
    loop = Loop(plan, setup, sources, writer, state, events, stop, resume_state)
    if plan.refit:
        loop.after_fit = lambda save_record: _refit(plan, loop, events, stop, processes, save_record)
    if resume_state is None and not quiet:
        runs.claim(run_dir)
    try:
        writer.save_record("running", 0)
        if not plan.strategy_item.trains:
            return loop.evaluate_only("evaluated")
        if plan.epochs == 0:
            return loop.evaluate_only("initialised")
        return loop.fit()
    except NonFinite as exc:
        error = non_finite_message(exc, plan.lr, state.best is not None)
        loop.fail(str(error))
        raise error from None
    except BaseException as exc:
        loop.fail(str(exc) if isinstance(exc, FtguiError) else f"{type(exc).__name__}: {exc}")
        raise
    finally:
        sources.close()
        if resume_state is None and not quiet:
            runs.release(run_dir)


def _refit(plan: RunPlan, loop: Loop, events: EventStream, stop: threading.Event, processes: Processes,
           save_record) -> None:
    """Once the run completed: train again on all images to its saved epoch (``--refit``)."""
    best = loop.state.best
    if best is None or best.get("val_acc") is None:
        return
    loop.sources.close()  # the first training's loaders are done with (its cached features are reused)
    loop.state.optimizer = loop.scheduler = None  # AdamW's state, twice the model's size, before a second model
    if plan.device.type == "cuda":
        torch.cuda.empty_cache()
    train_on_all(plan, best, loop.sources, loop.state.run_dir, events, stop, processes, loop.writer, save_record)


def lr_find(config: TrainConfig, listener: Listener | None = None, registry: Registry | None = None,
            steps: int = STEPS, tests: int = TESTS) -> LrFinding:
    """The learning-rate range test on ``config``'s data, model, mode and layers (``tests`` of
    them, averaged: see :mod:`ftgui.training.lr_find`); writes no run."""
    plan = plan_run(config, registry, check_out=False)
    if not plan.strategy_item.trains:
        raise FtguiError(f"mode '{plan.strategy_item.name}' does not train: there is no learning rate to find")
    events = EventStream(listener or (lambda event: None), 0, 0)
    setup = set_up(plan, events.log)
    sources = BatchSources(plan, setup, events.progress, Processes())
    try:
        if sources.train_loader is None:
            raise FtguiError("no training images left after the split; add images or lower the validation share")
        return find_lr(plan, setup, sources, steps, tests=tests)
    finally:
        sources.close()


def _check_same_data(plan: RunPlan, setup, record: RunRecord, run_dir: Path) -> None:
    old = record.data or {}
    if setup.collection and old.get("content_hash") != setup.collection.content_hash:
        raise FtguiError(
            f"the images in {plan.config.data} changed since {run_dir} started, so it cannot "
            "carry on exactly; start a new run on the new data"
        )
