"""What a plugin provides: initialisers, strategies, and the parameters they declare.

A plugin subclasses :class:`Initializer` or :class:`Strategy`, declares its parameters as
:class:`Param` objects (the GUI renders each as an input, the CLI takes ``KEY=VALUE``), and
registers an instance through a hook (see :mod:`ftgui.hookspecs`).

This module imports no torch at run time so that the CLI starts fast.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .errors import FtguiError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One parameter of a plugin. Its type is the type of ``default`` (bool, int, float or str)."""

    name: str
    default: Any
    help: str
    choices: tuple | None = None

    def parse(self, value: Any) -> Any:
        """Convert ``value`` (often a CLI string) to this parameter's type, or raise FtguiError."""
        kind = type(self.default)
        try:
            if kind is bool and isinstance(value, str):
                low = value.strip().lower()
                if low not in _TRUE | _FALSE:
                    raise ValueError(value)
                parsed: Any = low in _TRUE
            elif kind is int and isinstance(value, float) and value.is_integer():
                parsed = int(value)
            else:
                parsed = kind(value)
        except (TypeError, ValueError):
            raise FtguiError(
                f"parameter '{self.name}' takes a {kind.__name__}, not {value!r}"
            ) from None
        if self.choices is not None and parsed not in self.choices:
            options = ", ".join(str(c) for c in self.choices)
            raise FtguiError(f"parameter '{self.name}' must be one of {options}, not {value!r}")
        return parsed


def resolve_params(owner: str, declared: tuple[Param, ...], given: Mapping[str, Any]) -> dict:
    """Check ``given`` against ``declared``: parse each value and fill in the defaults."""
    by_name = {p.name: p for p in declared}
    unknown = [key for key in given if key not in by_name]
    if unknown:
        takes = ", ".join(by_name) or "no parameters"
        raise FtguiError(f"{owner} has no parameter '{unknown[0]}'; it takes: {takes}")
    return {p.name: p.parse(given[p.name]) if p.name in given else p.default for p in declared}


class Plugin:
    """What initialisers and strategies share: a name users type, a one-line description."""

    name: str = ""
    description: str = ""
    params: tuple[Param, ...] = ()

    def resolve(self, given: Mapping[str, Any]) -> dict:
        return resolve_params(f"{self.kind} '{self.name}'", self.params, given)

    kind = "plugin"


class Initializer(Plugin):
    """Sets the starting values of Conv and Linear weights.

    Used on the new classification head when fine-tuning, and on every Conv and Linear layer
    when training from scratch. Biases are set separately by the user's bias choice.
    """

    kind = "initializer"

    def init_weight(self, weight: "torch.Tensor", **params: Any) -> None:
        """Fill ``weight`` (shape (out, in) or (out, in/groups, *kernel)) in place."""
        raise NotImplementedError

    def init_modules(
        self, modules: list["nn.Module"], batch: "torch.Tensor | None" = None, **params: Any
    ) -> None:
        """Initialise the weight of each module in turn.

        Data-dependent initialisers (LSUV, say) override this: ``batch`` holds a batch of
        training images and ``modules`` are in forward order.
        """
        for module in modules:
            self.init_weight(module.weight, **params)


@dataclass
class TrainContext:
    """What a strategy with its own fitting procedure (``Strategy.fit``) gets to work with."""

    model: "nn.Module"
    train_loader: Any
    val_loader: Any
    device: "torch.device"
    epochs: int
    lr: float
    emit: Callable[[dict], None]
    should_stop: Callable[[], bool]
    prepare: Callable[["torch.Tensor"], "torch.Tensor"]
    """Turns a loader's uint8 image batch into the model's normalised input on ``device``."""
    extra: dict = field(default_factory=dict)


class Strategy(Plugin):
    """Decides which parameters learn, at which learning rate, and when.

    ``needs_pretrained``: the strategy starts from existing weights (fine-tuning) rather
    than from an initialiser (training from scratch). ``trains``: False for a strategy that
    only evaluates. ``keeps_head``: the weights' own classifier and label names are used
    instead of a new head for the data's classes.
    """

    kind = "strategy"
    default_lr: float = 1e-3
    """The learning rate used when the user gives none."""
    needs_pretrained: bool = True
    trains: bool = True
    keeps_head: bool = False

    def param_groups(self, model: "nn.Module", **params: Any) -> list[dict]:
        """Set ``requires_grad`` on every parameter and return the optimiser's param groups.

        A group may carry ``lr_scale`` (a factor on the run's learning rate).
        """
        raise NotImplementedError

    def on_epoch_start(self, model: "nn.Module", epoch: int, **params: Any) -> list[dict] | None:
        """Change what learns at the start of ``epoch`` (0-based): return new param groups,
        or None to keep the current ones. Gradual unfreezing overrides this."""
        return None

    def fit(self, ctx: TrainContext, **params: Any) -> bool:
        """Run a fitting procedure of the strategy's own before the normal training loop
        (greedy layer-wise pre-training, say). Return True when it did something."""
        return False


def split_head(model: "nn.Module") -> tuple[list, list]:
    """Return (classifier parameters, all other parameters) of a timm model."""
    head_ids = {id(p) for p in model.get_classifier().parameters()}
    head = [p for p in model.parameters() if id(p) in head_ids]
    rest = [p for p in model.parameters() if id(p) not in head_ids]
    return head, rest
