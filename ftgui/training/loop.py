"""The epochs: train, validate, keep the best, checkpoint - with callbacks seeing each step.

The loop's state is explicit: :class:`ftgui.TrainState` (what callbacks see) and the loop's
own optimiser schedule, scaler and sources. Nothing here changes the caller's TrainConfig.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import checkpoint
from ..callback_types import Callback, TrainState
from ..device import autocast
from ..errors import FtguiError, SettingError
from ..i18n import N_
from ..plugin_types import TrainContext
from ..record import LOSS, SELECTED_BY, SMOOTHED, Row, is_better, loss_window, smoothed_loss
from .hooks import CallbackList, EventStream, built_in
from .optim import build_optimizer, build_scheduler
from .plan import RunPlan
from .setup import RunSetup, freeze_norm_stats
from .sources import BatchSources
from .writer import RunWriter, save_due


@dataclass
class TrainResult:
    run_dir: Path
    status: str
    """completed, stopped, evaluated (a strategy that does not train) or initialised (0 epochs)."""
    best: Row | None
    metrics: list[Row] = field(default_factory=list)
    stop_reason: str | None = None


class NonFinite(Exception):
    def __init__(self, epoch: int, where: str) -> None:
        super().__init__(f"non-finite {where} at epoch {epoch}")
        self.epoch, self.where = epoch, where


def is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc)
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text))


class RunKeeper(Callback):
    """Built in, after the user's callbacks: writes metrics.jsonl, keeps the best epoch's
    model and checkpoints the run at the end of each epoch."""

    name = "run-keeper"
    description = "metrics, best model and checkpoint of each epoch"

    def __init__(self, loop: Loop) -> None:
        self.loop = loop

    def on_epoch_end(self, state: TrainState, **params: Any) -> None:
        self.loop.keep(state)


class Loop:
    def __init__(self, plan: RunPlan, setup: RunSetup, sources: BatchSources, writer: RunWriter,
                 state: TrainState, events: EventStream, stop: threading.Event, resume_state: dict | None,
                 until: int | None = None) -> None:
        self.plan, self.setup, self.sources, self.writer = plan, setup, sources, writer
        self.state, self.stop_event = state, stop
        self.until = until
        """The last epoch to train, when it is not the schedule's last (the training again on all
        images ends with the validated epoch); such a loop's model is saved by its caller."""
        self.last = until or plan.epochs
        self.after_fit: Callable[[Callable[[], None]], None] | None = None
        """Called once a run completes, before callbacks hear that it ended, with a function that
        writes the run record again (the training again on all images, ``--refit``)."""
        self.callbacks = CallbackList([*plan.callbacks, built_in(RunKeeper(self)), built_in(events)])
        self.resume_state = resume_state
        self.model: nn.Module = setup.model
        self.config = plan.config
        self.scaler = torch.amp.GradScaler("cuda", enabled=plan.device.type == "cuda"
                                           and not torch.cuda.is_bf16_supported())
        self.scheduler: Any = None
        self.predictions: list | None = None
        self.last_checkpoint = time.monotonic()

    # -- a run without training ------------------------------------------------------------
    def evaluate_only(self, status: str) -> TrainResult:
        """predict-only, or --epochs 0: validate the model as it is and save it."""
        state = self.state
        self.callbacks.fire("on_fit_start", state)
        start = time.perf_counter()
        val_loss, val_acc = self.evaluate(0)
        state.metrics = {"epoch": 0, "train_loss": None, "train_acc": None, "val_loss": val_loss,
                         "val_acc": val_acc, "lr": 0.0, "seconds": round(time.perf_counter() - start, 3)}
        self.callbacks.fire("on_validation_end", state)
        self.callbacks.fire("on_epoch_end", state)
        return self.end(status)

    # -- training --------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        state, plan, config = self.state, self.plan, self.config
        if self.sources.train_loader is None:
            raise SettingError(N_("no training images left after the split; add images or lower {setting[val_split]}"))
        state.optimizer = build_optimizer(self.model, self.setup.groups, plan.lr, config.weight_decay)
        self.writer.note_trainable(self.model)
        epoch, updates = 1, 0
        if self.resume_state is not None:
            epoch, updates = self.restore(self.resume_state)
        else:
            self.scheduler = self.new_scheduler(0)
            context = TrainContext(self.model, self.sources.train_loader, self.sources.val_loader, plan.device,
                                   plan.epochs, plan.lr, state.log, self.stop_event.is_set,
                                   self.setup.normalize)
            if plan.strategy.call("fit", context, **plan.strategy_params):
                state.log(f"strategy '{plan.strategy_item.name}' ran its own fitting procedure")
        state.step = updates
        self.callbacks.fire("on_fit_start", state)
        if self.resume_state is not None:
            self.callbacks.load_state_dicts(state, self.resume_state.get("callbacks", {}))
        loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing, ignore_index=-1)
        status = "completed"
        while epoch <= self.last:
            state.epoch = epoch - 1
            self.start_epoch(epoch)
            start = time.perf_counter()
            try:
                stats, stopped = self.train_epoch(loss_fn)
                train_seconds = time.perf_counter() - start
                val_loss, val_acc = self.evaluate(epoch)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                self.shrink(epoch)
                continue
            self.check_finite(epoch, val_loss)
            state.metrics = {
                "epoch": epoch, "train_loss": stats["train_loss"], "train_acc": stats["train_acc"],
                "val_loss": val_loss, "val_acc": val_acc, "lr": state.optimizer.param_groups[0]["lr"],
                "seconds": round(time.perf_counter() - start, 3),
                "images_per_s": round(stats["images"] / max(train_seconds, 1e-9), 1),
                "cached_features": state.cached_features}
            if plan.select == LOSS and val_loss is not None:
                state.metrics[SMOOTHED] = smoothed_loss([*state.history, state.metrics], loss_window(plan.epochs))
            if stopped:
                state.metrics["stopped"] = True
            self.callbacks.fire("on_validation_end", state)
            self.callbacks.fire("on_epoch_end", state)
            state.history.append(state.metrics)
            if self.stop_event.is_set():
                status = "stopped"
                if self.until is None:
                    state.log(f"stopped during epoch {epoch}; the best epoch so far is kept"
                              + (f" (resume with: ftgui train --resume {state.run_dir})"
                                 if checkpoint.exists(state.run_dir) else ""))
                break
            if state.stop_reason is not None:
                state.log(f"training ended after epoch {epoch}: {state.stop_reason}")
                break
            epoch += 1
        return self.end(status)

    def start_epoch(self, epoch: int) -> None:
        """Let the strategy change what learns (gradual unfreezing), then tell callbacks."""
        plan, state = self.plan, self.state
        groups = plan.strategy.call("on_epoch_start", self.model, epoch - 1, **plan.strategy_params)
        if groups is not None:
            self.writer.flush_best()  # a pending copy assumes the frozen weights stay put
            state.optimizer = build_optimizer(self.model, groups, plan.lr, self.config.weight_decay,
                                              previous=state.optimizer)
            self.writer.note_trainable(self.model)
            self.scheduler = self.new_scheduler(state.step)
            self.sources.forget_features()
        self.callbacks.fire("on_epoch_start", state)

    def new_scheduler(self, updates: int):
        assert self.state.optimizer is not None
        return build_scheduler(self.state.optimizer, self.plan.lr, self.plan.epochs, self.plan.warmup_epochs,
                               self.sources.steps_per_epoch(), updates)

    def train_epoch(self, loss_fn: nn.Module) -> tuple[dict, bool]:
        state, optimizer, scaler = self.state, self.state.optimizer, self.scaler
        assert optimizer is not None
        loader, forward, state.cached_features = self.sources.train_source(state.epoch + 1)
        state.steps_per_epoch = len(loader)
        self.model.train()
        freeze_norm_stats(self.model)
        total_loss, correct, seen, stopped = 0.0, 0, 0, False
        processes = self.sources.processes
        for index, (inputs, targets) in enumerate(loader):
            state.batch_index = index
            state.inputs = inputs.to(self.plan.device, non_blocking=True)
            state.targets = targets.to(self.plan.device, non_blocking=True)
            self.callbacks.fire("on_batch_start", state)
            with autocast(self.plan.device):
                state.logits = forward(state.inputs)
                state.loss = loss_fn(state.logits, state.targets)
            if not torch.isfinite(state.loss):
                raise NonFinite(state.epoch + 1, "training loss")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(state.loss).backward()
            scaler.unscale_(optimizer)  # callbacks see the true gradients
            self.callbacks.fire("on_after_backward", state)
            scaler.step(optimizer)
            scaler.update()
            state.step += 1
            self.scheduler.step_update(state.step)
            loss_value = state.loss.item()
            total_loss += loss_value * len(state.targets)
            correct += int((state.logits.argmax(dim=1) == state.targets).sum())
            seen += len(state.targets)
            self.callbacks.fire("on_batch_end", state)
            if self.agree_to_stop(processes):
                stopped = self.stop_event.is_set() or index + 1 < len(loader)
                break
        state.inputs = state.targets = state.logits = state.loss = None
        loss_sum, right, count = processes.sum([total_loss, correct, seen])  # over every process
        return {"train_loss": loss_sum / max(count, 1), "train_acc": right / max(count, 1),
                "images": int(count)}, stopped

    def agree_to_stop(self, processes) -> bool:
        """Whether training stops after this batch: the user's Stop or a callback's, on any
        process (every process of a multi-process run must stop at the same batch)."""
        user, callback = processes.sum([float(self.stop_event.is_set()), float(self.state.stop_reason is not None)])
        if user and not self.stop_event.is_set():
            self.stop_event.set()
        if callback and self.state.stop_reason is None:
            self.state.stop_reason = "stopped by a callback in another training process"
        return bool(user or callback)

    def evaluate(self, epoch: int) -> tuple[float | None, float | None]:
        model = self.state.trained_model()
        loader, forward = self.sources.val_source(model)
        self.predictions = None
        if loader is None or forward is None:
            return None, None
        was_training = model.training
        model.eval()
        loss_fn = nn.CrossEntropyLoss(ignore_index=-1, reduction="sum")
        total_loss, correct, counted, seen, predictions = 0.0, 0, 0, 0, []
        with torch.inference_mode():
            for step, (inputs, targets) in enumerate(loader):
                targets = targets.to(self.plan.device, non_blocking=True)
                with autocast(self.plan.device):
                    logits = forward(inputs.to(self.plan.device, non_blocking=True))
                logits = logits.float()
                known = targets >= 0
                if known.any():
                    total_loss += loss_fn(logits, targets).item()
                    counted += int(known.sum())
                scores, preds = logits.softmax(dim=1).max(dim=1)
                correct += int((preds == targets).sum())
                seen += len(targets)
                predictions += [(int(p), float(s)) for p, s in zip(preds.cpu(), scores.cpu())]
                self.sources.progress("eval", epoch, step + 1, len(loader))
        model.train(was_training)
        self.predictions = predictions
        return (total_loss / counted if counted else None), correct / max(seen, 1)

    def check_finite(self, epoch: int, val_loss: float | None) -> None:
        """A model whose validation loss or weights are NaN/infinite is never saved as good."""
        if val_loss is not None and not math.isfinite(val_loss):
            raise NonFinite(epoch, "validation loss")
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters() if p.requires_grad):
            raise NonFinite(epoch, "weights")

    def shrink(self, epoch: int) -> None:
        """After running out of memory: smaller batches, and the epoch again from its start."""
        old = self.sources.batch_size
        new = self.sources.shrink()
        self.state.log(f"out of memory with batch size {old}: retrying epoch {epoch} with batch size {new}")
        self.state.step = (epoch - 1) * self.sources.steps_per_epoch()
        self.scheduler = self.new_scheduler(self.state.step)

    # -- keeping what was learned ----------------------------------------------------------
    def keep(self, state: TrainState) -> None:
        """metrics.jsonl, the best model, the checkpoint and the record, after an epoch."""
        row, writer = state.metrics, self.writer
        writer.write_metrics([*state.history, row])
        partial = row.get("stopped", False)
        if is_better(row, state.best) and not (partial and state.best is not None):
            state.best = row
            writer.keep_best(row, state.trained_model(), self.predictions)
        ends = partial or state.stop_reason is not None or row["epoch"] >= self.last
        if not ends and state.optimizer is not None and save_due(self.last_checkpoint):
            self.save_checkpoint(row["epoch"])
        writer.save_record("running", len(state.history) + 1, **self.record_extras())

    def record_extras(self) -> dict[str, Any]:
        extras: dict[str, Any] = {"selected_by": SELECTED_BY[self.plan.select, self.state.eval_model is not None]}
        if self.sources.batch_size != self.plan.batch_size:
            extras["batch_size_used"] = self.sources.batch_size
        return extras

    def save_checkpoint(self, epoch: int) -> None:
        state = self.state
        assert state.optimizer is not None
        self.writer.save_checkpoint({
            "epoch": epoch, "updates": state.step, "model": self.writer.trained_state(self.model),
            "optimizer": state.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(), "rng": checkpoint.rng_state(self.sources.generator),
            "metrics": [*state.history, state.metrics], "best": state.best,
            "callbacks": self.callbacks.state_dicts(state), "batch_size": self.sources.batch_size,
        })
        self.last_checkpoint = time.monotonic()

    def restore(self, saved: dict) -> tuple[int, int]:
        """Put model, optimiser, scheduler, metrics and every RNG back as they were after the
        checkpoint's epoch; return (next epoch, updates so far)."""
        state, plan = self.state, self.plan
        if saved.get("batch_size", self.sources.batch_size) != self.sources.batch_size:
            self.sources.batch_size = saved["batch_size"]  # it ran out of memory before: stay smaller
            self.sources.build_loaders()
            state.steps_per_epoch = self.sources.steps_per_epoch()
        for epoch in range(saved["epoch"]):  # replay what the strategy froze or unfroze
            groups = plan.strategy.call("on_epoch_start", self.model, epoch, **plan.strategy_params)
            if groups is not None:
                state.optimizer = build_optimizer(self.model, groups, plan.lr, self.config.weight_decay,
                                                  previous=state.optimizer)
                self.writer.note_trainable(self.model)
        unexpected = self.model.load_state_dict(saved["model"], strict=False).unexpected_keys
        if unexpected:
            raise FtguiError(f"{state.run_dir}'s checkpoint does not fit its model ({unexpected[0]}, ...); "
                             "start a new run instead")
        assert state.optimizer is not None
        self.scheduler = self.new_scheduler(0)  # before the optimiser's state: creating it resets the lr
        state.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])
        state.history, state.best = list(saved["metrics"]), saved["best"]
        self.writer.saved_best = saved.get("best_saved", saved["best"])
        self.writer.write_metrics(state.history)
        checkpoint.restore_rng(saved["rng"], self.sources.generator)
        state.resumed = True
        state.log(f"resuming {state.run_dir} after epoch {saved['epoch']}")
        return saved["epoch"] + 1, saved["updates"]

    # -- the end ---------------------------------------------------------------------------
    def end(self, status: str) -> TrainResult:
        state, writer = self.state, self.writer
        writer.flush_best()
        if status == "completed" and writer.writes:
            checkpoint.remove(state.run_dir)
        epochs_done = len(state.history) if state.history else int(bool(state.metrics))

        def save_record() -> None:
            writer.save_record(status, epochs_done, stop_reason=state.stop_reason, **self.record_extras())

        save_record()
        if status == "completed" and self.after_fit is not None:
            self.after_fit(save_record)
        state.status = status
        self.callbacks.fire("on_fit_end", state)
        rows = state.history or ([state.metrics] if state.metrics else [])
        return TrainResult(state.run_dir, status, state.best, rows, state.stop_reason)

    def fail(self, message: str) -> None:
        """Record a failed run, keeping whatever can still be saved (the disk may be full)."""
        try:
            self.writer.flush_best()
            self.writer.save_record("failed", len(self.state.history), error=message, **self.record_extras())
        except (OSError, FtguiError):
            pass
        self.state.status = "failed"
        try:
            self.callbacks.fire("on_fit_end", self.state)
        except FtguiError:
            pass


def non_finite_message(exc: NonFinite, lr: float, kept: bool) -> SettingError:
    template = (N_("the {where} became NaN or infinite at epoch {epoch}: the learning rate {lr:g} is too high for "
                   "this model and data; lower {setting[lr]} (try {lower:g}); the best epoch so far is kept") if kept
                else N_("the {where} became NaN or infinite at epoch {epoch}: the learning rate {lr:g} is too high "
                        "for this model and data; lower {setting[lr]} (try {lower:g})"))
    return SettingError(template, where=exc.where, epoch=exc.epoch, lr=lr, lower=lr / 10)
