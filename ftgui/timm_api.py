"""The timm model API, typed.

Every timm model is an ``nn.Module`` with the same extra methods and attributes
(``get_classifier()``, ``reset_classifier()``, ``num_classes``, ``pretrained_cfg``,
``forward_features()``, ``forward_head()``), but no base class declares them, so a type checker
sees each one through ``nn.Module.__getattr__`` as ``Tensor | Module``. :func:`timm_model` views
a model through :class:`TimmModel`, which gives them their real types; :func:`classifier` is the
common case. Nothing here changes the model.

This module imports no torch at run time (plugin_types uses it, and the CLI starts fast).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn


class TimmModel(Protocol):
    """What ftgui uses of a timm model beyond ``nn.Module``."""

    num_classes: int
    pretrained_cfg: dict[str, Any]

    def get_classifier(self) -> nn.Module: ...

    def reset_classifier(self, num_classes: int) -> None: ...

    def forward_features(self, x: torch.Tensor) -> torch.Tensor: ...

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor: ...

    def no_weight_decay(self) -> set[str]:
        """Parameter names exempt from weight decay (a ViT's pos_embed). Only models with such
        parameters define it: check ``hasattr(model, "no_weight_decay")`` first."""
        ...


def timm_model(model: nn.Module) -> TimmModel:
    """``model`` (a model timm created) seen with timm's API typed; the same object."""
    return cast("TimmModel", model)


def classifier(model: nn.Module) -> nn.Module:
    """The classifier (head) of a timm model: ``model.get_classifier()``."""
    return timm_model(model).get_classifier()
