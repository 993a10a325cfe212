"""Per-stage activation statistics of a real timm backbone on the user's own images.

The MLP experiment (:mod:`.activations`) shows the principle on Gaussian noise; this shows it
where it matters: a batch of the user's images through a freshly initialised model (set up as
``--strategy scratch`` would set it up, initialiser included) or through pretrained weights.
A stage is what timm's ``feature_info`` names (a ResNet's layer1..layer4, a ViT's blocks): the
same places ``features_only`` models and ``forward_intermediates`` read. The model runs in
evaluation mode with its buffers put back afterwards: BatchNorm uses its running statistics,
which a fresh model does not have yet, so the signal passes as the initialiser left it.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .. import models, pipeline
from ..data import load_images
from ..device import pick_device
from ..errors import FtguiError
from ..registry import Registry
from ..timm_api import classifier
from .activations import LayerStats, layer_stats
from .mlp import choose_initializer


@dataclass
class StageReport:
    model: str
    weights: str
    init: str | None
    """The initialiser of a fresh model; None for pretrained weights (used as they are)."""
    stages: list[str]
    """The module name of each stage, in forward order."""
    layers: list[LayerStats]
    images: int

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "weights": self.weights, "init": self.init, "images": self.images,
                "layers": [{**stats.to_json(), "stage": name} for name, stats in zip(self.stages, self.layers)]}


def stage_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of each stage: timm's feature_info, else the top-level children before
    the classifier."""
    info = getattr(model, "feature_info", None)
    names = [entry["module"] for entry in info] if isinstance(info, list) else []
    if names:
        return [(name, model.get_submodule(name)) for name in names]
    head = classifier(model)
    return [(name, child) for name, child in model.named_children()
            if child is not head and any(True for _ in child.parameters())]


def sample_indices(labels: list[int], count: int, seed: int) -> list[int]:
    """Up to ``count`` image indices taken round-robin over the classes (seeded), so every
    class is in the batch."""
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    rng = random.Random(seed)
    for indices in by_class.values():
        rng.shuffle(indices)
    picked: list[int] = []
    queues = [by_class[label] for label in sorted(by_class)]
    while len(picked) < count and any(queues):
        for queue in queues:
            if queue and len(picked) < count:
                picked.append(queue.pop())
    return sorted(picked)


def run_stages(model: str, data: str, weights: str = "none", init: str = "timm-default",
               init_params: Mapping[str, Any] | None = None, bias_init: str = "zero", images: int = 32,
               img_size: int | None = None, seed: int = 0, device: str = "auto",
               registry: Registry | None = None, plugins_dirs: Iterable[str] = (),
               log: Callable[[str], None] = print) -> StageReport:
    """Statistics of each stage's output on up to ``images`` of the user's images (``data``,
    as for training) through ``model`` with ``weights`` (``none``: fresh, set by ``init``)."""
    if images < 1:
        raise FtguiError("--images must be at least 1")
    chosen = choose_initializer(init, init_params, bias_init, registry, plugins_dirs) if weights == "none" else None
    collection = load_images(data)
    torch.manual_seed(seed)
    if weights == "none":
        loaded = models.create_untrained(model, len(collection.classes))
    else:
        loaded = models.load_weights(model, weights)
    net = loaded.model.to(pick_device(device)).eval()
    transforms = pipeline.build_transforms(net, img_size, "none")
    indices = sample_indices(collection.labels, images, seed)
    decoded = pipeline.DecodedImages(collection, indices, transforms.cache_resize)
    normalize = pipeline.Normalizer(transforms.data_config, next(net.parameters()).device)
    batch = normalize(torch.stack([transforms.eval(decoded[i]) for i in range(len(decoded))]))
    if chosen is not None:
        _initialise_all(net, chosen, batch, log)
    stages = stage_modules(net)
    outputs: dict[str, torch.Tensor] = {}
    hooks = [module.register_forward_hook(_keeper(outputs, name)) for name, module in stages]
    try:
        with models.buffers_kept(net), torch.no_grad():
            net(batch)
    finally:
        for hook in hooks:
            hook.remove()
    layers = [layer_stats(i + 1, outputs[name], None) for i, (name, _) in enumerate(stages) if name in outputs]
    return StageReport(model, loaded.source if weights != "none" else "none",
                       chosen.name if chosen else None, [name for name, _ in stages if name in outputs],
                       layers, len(indices))


def _keeper(outputs: dict[str, torch.Tensor], name: str) -> Callable[..., None]:
    def keep(module: nn.Module, args: tuple, output: Any) -> None:
        if isinstance(output, (tuple, list)):
            output = output[0]
        if isinstance(output, torch.Tensor):
            outputs.setdefault(name, output.detach().float().cpu())
    return keep


def _initialise_all(model: nn.Module, chosen: Any, batch: torch.Tensor, log: Callable[[str], None]) -> None:
    """Every Conv/Linear layer set as ``--strategy scratch`` sets it (ftgui.training.setup.initialize):
    biases and norm layers reset, layers in forward order, the initialiser's initialize(ctx)."""
    from ..plugin_types import InitContext

    layers = models.reset_new_layers(list(model.modules()), chosen.bias)
    if len(layers) > 1:
        layers = models.forward_order(model, layers, batch)
    ctx = InitContext(model, layers, "scratch", chosen.bias, batch, log)
    with torch.no_grad():
        chosen.registered.call("initialize", ctx, **chosen.params)
