"""The GUI's training job: ``engine.train`` (or ``engine.resume``) in a background thread
owned by the app.

The job belongs to the app, not to a browser session, so closing or reloading a page does
not touch it: every page polls the same :class:`Job` and redraws its progress and curves.
One training runs at a time; a second start is refused with a ``busy`` message.

The engine writes ``metrics.jsonl`` itself; here its typed events (:mod:`ftgui.record`) are
kept in memory. Step events arrive many times a second, so only the latest one is kept (as
:attr:`Job.last_step`); every other event (Log, Start, Epoch, End) is kept in order and read
with :meth:`Job.events_since`. A resumed run's Start event carries its earlier epochs, so its
curves start at epoch 1 like any other run's.

A job remembers who started it (:attr:`Job.owner`, an opaque visitor id, see :mod:`.owners`)
and writes it into the run folder once the engine has filled it (at the Start event, and
when it ends): the engine wants an empty folder to begin with.
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import runs
from ..config import TrainConfig
from ..errors import FtguiError
from ..i18n import tr
from ..record import REFIT_PHASE, End, Epoch, Event, Log, Start, Step, best_row
from .owners import record_owner
from .words import error_text

log = logging.getLogger(__name__)

TrainFn = Callable[..., Any]
"""``engine.train``-like: ``fn(target, listener=..., stop=...)`` returns a result with a ``status``."""
Work = Callable[..., Any]
"""What a Job runs: ``work(listener=..., stop=...)``."""
FINISHED = ("completed", "stopped", "evaluated", "initialised", "failed")
READY = "refit-ready"
"""The job's phase between the last epoch and the first step of the training on all images."""
ETA_SMOOTHING = 0.25
"""Weight of a new estimate of the time left; the rest is the previous estimate, counted down."""
_ids = itertools.count(1)


def epoch_line(row: dict, epochs: int) -> str:
    """The log's line for one epoch, like the CLI's: losses, accuracies, time (in the reader's
    language)."""
    def number(key: str, spec: str) -> str:
        value = row.get(key)
        return "-" if value is None else format(value, spec)

    line = tr("epoch {epoch}/{epochs}: training loss {train_loss}, accuracy {train_acc} · validation loss "
              "{val_loss}, accuracy {val_acc} · {seconds} s", epoch=row["epoch"], epochs=epochs,
              train_loss=number("train_loss", ".4f"), train_acc=number("train_acc", ".1%"),
              val_loss=number("val_loss", ".4f"), val_acc=number("val_acc", ".1%"),
              seconds=f"{row.get('seconds') or 0:.1f}")
    return tr("{line} (stopped part-way)", line=line) if row.get("stopped") else line


class Busy(FtguiError):
    """A training is already running in this app."""


