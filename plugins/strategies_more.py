"""More ways to fine-tune, between the seed's states 2 (head only) and 3 (everything):

- ``gradual-unfreeze``: the head first, then one more stage of the backbone every N epochs,
  from the top (ULMFiT's recipe: the layers nearest the head are the most task-specific);
- ``layer-decay``: everything learns, but each stage further from the head at a smaller
  learning rate (timm's layer-wise learning-rate decay, as used to fine-tune BEiT and MAE);
- ``bitfit``: only the biases and the head learn (Ben Zaken et al., 2021): a tiny fraction of
  the parameters, the pretrained weights themselves untouched.

Stages are timm's own: ``model.group_matcher(coarse=True)`` read by
``timm.models.group_parameters`` (stem, then each stage, then the head), so no architecture
is special-cased. torch and timm are imported inside the methods, not at the top, so that
loading the registry keeps the CLI fast.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import ftgui
from ftgui import FtguiError
from ftgui.plugin_types import Param, Strategy, split_head

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


def backbone_stages(model: nn.Module) -> list[list]:
    """The backbone's parameters per stage, input side first (the head's left out): timm's
    coarse group_matcher groups, or the whole backbone as one stage for a model without one."""
    head, backbone = split_head(model)
    head_ids = {id(p) for p in head}
    if not hasattr(model, "group_matcher"):
        return [backbone] if backbone else []
    from timm.models import group_parameters

    by_name = dict(model.named_parameters())
    groups = group_parameters(model, model.group_matcher(coarse=True))
    stages = []
    for group_id in sorted(groups):
        params = [by_name[name] for name in groups[group_id] if id(by_name[name]) not in head_ids]
        if params:
            stages.append(params)
    return stages


def _set_trainable(model: nn.Module, trainable: list) -> None:
    ids = {id(p) for p in trainable}
    for param in model.parameters():
        param.requires_grad_(id(param) in ids)


class GradualUnfreeze(Strategy):
    name = "gradual-unfreeze"
    description = (
        "start with only the head learning, then unfreeze one more stage of the backbone every "
        "`every` epochs, from the top (nearest the head) down; frozen stages keep their BatchNorm statistics"
    )
    params = (Param("every", 1, "epochs between unfreezing one more stage"),)
    translations = {"zh": {
        "label": "逐步解冻",
        "description": (
            "开始时只训练最后分类层，之后每 `every` 轮多解冻卷积层的一个阶段，从顶部（最靠近分类层的阶段）往下；"
            "冻结的阶段保持自己的 BatchNorm 统计量"),
        "param.every": "每隔多少轮多解冻一个阶段",
    }}

    def _groups(self, model: nn.Module, unfrozen: int) -> list[dict]:
        head, _ = split_head(model)
        stages = backbone_stages(model)
        opened = [p for stage in stages[len(stages) - unfrozen:] for p in stage] if unfrozen else []
        _set_trainable(model, [*head, *opened])
        return [{"params": head}, *([{"params": opened}] if opened else [])]

    def param_groups(self, model, every: int = 1, **params) -> list[dict]:
        if every < 1:
            raise FtguiError(f"gradual-unfreeze needs every >= 1, not {every}")
        return self._groups(model, 0)

    def on_epoch_start(self, model, epoch, every: int = 1, **params) -> list[dict] | None:
        if epoch == 0 or epoch % every:
            return None
        unfrozen = epoch // every
        if unfrozen > len(backbone_stages(model)):
            return None  # everything learns already
        return self._groups(model, unfrozen)


class LayerDecay(Strategy):
    name = "layer-decay"
    description = (
        "train everything, the head at the full learning rate and each stage below it at `decay` "
        "times the rate of the stage above (timm's layer-wise learning-rate decay)"
    )
    params = (Param("decay", 0.75, "learning-rate factor per stage away from the head (0 < decay <= 1)"),)
    translations = {"zh": {
        "label": "逐层递减的学习率",
        "description": (
            "全部训练：最后分类层用完整的学习率，它下面每个阶段的学习率是上一个阶段的 `decay` 倍"
            "（timm 的逐层学习率衰减）"),
        "param.decay": "离分类层每远一个阶段，学习率乘上的系数（0 < decay <= 1）",
    }}

    def param_groups(self, model, decay: float = 0.75, **params) -> list[dict]:
        if not 0 < decay <= 1:
            raise FtguiError(f"layer-decay needs 0 < decay <= 1, not {decay}")
        from timm.optim import param_groups_layer_decay

        for param in model.parameters():
            param.requires_grad_(True)
        # timm splits by weight decay too; ftgui applies its own weight-decay rule afterwards,
        # so only the learning-rate scale is kept, one group per scale.
        by_scale: dict[float, list] = {}
        for group in param_groups_layer_decay(model, weight_decay=0.0, layer_decay=decay):
            by_scale.setdefault(group["lr_scale"], []).extend(group["params"])
        return [{"params": params_, "lr_scale": scale} for scale, params_ in sorted(by_scale.items())]


class BitFit(Strategy):
    name = "bitfit"
    description = (
        "train only the biases (of every layer, norm layers included) and the head; the pretrained "
        "weights stay as they are (BitFit, Ben Zaken et al. 2021)"
    )
    default_lr = 1e-2  # like head-only: few parameters take a larger step (digits, 3 epochs: 0.58; at 1e-3: 0.19)
    translations = {"zh": {
        "label": "只训练偏差（BitFit）",
        "description": (
            "只训练偏差（每一层的偏差，包括归一化层）和最后分类层；预训练的权重保持不变（BitFit，Ben Zaken 等人，"
            "2021）"),
    }}

    def param_groups(self, model, **params) -> list[dict]:
        head, _ = split_head(model)
        head_ids = {id(p) for p in head}
        biases = [p for name, p in model.named_parameters() if name.endswith("bias") and id(p) not in head_ids]
        _set_trainable(model, [*head, *biases])
        return [{"params": head}, *([{"params": biases}] if biases else [])]


@ftgui.hookimpl
def ftgui_register_strategies(register) -> None:
    for strategy in (GradualUnfreeze(), LayerDecay(), BitFit()):
        register(strategy)
