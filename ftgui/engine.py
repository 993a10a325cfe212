"""The training loop: from a TrainConfig to a run folder.

``train`` is what the CLI, the GUI and Python all call. It reports progress as plain event
dicts to an optional listener, stops cooperatively when ``stop`` is set (finishing the
current step and saving), and keeps the best epoch by validation accuracy.

Events (``type`` key): ``log`` (message), ``start`` (run_dir, epochs, steps_per_epoch),
``step`` (phase, epoch, step, steps, loss), ``epoch`` (one metrics row), ``end`` (status,
best, run_dir).
"""
from __future__ import annotations

import contextlib
import math
import os
import platform
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

import timm
from timm.optim import create_optimizer_v2
from timm.utils import decay_batch_step
from timm.scheduler import create_scheduler_v2

from . import __version__, checkpoint, features, models, pipeline, runs
from .device import autocast, pick_device
from .config import DEFAULT_MODEL, TrainConfig
from .data import ImageCollection, load_images, stratified_split
from .errors import FtguiError
from .plugin_types import TrainContext
from .registry import Registry, load_registry

Listener = Callable[[dict], None]
SAVE_INTERVAL_S = float(os.environ.get("FTGUI_SAVE_INTERVAL_S", 2.0))
"""The best model and the resume checkpoint are written at most this often while training
(the best model always at the end): with epochs of milliseconds (cached features), writing
every epoch would cost more than the training."""


@dataclass
class TrainResult:
    run_dir: Path
    status: str
    """completed, stopped, or evaluated (a strategy that does not train)."""
    best: dict | None
    metrics: list[dict] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def _seeded(seed: int | None):
    """Run a block with every RNG seeded by ``seed`` (None: untouched), then restore them,
    so an augmented feature view is repeatable without disturbing the training's RNG."""
    if seed is None:
        yield
        return
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    seed_everything(seed)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


def _optimizer_groups(groups: list[dict], weight_decay: float) -> list[dict]:
    """Split each strategy group into decayed weights and undecayed biases/norm scales
    (timm's convention), keeping the group's other keys such as lr_scale."""
    out = []
    for group in groups:
        extra = {k: v for k, v in group.items() if k != "params"}
        params = [p for p in group["params"] if p.requires_grad]
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        if decay:
            out.append({**extra, "params": decay, "weight_decay": weight_decay})
        if no_decay:
            out.append({**extra, "params": no_decay, "weight_decay": 0.0})
    return out


