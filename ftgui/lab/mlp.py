"""The Lab's networks: plain MLPs, initialised exactly as a training run initialises a model.

The point of the Lab is that what it shows is what training starts from, so an MLP here goes
through the same steps as ``ftgui train --strategy scratch`` (:func:`ftgui.training.setup.initialize`):
biases set to the user's ``--bias-init`` value by :func:`ftgui.models.reset_new_layers`, then the
initialiser plugin's ``initialize(ctx)`` with an :class:`ftgui.InitContext` over the Linear
layers in forward order (role ``scratch``), under ``torch.no_grad()``. Third-party
initialisers (``--plugins-dir``) therefore work in the Lab unchanged.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..config import TrainConfig
from ..models import reset_new_layers
from ..plugin_types import InitContext
from ..registry import Registered, Registry, load_registry

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}
"""The non-linearities the Lab offers, by the name users type."""


@dataclass
class Initialiser:
    """An initialiser plugin chosen by name, with its parameters checked and its defaults filled."""

    registered: Registered
    params: dict[str, Any]
    bias: float

    @property
    def name(self) -> str:
        return self.registered.item.name


def choose_initializer(name: str, given: Mapping[str, Any] | None = None, bias_init: str = "zero",
                       registry: Registry | None = None,
                       plugins_dirs: Iterable[str] = ()) -> Initialiser:
    """Look ``name`` up among the initialisers (bundled and plugins), check its parameters and
    the bias setting exactly as a training run does; raise FtguiError naming what is wrong."""
    registry = registry or load_registry(plugins_dirs)
    registered = registry.get("initializer", name)
    params = registered.item.resolve(dict(given or {}))
    bias = TrainConfig(bias_init=bias_init).bias_value()  # the same rule and message as --bias-init
    return Initialiser(registered, params, bias)


def build_mlp(sizes: list[int], act: str, last_act: bool = True) -> nn.Sequential:
    """Linear layers between consecutive ``sizes``, each followed by ``act`` (the last one too
    unless ``last_act`` is False: a classifier's logits)."""
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}")
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if last_act or index < len(sizes) - 2:
            layers.append(ACTIVATIONS[act]())
    return nn.Sequential(*layers)


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The Linear layers of an MLP, in forward order."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def initialise(model: nn.Module, init: Initialiser, batch: torch.Tensor | None,
               log: Callable[[str], None] = print) -> None:
    """Set ``model``'s weights the way a from-scratch run would: biases to ``init.bias`` (and
    norm layers reset), then ``init``'s ``initialize(ctx)`` over every Linear layer, seeing
    ``batch`` (what data-dependent initialisers such as lsuv measure on)."""
    layers = reset_new_layers(list(model.modules()), init.bias)
    ctx = InitContext(model, layers, "scratch", init.bias, batch, log)
    with torch.no_grad():
        init.registered.call("initialize", ctx, **init.params)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run a block with torch on one CPU thread. The Lab's matrices are tiny (64 x 32 up to
    500 x 500): threads gain nothing on them, and on a busy machine (a run training beside the
    Lab, other processes) two threads waiting on each other made the symmetry experiment 10-30x
    slower (0.5 s against 6-17 s on 2 loaded cores). The setting is process-wide, so it is put
    back at once."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