class Job:
    """One training run in a background thread, and what it has reported so far."""

    def __init__(self, config: TrainConfig, work: Work, owner: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.id = next(_ids)
        self._clock = clock
        """The wall clock (tests give a fake one)."""
        self.config = config
        self.owner = owner
        """Who started (or resumed) the job in the app; only they may stop it on a shared app."""
        self.stop_event = threading.Event()
        self.events: list[Event] = []
        self.last_step: Step | None = None
        self.state = "preparing"
        """preparing, running, stopping, then one of FINISHED."""
        self.failure: Exception | None = None
        """Why the job failed (worded for each reader by :meth:`status`)."""
        self.run_dir: Path | None = Path(config.out) if config.out else None
        self.created = clock()
        self._train_started: float | None = None
        self._ended: float | None = None
        self.earlier: list[dict] = []
        """A resumed run's rows before this job (shown until the engine's Start event repeats them)."""
        self._classes: int | None = None
        self._epoch_ends: list[tuple[float, int]] = []
        """(when, epoch) for each whole epoch this job reported: what its pace is measured on."""
        self._refit_marks: list[tuple[float, float, int]] = []
        """(when, progress, epoch) of the training on all images at its first step this job saw and
        at the first step of its next epoch: what its own pace is measured from."""
        self._eta: tuple[float, float] | None = None  # (estimate, when)
        self._eta_basis: str | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, args=(work,),
                                        name=f"ftgui-train-{self.id}", daemon=True)

    # -- the thread ----------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def _run(self, work: Work) -> None:
        failure: Exception | None = None
        try:
            result = work(listener=self._on_event, stop=self.stop_event)
            final = result.status
        except FtguiError as exc:
            final, failure = "failed", exc
        except Exception as exc:  # noqa: BLE001 - shown in the UI instead of killing the app
            log.exception("training failed")
            final, failure = "failed", exc
        if failure and self.run_dir is not None and self.run_dir.is_dir() and not any(self.run_dir.iterdir()):
            self.run_dir.rmdir()  # the engine failed before writing anything: leave no empty run
        self._record_owner()
        with self._lock:
            self.state, self.failure, self._ended = final, failure, self._clock()
            if failure:
                self.events.append(Log(f"error: {error_text(failure)}"))  # the log, like the engine's, in English

    def _record_owner(self) -> None:
        if self.owner and self.run_dir is not None and (self.run_dir / runs.RUN_FILE).is_file():
            try:
                record_owner(self.run_dir, self.owner)
            except OSError:
                log.exception("could not record who started %s", self.run_dir)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Start):
            self.run_dir = Path(event.run_dir)
            self._record_owner()
        with self._lock:
            if isinstance(event, Step):
                self.last_step = event
                if event.phase == REFIT_PHASE:
                    marks = self._refit_marks
                    if not marks or (len(marks) == 1 and event.epoch > marks[0][2]):
                        marks.append((self._clock(), _refit_progress(event), event.epoch))
                return
            if isinstance(event, Start):
                self.run_dir = Path(event.run_dir)
                self._train_started = self._clock()
                if self.state == "preparing":
                    self.state = "running"
            if isinstance(event, Epoch) and not event.row.get("stopped"):
                self._epoch_ends.append((self._clock(), int(event.row["epoch"])))
            self.events.append(event)

    # -- what pages read -----------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self.state not in FINISHED

    @property
    def name(self) -> str:
        """The run folder's name, or what is being trained while there is none yet."""
        if self.run_dir is not None:
            return self.run_dir.name
        return f"{self.config.model or 'a model'} ({self.config.strategy})"

    def events_since(self, n: int) -> list[Event]:
        """Events after the first ``n`` (step events excluded, see the module docstring)."""
        with self._lock:
            return list(self.events[n:])

    def stop(self) -> None:
        """Ask the engine to stop after the current step; it saves and ends as 'stopped'."""
        self.stop_event.set()
        with self._lock:
            if self.alive:
                self.state = "stopping"

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def classes(self) -> int | None:
        """The number of classes, once the run's record names them (after its first epoch)."""
        if self._classes is None and self.run_dir is not None:
            try:
                record = json.loads((self.run_dir / runs.RUN_FILE).read_text(encoding="utf-8"))
                self._classes = len(record.get("label_names") or []) or None
            except (OSError, ValueError, AttributeError):
                return None
        return self._classes

    def _smoothed_eta(self, raw: float | None, now: float, basis: str | None = None) -> float | None:
        """The time left, smoothed: a new estimate moves the previous one (counted down
        since) only by ETA_SMOOTHING of the difference, so it does not jump about. An estimate
        on a new ``basis`` (the first one measured between whole epochs) replaces the old one."""
        if raw is None:
            self._eta = None
            return None
        if basis != self._eta_basis:
            self._eta, self._eta_basis = None, basis
        if self._eta is not None:
            previous, when = self._eta
            raw = max(0.0, previous - (now - when)) * (1 - ETA_SMOOTHING) + raw * ETA_SMOOTHING
        self._eta = (raw, now)
        return raw

    def status(self) -> dict:
        """A snapshot for display: state, progress, ETA, metrics rows so far.

        ``epoch`` is the epoch in progress while training; once stopped, the last epoch that
        was completed (``stopped_in``: the one it stopped during). ``elapsed_s`` is this job's
        time, ``elapsed_total_s`` adds a resumed run's earlier epochs; ``eta_raw_s`` is the time
        left at this job's pace in wall-clock time, validation and everything between epochs
        included (the epochs' own ``seconds`` leave those out: a head-only epoch on cached
        features reports milliseconds but takes far longer): once this job has finished two
        epochs, the time since its first ended over the progress made since (its first epoch
        warms up, and may have computed features); before that, the time since training started
        over this job's progress. A resumed run's earlier epochs count in neither. ``eta_s`` is
        the same smoothed (what pages show).

        A run that will train once more on all images once the validation chose its epoch
        (``refit_planned``, ``--refit``: as its Start event says) has two phases: the bar gives
        the first training a share of 1 / (1 + the number of trainings on all images,
        ``--refit-runs``; each goes to the chosen epoch, at most as many), and once the training
        on all images has begun (``phase`` ``refit``; ``refit-ready`` between the last epoch and
        its first step) the rest fills at that training's pace, from wherever the first ended (an
        early stop ends it sooner), so the bar never goes back; ``refit_from`` is where on the
        bar the second phase begins. Until then the time left counts each training on all images
        as many epochs as the first training has (the chosen epoch is known only once that has
        ended: counting the best so far, early in the run, promised a fraction of the time it
        took), then as the chosen epoch, at the first training's pace; then from its
        own pace (before its first step: the first training's pace per epoch). ``refit`` is the
        run's account of it once the run has ended (End.refit)."""
        with self._lock:
            events = list(self.events)
            step = self.last_step
            state, failure, started, ended = self.state, self.failure, self._train_started, self._ended
            ends, marks = list(self._epoch_ends), list(self._refit_marks)
        start = next((e for e in events if isinstance(e, Start)), None)
        end = next((e for e in events if isinstance(e, End)), None)
        given = self.config.epochs  # "auto" until the run has read its data and started
        epochs = start.epochs if start else given if isinstance(given, int) else 0
        earlier = list(start.earlier_epochs) if start else list(self.earlier)
        metrics = earlier + [e.row for e in events if isinstance(e, Epoch)]
        whole = [row for row in metrics if not row.get("stopped")]
        partial = next((row["epoch"] for row in metrics if row.get("stopped")), None)
        alive = state not in FINISHED
        planned = bool(start and start.refit and epochs > 0)
        runs = start.refit_runs if start and planned else 1
        refit_step = step if step is not None and step.phase == REFIT_PHASE and alive else None
        first_share = 1 / (1 + runs) if planned else 1.0
        refit_from = first_share if planned and alive else None
        if refit_step is not None:
            until = max(refit_step.epochs or refit_step.epoch, 1)
            refit_from = len(whole) / (epochs + runs * (epochs if planned else until))  # where the first training ended
            fraction = refit_from + (1 - refit_from) * _refit_progress(refit_step)
            phase = REFIT_PHASE
        else:
            fraction = _fraction(step, len(metrics), epochs, state)
            if state not in ("completed", "evaluated", "initialised"):
                fraction *= first_share
            phase = READY if planned and alive and len(whole) >= epochs else "train"
        if state in ("stopped", "failed"):
            fraction = len(whole) / max(epochs, 1)
        now = self._clock()
        elapsed = (ended or now) - started if started else 0.0
        raw: float | None = None
        basis = "since training started"
        if state == "running" and fraction < 1:
            if refit_step is not None:
                raw, basis = _refit_eta(refit_step, marks, ends, now)
            else:
                done = fraction * epochs / first_share  # epochs of the first training, a part of one too
                left = epochs - done
                if planned:  # then the trainings on all images: to the chosen epoch, at most the last
                    best = best_row([row for row in whole if row.get("val_acc") is not None]) \
                        if len(whole) >= epochs else None
                    left += runs * (int(best["epoch"]) if best else epochs)
                this_job = done - len(earlier)  # a resumed run's earlier epochs took no time here
                raw = elapsed * left / this_job if this_job > 0 else None
                if raw is not None and len(ends) >= 2:  # this job's pace, its slow first epoch left out
                    first_at, first_epoch = ends[0]
                    since = done - first_epoch
                    if since > 0:
                        raw, basis = (now - first_at) * left / since, "since the first epoch"
        with self._lock:
            eta = self._smoothed_eta(raw, now, basis)
        before = sum(float(row.get("seconds") or 0) for row in earlier)
        epoch = step.epoch if step and alive and refit_step is None else len(whole)
        return {
            "id": self.id, "name": self.name, "state": state, "error": error_text(failure) if failure else None,
            "model": self.config.model, "strategy": self.config.strategy, "init": self.config.init,
            "data": self.config.data,
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "epochs": epochs if start or isinstance(given, int) else given, "epoch": epoch, "stopped_in": partial,
            "step": vars(step) if step else None, "metrics": metrics, "fraction": fraction,
            "phase": phase, "refit_planned": planned, "refit_runs": runs, "refit_from": refit_from,
            "refit": end.refit if end else None,
            "elapsed_s": elapsed, "elapsed_total_s": elapsed + before, "eta_s": eta, "eta_raw_s": raw,
            "n_events": len(events),
            "classes": self.classes(), "val_images": start.val_images if start else None,
            "train_images": start.train_images if start else None,
            "chosen": dict(start.chosen) if start else {},
            "log": [e.message if isinstance(e, Log) else epoch_line(e.row, epochs)
                    for e in events if isinstance(e, (Log, Epoch))],
            "stop_reason": end.reason if end else None,
        }


