"""Symmetry: why all-zeros and one-constant initialisation are a trap, measured after training.

The seed: with every weight equal, every unit of a layer computes the same output, receives
the same gradient and the same update, so the units stay copies of each other for ever - a
layer of 32 units is worth one. Here a small tanh MLP learns the bundled digits for a few
hundred steps, and for each hidden layer we count what training could not break: the
numerical rank of W, the mean cosine similarity between units' incoming weight vectors, and
how many units are really different. Adam, like SGD, updates every coordinate by the same rule,
so it cannot break the symmetry either; random initialisers break it from the first step.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..registry import Registry
from .digits import load_digits
from .mlp import build_mlp, choose_initializer, initialise, linear_layers, one_thread

RANK_RTOL = 1e-3
"""Singular values below this fraction of the largest do not count towards the rank."""
SAME_UNIT_RTOL = 1e-3
"""Two units are the same when their weight vectors differ by less than this fraction of the
largest unit's norm (float rounding leaves copies 1e-7 apart, not exactly equal)."""


@dataclass
class SymmetryLayer:
    layer: int
    rank: int
    mean_cosine: float
    distinct_units: int
    units: int
    change: float
    """How far training moved W: ||W_end - W_start|| / max(||W_start||, 1e-12); 0 = not at all."""

    def to_json(self) -> dict[str, Any]:
        return {"layer": self.layer, "rank": self.rank, "mean_cosine": self.mean_cosine,
                "distinct_units": self.distinct_units}


@dataclass
class SymmetryReport:
    init: str
    accuracy: float
    """Validation accuracy after training (the held-out fifth of the digits)."""
    chance: float
    steps: int
    layers: list[SymmetryLayer]
    losses: list[float]
    """The training loss after each step."""

    def to_json(self) -> dict[str, Any]:
        """What ``ftgui lab symmetry --json`` prints."""
        return {"accuracy": self.accuracy, "layers": [layer.to_json() for layer in self.layers]}


def numerical_rank(weight: torch.Tensor, rtol: float = RANK_RTOL) -> int:
    """Singular values above ``rtol`` times the largest (0 for an all-zero matrix)."""
    values = torch.linalg.svdvals(weight.double())
    if values.numel() == 0 or float(values[0]) == 0.0:
        return 0
    return int((values > rtol * values[0]).sum())


def mean_cosine(weight: torch.Tensor) -> float:
    """Mean cosine similarity over all pairs of rows (units' incoming weights). Rows that are
    the same unit (zero rows included: they compute the same thing) count as 1."""
    w = weight.double()
    norms = w.norm(dim=1)
    scale = float(norms.max()) if norms.numel() else 0.0
    if w.shape[0] < 2:
        return 1.0
    unit = w / norms.clamp_min(1e-300).unsqueeze(1)
    cosine = unit @ unit.T
    same = torch.cdist(w, w) <= SAME_UNIT_RTOL * max(scale, 1e-12)
    cosine = torch.where(same, torch.ones_like(cosine), cosine)
    upper = torch.triu_indices(w.shape[0], w.shape[0], offset=1)
    return float(cosine[upper[0], upper[1]].mean())


def distinct_units(weight: torch.Tensor, bias: torch.Tensor | None = None) -> int:
    """How many rows differ from all earlier ones by more than SAME_UNIT_RTOL (a unit is its
    incoming weights and its bias)."""
    rows = weight.double()
    if bias is not None:
        rows = torch.cat([rows, bias.double().unsqueeze(1)], dim=1)
    scale = max(float(rows.norm(dim=1).max()) if rows.numel() else 0.0, 1e-12)
    kept: list[torch.Tensor] = []
    for row in rows:
        if all(float((row - other).norm()) > SAME_UNIT_RTOL * scale for other in kept):
            kept.append(row)
    return len(kept)


def run_symmetry(init: str, steps: int = 300, hidden: int = 32, depth: int = 2, act: str = "tanh",
                 lr: float = 0.01, seed: int = 0, init_params: Mapping[str, Any] | None = None,
                 bias_init: str = "zero", registry: Registry | None = None, plugins_dirs: Iterable[str] = (),
                 log: Callable[[str], None] = print) -> SymmetryReport:
    """Train a 64 -> ``hidden`` x ``depth`` -> 10 MLP on the bundled digits for ``steps``
    full-batch Adam steps from the initialiser ``init``; measure each hidden layer."""
    if steps < 0 or hidden < 1 or depth < 1:
        raise ValueError("steps must be >= 0, hidden and depth >= 1")
    chosen = choose_initializer(init, init_params, bias_init, registry, plugins_dirs)
    digits = load_digits(seed=0)
    torch.manual_seed(seed)
    model = build_mlp([digits.x_train.shape[1], *[hidden] * depth, len(digits.classes)], act, last_act=False)
    with one_thread():
        initialise(model, chosen, digits.x_train, log)
        layers = linear_layers(model)[:-1]
        start = [layer.weight.detach().clone() for layer in layers]
        losses = _train(model, digits.x_train, digits.y_train, steps, lr)
        model.eval()
        with torch.no_grad():
            accuracy = float((model(digits.x_val).argmax(1) == digits.y_val).float().mean())
    measured = []
    for index, (layer, before) in enumerate(zip(layers, start)):
        w = layer.weight.detach()
        change = float((w - before).norm()) / max(float(before.norm()), 1e-12)
        measured.append(SymmetryLayer(index + 1, numerical_rank(w), mean_cosine(w),
                                      distinct_units(w, layer.bias.detach()), w.shape[0], change))
    return SymmetryReport(chosen.name, accuracy, digits.chance, steps, measured, losses)


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> list[float]:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    model.train()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses
