"""An initialiser: ``--init example-scaled-normal [--init-arg gain=2]``."""
from __future__ import annotations

import math

import ftgui


class ScaledNormal(ftgui.Initializer):
    name = "example-scaled-normal"  # lower-case words joined by hyphens: what users type
    description = "N(0, gain / fan_in): LeCun's normal with a gain (2 is He's, for ReLU)"  # one line
    params = (ftgui.Param("gain", 1.0, "variance multiplier: 1 for tanh-like units, 2 for ReLU"),)

    def init_weight(self, weight, gain: float = 1.0, **params) -> None:
        import torch

        # a Linear weight is (out, in), a Conv weight (out, in/groups, *kernel): fan-in is all but dim 0
        fan_in = weight[0].numel()
        with torch.no_grad():
            weight.normal_(0.0, math.sqrt(gain / fan_in))


@ftgui.hookimpl
def ftgui_register_initializers(register):
    register(ScaledNormal())
