"""The learning-rate range test (Smith, 2015; fastai's ``lr_find``): a few hundred steps at
most, the learning rate growing exponentially from tiny to huge, on the same data, strategy
and parameter groups the run will use (cached features make it nearly free for head-only).
The loss falls, flattens, then explodes; the suggestion is fastai's "valley": the middle of
the longest stretch where the loss keeps falling.

The test is run :data:`TESTS` times from the same weights, the batches in another order each
time, and the valley is read off the mean of their loss curves. On a few images one test's
suggestion was luck: at 5 images per class, full fine-tuning, the three tests of one seed
suggested 0.015, 0.00076 and 0.004 (benchmarks/defaults.py's task; issue 15's note gives the
measurement that chose the mean curve over one test, the median of three and others).

The model's weights and every random generator are put back afterwards, so a run that finds
its learning rate first trains exactly as if that rate had been given.

The tests start a new layer whose weights are all equal (a fine-tuning head starts at zeros) from
random weights instead, drawn as LeCun's: from zeros every image's loss is exactly ln C, a flat
start along which every step lowers the loss a little, and the longest falling stretch then
begins at the smallest rate tried. On the benchmark's task (seeds 81-84) the suggestion fell
to 4e-5-1e-4 where the sweep's best was 3e-4-1e-2, and training there reached 62-74% instead of
83-95%. From a random start the suggestions were 4e-4-3e-3 (full) and 0.01-0.03 (head-only).
Each test draws its own, so the mean curve does not hang on one draw.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from timm.layers import variance_scaling_
from torch import nn

from .. import checkpoint
from ..device import autocast
from .optim import build_optimizer
from .plan import RunPlan
from .setup import RunSetup, freeze_norm_stats
from .sources import BatchSources

START_LR, END_LR, STEPS = 1e-7, 10.0, 100
TESTS = 3
"""Range tests averaged: each of at most STEPS steps."""
SMOOTHING = 0.98
DIVERGED = 4.0
"""The test ends once the smoothed loss is this many times its lowest value."""


@dataclass
class LrFinding:
    lrs: list[float]
    losses: list[float]
    """The smoothed training loss at each learning rate (the mean over the tests)."""
    suggestion: float
    steps: int
    """Steps of each test (up to the first that ended: a test ends once its loss explodes)."""
    tests: int = 1

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
            start: float = START_LR, end: float = END_LR, tests: int = TESTS) -> LrFinding:
    """``tests`` range tests of at most ``steps`` steps from the model's weights, averaged; the
    weights and the random generators are put back afterwards."""
    model = setup.model
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    rng = checkpoint.rng_state(sources.generator)
    curves: list[tuple[list[float], list[float]]] = []
    epoch = 1
    try:
        for _ in range(tests):
            _random_where_equal(setup.new_layers)
            lrs, losses, epoch = _range_test(plan, setup, sources, steps, start, end, epoch)
            model.load_state_dict(saved)
            curves.append((lrs, losses))
    finally:
        model.load_state_dict(saved)
        checkpoint.restore_rng(rng, sources.generator)
    n = min(len(losses) for _, losses in curves)
    lrs = curves[0][0][:n]
    mean = [sum(losses[i] for _, losses in curves) / len(curves) for i in range(n)]
    return LrFinding(lrs, mean, valley(lrs, mean), n, len(curves))


def _random_where_equal(layers: list[nn.Module]) -> None:
    """Draw the weights of each layer whose weights are all equal (zeros) as LeCun's, std
    1/sqrt(fan-in) (timm's helper, as the bundled ``lecun`` initialiser draws them), for the
    range tests only (see the module's docstring)."""
    for layer in layers:
        weight = getattr(layer, "weight", None)
        if isinstance(weight, torch.Tensor) and weight.dim() >= 2 and bool((weight == weight.flatten()[0]).all()):
            with torch.no_grad():
                variance_scaling_(weight, scale=1.0, mode="fan_in", distribution="normal")


def _range_test(plan: RunPlan, setup: RunSetup, sources: BatchSources, steps: int, start: float, end: float,
                epoch: int) -> tuple[list[float], list[float], int]:
    """One range test from the model's weights as they are, its batches in the order of
    ``epoch`` and those after: (rates, smoothed losses, the epoch the next test starts with)."""
    model = setup.model
    optimizer = build_optimizer(model, setup.groups, 1.0, plan.config.weight_decay)
    scales = [group.get("lr_scale", 1.0) for group in optimizer.param_groups]
    loss_fn = nn.CrossEntropyLoss(label_smoothing=plan.config.label_smoothing, ignore_index=-1)
    lrs: list[float] = []
    losses: list[float] = []
    average, lowest = 0.0, math.inf
    model.train()
    freeze_norm_stats(model)
    while True:
        loader, forward, _ = sources.train_source(epoch)
        epoch += 1
        done = len(lrs)
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
                return lrs, losses, epoch
            average = SMOOTHING * average + (1 - SMOOTHING) * value
            smoothed = average / (1 - SMOOTHING ** (len(lrs) + 1))
            lrs.append(lr)
            losses.append(smoothed)
            lowest = min(lowest, smoothed)
            if smoothed > DIVERGED * lowest or len(lrs) >= steps:
                return lrs, losses, epoch
        if len(lrs) == done:  # a pass with no batch: nothing more to learn from
            return lrs, losses, epoch
