"""Greedy layer-wise unsupervised pre-training: the seed's remedy for deep networks, as a strategy.

The seed (after Hinton 2006 and Bengio et al. 2007): train the first hidden layer without
labels, then the second on top of it, and so on, and use the result as the starting point of
supervised training - a better start, hence a better local optimum. Here a "layer" is a stage
of a timm backbone (the places ``forward_intermediates`` returns: a ResNet's stem and
layer1..4, a ViT's blocks). Stage k learns to reconstruct its own input - the image for the
first stage, stage k-1's output otherwise - through a small decoder (a 1x1 convolution and a
bilinear resize) while the stages below it are frozen (their BatchNorm statistics too). The
decoders are thrown away; then the normal loop fine-tunes everything with the labels.

It is a history lesson, not a promise: ReLU, good initialisation (kaiming) and normalisation
layers made it unnecessary for most networks, and on the bundled digits it does not beat
training from scratch on the same budget (docs/init-lab.md has the measurements). torch is
imported inside the functions so that loading the registry keeps the CLI fast.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import ftgui
from ftgui import FtguiError
from ftgui.plugin_types import Param, Strategy

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn


def stage_outputs(model: nn.Module, x: torch.Tensor, upto: int | None = None) -> list[torch.Tensor]:
    """The outputs of the backbone's stages (timm's ``forward_intermediates``, NCHW), up to
    stage ``upto`` (0-based; None: all), without running the rest of the model."""
    if not hasattr(model, "forward_intermediates"):
        raise FtguiError(f"greedy-layerwise needs a timm model with forward_intermediates (most CNNs and ViTs); "
                         f"{type(model).__name__} has none")
    if upto is None:
        return list(model.forward_intermediates(x, intermediates_only=True))
    return list(model.forward_intermediates(x, indices=list(range(upto + 1)), stop_early=True,
                                            intermediates_only=True))


def stage_parameters(model: nn.Module, x: torch.Tensor) -> list[list[torch.nn.Parameter]]:
    """The parameters of each stage: those stage k's output depends on and stage k-1's does not
    (found by autograd, so no architecture is special-cased). Parameters after the last stage
    (a final norm, the head) belong to none: they learn in the supervised phase."""
    import torch

    params = list(model.parameters())
    for param in params:
        param.requires_grad_(True)
    outputs = stage_outputs(model, x)
    seen: set[int] = set()
    stages = []
    for output in outputs:
        grads = torch.autograd.grad(output.float().sum(), params, allow_unused=True, retain_graph=True)
        reach = {i for i, grad in enumerate(grads) if grad is not None}
        stages.append([params[i] for i in sorted(reach - seen)])
        seen |= reach
    return stages


class Decoder:
    """A 1x1 convolution to the target's channels, then a bilinear resize to its size: just
    enough to read the input back out of a stage's output, so the stage must keep it."""

    def __init__(self, source: torch.Tensor, target: torch.Tensor) -> None:
        from torch import nn

        if source.ndim != 4 or target.ndim != 4:
            raise FtguiError("greedy-layerwise needs stage outputs shaped (batch, channels, height, width)")
        self.conv = nn.Conv2d(source.shape[1], target.shape[1], 1).to(source.device)
        self.size = tuple(target.shape[-2:])

    def parameters(self) -> list:
        return list(self.conv.parameters())

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        from torch.nn import functional

        decoded = self.conv(features)
        if tuple(decoded.shape[-2:]) != self.size:
            decoded = functional.interpolate(decoded, size=self.size, mode="bilinear", align_corners=False)
        return decoded


def unlabeled_batches(path: str, batch_size: int, height: int, width: int):
    """uint8 batches (N, 3, H, W) of the images under ``path`` (a folder, searched recursively,
    or a zip), centre-cropped to the training size; unreadable files are skipped."""
    import numpy as np
    import torch
    from PIL import ImageOps

    from ftgui.data import iter_prediction_inputs

    images: list[torch.Tensor] = []
    for _, load in iter_prediction_inputs([path]):
        try:
            image = ImageOps.fit(load().convert("RGB"), (width, height))
        except FtguiError:
            continue
        images.append(torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1))
        if len(images) == batch_size:
            yield torch.stack(images)
            images = []
    if images:
        yield torch.stack(images)


