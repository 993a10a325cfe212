"""What a plugin provides: initialisers, strategies, and the parameters they declare.

A plugin subclasses :class:`Initializer`, :class:`Strategy` or
:class:`ftgui.Callback`, declares its parameters as
:class:`Param` objects (the GUI renders each as an input, the CLI takes ``KEY=VALUE``), and
registers an instance through a hook (see :mod:`ftgui.hookspecs`).

This module imports no torch at run time so that the CLI starts fast.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from .errors import FtguiError
from .timm_api import classifier

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
        if kind is float and not math.isfinite(parsed):
            raise FtguiError(f"parameter '{self.name}' takes a finite number, not {value!r}")
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
    """What every plugin shares: a name users type, a one-line description, parameters."""

    name: str = ""
    description: str = ""
    params: tuple[Param, ...] = ()
    translations: Mapping[str, Mapping[str, str]] = {}
    """Optional: this plugin's texts in other languages, ``{"zh": {"label": ..., "description":
    ..., "param.<name>": ...}}``; English (the attributes above) is the fallback."""

    def resolve(self, given: Mapping[str, Any]) -> dict:
        return resolve_params(f"{self.kind} '{self.name}'", self.params, given)

    kind = "plugin"


class Initializer(Plugin):
    """Sets the starting values of Conv and Linear weights.

    Used on the new classification head when fine-tuning, and on every Conv and Linear layer
    when training from scratch. Biases (the user's bias choice) and norm layers are set
    before :meth:`initialize` runs, so what an initialiser measures is what trains.
    """

    kind = "initializer"

    def init_weight(self, weight: torch.Tensor, **params: Any) -> None:
        """Fill ``weight`` (shape (out, in) or (out, in/groups, *kernel)) in place."""
        raise NotImplementedError

    def initialize(self, ctx: InitContext, **params: Any) -> None:
        """Initialise ``ctx.modules``. The default fills each weight with :meth:`init_weight`;
        a data-dependent initialiser (LSUV, say) overrides this and uses ``ctx.capture``."""
        for module in ctx.modules:
            # ctx.modules are Conv/Linear layers, whose weight is a Parameter
            self.init_weight(cast("torch.Tensor", module.weight), **params)


@dataclass
class InitContext:
    """What an initialiser sees: the whole model, the layers to set, and the user's images."""

    model: nn.Module
    modules: list[nn.Module]
    """The Conv and Linear layers to initialise, in the order the forward pass runs them."""
    role: str
    """``head``: a new classifier on a pretrained backbone; ``scratch``: every layer."""
    bias: float
    """The user's bias value, already written into every bias of ``modules``."""
    batch: torch.Tensor | None
    """A normalised batch of the user's training images on the model's device, or None."""
    log: Callable[[str], None] = print

    def capture(self, module: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the model on ``batch`` up to ``module`` and return (its input, its output).

        The model stays in the mode it will train in; BatchNorm statistics and every other
        buffer are put back afterwards, so capturing changes nothing but what you write."""
        import torch

        if self.batch is None:
            raise FtguiError("this initialiser needs training images to measure layers on; give data")
        captured: list[tuple[torch.Tensor, torch.Tensor]] = []

        def hook(_module: Any, args: tuple, output: torch.Tensor) -> None:
            captured.append((args[0].detach(), output.detach()))
            raise _Captured  # the rest of the forward pass is not needed

        from .models import buffers_kept

        handle = module.register_forward_hook(hook)
        try:
            with buffers_kept(self.model), torch.no_grad():
                self.model(self.batch)
        except _Captured:
            pass
        finally:
            handle.remove()
        if not captured:
            raise FtguiError(f"{type(module).__name__} is not run by the model's forward pass")
        return captured[0]


class _Captured(Exception):
    """Ends a forward pass once :meth:`InitContext.capture` has what it needs."""


@dataclass
class TrainContext:
    """What a strategy with its own fitting procedure (``Strategy.fit``) gets to work with."""

    model: nn.Module
    train_loader: Any
    val_loader: Any
    device: torch.device
    epochs: int
    lr: float
    log: Callable[[str], None]
    """A line in the CLI's output and the GUI's log."""
    should_stop: Callable[[], bool]
    prepare: Callable[[torch.Tensor], torch.Tensor]
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

    @property
    def default_init(self) -> str:
        """The initialiser used when the user names none (a subclass may set its own name).

        A new last layer on pretrained features starts at zeros, as Big Transfer's (Kolesnikov et
        al., 2020) does: zeros trap hidden units in symmetry, but each class of a last layer gets
        its own error signal, so it learns; and a zero layer starts every class at the same score,
        sends no random gradients into the pretrained layers and adds no luck of its own. On the
        bundled few-shot digits (seeds 72-80), fine-tuning everything from a zero head scored
        2.0-2.6 points higher than from LeCun's random start, its spread over seeds about halved
        (1.6 against 3.0 points at 5 images per class, 2.2 against 3.9 at 20); head-only scored
        the same within 0.6 points, its spread at 5 images per class 0.6 against 2.0. On fresh
        seeds 93-104 (benchmarks/RESULTS.md) the gain held (1.7 and 1.9 points); the spread fell
        at 5 images per class (2.9 against 5.4) but not at 20 (3.2 against 1.9). Every layer of
        a network trained from scratch starts random: LeCun's 1/sqrt(n)."""
        return "zeros" if self.needs_pretrained else "lecun"

    def param_groups(self, model: nn.Module, **params: Any) -> list[dict]:
        """Set ``requires_grad`` on every parameter and return the optimiser's param groups.

        A group may carry ``lr_scale`` (a factor on the run's learning rate).
        """
        raise NotImplementedError

    def on_epoch_start(self, model: nn.Module, epoch: int, **params: Any) -> list[dict] | None:
        """Change what learns at the start of ``epoch`` (0-based): return new param groups,
        or None to keep the current ones. Gradual unfreezing overrides this."""
        return None

    def fit(self, ctx: TrainContext, **params: Any) -> bool:
        """Run a fitting procedure of the strategy's own before the normal training loop
        (greedy layer-wise pre-training, say). Return True when it did something."""
        return False


def split_head(model: nn.Module) -> tuple[list, list]:
    """Return (classifier parameters, all other parameters) of a timm model."""
    head_ids = {id(p) for p in classifier(model).parameters()}
    head = [p for p in model.parameters() if id(p) in head_ids]
    rest = [p for p in model.parameters() if id(p) not in head_ids]
    return head, rest
