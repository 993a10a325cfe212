"""The bundled initialisers, checked by measured statistics of the weights they produce."""
from __future__ import annotations

import math

import pytest
import torch

import ftgui
from ftgui.registry import load_registry

NAMES = ("zeros", "constant", "small-random", "lecun", "xavier", "kaiming", "orthogonal",
         "sparse", "timm-default")


@pytest.fixture(scope="module")
def reg():
    return load_registry(entry_points=False)


def fill(reg, name, weight, **given):
    init = reg.initializer(name)
    init.init_weight(weight, **init.resolve(given))
    return weight


def linear(out=1024, inp=2048):
    return torch.empty(out, inp)


def conv(out=256, inp=128, k=3, groups=1):
    return torch.empty(out, inp // groups, k, k)


def assert_std(weight, expected, rel=0.05):
    std = weight.std().item()
    assert abs(std - expected) / expected < rel, (std, expected)
    assert abs(weight.mean().item()) < 0.05 * expected


def test_all_registered_as_bundled(reg):
    for name in NAMES:
        assert name in reg.initializers
        assert reg.initializers[name].source == "bundled"
        item = reg.initializers[name].item
        assert item.description and "\n" not in item.description


def test_zeros(reg):
    w = fill(reg, "zeros", torch.randn(32, 64))
    assert torch.count_nonzero(w) == 0


def test_constant_default_and_cli_string(reg):
    w = fill(reg, "constant", torch.randn(32, 64))
    assert torch.all(w == 0.1)
    w = fill(reg, "constant", torch.randn(8, 4, 3, 3), value="0.5")
    assert torch.all(w == 0.5)


def test_small_random(reg):
    torch.manual_seed(0)
    assert_std(fill(reg, "small-random", linear()), 0.01)
    assert_std(fill(reg, "small-random", linear(), std="0.2"), 0.2)


@pytest.mark.parametrize("distribution", ["normal", "truncated_normal", "uniform"])
@pytest.mark.parametrize("shape,fan_in", [
    ((1024, 2048), 2048),
    ((256, 128, 3, 3), 128 * 9),
    ((256, 128 // 4, 3, 3), 32 * 9),  # Conv2d(128, 256, 3, groups=4)
])
def test_lecun(reg, distribution, shape, fan_in):
    torch.manual_seed(0)
    w = fill(reg, "lecun", torch.empty(shape), distribution=distribution)
    assert_std(w, 1 / math.sqrt(fan_in))


def test_lecun_on_real_grouped_conv_module(reg):
    torch.manual_seed(0)
    layer = torch.nn.Conv2d(128, 256, 3, groups=4)
    fill(reg, "lecun", layer.weight)
    assert_std(layer.weight.detach(), 1 / math.sqrt(32 * 9))


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
@pytest.mark.parametrize("shape,fan_in,fan_out", [
    ((1024, 2048), 2048, 1024),
    ((256, 128, 3, 3), 128 * 9, 256 * 9),
])
def test_kaiming_fan_in_and_out(reg, distribution, shape, fan_in, fan_out):
    torch.manual_seed(0)
    w = fill(reg, "kaiming", torch.empty(shape), distribution=distribution)
    assert_std(w, math.sqrt(2 / fan_in))
    w = fill(reg, "kaiming", torch.empty(shape), distribution=distribution, mode="fan_out")
    assert_std(w, math.sqrt(2 / fan_out))


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
@pytest.mark.parametrize("shape,fan_in,fan_out", [
    ((1024, 2048), 2048, 1024),
    ((256, 128, 3, 3), 128 * 9, 256 * 9),
])
def test_xavier(reg, distribution, shape, fan_in, fan_out):
    torch.manual_seed(0)
    w = fill(reg, "xavier", torch.empty(shape), distribution=distribution)
    assert_std(w, math.sqrt(2 / (fan_in + fan_out)))
    w = fill(reg, "xavier", torch.empty(shape), distribution=distribution, gain="2")
    assert_std(w, 2 * math.sqrt(2 / (fan_in + fan_out)))


@pytest.mark.parametrize("shape", [(64, 256), (32, 16, 3, 3)])
def test_orthogonal_rows(reg, shape):
    torch.manual_seed(0)
    w = fill(reg, "orthogonal", torch.empty(shape)).reshape(shape[0], -1)
    assert torch.allclose(w @ w.T, torch.eye(shape[0]), atol=1e-4)
    w = fill(reg, "orthogonal", torch.empty(shape), gain=2.0).reshape(shape[0], -1)
    assert torch.allclose(w @ w.T, 4 * torch.eye(shape[0]), atol=4e-4)


@pytest.mark.parametrize("shape", [(64, 256), (32, 16, 3, 3)])
@pytest.mark.parametrize("k", [None, 3])
def test_sparse_exactly_k_incoming_per_unit(reg, shape, k):
    torch.manual_seed(0)
    given = {} if k is None else {"k": str(k)}
    w = fill(reg, "sparse", torch.randn(shape), **given).reshape(shape[0], -1)
    expected = 10 if k is None else k
    assert torch.all((w != 0).sum(dim=1) == expected)
    assert (w != 0).sum().item() == shape[0] * expected


def test_sparse_is_incoming_not_outgoing(reg):
    torch.manual_seed(0)
    w = fill(reg, "sparse", torch.empty(512, 256))
    per_row = (w != 0).sum(dim=1)
    per_col = (w != 0).sum(dim=0)
    assert torch.all(per_row == 10)
    # each input feeds a random number of units (mean 512*10/256 = 20), not a fixed one
    assert per_col.min() < per_col.max()
    assert not torch.all(per_col == 10)
    # torch.nn.init.sparse_ would be the other way round: a fixed count per column
    t = torch.empty(512, 256)
    torch.nn.init.sparse_(t, sparsity=0.5)
    assert torch.all((t == 0).sum(dim=0) == 256) and not torch.all((t != 0).sum(dim=1) == 10)


@pytest.mark.parametrize("k,scale", [(10, 1.0), (3, 2.0)])
def test_sparse_value_std(reg, k, scale):
    torch.manual_seed(0)
    w = fill(reg, "sparse", torch.empty(2048, 2048), k=k, scale=scale)
    values = w[w != 0]
    assert values.numel() == 2048 * k
    assert abs(values.std().item() - scale / math.sqrt(k)) / (scale / math.sqrt(k)) < 0.05
    # so each unit's output on unit-variance input has std about scale
    x = torch.randn(2048, 256)
    out_std = (w @ x).std().item()
    assert abs(out_std - scale) / scale < 0.05


def test_sparse_k_clipped_to_fan_in(reg):
    torch.manual_seed(0)
    w = fill(reg, "sparse", torch.empty(16, 4), k=10)
    assert torch.all(w != 0)
    w = fill(reg, "sparse", torch.empty(16, 2, 1, 1), k=10).reshape(16, -1)
    assert torch.all((w != 0).sum(dim=1) == 2)


def test_sparse_repeatable_with_seed(reg):
    torch.manual_seed(123)
    a = fill(reg, "sparse", torch.empty(128, 300))
    torch.manual_seed(123)
    b = fill(reg, "sparse", torch.empty(128, 300))
    torch.manual_seed(124)
    c = fill(reg, "sparse", torch.empty(128, 300))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_timm_default_leaves_weight(reg):
    w = torch.randn(32, 64)
    before = w.clone()
    fill(reg, "timm-default", w)
    assert torch.equal(w, before)


@pytest.mark.parametrize("name", NAMES)
def test_in_place_on_module_parameter(reg, name):
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 32)
    weight = layer.weight
    fill(reg, name, layer.weight)
    assert layer.weight is weight and weight.requires_grad


def test_unknown_param_names_allowed_ones(reg):
    with pytest.raises(ftgui.FtguiError, match="bogus.*k, scale"):
        reg.initializer("sparse").resolve({"bogus": 1})
    with pytest.raises(ftgui.FtguiError, match="no parameters"):
        reg.initializer("zeros").resolve({"bogus": 1})


def test_bad_choice_and_bad_type(reg):
    with pytest.raises(ftgui.FtguiError, match="normal, truncated_normal, uniform"):
        reg.initializer("lecun").resolve({"distribution": "gaussian"})
    with pytest.raises(ftgui.FtguiError, match="fan_in, fan_out"):
        reg.initializer("kaiming").resolve({"mode": "fan_avg"})
    with pytest.raises(ftgui.FtguiError, match="int"):
        reg.initializer("sparse").resolve({"k": "ten"})