class GreedyLayerwise(Strategy):
    name = "greedy-layerwise"
    description = (
        "from scratch: pre-train the backbone stage by stage without labels (each stage learns to "
        "reconstruct its input while the stages below stay frozen), then fine-tune everything - the "
        "seed's remedy for deep networks, a history lesson rather than a promise"
    )
    needs_pretrained = False
    params = (
        Param("stage_epochs", 1, "unsupervised passes over the images per stage"),
        Param("unlabeled", "", "also pre-train on the images in this folder or .zip (no labels needed)"),
        Param("pretrain_lr", 0.0, "learning rate of the pre-training (0: the run's learning rate)"),
    )
    translations = {"zh": {
        "label": "一次预训练一层，不用标签（逐层贪婪训练）",
        "description": (
            "从头开始：不用标签，逐个阶段地预训练卷积层（每个阶段学习重建自己的输入，它下面的各阶段保持冻结），"
            "然后微调全部——这是教程为深层网络给出的解决方法（逐层贪婪训练，无监督预训练），是一堂历史课，"
            "而不是效果的保证"),
        "param.stage_epochs": "每个阶段在图片上做无监督训练的轮数",
        "param.unlabeled": "也用这个文件夹或 .zip 中的图片预训练（不需要标签）",
        "param.pretrain_lr": "预训练的学习率（0：用本次训练的学习率）",
    }}

    def param_groups(self, model, **params) -> list[dict]:
        for param in model.parameters():
            param.requires_grad_(True)
        return [{"params": list(model.parameters())}]

    def fit(self, ctx, stage_epochs: int = 1, unlabeled: str = "", pretrain_lr: float = 0.0, **params) -> bool:
        from ftgui.data import iter_prediction_inputs
        from ftgui.training.setup import freeze_norm_stats

        if stage_epochs < 1:
            raise FtguiError(f"greedy-layerwise needs stage_epochs >= 1, not {stage_epochs}")
        model, lr = ctx.model, pretrain_lr if pretrain_lr > 0 else ctx.lr
        first, _ = next(iter(ctx.train_loader))
        probe = ctx.prepare(first[:2])
        stages = stage_parameters(model, probe)
        height, width = first.shape[-2:]
        extra = ""
        if unlabeled:
            found = sum(1 for _ in iter_prediction_inputs([unlabeled]))  # a wrong path fails here, at once
            extra = f" and {found} unlabelled image(s) in {unlabeled}"
        ctx.log(f"greedy-layerwise: pre-training {len(stages)} stages one by one, {stage_epochs} epoch(s) each, "
                f"on the training images{extra}, without labels")
        started = time.perf_counter()
        try:
            for index, params_ in enumerate(stages):
                if ctx.should_stop():
                    break
                for param in model.parameters():
                    param.requires_grad_(False)
                for param in params_:
                    param.requires_grad_(True)
                model.train()
                freeze_norm_stats(model)  # the stages below keep their statistics
                batches = _batches(ctx, unlabeled, int(height), int(width))
                before, after = _train_stage(ctx, model, index, params_, batches, stage_epochs, lr)
                ctx.log(f"greedy-layerwise: stage {index + 1}/{len(stages)} ({sum(p.numel() for p in params_)} "
                        f"parameters): reconstruction error {before:.3f} -> {after:.3f} of its input's variance")
        finally:
            for param in model.parameters():
                param.requires_grad_(True)
            model.train()
        ctx.log(f"greedy-layerwise: pre-training took {time.perf_counter() - started:.1f} s; "
                "now every layer learns with the labels")
        return True


def _batches(ctx, unlabeled: str, height: int, width: int):
    """A function that yields one epoch of normalised input batches: the training images
    (labels unused), then the unlabelled ones."""
    def epoch():
        for uint8, _ in ctx.train_loader:
            yield ctx.prepare(uint8)
        if unlabeled:
            size = getattr(ctx.train_loader, "batch_size", None) or 32
            for uint8 in unlabeled_batches(unlabeled, size, height, width):
                yield ctx.prepare(uint8)
    return epoch


def _train_stage(ctx, model, index: int, params_: list, batches, epochs: int, lr: float) -> tuple[float, float]:
    """Fit stage ``index`` (and a fresh decoder) to reconstruct its input; return the relative
    reconstruction error (MSE over the target's variance) of the first batch and of the last epoch."""
    import torch
    from torch.nn import functional

    decoder = None
    optimizer = None
    first = last = float("nan")
    for _ in range(epochs):
        total, count = 0.0, 0
        for x in batches():
            if ctx.should_stop():
                return first, last
            with torch.no_grad():
                below = stage_outputs(model, x, index - 1)[-1] if index > 0 else x
            output = stage_outputs(model, x, index)[-1]
            target = below.detach().float()
            if decoder is None:
                decoder = Decoder(output, target)
                optimizer = torch.optim.AdamW([*params_, *decoder.parameters()], lr=lr, weight_decay=0.0)
            loss = functional.mse_loss(decoder(output.float()), target)
            relative = float(loss.detach()) / max(float(target.var()), 1e-12)
            if first != first:  # nan: the first batch
                first = relative
            assert optimizer is not None
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, count = total + relative, count + 1
        last = total / max(count, 1)
    return first, last


@ftgui.hookimpl
def ftgui_register_strategies(register) -> None:
    register(GreedyLayerwise())
