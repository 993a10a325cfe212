"""A strategy: ``--strategy example-discriminative [--strategy-arg backbone_scale=0.1]``."""
from __future__ import annotations

import ftgui
from ftgui.plugin_types import split_head


class Discriminative(ftgui.Strategy):
    name = "example-discriminative"
    description = "train everything, the backbone at a fraction of the head's learning rate"
    params = (ftgui.Param("backbone_scale", 0.1, "the backbone's learning rate as a fraction of the run's"),)

    def param_groups(self, model, backbone_scale: float = 0.1, **params):
        if not 0 < backbone_scale <= 1:
            raise ftgui.FtguiError(f"example-discriminative: backbone_scale must be in (0, 1], not {backbone_scale}")
        head, backbone = split_head(model)
        for param in model.parameters():
            param.requires_grad_(True)
        # lr_scale multiplies the run's learning rate; timm's scheduler honours it
        return [{"params": head}, {"params": backbone, "lr_scale": backbone_scale}]


@ftgui.hookimpl
def ftgui_register_strategies(register):
    register(Discriminative())
