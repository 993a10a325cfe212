"""Setting a run up: the data read and split, the model built and put on its device, what
learns decided by the strategy, and the new layers initialised.

The order matters and is fixed here: the strategy sets ``requires_grad`` and the model goes
into the mode it will train in (a frozen part keeps its BatchNorm statistics) *before* the
initialiser runs, and biases and norm layers are reset before it too, so what a
data-dependent initialiser measures is what trains.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .. import models, pipeline
from ..data import ImageCollection, load_images, stratified_split
from ..errors import SettingError
from ..i18n import N_
from ..plugin_types import InitContext
from ..record import LOSS, SMALL_VALIDATION, loss_window
from ..timm_api import timm_model
from .plan import RunPlan, resolve_for_data, training_kind

Log = Callable[[str], None]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def freeze_norm_stats(model: nn.Module) -> None:
    """Put norm layers whose parameters are all frozen in eval mode, so a frozen part of
    the network keeps its BatchNorm running statistics too."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._NormBase):
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                module.eval()


@dataclass
class Images:
    """One side of the split: its decoded images and the model's label index of each."""

    collection: ImageCollection
    indices: list[int]
    decoded: pipeline.DecodedImages
    labels: list[int]


@dataclass
class RunSetup:
    model: nn.Module
    label_names: list[str]
    new_layers: list[nn.Module]
    weights_source: str
    transforms: pipeline.Transforms
    normalize: pipeline.Normalizer
    groups: list[dict]
    """The strategy's parameter groups for the first epoch."""
    collection: ImageCollection | None = None
    val_collection: ImageCollection | None = None
    train: Images | None = None
    val: Images | None = None
    warnings: list[str] = field(default_factory=list)
    init_images: tuple[int, ...] = ()
    """The images (indices into the data) the initialiser saw, once :func:`initialize` ran."""

    @property
    def data_config(self) -> dict:
        return self.transforms.data_config

    def decoded_by_path(self) -> dict[str, torch.Tensor]:
        """Every image decoded up front, training and validation, by path."""
        return {path: tensor for side in (self.train, self.val) if side
                for path, tensor in side.decoded.by_path().items()}