def _refit_progress(step: Step) -> float:
    """How much of the training on all images a ``refit`` Step has done: of all ``step.runs`` of
    them, each of which ends with epoch ``step.epochs``."""
    within = min((step.epoch - 1 + step.step / max(step.steps, 1)) / max(step.epochs or step.epoch, 1), 1.0)
    return min((step.run - 1 + within) / max(step.runs, 1), 1.0)


def _refit_eta(step: Step, marks: list[tuple[float, float, int]], ends: list[tuple[float, int]],
               now: float) -> tuple[float | None, str]:
    """The time left of the training on all images, and its basis: its own pace since its first
    step this job saw, or once it has begun its second epoch since then (its first warms up);
    before it has one, the first training's wall-clock time per epoch (its first left out). One
    basis for all: each estimate is smoothed into the one before, so the first few steps' pace
    (loaders starting) does not throw the time left about."""
    progress = _refit_progress(step)
    for when, done, _ in reversed(marks):
        if progress > done:
            return (now - when) * (1 - progress) / (progress - done), REFIT_PHASE
    if len(ends) >= 2 and ends[-1][1] > ends[0][1]:
        per_epoch = (ends[-1][0] - ends[0][0]) / (ends[-1][1] - ends[0][1])
        return per_epoch * max(step.epochs or step.epoch, 1) * max(step.runs, 1) * (1 - progress), REFIT_PHASE
    return None, REFIT_PHASE


