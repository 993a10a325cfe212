"""The bundled weight initialisers: the seed's five ways to start (zeros, one constant, small
random numbers, variance calibrated by 1/sqrt(n), sparse) and the standard schemes around them.

Each initialiser fills one Conv or Linear weight in place. A weight has shape (out, in) or
(out, in/groups, *kernel); its fan-in (the inputs each output unit sees) is
(in/groups) x kernel area. Biases are not touched here: the engine applies the user's separate
bias choice.

torch is imported inside the functions, not at the top, so that loading the registry (which
imports every plugin) keeps the CLI fast.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import ftgui
from ftgui import Initializer, Param

if TYPE_CHECKING:  # pragma: no cover
    import torch


def _fan_in(weight: torch.Tensor) -> int:
    """Inputs per output unit: (in/groups) x kernel area."""
    import torch

    return torch.nn.init._calculate_fan_in_and_fan_out(weight)[0]


class Zeros(Initializer):
    name = "zeros"
    description = (
        "all weights 0: hidden units stay identical copies, the seed's symmetry trap; a new last "
        "layer alone still learns, so fine-tuning starts it at 0"
    )
    translations = {"zh": {
        "label": "全都初始化为 0（对隐藏层是陷阱；新的最后一层可以从它学起）",
        "description": (
            "所有权重都为 0：隐藏层的各单元始终是彼此的复制品（教程所说的对称性陷阱）；"
            "只有新的最后一层时仍能学习，所以微调让它从 0 开始"),
    }}

    def init_weight(self, weight, **params):
        import torch

        with torch.no_grad():
            weight.zero_()


class Constant(Initializer):
    name = "constant"
    description = (
        "every weight the same value: units stay identical copies of each other, the same "
        "symmetry trap as all zeros (the seed's second trap)"
    )
    params = (Param("value", 0.1, "the value every weight gets"),)
    translations = {"zh": {
        "label": "全都初始化为同样的值（同样的陷阱）",
        "description": (
            "所有权重都是同一个值：各单元始终是彼此的复制品，"
            "与全都初始化为 0 一样陷入对称性陷阱（教程中的第二个陷阱）"),
        "param.value": "每个权重得到的值",
    }}

    def init_weight(self, weight, value=0.1, **params):
        import torch

        with torch.no_grad():
            weight.fill_(value)


class SmallRandom(Initializer):
    name = "small-random"
    description = (
        "small Gaussian random numbers (std 0.01): breaks the symmetry, but in a deep network "
        "the signal shrinks layer after layer - smaller is not always better (the seed's warning)"
    )
    params = (Param("std", 0.01, "standard deviation of the Gaussian"),)
    translations = {"zh": {
        "label": "初始化为小的随机数",
        "description": (
            "小的高斯随机数（标准差 0.01）：能打破对称性，但在深层网络中信号会一层层缩小——"
            "并不是数字越小就越好（教程的警告）"),
        "param.std": "高斯分布的标准差",
    }}

    def init_weight(self, weight, std=0.01, **params):
        import torch

        with torch.no_grad():
            weight.normal_(0.0, std)


class Lecun(Initializer):
    name = "lecun"
    description = (
        "std = 1/sqrt(fan_in), the seed's 'calibrate the variance with 1/sqrt(n)': each unit's "
        "output has variance about 1 when its inputs do (LeCun init)"
    )
    params = (
        Param("distribution", "normal", "shape of the random values (all with std 1/sqrt(fan_in))",
              ("normal", "truncated_normal", "uniform")),
    )
    translations = {"zh": {
        "label": "按输入个数缩放（LeCun，1/sqrt(n)）",
        "description": (
            "标准差 = 1/sqrt(fan-in)（fan-in：一个单元的输入个数），即教程中的“用 1/sqrt(n) 校准方差”："
            "输入的方差约为 1 时，每个单元输出的方差也约为 1（LeCun 初始化）"),
        "param.distribution": "随机值的分布形状（标准差都是 1/sqrt(fan-in)）",
    }}

    def init_weight(self, weight, distribution="normal", **params):
        import torch
        from timm.layers import variance_scaling_

        with torch.no_grad():
            variance_scaling_(weight, scale=1.0, mode="fan_in", distribution=distribution)


class Xavier(Initializer):
    name = "xavier"
    description = (
        "Glorot/Xavier: std = gain x sqrt(2/(fan_in+fan_out)), keeps the signal's variance "
        "both forwards and backwards; made for tanh/sigmoid networks"
    )
    params = (
        Param("distribution", "uniform", "uniform or normal random values", ("uniform", "normal")),
        Param("gain", 1.0, "factor on the standard deviation"),
    )
    translations = {"zh": {
        "label": "按输入和输出个数缩放（Glorot/Xavier）",
        "description": (
            "Glorot/Xavier：标准差 = gain × sqrt(2/(fan-in + fan-out))，在前向和反向传播中都保持信号的方差；"
            "为 tanh/sigmoid 网络设计"),
        "param.distribution": "均匀分布（uniform）或正态分布（normal）的随机值",
        "param.gain": "标准差的乘数",
    }}

    def init_weight(self, weight, distribution="uniform", gain=1.0, **params):
        import torch

        init = torch.nn.init
        fill = init.xavier_uniform_ if distribution == "uniform" else init.xavier_normal_
        with torch.no_grad():
            fill(weight, gain=gain)


class Kaiming(Initializer):
    name = "kaiming"
    description = (
        "He/Kaiming for ReLU: std = sqrt(2/fan_in), the 1/sqrt(n) calibration doubled in "
        "variance because ReLU zeroes half its inputs; keeps deep ReLU networks stable"
    )
    params = (
        Param("mode", "fan_in", "fan_in keeps the forward signal's variance, fan_out the "
              "gradient's", ("fan_in", "fan_out")),
        Param("distribution", "normal", "normal or uniform random values", ("normal", "uniform")),
    )
    translations = {"zh": {
        "label": "为 ReLU 网络缩放（He/Kaiming）",
        "description": (
            "用于 ReLU 的 He/Kaiming：标准差 = sqrt(2/fan-in)，即把 1/sqrt(n) 校准的方差加倍，"
            "因为 ReLU 会把一半的输入变成 0；让深层 ReLU 网络保持稳定"),
        "param.mode": "fan_in 保持前向信号的方差，fan_out 保持梯度的方差",
        "param.distribution": "正态分布（normal）或均匀分布（uniform）的随机值",
    }}

    def init_weight(self, weight, mode="fan_in", distribution="normal", **params):
        import torch

        init = torch.nn.init
        fill = init.kaiming_normal_ if distribution == "normal" else init.kaiming_uniform_
        with torch.no_grad():
            fill(weight, a=0, mode=mode, nonlinearity="relu")


class Orthogonal(Initializer):
    name = "orthogonal"
    description = (
        "a random orthogonal matrix (times gain): units are exactly decorrelated and the "
        "layer preserves the length of its input (Saxe et al.)"
    )
    params = (Param("gain", 1.0, "factor on the orthogonal matrix"),)
    translations = {"zh": {
        "label": "随机正交矩阵",
        "description": "一个随机正交矩阵（乘以 gain）：各单元之间完全不相关，这一层保持输入的长度不变（Saxe 等人）",
        "param.gain": "正交矩阵的乘数",
    }}

    def init_weight(self, weight, gain=1.0, **params):
        import torch

        with torch.no_grad():
            torch.nn.init.orthogonal_(weight, gain=gain)


class Sparse(Initializer):
    name = "sparse"
    description = (
        "the seed's sparse init: all weights 0 except k random incoming weights per unit "
        "(Gaussian, std scale/sqrt(k)); breaks symmetry, and each unit's output variance is "
        "about scale^2 whatever the fan-in"
    )
    params = (
        Param("k", 10, "non-zero incoming weights per unit (the seed: as few as 10); "
              "at most the fan-in"),
        Param("scale", 1.0, "each unit's output std on unit-variance inputs; the non-zero "
              "weights have std scale/sqrt(k)"),
    )
    translations = {"zh": {
        "label": "每个单元只有约 10 个连接（稀疏初始化）",
        "description": (
            "教程中的稀疏初始化：除了每个单元随机选出的 k 个输入权重（高斯分布，标准差 scale/sqrt(k)）以外，"
            "所有权重都为 0；能打破对称性，而且无论 fan-in 多大，每个单元输出的方差都约为 scale^2"),
        "param.k": "每个单元非零输入权重的个数（教程：可以少到 10 个）；最多为 fan-in",
        "param.scale": "输入方差为 1 时每个单元输出的标准差；非零权重的标准差为 scale/sqrt(k)",
    }}

    def init_weight(self, weight, k=10, scale=1.0, **params):
        import torch

        out = weight.shape[0]
        fan_in = _fan_in(weight)
        if k < 1:
            raise ftgui.FtguiError(f"sparse init needs k >= 1, not {k}")
        k = min(k, fan_in)
        with torch.no_grad():
            # k distinct random positions per row: the k largest of uniform noise.
            noise = torch.rand(out, fan_in, device=weight.device)
            cols = noise.topk(k, dim=1).indices
            values = torch.randn(out, k, device=weight.device, dtype=weight.dtype)
            values.mul_(scale / math.sqrt(k))
            rows = torch.zeros(out, fan_in, device=weight.device, dtype=weight.dtype)
            rows.scatter_(1, cols, values)
            weight.copy_(rows.view_as(weight))


class TimmDefault(Initializer):
    name = "timm-default"
    description = (
        "keep the weights the architecture's own init gives: for a new head, timm's default; "
        "from scratch, the model's own init scheme"
    )
    translations = {"zh": {
        "label": "模型自带的初始化（timm 默认）",
        "description": (
            "保留网络结构自身的初始化给出的权重：新的最后分类层用 timm 的默认方式；从头训练时用模型自己的初始化方案"),
    }}

    def init_weight(self, weight, **params):
        return None


class Lsuv(Initializer):
    name = "lsuv"
    description = (
        "layer-sequential unit variance (Mishkin & Matas, 2015): orthonormal weights, then each layer "
        "in turn is rescaled until its output on a batch of your images has std 1 - data-dependent "
        "calibration instead of the 1/sqrt(n) rule"
    )
    params = (
        Param("tol", 0.05, "stop rescaling a layer once its output std is within tol of 1"),
        Param("iters", 10, "at most this many rescaling passes per layer"),
    )
    translations = {"zh": {
        "label": "逐层校准到单位方差（LSUV）",
        "description": (
            "逐层单位方差（LSUV，Mishkin & Matas，2015）：先取正交权重，再逐层缩放，"
            "直到这一层在你的一批图片上的输出标准差为 1——用数据来校准，而不是用 1/sqrt(n) 规则"),
        "param.tol": "某层输出的标准差与 1 相差不到 tol 时，停止缩放这一层",
        "param.iters": "每层最多缩放的次数",
    }}

    def initialize(self, ctx, tol=0.05, iters=10, **params):
        import torch

        for module in ctx.modules:
            torch.nn.init.orthogonal_(module.weight)
        if ctx.batch is None:
            ctx.log("lsuv: no training images to measure on; the layers keep their orthonormal start")
            return
        for module in ctx.modules:
            for _ in range(iters):
                std = float(ctx.capture(module)[1].float().std())
                if abs(std - 1.0) < tol:
                    break
                if not math.isfinite(std) or std < 1e-8:
                    ctx.log(f"lsuv: {type(module).__name__} has no output variance to scale; left orthonormal")
                    break
                module.weight.div_(std)


@ftgui.hookimpl
def ftgui_register_initializers(register):
    for init in (Zeros(), Constant(), SmallRandom(), Lecun(), Xavier(), Kaiming(),
                 Orthogonal(), Sparse(), TimmDefault(), Lsuv()):
        register(init)
