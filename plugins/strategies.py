"""The seed's three states of a fine-tuned model, and training from scratch.

1. ``predict-only``: no training; the pretrained model, head and labels as they are.
2. ``head-only``: only the new classification layer learns; the backbone is frozen,
   BatchNorm statistics included.
3. ``full``: the classifier and every layer before it learn, from the pretrained weights.

``scratch`` is the same training as ``full``; the only difference is the initialisation
(the seed's point): an initialiser instead of someone else's parameters.
"""
from __future__ import annotations

import ftgui
from ftgui.plugin_types import Param, Strategy, split_head


def _train_all(model) -> list[dict]:
    for param in model.parameters():
        param.requires_grad_(True)
    return [{"params": list(model.parameters())}]


class PredictOnly(Strategy):
    name = "predict-only"
    description = (
        "State 1 - no training: use the pretrained model as it is (its own labels) and "
        "evaluate it on your images; fast, for labelling new data with an existing model"
    )
    trains = False
    keeps_head = True
    translations = {"zh": {
        "label": "原样使用模型，不训练（状态一）",
        "description": (
            "状态一：只预测，不训练——原样使用预训练模型（用它自己的类别标签），在你的图片上评估；速度快，"
            "适合用现成的模型给新数据打标签"),
    }}

    def param_groups(self, model, **params) -> list[dict]:
        for param in model.parameters():
            param.requires_grad_(False)
        return []


class HeadOnly(Strategy):
    name = "head-only"
    description = (
        "State 2 - train only the last classification layer on frozen pretrained features "
        "(BatchNorm statistics frozen too); quick, good when your images resemble the pretraining ones"
    )
    default_lr = 1e-2  # a single linear layer on fixed features takes a larger step
    translations = {"zh": {
        "label": "只训练最后一层（状态二）",
        "description": (
            "状态二：只训练最后分类层，预训练的特征保持冻结（BatchNorm 统计量也冻结）；速度快，"
            "适合你的图片与预训练时的图片相似的情况"),
    }}

    def param_groups(self, model, **params) -> list[dict]:
        head, backbone = split_head(model)
        for param in backbone:
            param.requires_grad_(False)
        for param in head:
            param.requires_grad_(True)
        return [{"params": head}]


class Full(Strategy):
    name = "full"
    description = (
        "State 3 - train everything (classifier and all layers before it) from the pretrained "
        "weights; slower, but fits the model to your images and usually beats head-only"
    )
    params = (
        Param("backbone_lr_scale", 1.0,
              "learning rate of the pretrained layers as a fraction of the head's (e.g. 0.1)"),
    )
    translations = {"zh": {
        "label": "全部训练（状态三）",
        "description": (
            "状态三：完全训练——从预训练权重出发，训练分类层和它之前的所有层；较慢，但让模型适应你的图片，"
            "通常比 head-only 更准"),
        "param.backbone_lr_scale": "预训练各层的学习率占最后分类层学习率的比例（例如 0.1）",
    }}

    def param_groups(self, model, backbone_lr_scale: float = 1.0, **params) -> list[dict]:
        _train_all(model)
        head, backbone = split_head(model)
        return [{"params": head}, {"params": backbone, "lr_scale": backbone_lr_scale}]


class Scratch(Strategy):
    name = "scratch"
    description = (
        "Train directly, without pretrained weights: every layer starts from the chosen "
        "initialiser; compare it with full to see what pretraining is worth"
    )
    needs_pretrained = False
    translations = {"zh": {
        "label": "从随机权重开始（直接训练）",
        "description": "直接训练，不用预训练权重：每一层都从所选的初始化方法开始；与 full 比较，就能看出预训练值多少",
    }}

    def param_groups(self, model, **params) -> list[dict]:
        return _train_all(model)


@ftgui.hookimpl
def ftgui_register_strategies(register) -> None:
    for strategy in (PredictOnly(), HeadOnly(), Full(), Scratch()):
        register(strategy)