def _fraction(step: Step | None, epochs_done: int, epochs: int, state: str) -> float:
    """How much of the training is done, from the latest step event (evaluation counts as
    the end of its epoch)."""
    if state in ("completed", "evaluated", "initialised"):
        return 1.0
    if epochs <= 0:
        return 0.0
    done = float(epochs_done)
    if step is not None and step.epoch > epochs_done:
        within = 1.0 if step.phase == "eval" else step.step / max(step.steps, 1)
        done = step.epoch - 1 + within
    return min(done / epochs, 1.0)


@dataclass
class Comparing:
    """The Lab's comparison that is running (ui.lab_compare): who started it - only they (and
    on a local app everyone) may stop it - and the event that stops it."""

    owner: str | None
    stop: threading.Event = field(default_factory=threading.Event)


class JobManager:
    """Owns at most one running :class:`Job` per app, and remembers the latest one; and the
    Lab's comparison while it runs. The two share the computer's cores, so each waits for the other.

    ``train_fn`` and ``resume_fn`` stand in for ``engine.train`` and ``engine.resume``
    (tests); by default those are imported on first use. ``clock`` is its jobs' wall clock
    (tests give a fake one).
    """

    def __init__(self, train_fn: TrainFn | None = None, resume_fn: TrainFn | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._fns = {"train": train_fn, "resume": resume_fn}
        self._clock = clock
        self._lock = threading.Lock()
        self.current: Job | None = None
        self.comparing: Comparing | None = None

    def running(self) -> Job | None:
        """The job that is training now, if any."""
        job = self.current
        return job if job is not None and job.alive else None

    def ensure_idle(self) -> None:
        """Raise :class:`Busy` while a training or the Lab's comparison runs."""
        job = self.running()
        if job is not None:
            raise Busy(tr("busy: {name} is training; stop it or wait until it ends (one training at a time)",
                          name=job.name))
        if self.comparing is not None:
            raise Busy(tr("busy: the Init Lab is comparing; stop it (Init Lab tab, Compare) or wait until it ends "
                          "(one training at a time)"))

    @contextlib.contextmanager
    def comparison(self, owner: str | None) -> Iterator[Comparing]:
        """While the Lab's comparison for the visitor ``owner`` runs (or raise :class:`Busy`)."""
        with self._lock:
            self.ensure_idle()
            self.comparing = comparing = Comparing(owner)
        try:
            yield comparing
        finally:
            self.comparing = None

    def start(self, config: TrainConfig, owner: str | None = None) -> Job:
        """Start training ``config`` in the background for the visitor ``owner``, or raise
        :class:`Busy`."""
        return self._launch(config, "train", config, owner)

    def resume(self, run_dir: str | Path, owner: str | None = None) -> Job:
        """Carry on the interrupted run in ``run_dir`` in the background (``engine.resume``)
        for the visitor ``owner``, or raise :class:`Busy`. The job shows the run's own settings."""
        run = runs.load_run(run_dir)
        config = TrainConfig.from_dict({**run.info.config, "out": str(run.path)})
        return self._launch(config, "resume", run.path, owner, earlier=runs.read_metrics(run.path))

    def _launch(self, config: TrainConfig, action: str, target: Any, owner: str | None = None,
                earlier: list[dict] | None = None) -> Job:
        with self._lock:
            self.ensure_idle()
            fn = self._fns[action]
            if fn is None:
                from . import heavy

                heavy.load()
                from .. import engine

                fn = getattr(engine, action)
            job = Job(config, functools.partial(fn, target), owner, clock=self._clock)
            job.earlier = [row for row in earlier or [] if not row.get("stopped")]
            self.current = job
        job.start()
        return job

    def is_training(self, run_dir: str | Path) -> bool:
        job = self.running()
        return bool(job and job.run_dir and Path(job.run_dir).resolve() == Path(run_dir).resolve())

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop the running job (if any) and wait for it to save; stop the Lab's comparison."""
        if self.comparing is not None:
            self.comparing.stop.set()
        job = self.running()
        if job is not None:
            job.stop()
            job.join(timeout)
