"""The learning-rate range test (Smith, 2015; fastai's ``lr_find``): a few hundred steps at
most, the learning rate growing exponentially from tiny to huge, on the same data, strategy
and parameter groups the run will use (cached features make it nearly free for head-only).
The loss falls, flattens, then explodes; the suggestion is fastai's "valley": the middle of
the longest stretch where the loss keeps falling.

The model's weights and every random generator are put back afterwards, so a run that finds
its learning rate first trains exactly as if that rate had been given.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from .. import checkpoint
from ..device import autocast
from .optim import build_optimizer
from .plan import RunPlan
from .setup import RunSetup, freeze_norm_stats
from .sources import BatchSources

START_LR, END_LR, STEPS = 1e-7, 10.0, 100
SMOOTHING = 0.98
DIVERGED = 4.0
"""The test ends once the smoothed loss is this many times its lowest value."""


@dataclass
class LrFinding:
    lrs: list[float]
    losses: list[float]
    """The smoothed training loss at each learning rate."""
    suggestion: float
    steps: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def valley(lrs: list[float], losses: list[float]) -> float:
    """fastai's suggestion: the longest run of decreasing loss, and a point two thirds of the
    way down it (steep enough to learn fast, short of the cliff)."""
    n = len(losses)
    if n < 3:
        return lrs[0] if lrs else START_LR
    longest = [1] * n
    end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
        if longest[end] < longest[i]:
            end = i
    start = end - longest[end]
    third = (end - start) / 3
    return lrs[min(n - 1, max(0, start + int(third) + int(third / 2)))]


def find_lr(plan: RunPlan, setup: RunSetup, sources: BatchSources, steps: int = STEPS,
            start: float = START_LR, end: float = END_LR) -> LrFinding:
    model = setup.model
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    rng = checkpoint.rng_state(sources.generator)
    optimizer = build_optimizer(model, setup.groups, 1.0, plan.config.weight_decay)
    scales = [group.get("lr_scale", 1.0) for group in optimizer.param_groups]
    loss_fn = nn.CrossEntropyLoss(label_smoothing=plan.config.label_smoothing, ignore_index=-1)
    lrs: list[float] = []
    losses: list[float] = []
    average, lowest, epoch = 0.0, math.inf, 1
    try:
        model.train()
        freeze_norm_stats(model)
        while len(lrs) < steps:
            loader, forward, _ = sources.train_source(epoch)
            for inputs, targets in loader:
                lr = start * (end / start) ** (len(lrs) / max(steps - 1, 1))
                for group, scale in zip(optimizer.param_groups, scales):
                    group["lr"] = lr * scale
                with autocast(plan.device):
                    loss = loss_fn(forward(inputs.to(plan.device)), targets.to(plan.device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                value = loss.item()
                if not math.isfinite(value):
                    return _finding(lrs, losses)
                average = SMOOTHING * average + (1 - SMOOTHING) * value
                smoothed = average / (1 - SMOOTHING ** (len(lrs) + 1))
                lrs.append(lr)
                losses.append(smoothed)
                lowest = min(lowest, smoothed)
                if smoothed > DIVERGED * lowest or len(lrs) >= steps:
                    return _finding(lrs, losses)
            epoch += 1
        return _finding(lrs, losses)
    finally:
        model.load_state_dict(saved)
        checkpoint.restore_rng(rng, sources.generator)


def _finding(lrs: list[float], losses: list[float]) -> LrFinding:
    return LrFinding(lrs, losses, valley(lrs, losses), len(lrs))
