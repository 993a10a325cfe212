"""Activations: a unit-Gaussian batch through a deep MLP, and what each layer makes of it.

This is the classic experiment behind the seed's warnings (10 layers of 500 units, 1000
unit-Gaussian inputs; the figures in ANCHORS.md section 3): with tanh, weights of std 0.01
("small random numbers") shrink the signal by about 0.01 x sqrt(500) per layer until it is
gone; weights of std 1 push almost every unit into saturation, where tanh's gradient is 0;
1/sqrt(n) (lecun) keeps it alive, decaying slowly; for ReLU, which zeroes half its inputs,
sqrt(2/n) (kaiming) holds the spread steady. The MLP is initialised through the same
``initialize(ctx)`` path as a training run (:mod:`.mlp`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from ..registry import Registry
from .mlp import build_mlp, choose_initializer, initialise, one_thread

SATURATION = 0.99
"""|h| above this counts as saturated for tanh (and h outside [0.01, 0.99] for sigmoid)."""
HISTOGRAM_BINS = 41


@dataclass
class LayerStats:
    """What one layer's outputs look like over a batch."""

    layer: int
    """1-based: layer 1 is the first hidden layer (or stage)."""
    mean: float
    std: float
    saturated: float | None
    """Fraction of saturated outputs (tanh: |h| > 0.99; sigmoid: h < 0.01 or > 0.99); None for
    an activation without saturation (ReLU) or a backbone stage."""
    dead: float
    """Fraction of outputs exactly 0: a ReLU that does not fire passes no gradient."""
    histogram: list[int] = field(default_factory=list)
    """Counts over ``edges`` (for the GUI's histograms; not in the JSON)."""
    edges: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"layer": self.layer, "mean": self.mean, "std": self.std, "saturated": self.saturated,
                "dead": self.dead}


@dataclass
class ActivationReport:
    init: str
    act: str
    layers: list[LayerStats]

    def to_json(self) -> dict[str, Any]:
        """What ``ftgui lab activations --json`` prints."""
        return {"layers": [layer.to_json() for layer in self.layers]}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def layer_stats(layer: int, outputs: torch.Tensor, act: str | None) -> LayerStats:
    """Mean, std, saturated and dead fractions, and a histogram of ``outputs``."""
    values = outputs.detach().float().reshape(-1)
    if act == "tanh":
        saturated: float | None = float((values.abs() > SATURATION).float().mean())
    elif act == "sigmoid":
        saturated = float(((values < 1 - SATURATION) | (values > SATURATION)).float().mean())
    else:
        saturated = None
    low, high = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}.get(act or "", (None, None))
    if low is None or high is None:
        finite = values[torch.isfinite(values)]
        low = float(finite.min()) if finite.numel() else 0.0
        high = float(finite.max()) if finite.numel() else 1.0
        if high <= low:
            low, high = low - 1.0, high + 1.0
    counts = torch.histc(values, bins=HISTOGRAM_BINS, min=low, max=high)
    edges = torch.linspace(low, high, HISTOGRAM_BINS + 1)
    return LayerStats(layer=layer, mean=float(values.mean()), std=float(values.std()), saturated=saturated,
                      dead=float((values == 0).float().mean()), histogram=[int(c) for c in counts],
                      edges=[float(e) for e in edges])


def run_activations(init: str, act: str = "tanh", layers: int = 10, width: int = 500, seed: int = 0,
                    init_params: Mapping[str, Any] | None = None, bias_init: str = "zero",
                    samples: int = 1000, registry: Registry | None = None, plugins_dirs: Iterable[str] = (),
                    log: Callable[[str], None] = print) -> ActivationReport:
    """Push ``samples`` unit-Gaussian vectors through ``layers`` Linear+``act`` layers of
    ``width`` units initialised by the initialiser ``init``; return each layer's statistics."""
    if layers < 1 or width < 1 or samples < 2:
        raise ValueError("layers, width and samples must be positive (samples at least 2)")
    chosen = choose_initializer(init, init_params, bias_init, registry, plugins_dirs)
    torch.manual_seed(seed)
    model = build_mlp([width] * (layers + 1), act)
    batch = torch.randn(samples, width)
    stats: list[LayerStats] = []
    with one_thread(), torch.no_grad():
        initialise(model, chosen, batch, log)
        hidden = batch
        for index, module in enumerate(model):
            hidden = module(hidden)
            if index % 2 == 1:  # after each activation
                stats.append(layer_stats(len(stats) + 1, hidden, act))
    return ActivationReport(chosen.name, act, stats)
