"""Where an epoch's batches come from: images through the whole model, or, while only the
head learns, the frozen backbone's features computed once and cached (see ftgui.features).

The batch size lives here, not in the TrainConfig: after running out of memory the loop
asks for smaller batches (:meth:`BatchSources.shrink`) and the user's settings stay as given.
"""
from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator

import numpy as np
import torch
from timm.utils import decay_batch_step
from torch import nn

from .. import features, pipeline
from ..device import autocast
from ..errors import SettingError
from ..i18n import N_
from ..timm_api import classifier
from .distributed import EpochOrder, Processes, shard
from .plan import RunPlan
from .setup import Images, RunSetup, seed_everything

Progress = Callable[[str, int, int, int], None]
"""``progress(phase, epoch, step, steps)``."""
Forward = Callable[[torch.Tensor], torch.Tensor]


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
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


class BatchSources:
    def __init__(self, plan: RunPlan, setup: RunSetup, progress: Progress,
                 processes: Processes) -> None:
        self.config, self.device, self.architecture = plan.config, plan.device, plan.architecture
        self.setup, self.progress, self.processes = setup, progress, processes
        self.model = setup.model
        self.batch_size = plan.batch_size
        self.generator = torch.Generator().manual_seed(plan.config.seed)
        self.forward_model = torch.compile(self.model) if plan.config.compile else self.model
        self.trains = plan.strategy_item.trains
        self.memo: dict[tuple, torch.Tensor] = {}
        self.wrapped: tuple[tuple, nn.Module] | None = None
        self.train_loader: torch.utils.data.DataLoader | None = None
        self.val_loader: torch.utils.data.DataLoader | None = None
        self.build_loaders()

    # -- image loaders ---------------------------------------------------------------------
    def _loader(self, dataset, shuffle: bool, fully_cached: bool) -> torch.utils.data.DataLoader:
        options = pipeline.loader_options(self.device, fully_cached, self.config.num_workers)
        if shuffle:
            order = EpochOrder(len(dataset), self.config.seed, self.processes)
            return torch.utils.data.DataLoader(
                dataset, batch_size=self.batch_size, sampler=order, drop_last=len(order) > self.batch_size,
                generator=self.generator, **options)
        return torch.utils.data.DataLoader(dataset, batch_size=self.batch_size, **options)

    def build_loaders(self) -> None:
        train, val, tf = self.setup.train, self.setup.val, self.setup.transforms
        self.train_loader = self.val_loader = None
        if train is not None and len(train.decoded):
            dataset = pipeline.ImageBatches(train.decoded, train.labels, tf.train, tf.train_on_pil)
            self.train_loader = self._loader(dataset, True, train.decoded.fully_cached)
        if val is not None:
            dataset = pipeline.ImageBatches(val.decoded, val.labels, tf.eval)
            self.val_loader = self._loader(dataset, False, val.decoded.fully_cached)

    def close(self) -> None:
        """End the loaders' worker processes now (persistent workers would otherwise live until
        the loaders are garbage collected)."""
        for loader in (self.train_loader, self.val_loader):
            if loader is not None and loader._iterator is not None:  # torch keeps it between epochs
                # torch keeps only a multi-process iterator (persistent workers), which has this method;
                # its stubs type _iterator as the base class, which lacks it
                loader._iterator._shutdown_workers()  # type: ignore[attr-defined]
                loader._iterator = None
        self.train_loader = self.val_loader = None

    def steps_per_epoch(self) -> int:
        return len(self.train_loader) if self.train_loader is not None else 0

    def shrink(self) -> int:
        """After running out of memory: a smaller batch size and new loaders; returns it."""
        old = self.batch_size
        if old <= 1:
            raise SettingError(N_("out of memory even with batch size 1: use a smaller {setting[img_size]} "
                                  "or a smaller {setting[model]}"))
        self.batch_size = decay_batch_step(old)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self.close()
        self.build_loaders()
        return self.batch_size

    # -- the feature cache -----------------------------------------------------------------
    def feature_mode(self) -> bool:
        return self.config.feature_cache and features.only_head_learns(self.model)

    def forget_features(self) -> None:
        """What is frozen may have changed: cached features no longer hold."""
        self.memo.clear()

    def adopt_features(self, earlier: BatchSources) -> None:
        """Take ``earlier``'s un-augmented features of this run's training images where it has
        them all (the training again on all images: the first training computed the features
        of its training and its validation images), so the frozen backbone does not run again."""
        train, transform = self.setup.train, self.setup.transforms.eval
        if train is None or not self.feature_mode() or self.config.feature_views \
                or repr(transform) != repr(earlier.setup.transforms.eval) \
                or features.backbone_digest(self.model) != features.backbone_digest(earlier.model):
            return
        known: dict[str, torch.Tensor] = {}
        for images in (earlier.setup.train, earlier.setup.val):
            rows = earlier.memo.get((id(images), id(earlier.setup.transforms.eval), None)) if images else None
            if images is not None and rows is not None:
                known.update({images.collection.paths[i]: row for i, row in zip(images.indices, rows)})
        paths = [train.collection.paths[i] for i in train.indices]
        if paths and all(path in known for path in paths):
            self.memo[(id(train), id(transform), None)] = torch.stack([known[path] for path in paths])

    def features_of(self, images: Images, transform, needs_pil: bool, view: int | None) -> torch.Tensor:
        """Pre-logits of ``images`` under ``transform``: computed once, then cached.

        ``view`` numbers an augmented view (its randomness is seeded by it); None is the
        deterministic evaluation transform."""
        memo_key = (id(images), id(transform), view)
        if memo_key in self.memo:
            return self.memo[memo_key]
        collection = images.collection
        key = features.feature_key(
            collection.content_hash, [collection.paths[i] for i in images.indices],
            self.architecture, features.backbone_digest(self.model), repr(transform),
            view if view is None else (self.config.seed, view), self.device.type)

        def batches():
            dataset: torch.utils.data.Dataset = pipeline.ImageBatches(images.decoded, images.labels, transform,
                                                                      needs_pil)
            if self.processes.many:  # each process computes its share of the rows
                dataset = torch.utils.data.Subset(dataset, shard(len(images.decoded), self.processes.rank,
                                                                 self.processes.world))
            loader = torch.utils.data.DataLoader(
                dataset, batch_size=self.batch_size,
                **pipeline.loader_options(self.device, images.decoded.fully_cached, self.config.num_workers))
            training = self.model.training
            self.model.eval()
            try:
                with seeded(None if view is None else self.config.seed * 1000 + view), torch.inference_mode():
                    for step, (uint8, _) in enumerate(loader):
                        with autocast(self.device):
                            yield features.pre_logits(self.model, self.setup.normalize(uint8))
                        self.progress("features", 0, step + 1, len(loader))
            finally:
                self.model.train(training)

        if self.processes.many:
            own = torch.cat([b.float().cpu() for b in batches()]) if len(shard(
                len(images.decoded), self.processes.rank, self.processes.world)) else torch.zeros(0)
            rows = self.processes.gather_rows(own, len(images.decoded)).to(self.device)
        else:
            rows = features.cached_features(key, len(images.decoded), batches)
        self.memo[memo_key] = rows
        return rows

    def _feature_loader(self, feats: torch.Tensor, labels: list[int], shuffle: bool, epoch: int = 0):
        """Batches of cached features, drawn exactly as the image loader would draw them."""
        rows = features.FeatureRows(feats, labels)
        if shuffle:
            sampler: torch.utils.data.Sampler = EpochOrder(len(rows), self.config.seed, self.processes)
            sampler.set_epoch(epoch)  # type: ignore[attr-defined]
            drop_last = len(sampler) > self.batch_size  # type: ignore[arg-type]
        else:
            sampler, drop_last = torch.utils.data.SequentialSampler(rows), False
        batches = torch.utils.data.BatchSampler(sampler, self.batch_size, drop_last)
        return torch.utils.data.DataLoader(rows, sampler=batches, batch_size=None,
                                           generator=self.generator if shuffle else None)

    # -- what an epoch uses ----------------------------------------------------------------
    def train_source(self, epoch: int) -> tuple[torch.utils.data.DataLoader, Forward, bool]:
        """(loader, forward, cached) for ``epoch`` (1-based): cached features into the head
        while only the head learns, else images through the whole model."""
        assert self.train_loader is not None
        if not self.feature_mode():
            self.train_loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
            if self.processes.many:
                model = self.distributed(self.model)
                return self.train_loader, lambda uint8: model(self.setup.normalize(uint8)), False
            return self.train_loader, self.forward_images, False
        train, tf = self.setup.train, self.setup.transforms
        assert train is not None
        views = self.config.feature_views
        if views:
            feats = self.features_of(train, tf.train, tf.train_on_pil, (epoch - 1) % views)
        else:
            feats = self.features_of(train, tf.eval, False, None)
        head = classifier(self.model)
        return (self._feature_loader(feats, train.labels, True, epoch),
                self.distributed(head) if self.processes.many else head, True)

    def val_source(self, model: nn.Module) -> tuple[torch.utils.data.DataLoader | None, Forward | None]:
        """(loader, forward) that validate ``model`` (the trained model, or an averaged copy)."""
        val = self.setup.val
        if val is None:
            return None, None
        if not (self.config.feature_cache and (self.feature_mode() or not self.trains)):
            forward = self.forward_images if model is self.model else (lambda x: model(self.setup.normalize(x)))
            return self.val_loader, forward
        feats = self.features_of(val, self.setup.transforms.eval, False, None)
        return self._feature_loader(feats, val.labels, False), classifier(model)

    def forward_images(self, uint8: torch.Tensor) -> torch.Tensor:
        return self.forward_model(self.setup.normalize(uint8))

    def distributed(self, module: nn.Module) -> nn.Module:
        """``module`` wrapped in DistributedDataParallel (rebuilt when what learns changes: DDP
        registers its gradient hooks on the parameters that learn when it is built)."""
        key = (id(module), tuple(p.requires_grad for p in module.parameters()))
        if self.wrapped is None or self.wrapped[0] != key:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.wrapped = key, DistributedDataParallel(module, device_ids=ids)
        return self.wrapped[1]
