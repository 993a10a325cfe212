"""The run folder while a run trains: its record, its best model, its validation
predictions, its metrics and its resume checkpoint - every file written atomically.

The best model is written at most every SAVE_INTERVAL_S (and always at the end): with epochs
of milliseconds (cached features), writing every epoch would cost more than the training. In
between, a new best epoch is kept as an in-memory copy of what training can have changed.
"""
from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from .. import __version__, checkpoint, runs
from ..i18n import N_
from ..record import SMALL_VALIDATION, InitializerUse, PluginUse, Row, RunRecord
from .plan import RunPlan
from .setup import RunSetup

SAVE_INTERVAL_S = float(os.environ.get("FTGUI_SAVE_INTERVAL_S", 2.0))


def save_due(last: float) -> bool:
    """Whether SAVE_INTERVAL_S has passed since the monotonic time ``last``."""
    return time.monotonic() - last >= SAVE_INTERVAL_S


class RunWriter:
    def __init__(self, run_dir: Path, plan: RunPlan, setup: RunSetup, created: str, writes: bool = True) -> None:
        self.run_dir, self.plan, self.setup, self.created = run_dir, plan, setup, created
        self.writes = writes
        """False on every process but rank 0 of a multi-process run: one writer per run folder."""
        self.trained_names: set[str] = set()
        self.lr_finding: dict[str, Any] | None = None
        self.refit: dict[str, Any] | None = None
        """RunRecord.refit, once the training again on all images starts."""
        self.saved_best: Row | None = None
        """The epoch whose weights model.safetensors holds."""
        self.pending: tuple[Row, dict[str, torch.Tensor], nn.Module, list | None] | None = None
        self.last_save = time.monotonic()  # nothing worth saving yet

    # -- the record ------------------------------------------------------------------------
    def record(self, status: str, epochs_done: int, **extra: Any) -> RunRecord:
        plan, setup = self.plan, self.setup
        strategy, init = plan.strategy_item, plan.initializer_item
        return RunRecord(
            status=status, created=self.created, ftgui_version=__version__,
            config={**plan.config.to_dict(), "model": plan.architecture, "weights": plan.weights, "lr": plan.lr,
                    "init": init.name, "epochs": plan.epochs, "batch_size": plan.batch_size,
                    "warmup_epochs": plan.warmup_epochs, "select": plan.select, "refit": "yes" if plan.refit else "no",
                    "refit_runs": plan.refit_runs},
            architecture=plan.architecture, weights_source=setup.weights_source,
            label_names=setup.label_names, new_head=bool(setup.new_layers) and strategy.needs_pretrained,
            strategy=PluginUse(strategy.name, plan.strategy_params, plan.strategy.source),
            initializer=InitializerUse(init.name, plan.init_params, plan.initializer.source, plan.bias,
                                       self._init_scope()),
            callbacks=[PluginUse(reg.item.name, params, reg.source) for reg, params in plan.callbacks],
            data=self._data(),
            data_config={k: list(v) if isinstance(v, tuple) else v for k, v in setup.data_config.items()},
            device=str(plan.device),
            versions={"python": platform.python_version(), "torch": torch.__version__,
                      "timm": timm.__version__, "ftgui": __version__, "platform": platform.platform()},
            best=self.saved_best, epochs_done=epochs_done, lr_finder=self.lr_finding,
            auto_settings=plan.auto_settings, select_auto=self._select_auto(), refit=self.refit, **extra)

    def _select_auto(self) -> dict[str, Any] | None:
        """How ``--select auto`` chose the rule: for how many validation images (None: it was given)."""
        if self.plan.config.select != "auto":
            return None
        return {"val_images": len(self.setup.val.indices) if self.setup.val else 0, "limit": SMALL_VALIDATION}

    def _data(self) -> dict | None:
        setup = self.setup
        if setup.collection is None or setup.train is None:
            return None
        collection = setup.collection
        val_collection = setup.val_collection or collection
        return {
            "source": collection.source, "content_hash": collection.content_hash,
            "classes": collection.classes, "val_source": val_collection.source,
            "val_content_hash": val_collection.content_hash,
            "split": {"train": [collection.paths[i] for i in setup.train.indices],
                      "val": [val_collection.paths[i] for i in (setup.val.indices if setup.val else [])]},
        }

    def _init_scope(self) -> str:
        if not self.plan.strategy_item.needs_pretrained:
            return N_("every layer")
        return N_("new head") if self.setup.new_layers else N_("nothing (pretrained head kept)")

    def save_record(self, status: str, epochs_done: int, **extra: Any) -> None:
        if not self.writes:
            return
        record = self.record(status, epochs_done, **extra)
        runs.atomic_write_json(self.run_dir / runs.RUN_FILE, record.to_dict())

    def write_report(self) -> None:
        setup = self.setup
        if setup.collection is None or not self.writes:
            return
        report = setup.collection.report()
        if setup.val_collection:
            report["val_data"] = setup.val_collection.report()
        report["split"] = {"train": len(setup.train.indices) if setup.train else 0,
                           "val": len(setup.val.indices) if setup.val else 0}
        runs.atomic_write_json(self.run_dir / runs.REPORT_FILE, report)

    def write_metrics(self, rows: list[Row]) -> None:
        if self.writes:
            runs.atomic_write_jsonl(self.run_dir / runs.METRICS_FILE, rows)

    # -- the best model --------------------------------------------------------------------
    def note_trainable(self, model: nn.Module) -> None:
        """Remember which parameters learn now (they are what a best copy must hold)."""
        self.trained_names |= {n for n, p in model.named_parameters() if p.requires_grad}

    def trained_state(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """The tensors training can have changed: every parameter that has been trainable, and
        the buffers. The rest equals the starting weights (a pending best copy relies on that
        until what is frozen changes, which flushes it; a resume rebuilds it)."""
        changed = self.trained_names | {n for n, _ in model.named_buffers()}
        return {k: v for k, v in model.state_dict().items() if k in changed}

    def keep_best(self, row: Row, model: nn.Module, predictions: list | None) -> None:
        """Write the new best epoch's ``model`` now, or keep a copy to write at the next chance."""
        if not self.writes:
            self.saved_best = row
        elif save_due(self.last_save):
            self.pending = None
            self.save_best(row, model, None, predictions)
        else:
            copy = {k: v.to("cpu", copy=True) for k, v in self.trained_state(model).items()}
            self.pending = (row, copy, model, predictions)

    def flush_best(self) -> None:
        if self.pending is not None:
            row, changed, model, predictions = self.pending
            self.pending = None
            self.save_best(row, model, {**model.state_dict(), **changed}, predictions)

    def save_best(self, row: Row, model: nn.Module, state: dict | None, predictions: list | None) -> None:
        setup = self.setup
        runs.save_model(self.run_dir, model, setup.label_names, setup.data_config, state)
        self.saved_best = row
        self.last_save = time.monotonic()
        if predictions is not None and setup.val is not None:
            val = setup.val
            rows = [{"path": val.collection.paths[i], "true": val.collection.classes[val.collection.labels[i]],
                     "pred": setup.label_names[pred], "score": score}
                    for i, (pred, score) in zip(val.indices, predictions)]
            runs.atomic_write_json(self.run_dir / runs.VAL_PREDICTIONS_FILE, rows)

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """The resume checkpoint; the best model on disk is brought up to date first, so the
        two always agree on the best epoch."""
        if not self.writes:
            return
        self.flush_best()
        checkpoint.save(self.run_dir, {**state, "best_saved": self.saved_best})
