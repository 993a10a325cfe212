"""Gradient diffusion: how much gradient each layer of a deep MLP gets, at the start of training.

The seed's third problem of deep networks: back-propagation multiplies the gradient, layer by
layer on its way back, by each layer's weights and by the activation's slope. A sigmoid's slope
is at most 0.25, so in a deep sigmoid MLP the first layers' gradients are orders of magnitude
below the last layer's and they barely learn - the problem greedy layer-wise pre-training was
invented to get around. ReLU (slope 1 where it fires) with kaiming's sqrt(2/n) keeps the
gradient's size from layer to layer. Measured here on one full batch of the bundled digits
(cross-entropy, the MLP initialised through the training path); the ``grad-norms`` callback
measures the same per stage of a real model while it trains.
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


@dataclass
class GradientLayer:
    layer: int
    grad_norm: float
    """||dL/dW|| (Frobenius) of the layer's weight."""
    weight_norm: float

    def to_json(self) -> dict[str, Any]:
        return {"layer": self.layer, "grad_norm": self.grad_norm}


@dataclass
class GradientReport:
    init: str
    act: str
    layers: list[GradientLayer]

    @property
    def first_to_last(self) -> float:
        """The first layer's gradient norm over the last layer's (1: no diffusion)."""
        last = self.layers[-1].grad_norm
        return self.layers[0].grad_norm / last if last > 0 else float("nan")

    def to_json(self) -> dict[str, Any]:
        """What ``ftgui lab gradients --json`` prints."""
        return {"layers": [layer.to_json() for layer in self.layers]}


def run_gradients(init: str, act: str = "sigmoid", layers: int = 10, width: int = 100, seed: int = 0,
                  init_params: Mapping[str, Any] | None = None, bias_init: str = "zero",
                  registry: Registry | None = None, plugins_dirs: Iterable[str] = (),
                  log: Callable[[str], None] = print) -> GradientReport:
    """Gradient norm of each of the ``layers`` weight layers (``layers - 1`` hidden layers of
    ``width`` units with ``act``, then the 10-class output layer) on the digits' training set."""
    if layers < 2 or width < 1:
        raise ValueError("layers must be at least 2 (one hidden layer and the output layer), width positive")
    chosen = choose_initializer(init, init_params, bias_init, registry, plugins_dirs)
    digits = load_digits(seed=0)
    torch.manual_seed(seed)
    model = build_mlp([digits.x_train.shape[1], *[width] * (layers - 1), len(digits.classes)], act,
                      last_act=False)
    with one_thread():
        initialise(model, chosen, digits.x_train, log)
        model.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(digits.x_train), digits.y_train).backward()
    measured = []
    for index, layer in enumerate(linear_layers(model)):
        grad = layer.weight.grad
        measured.append(GradientLayer(index + 1, float(grad.norm()) if grad is not None else 0.0,
                                      float(layer.weight.detach().norm())))
    return GradientReport(chosen.name, act, measured)