def _freeze_norm_stats(model: nn.Module) -> None:
    """Put norm layers whose parameters are all frozen in eval mode, so a frozen part of
    the network keeps its BatchNorm running statistics too."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._NormBase):
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                module.eval()


class _Loop:
    """One training run's state; ``train`` below is the public entry point."""

    def __init__(self, config: TrainConfig, listener: Listener | None,
                 stop: threading.Event | None, registry: Registry | None,
                 resume_dir: Path | None = None, resume_state: dict | None = None) -> None:
        config.validate()
        self.config = config
        self.resume_dir = resume_dir
        self.resume_state = resume_state or {}
        if resume_dir is None:
            runs.check_out_dir(config.out)  # before any image is read
        self.emit: Listener = listener or (lambda event: None)
        self.stop = stop or threading.Event()
        self.registry = registry or load_registry(config.plugins_dirs)
        self.strategy = self.registry.strategy(config.strategy)
        self.strategy_params = self.strategy.resolve(config.strategy_params)
        self.initializer = self.registry.initializer(config.init)
        self.init_params = self.initializer.resolve(config.init_params)
        self.bias = config.bias_value()
        self.lr = config.lr or self.strategy.default_lr
        self.weights = self._resolve_weights()
        self.architecture = self._resolve_architecture()
        if self.weights == "none":
            models.check_model_name(self.architecture)
        else:
            models.check_weights(self.architecture, self.weights)
        self.device = pick_device(config.device)

    # -- set-up ------------------------------------------------------------------------
    def _resolve_weights(self) -> str:
        weights = self.config.weights
        if self.strategy.needs_pretrained:
            if weights is None:
                return "hub"
            if weights == "none":
                raise FtguiError(
                    f"strategy '{self.strategy.name}' starts from pretrained weights: give "
                    "--weights hub or PATH, or train from scratch with --strategy scratch"
                )
            return weights
        if weights not in (None, "none"):
            raise FtguiError(
                f"strategy '{self.strategy.name}' trains from scratch and loads no weights: "
                "leave out --weights, or pick a fine-tuning strategy such as full"
            )
        return "none"

    def _resolve_architecture(self) -> str:
        if self.config.model:
            return self.config.model
        path = Path(self.weights).expanduser()
        if self.weights not in ("hub", "none") and models.is_run_dir(path):
            return models.run_architecture(path)
        return DEFAULT_MODEL

    def log(self, message: str) -> None:
        self.emit({"type": "log", "message": message})

    def load_data(self) -> None:
        config = self.config
        self.collection: ImageCollection | None = None
        self.val_collection: ImageCollection | None = None
        if config.data is None:
            if self.strategy.trains:
                raise FtguiError(f"strategy '{self.strategy.name}' needs --data: a folder of class sub-folders or a .zip")
            return
        self.log(f"reading images from {config.data}")
        self.collection = load_images(config.data)
        for skipped in self.collection.skipped:
            self.log(f"skipped {skipped.path}: {skipped.reason}")
        for warning in self.collection.warnings:
            self.log(f"warning: {warning}")
        if self.collection.ignored:
            self.log(f"ignored {len(self.collection.ignored)} hidden or system file(s) such as "
                     f"{self.collection.ignored[0]} (listed in the data report)")
        if config.val_data:
            self.val_collection = load_images(config.val_data)
            extra = sorted(set(self.val_collection.classes) - set(self.collection.classes))
            if extra:
                raise FtguiError(
                    f"--val-data has classes the training data lacks: {', '.join(extra)}; "
                    "use the same class folders in both"
                )
            self.train_idx = list(range(len(self.collection.paths)))
            self.val_idx = list(range(len(self.val_collection.paths)))
        else:
            self.train_idx, self.val_idx = stratified_split(
                self.collection.labels, config.val_split, config.seed)

    def build_model(self) -> None:
        classes = self.collection.classes if self.collection else []
        if not self.strategy.needs_pretrained:
            self.log(f"creating {self.architecture} from scratch for {len(classes)} classes")
            loaded = models.create_untrained(self.architecture, len(classes))
            self.new_layers = list(loaded.model.modules())
            self.label_names = list(classes)
        else:
            self.log(f"loading {self.architecture} weights from {self.weights}")
            loaded = models.load_weights(self.architecture, self.weights)
            source_labels = loaded.label_names
            if self.strategy.keeps_head or (
                source_labels is not None and set(source_labels) == set(classes)
                and len(source_labels) == loaded.model.num_classes
            ):
                self.label_names = loaded.labels()
                self.new_layers = []
                if not self.strategy.keeps_head:
                    self.log("the data has the weights' own classes: training continues their head")
            else:
                loaded.model.reset_classifier(len(classes))
                self.new_layers = models.head_modules(loaded.model)
                self.label_names = list(classes)
                self.log(f"new {len(classes)}-class head, initialised with '{self.initializer.name}'")
        self.model = loaded.model
        self.weights_source = loaded.source
        self.label_map = self.label_indices(classes)
        if self.collection and self.strategy.keeps_head and max(self.label_map, default=-1) < 0:
            self.log("warning: none of the data's classes is among the model's labels; "
                     "its accuracy on them is 0 by definition")

    def label_indices(self, classes: list[str]) -> list[int]:
        """The model's output index for each class name, -1 for a class it does not know."""
        return [self.label_names.index(c) if c in self.label_names else -1 for c in classes]

    def prepare_images(self) -> None:
        """Decode every image once (up to the memory budget) and set up the batch sources."""
        self.transforms = pipeline.build_transforms(self.model, self.config.img_size, self.config.aug)
        self.data_config = self.transforms.data_config
        self.train_images = self.val_images = None
        self.train_labels: list[int] = []
        self.val_labels: list[int] = []
        if self.collection is None:
            return
        resize = self.transforms.cache_resize
        collection = self.collection
        val_collection = self.val_collection or collection
        self.train_images = pipeline.DecodedImages(collection, self.train_idx, resize)
        self.train_labels = [self.label_map[collection.labels[i]] for i in self.train_idx]
        if self.val_idx:
            val_map = self.label_indices(val_collection.classes)
            self.val_images = pipeline.DecodedImages(val_collection, self.val_idx, resize)
            self.val_labels = [val_map[val_collection.labels[i]] for i in self.val_idx]

    def init_new_layers(self) -> None:
        if not self.new_layers:
            return
        batch = None
        if self.train_images is not None and len(self.train_images):
            count = min(len(self.train_images), self.config.batch_size)
            uint8 = torch.stack([self.transforms.eval(self.train_images[i]) for i in range(count)])
            batch = pipeline.Normalizer(self.data_config, torch.device("cpu"))(uint8)
        models.init_layers(self.new_layers, self.initializer, self.init_params, self.bias, batch)

    def loader(self, dataset, shuffle: bool, fully_cached: bool) -> torch.utils.data.DataLoader:
        options = pipeline.loader_options(self.device, fully_cached, self.config.num_workers)
        if shuffle:
            return torch.utils.data.DataLoader(
                dataset, batch_size=self.config.batch_size, shuffle=True,
                drop_last=len(dataset) > self.config.batch_size, generator=self.generator, **options)
        return torch.utils.data.DataLoader(dataset, batch_size=self.config.batch_size, **options)

    def loaders(self) -> None:
        self.train_loader = self.val_loader = None
        if self.train_images is not None and len(self.train_images):
            dataset = pipeline.ImageBatches(self.train_images, self.train_labels, self.transforms.train,
                                            self.transforms.train_on_pil)
            self.train_loader = self.loader(dataset, True, self.train_images.fully_cached)
        if self.val_images is not None:
            dataset = pipeline.ImageBatches(self.val_images, self.val_labels, self.transforms.eval)
            self.val_loader = self.loader(dataset, False, self.val_images.fully_cached)

    # -- the feature cache -------------------------------------------------------------
    def feature_mode(self) -> bool:
        return self.config.feature_cache and features.only_head_learns(self.model)

    def features_of(self, images: "pipeline.DecodedImages", labels: list[int], transform,
                    needs_pil: bool, view: int | None) -> torch.Tensor:
        """Pre-logits of ``images`` under ``transform``: computed once, then cached.

        ``view`` numbers an augmented view (its randomness is seeded by it); None is the
        deterministic evaluation transform."""
        memo_key = (id(images), id(transform), view)
        if memo_key in self.feature_memo:
            return self.feature_memo[memo_key]
        collection = images.collection
        key = features.feature_key(
            collection.content_hash, [collection.paths[i] for i in images.indices],
            self.architecture, features.backbone_digest(self.model), repr(transform),
            view if view is None else (self.config.seed, view), self.device.type)

        def batches():
            dataset = pipeline.ImageBatches(images, labels, transform, needs_pil)
            loader = torch.utils.data.DataLoader(
                dataset, batch_size=self.config.batch_size,
                **pipeline.loader_options(self.device, images.fully_cached, self.config.num_workers))
            self.model.eval()
            with _seeded(None if view is None else self.config.seed * 1000 + view), torch.inference_mode():
                for step, (uint8, _) in enumerate(loader):
                    with autocast(self.device):
                        yield features.pre_logits(self.model, self.normalize(uint8))
                    self.emit({"type": "step", "phase": "features", "epoch": 0, "step": step + 1,
                               "steps": len(loader)})

        self.feature_memo[memo_key] = features.cached_features(key, len(images), batches)
        return self.feature_memo[memo_key]

    def feature_loader(self, feats: torch.Tensor, labels: list[int], shuffle: bool):
        """Batches of cached features, drawn exactly as the image loader would draw them."""
        rows = features.FeatureRows(feats, labels)
        if shuffle:
            sampler = torch.utils.data.RandomSampler(rows, generator=self.generator)
            drop_last = len(rows) > self.config.batch_size
        else:
            sampler, drop_last = torch.utils.data.SequentialSampler(rows), False
        batches = torch.utils.data.BatchSampler(sampler, self.config.batch_size, drop_last)
        return torch.utils.data.DataLoader(rows, sampler=batches, batch_size=None,
                                           generator=self.generator if shuffle else None)

    def train_source(self, epoch: int):
        """(loader, forward) for this epoch: cached features into the head while only the
        head learns, else images through the whole model."""
        if not self.feature_mode():
            return self.train_loader, self.forward_images
        views = self.config.feature_views
        if views:
            view = (epoch - 1) % views
            feats = self.features_of(self.train_images, self.train_labels, self.transforms.train,
                                     self.transforms.train_on_pil, view)
        else:
            feats = self.features_of(self.train_images, self.train_labels, self.transforms.eval, False, None)
        return self.feature_loader(feats, self.train_labels, True), self.model.get_classifier()

    def val_source(self):
        if self.val_images is None:
            return None, None
        if not (self.config.feature_cache and (self.feature_mode() or not self.strategy.trains)):
            return self.val_loader, self.forward_images
        feats = self.features_of(self.val_images, self.val_labels, self.transforms.eval, False, None)
        return self.feature_loader(feats, self.val_labels, False), self.model.get_classifier()

    def forward_images(self, uint8: torch.Tensor) -> torch.Tensor:
        return self.forward_model(self.normalize(uint8))

    # -- the record --------------------------------------------------------------------
    def record(self, status: str, **extra) -> dict:
        collection = self.collection
        data = None
        if collection is not None:
            val_collection = self.val_collection or collection
            data = {
                "source": collection.source,
                "content_hash": collection.content_hash,
                "classes": collection.classes,
                "val_source": val_collection.source,
                "val_content_hash": val_collection.content_hash,
                "split": {
                    "train": [collection.paths[i] for i in self.train_idx],
                    "val": [val_collection.paths[i] for i in self.val_idx],
                },
            }
        config = {**self.config.to_dict(), "model": self.architecture, "weights": self.weights,
                  "lr": self.lr}
        return {
            "ftgui_version": __version__,
            "created": self.created,
            "status": status,
            "config": config,
            "architecture": self.architecture,
            "weights_source": self.weights_source,
            "label_names": self.label_names,
            "new_head": bool(self.new_layers) and self.strategy.needs_pretrained,
            "strategy": {"name": self.strategy.name, "params": self.strategy_params,
                         "source": self.registry.source_of(self.strategy)},
            "initializer": {"name": self.initializer.name, "params": self.init_params,
                            "source": self.registry.source_of(self.initializer),
                            "bias": self.bias, "applied_to": self._init_scope()},
            "data": data,
            "data_config": {k: list(v) if isinstance(v, tuple) else v
                            for k, v in self.data_config.items()},
            "device": str(self.device),
            "versions": {"python": platform.python_version(), "torch": torch.__version__,
                         "timm": timm.__version__, "ftgui": __version__,
                         "platform": platform.platform()},
            "best": self.saved_best,  # the epoch whose weights model.safetensors holds
            "epochs_done": len(self.metrics),
            **extra,
        }

    def _init_scope(self) -> str:
        if not self.strategy.needs_pretrained:
            return "every layer"
        return "new head" if self.new_layers else "nothing (pretrained head kept)"

    def save_record(self, status: str, **extra) -> None:
        runs.atomic_write_json(self.run_dir / runs.RUN_FILE, self.record(status, **extra))

    def keep_best(self, row: dict, predictions: list | None) -> None:
        """Write the new best epoch's model now or, when the last write was under
        SAVE_INTERVAL_S ago, keep a copy in memory and write it at the next chance: with epochs
        of milliseconds (cached features) writing every epoch would cost more than training."""
        if time.monotonic() - self.last_save >= SAVE_INTERVAL_S:
            self.pending_best = None
            self.save_best(row, None, predictions)
        else:
            self.pending_best = (row, {k: v.to("cpu", copy=True) for k, v in self.trained_state().items()},
                                 predictions)

    def trained_state(self) -> dict[str, torch.Tensor]:
        """The tensors training can have changed: every parameter that has been trainable, and
        the buffers. The rest equals the starting weights (a pending best copy relies on that
        until what is frozen changes, which flushes it; a resume rebuilds it)."""
        changed = self.trained_names | {n for n, _ in self.model.named_buffers()}
        return {k: v for k, v in self.model.state_dict().items() if k in changed}

    def flush_best(self) -> None:
        if self.pending_best is not None:
            row, changed, predictions = self.pending_best
            self.pending_best = None
            self.save_best(row, {**self.model.state_dict(), **changed}, predictions)

    def save_best(self, row: dict, state: dict | None, predictions: list | None) -> None:
        runs.save_model(self.run_dir, self.model, self.label_names, self.data_config, state)
        self.saved_best = row
        self.last_save = time.monotonic()
        if predictions is not None:
            val_collection = self.val_collection or self.collection
            rows = [
                {"path": val_collection.paths[i],
                 "true": val_collection.classes[val_collection.labels[i]],
                 "pred": self.label_names[pred], "score": score}
                for i, (pred, score) in zip(self.val_idx, predictions)
            ]
            runs.atomic_write_json(self.run_dir / runs.VAL_PREDICTIONS_FILE, rows)

    # -- the loop ----------------------------------------------------------------------
    def evaluate(self, epoch: int) -> tuple[float | None, float | None, list | None]:
        loader, forward = self.val_source()
        if loader is None:
            return None, None, None
        self.model.eval()
        loss_fn = nn.CrossEntropyLoss(ignore_index=-1, reduction="sum")
        total_loss, correct, counted, seen, predictions = 0.0, 0, 0, 0, []
        steps = len(loader)
        with torch.inference_mode():
            for step, (inputs, targets) in enumerate(loader):
                targets = targets.to(self.device, non_blocking=True)
                with autocast(self.device):
                    logits = forward(inputs.to(self.device, non_blocking=True))
                logits = logits.float()
                known = targets >= 0
                if known.any():
                    total_loss += loss_fn(logits, targets).item()
                    counted += int(known.sum())
                scores, preds = logits.softmax(dim=1).max(dim=1)
                correct += int((preds == targets).sum())
                seen += len(targets)
                predictions += [(int(p), float(s)) for p, s in zip(preds.cpu(), scores.cpu())]
                self.emit({"type": "step", "phase": "eval", "epoch": epoch, "step": step + 1, "steps": steps})
        return (total_loss / counted if counted else None), correct / max(seen, 1), predictions

    def build_optimizer(self, groups: list[dict], updates: int) -> None:
        config = self.config
        self.trained_names |= {n for n, p in self.model.named_parameters() if p.requires_grad}
        self.optimizer = create_optimizer_v2(
            _optimizer_groups(groups, config.weight_decay), opt="adamw", lr=self.lr,
            weight_decay=config.weight_decay)
        self.build_scheduler(updates)

    def build_scheduler(self, updates: int) -> None:
        config = self.config
        self.scheduler, _ = create_scheduler_v2(
            self.optimizer, sched="cosine", num_epochs=config.epochs,
            warmup_epochs=min(config.warmup_epochs, config.epochs // 4), warmup_lr=self.lr * 0.01,
            min_lr=self.lr * 0.01, step_on_epochs=False, updates_per_epoch=len(self.train_loader))
        self.scheduler.step_update(updates)

    def is_better(self, row: dict) -> bool:
        if self.best is None:
            return True
        if row["val_acc"] is None:
            return True
        key = lambda r: (r["val_acc"], -(r["val_loss"] if r["val_loss"] is not None else math.inf))
        return key(row) > key(self.best)

    def train_epoch(self, epoch: int, updates: int, loss_fn, scaler) -> tuple[dict, int, bool]:
        loader, forward = self.train_source(epoch)
        self.model.train()
        _freeze_norm_stats(self.model)
        steps = len(loader)
        total_loss, correct, seen, stopped = 0.0, 0, 0, False
        for step, (inputs, targets) in enumerate(loader):
            targets = targets.to(self.device, non_blocking=True)
            with autocast(self.device):
                logits = forward(inputs.to(self.device, non_blocking=True))
                loss = loss_fn(logits, targets)
            if not torch.isfinite(loss):
                raise _NonFinite(epoch, step + 1)
            self.optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(self.optimizer)
            scaler.update()
            updates += 1
            self.scheduler.step_update(updates)
            loss_value = loss.item()
            total_loss += loss_value * len(targets)
            correct += int((logits.argmax(dim=1) == targets).sum())
            seen += len(targets)
            self.emit({"type": "step", "phase": "train", "epoch": epoch, "step": step + 1,
                       "steps": steps, "loss": loss_value})
            if self.stop.is_set():
                stopped = True
                break
        stats = {"train_loss": total_loss / max(seen, 1), "train_acc": correct / max(seen, 1),
                 "images": seen}
        return stats, updates, stopped

    def run(self) -> TrainResult:
        self.created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.metrics: list[dict] = []
        self.best: dict | None = None
        self.last_save = -math.inf
        self.trained_names: set[str] = set()
        self.pending_best: tuple[dict, dict, list | None] | None = None
        self.saved_best: dict | None = None
        self.feature_memo: dict[tuple, torch.Tensor] = {}
        self.load_data()
        seed_everything(self.config.seed)
        self.build_model()
        self.prepare_images()
        self.init_new_layers()
        self.generator = torch.Generator().manual_seed(self.config.seed)
        channels_last = self.device.type == "cuda"
        self.model.to(self.device)
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.forward_model = torch.compile(self.model) if self.config.compile else self.model
        self.normalize = pipeline.Normalizer(self.data_config, self.device, channels_last)
        self.loaders()
        if self.resume_dir is not None:
            self.run_dir = self.resume_dir
            self.check_same_data()
        else:
            self.run_dir = runs.new_run_dir(self.config.out, self.architecture, self.strategy.name)
            self.write_report()
        runs.claim(self.run_dir)
        try:
            return self.train_or_evaluate()
        finally:
            runs.release(self.run_dir)

    def train_or_evaluate(self) -> TrainResult:
        self.save_record("running")
        self.emit({"type": "start", "run_dir": str(self.run_dir), "epochs": self.config.epochs,
                   "steps_per_epoch": len(self.train_loader) if self.train_loader else 0,
                   "train_images": len(self.train_idx) if self.collection else 0,
                   "val_images": len(self.val_idx) if self.collection else 0,
                   "resumed_from_epoch": self.resume_state["epoch"] if self.resume_dir else None})
        if not self.strategy.trains:
            return self.finish_without_training()
        if self.train_loader is None:
            raise FtguiError("no training images left after the split; add images or lower --val-split")
        return self.fit()

    def check_same_data(self) -> None:
        record = runs.load_run(self.run_dir).record
        self.created = record.get("created", self.created)
        old = record.get("data") or {}
        if self.collection and old.get("content_hash") != self.collection.content_hash:
            raise FtguiError(
                f"the images in {self.config.data} changed since {self.run_dir} started, so it cannot "
                "carry on exactly; start a new run on the new data"
            )

    def write_report(self) -> None:
        if self.collection:
            report = self.collection.report()
            if self.val_collection:
                report["val_data"] = self.val_collection.report()
            report["split"] = {"train": len(self.train_idx), "val": len(self.val_idx)}
            runs.atomic_write_json(self.run_dir / runs.REPORT_FILE, report)

    def finish_without_training(self) -> TrainResult:
        self.strategy.param_groups(self.model, **self.strategy_params)
        start = time.perf_counter()
        val_loss, val_acc, predictions = self.evaluate(0)
        row = {"epoch": 0, "train_loss": None, "train_acc": None, "val_loss": val_loss,
               "val_acc": val_acc, "lr": 0.0, "seconds": round(time.perf_counter() - start, 3)}
        self.metrics.append(row)
        self.best = row
        runs.atomic_write_jsonl(self.run_dir / runs.METRICS_FILE, self.metrics)
        self.save_best(row, None, predictions)
        self.save_record("evaluated")
        self.emit({"type": "epoch", **row})
        self.emit({"type": "end", "status": "evaluated", "best": self.best, "run_dir": str(self.run_dir)})
        return TrainResult(self.run_dir, "evaluated", self.best, self.metrics)

    def save_checkpoint(self, epoch: int, updates: int, scaler) -> None:
        self.flush_best()  # the best model on disk must match the checkpoint's best epoch
        checkpoint.save(self.run_dir, {
            "epoch": epoch, "updates": updates, "model": self.trained_state(),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": scaler.state_dict(), "rng": checkpoint.rng_state(self.generator),
            "metrics": self.metrics, "best": self.best,
        })
        self.last_checkpoint = time.monotonic()

    def restore_checkpoint(self, scaler) -> tuple[int, int]:
        """Put model, optimiser, scheduler, metrics and every RNG back as they were after the
        checkpoint's epoch; return (next epoch, updates so far)."""
        state = self.resume_state
        for epoch in range(state["epoch"]):  # replay what the strategy froze or unfroze
            groups = self.strategy.on_epoch_start(self.model, epoch, **self.strategy_params)
            if groups is not None:
                self.build_optimizer(groups, 0)
        unexpected = self.model.load_state_dict(state["model"], strict=False).unexpected_keys
        if unexpected:
            raise FtguiError(f"{self.run_dir}'s checkpoint does not fit its model ({unexpected[0]}, ...); "
                             "start a new run instead")
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        self.metrics, self.best = list(state["metrics"]), state["best"]
        self.saved_best = self.best  # the checkpoint was written right after the best model
        runs.atomic_write_jsonl(self.run_dir / runs.METRICS_FILE, self.metrics)
        checkpoint.restore_rng(state["rng"], self.generator)
        self.log(f"resuming {self.run_dir} after epoch {state['epoch']}")
        return state["epoch"] + 1, state["updates"]

    def shrink_batch(self, epoch: int) -> int:
        """After running out of memory: a smaller batch, new loaders and schedule; returns the
        updates count at the start of ``epoch``. The epoch is then run again."""
        old = self.config.batch_size
        if old <= 1:
            raise FtguiError("out of memory even with batch size 1: use a smaller --img-size or a smaller model")
        self.config.batch_size = decay_batch_step(old)
        self.log(f"out of memory with batch size {old}: retrying epoch {epoch} with batch size "
                 f"{self.config.batch_size}")
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self.loaders()
        updates = (epoch - 1) * len(self.train_loader)
        self.build_scheduler(updates)
        return updates

    def fit(self) -> TrainResult:
        config = self.config
        loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing, ignore_index=-1)
        scaler = torch.amp.GradScaler("cuda", enabled=self.device.type == "cuda"
                                      and not torch.cuda.is_bf16_supported())
        groups = self.strategy.param_groups(self.model, **self.strategy_params)
        self.build_optimizer(groups, 0)
        self.last_checkpoint = self.last_save = time.monotonic()  # nothing to lose yet
        if self.resume_dir is not None:
            epoch, updates = self.restore_checkpoint(scaler)
        else:
            epoch, updates = 1, 0
            context = TrainContext(self.model, self.train_loader, self.val_loader, self.device,
                                   config.epochs, self.lr, self.emit, self.stop.is_set, self.normalize)
            if self.strategy.fit(context, **self.strategy_params):
                self.log(f"strategy '{self.strategy.name}' ran its own fitting procedure")
        status = "completed"
        try:
            while epoch <= config.epochs:
                new_groups = self.strategy.on_epoch_start(self.model, epoch - 1, **self.strategy_params)
                if new_groups is not None:
                    self.flush_best()  # a pending copy assumes the frozen weights stay put
                    self.build_optimizer(new_groups, updates)
                    self.feature_memo.clear()  # what is frozen may have changed
                start = time.perf_counter()
                try:
                    stats, updates, stopped = self.train_epoch(epoch, updates, loss_fn, scaler)
                    train_seconds = time.perf_counter() - start
                    val_loss, val_acc, predictions = self.evaluate(epoch)
                except Exception as exc:
                    if not _is_out_of_memory(exc):
                        raise
                    updates = self.shrink_batch(epoch)
                    continue
                row = {"epoch": epoch, "train_loss": stats["train_loss"], "train_acc": stats["train_acc"],
                       "val_loss": val_loss, "val_acc": val_acc,
                       "lr": self.optimizer.param_groups[0]["lr"],
                       "seconds": round(time.perf_counter() - start, 3),
                       "images_per_s": round(stats["images"] / max(train_seconds, 1e-9), 1),
                       "cached_features": self.feature_mode()}
                if stopped:
                    row["stopped"] = True
                self.metrics.append(row)
                runs.atomic_write_jsonl(self.run_dir / runs.METRICS_FILE, self.metrics)
                # a stopped, partial epoch is kept only when no epoch was completed
                if self.is_better(row) and not (stopped and self.best is not None):
                    self.best = row
                    self.keep_best(row, predictions)
                if not stopped and epoch < config.epochs and \
                        time.monotonic() - self.last_checkpoint >= SAVE_INTERVAL_S:
                    self.save_checkpoint(epoch, updates, scaler)
                self.save_record("running")
                self.emit({"type": "epoch", **row})
                if stopped:
                    status = "stopped"
                    self.log(f"stopped during epoch {epoch}; the best epoch so far is kept"
                             + (f" (resume with: ftgui train --resume {self.run_dir})"
                                if (self.run_dir / runs.CHECKPOINT_FILE).is_file() else ""))
                    break
                epoch += 1
        except _NonFinite as exc:
            message = (f"the loss became NaN or infinite at epoch {exc.epoch}, step {exc.step}: "
                       f"lower --lr (now {self.lr:g}, try {self.lr / 10:g})"
                       + ("; the best epoch so far is kept" if self.best else ""))
            self.fail(message)
            raise FtguiError(message) from None
        except BaseException as exc:
            self.fail(str(exc) if isinstance(exc, FtguiError) else f"{type(exc).__name__}: {exc}")
            raise
        self.flush_best()
        if status == "completed":
            checkpoint.remove(self.run_dir)
        self.save_record(status)
        self.emit({"type": "end", "status": status, "best": self.best, "run_dir": str(self.run_dir)})
        return TrainResult(self.run_dir, status, self.best, self.metrics)

    def fail(self, message: str) -> None:
        """Record a failed run, keeping whatever can still be saved (the disk may be full)."""
        try:
            self.flush_best()
            self.save_record("failed", error=message)
        except (OSError, FtguiError):
            pass


def _is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc)
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError)
        and ("out of memory" in text or "can't allocate memory" in text))


class _NonFinite(Exception):
    def __init__(self, epoch: int, step: int) -> None:
        super().__init__(f"non-finite loss at epoch {epoch}, step {step}")
        self.epoch, self.step = epoch, step


def train(
    config: TrainConfig,
    listener: Listener | None = None,
    stop: threading.Event | None = None,
    registry: Registry | None = None,
) -> TrainResult:
    """Train (or, for a strategy that does not train, evaluate) and write a run folder.

    ``listener`` receives every event; set ``stop`` to stop after the current step.
    """
    return _Loop(config, listener, stop, registry).run()


def resume(
    run_dir: str | Path,
    listener: Listener | None = None,
    stop: threading.Event | None = None,
    registry: Registry | None = None,
    device: str | None = None,
) -> TrainResult:
    """Carry on an interrupted run from its last checkpoint, in its own folder.

    Model, optimiser, scheduler, every RNG and the data order are restored, so on the same
    device the run ends as it would have without the interruption.
    """
    run = runs.load_run(run_dir)
    if run.status == "completed":
        raise FtguiError(f"{run_dir} already completed all its epochs; nothing to resume")
    owner = runs.trainer_pid(run.path)
    if owner is not None:
        raise FtguiError(f"{run_dir} is being trained right now by process {owner}; "
                         "wait for it to end, or stop it, before resuming")
    runs.remove_partial_writes(run.path)
    state = checkpoint.load(run.path)
    values = dict(run.record["config"])
    values["out"] = str(run.path)
    if device:
        values["device"] = device
    loop = _Loop(TrainConfig.from_dict(values), listener, stop, registry, Path(run.path), state)
    return loop.run()