def set_up(plan: RunPlan, log: Log, sync_batch_norm: bool = False, earlier: RunSetup | None = None) -> RunSetup:
    """Data, model, parameter groups and initialisation; ``sync_batch_norm``: several processes
    train together, so on CUDA one BatchNorm spans the whole global batch; ``earlier``: a set-up
    of the same data and transforms whose decoded images are taken rather than decoded again."""
    collection, val_collection, train_idx, val_idx = _read_data(plan, log)
    seed_everything(plan.config.seed)
    classes = collection.classes if collection else []
    model, label_names, new_layers, source = _build_model(plan, classes, log)
    transforms = pipeline.build_transforms(model, plan.config.img_size, plan.config.aug)
    train = val = None
    if collection is not None:
        resize = transforms.cache_resize
        known = earlier.decoded_by_path() if earlier is not None else {}
        train = _images(collection, train_idx, resize, label_names, known)
        if val_idx:
            val = _images(val_collection or collection, val_idx, resize, label_names, known)
        if plan.strategy_item.keeps_head and max(_label_map(classes, label_names), default=-1) < 0:
            log("warning: none of the data's classes is among the model's labels; "
                "its accuracy on them is 0 by definition")
    channels_last = plan.device.type == "cuda"
    model.to(plan.device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    normalize = pipeline.Normalizer(transforms.data_config, plan.device, channels_last)
    groups = plan.strategy.call("param_groups", model, **plan.strategy_params)
    resolve_for_data(plan, len(train_idx), len(val_idx), training_kind(plan, model))
    if plan.strategy_item.trains:
        _say_choices(plan, len(val_idx), log)
    model.train()
    freeze_norm_stats(model)
    setup = RunSetup(model, label_names, new_layers, source, transforms, normalize, groups,
                     collection, val_collection, train, val)
    if new_layers:
        initialize(plan, setup, log)
    if sync_batch_norm and plan.device.type == "cuda":
        setup.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(setup.model)
    return setup


def _say_choices(plan: RunPlan, val_images: int, log: Log) -> None:
    """The log's account of what was chosen for this data, never hidden."""
    sizes = plan.resolved()
    if sizes.reasons and plan.epochs > 0:
        log(f"chosen automatically: {sizes.summary()}")
    if val_images and plan.epochs > 0:
        rule = (f"the lowest validation loss averaged over the last {loss_window(plan.epochs)} epochs"
                if plan.select == LOSS else "the highest validation accuracy")
        how = ""
        if plan.config.select == "auto":
            how = (f" (chosen automatically: {val_images} validation images, "
                   + (f"fewer than {SMALL_VALIDATION})" if plan.select == LOSS else f"{SMALL_VALIDATION} or more)"))
        log(f"the saved epoch is the one with {rule}{how}")


def _read_data(plan: RunPlan, log: Log):
    config = plan.config
    if config.data is None:
        if plan.strategy_item.trains:
            raise SettingError(N_("mode '{name}' needs images: give {setting[data]} (a folder of class "
                                  "sub-folders, or a .zip)"), name=plan.strategy_item.name)
        return None, None, [], []
    log(f"reading images from {config.data}")
    collection = load_images(config.data)
    for skipped in collection.skipped:
        log(f"skipped {skipped.path}: {skipped.reason}")
    for warning in collection.warnings:
        log(f"warning: {warning}")
    if collection.ignored:
        log(f"ignored {len(collection.ignored)} hidden or system file(s) such as "
            f"{collection.ignored[0]} (listed in the data report)")
    if not config.val_data:
        train_idx, val_idx = stratified_split(collection.labels, config.val_split, config.split_seed_value())
        return collection, None, train_idx, val_idx
    val_collection = load_images(config.val_data)
    extra = sorted(set(val_collection.classes) - set(collection.classes))
    if extra:
        raise SettingError(N_("the validation images ({setting[val_data]}) have classes the training data "
                              "lacks: {extra}; use the same class folders in both"), extra=", ".join(extra))
    shared = set(collection.digests) & set(val_collection.digests)
    if shared:
        share = len(shared) / max(len(set(val_collection.digests)), 1)
        log(f"warning: {len(shared)} of the validation images ({share:.0%}) are also training images, so the "
            "validation accuracy overstates how well the model does on new images; use separate images")
    return (collection, val_collection, list(range(len(collection.paths))),
            list(range(len(val_collection.paths))))


def _build_model(plan: RunPlan, classes: list[str], log: Log):
    strategy = plan.strategy_item
    if not strategy.needs_pretrained:
        log(f"creating {plan.architecture} from scratch for {len(classes)} classes")
        loaded = models.create_untrained(plan.architecture, len(classes))
        return loaded.model, list(classes), list(loaded.model.modules()), loaded.source
    log(f"loading {plan.architecture} weights from {plan.weights}")
    loaded = models.load_weights(plan.architecture, plan.weights)
    source_labels = loaded.label_names
    if strategy.keeps_head or (source_labels is not None and set(source_labels) == set(classes)
                               and len(source_labels) == timm_model(loaded.model).num_classes):
        if not strategy.keeps_head:
            log("the data has the weights' own classes: training continues their head")
        return loaded.model, loaded.labels(), [], loaded.source
    timm_model(loaded.model).reset_classifier(len(classes))
    log(f"new {len(classes)}-class head, initialised with '{plan.initializer_item.name}'")
    return loaded.model, list(classes), models.head_modules(loaded.model), loaded.source


def _label_map(classes: list[str], label_names: list[str]) -> list[int]:
    """The model's output index for each class name, -1 for a class it does not know."""
    return [label_names.index(c) if c in label_names else -1 for c in classes]


def _images(collection: ImageCollection, indices: list[int], resize, label_names: list[str],
            known: dict[str, torch.Tensor]) -> Images:
    label_map = _label_map(collection.classes, label_names)
    return Images(collection, indices, pipeline.DecodedImages(collection, indices, resize, known=known),
                  [label_map[collection.labels[i]] for i in indices])


def initialize(plan: RunPlan, setup: RunSetup, log: Log) -> None:
    """Reset biases and norm layers among the new layers, then let the initialiser set the
    Conv/Linear weights, seeing the whole model and a batch of the user's images (the first
    batch of the training images, or ``plan.init_images``)."""
    layers = models.reset_new_layers(setup.new_layers, plan.bias)
    batch = None
    if setup.train is not None and len(setup.train.decoded):
        if plan.init_images is None:
            positions = list(range(min(len(setup.train.decoded), plan.batch_size)))
        else:
            position_of = {index: position for position, index in enumerate(setup.train.indices)}
            positions = [position_of[index] for index in plan.init_images]
        setup.init_images = tuple(setup.train.indices[p] for p in positions)
        uint8 = torch.stack([setup.transforms.eval(setup.train.decoded[p]) for p in positions])
        batch = setup.normalize(uint8)
        if len(layers) > 1:
            layers = models.forward_order(setup.model, layers, batch)
    role = "head" if plan.strategy_item.needs_pretrained else "scratch"
    ctx = InitContext(setup.model, layers, role, plan.bias, batch, log)
    with torch.no_grad():
        plan.initializer.call("initialize", ctx, **plan.init_params)
