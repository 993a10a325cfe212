"""Initialisers that see the model: InitContext, the order of resets, lsuv, and --epochs 0."""
from __future__ import annotations

import json

import pytest
import timm
import torch
from safetensors.torch import load_file

import ftgui
from ftgui import models
from ftgui.cli import main
from ftgui.config import TrainConfig
from ftgui.engine import train
from ftgui.predict import predict
from ftgui.registry import Registered, load_registry
from ftgui.runs import load_run

TINY = dict(model="test_resnet", img_size=32, batch_size=8, aug="none")


def tensors(run_dir) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "model.safetensors"))


class Spy(ftgui.Initializer):
    """Records what an initialiser sees, then fills weights with 0.5."""

    name = "spy"
    description = "records its InitContext"
    seen: list = []

    def initialize(self, ctx, **params):
        first = ctx.modules[0]
        Spy.seen.append({
            "role": ctx.role, "bias": ctx.bias, "count": len(ctx.modules),
            "model_is_whole": ctx.model.get_classifier() is ctx.modules[-1] or ctx.role == "scratch",
            "biases_already_set": all(torch.all(m.bias == ctx.bias) for m in ctx.modules if m.bias is not None),
            "batch": None if ctx.batch is None else (tuple(ctx.batch.shape), float(ctx.batch.mean()),
                                                      ctx.batch.device.type),
            "captured": tuple(t.shape for t in ctx.capture(first)) if ctx.batch is not None else None,
            "training": ctx.model.training,
        })
        for module in ctx.modules:
            module.weight.data.fill_(0.5)


@pytest.fixture
def spy_registry():
    registry = load_registry(entry_points=False)
    registry.initializers["spy"] = Registered(Spy(), "test", "test")
    Spy.seen = []
    return registry


def test_a_head_initialiser_sees_the_model_and_pooled_features(three_classes, pretrained_run, tmp_path,
                                                               spy_registry):
    result = train(TrainConfig(data=str(three_classes), strategy="head-only", weights=str(pretrained_run),
                               init="spy", bias_init="0.01", epochs=0, out=str(tmp_path / "run"), **TINY),
                   registry=spy_registry)
    (seen,) = Spy.seen
    assert seen["role"] == "head" and seen["count"] == 1 and seen["bias"] == 0.01
    assert seen["biases_already_set"]  # the bias is set before the initialiser runs
    assert seen["batch"][0] == (8, 3, 32, 32) and seen["batch"][2] == "cpu"
    assert abs(seen["batch"][1]) < 3  # normalised, not raw 0-255 pixels
    features = timm.create_model("test_resnet").num_features
    assert seen["captured"] == ((8, features), (8, 3))  # the head's input is the pooled features
    assert tensors(result.run_dir)["fc.weight"].eq(0.5).all()


def test_initialising_a_head_changes_no_backbone_tensor_or_batchnorm_statistic(three_classes, pretrained_run,
                                                                             tmp_path, spy_registry):
    """capture() runs the model forward; a frozen backbone stays in eval mode, so its
    statistics are untouched, and the initialised model equals the weights but for the head."""
    result = train(TrainConfig(data=str(three_classes), strategy="head-only", weights=str(pretrained_run),
                               init="spy", epochs=0, out=str(tmp_path / "run"), **TINY), registry=spy_registry)
    before, after = tensors(pretrained_run), tensors(result.run_dir)
    backbone = [k for k in before if not k.startswith("fc.")]
    assert any("running_var" in k for k in backbone)
    assert all(torch.equal(before[k], after[k]) for k in backbone)


def test_scratch_resets_norms_and_biases_before_the_initialiser(three_classes, tmp_path, spy_registry):
    result = train(TrainConfig(data=str(three_classes), strategy="scratch", init="spy", bias_init="0.01",
                               epochs=0, out=str(tmp_path / "run"), **TINY), registry=spy_registry)
    (seen,) = Spy.seen
    convs_and_linears = [m for m in timm.create_model("test_resnet").modules()
                         if isinstance(m, models.CONV_OR_LINEAR)]
    assert seen["role"] == "scratch" and seen["count"] == len(convs_and_linears)
    assert seen["biases_already_set"] and seen["training"]  # scratch trains in train mode
    saved = tensors(result.run_dir)
    weights = [k for k, v in saved.items() if k.endswith(".weight") and v.ndim > 1]
    assert weights and all(saved[k].eq(0.5).all() for k in weights)
    norm_weights = [k for k in saved if k.startswith("bn") or ".bn" in k]
    assert all(saved[k].eq(1).all() for k in norm_weights if k.endswith(".weight"))
    assert all(saved[k].eq(0).all() for k in norm_weights if k.endswith(".bias"))


def test_lsuv_gives_each_layer_unit_output_std_on_the_batch_it_saw(three_classes):
    """lsuv through the same InitContext as training: each layer's output std on the batch is
    within 0.1 of 1 after initialisation, layer by layer in forward order."""
    registry = load_registry(entry_points=False)
    model = timm.create_model("test_resnet", num_classes=3)
    layers = models.reset_new_layers(list(model.modules()), 0.0)
    batch = torch.randn(16, 3, 32, 32)
    layers = models.forward_order(model, layers, batch)
    ctx = ftgui.InitContext(model, layers, "scratch", 0.0, batch)
    with torch.no_grad():
        registry.initializer("lsuv").initialize(ctx, tol=0.05, iters=10)
    stds = [float(ctx.capture(layer)[1].std()) for layer in layers]
    assert len(stds) == len(layers) > 10
    assert all(abs(std - 1) < 0.1 for std in stds), stds


def test_lsuv_in_a_real_run_is_recorded(three_classes, tmp_path):
    result = train(TrainConfig(data=str(three_classes), strategy="scratch", init="lsuv", epochs=1,
                               out=str(tmp_path / "run"), **TINY))
    assert result.status == "completed"
    assert load_run(result.run_dir).record["initializer"]["name"] == "lsuv"


def test_epochs_zero_writes_the_initialised_model_as_a_loadable_run(three_classes, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--data", str(three_classes), "--strategy", "scratch", "--init", "kaiming",
                 "--epochs", "0", "--model", "test_resnet", "--img-size", "32", "--out", str(out), "--quiet"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["status"] == "initialised"
    run = load_run(out)
    assert run.status == "initialised" and run.best["epoch"] == 0 and run.record["epochs_done"] == 1
    model = timm.create_model(f"local-dir:{out}", pretrained=True)
    conv = model.conv1[0].weight if isinstance(model.conv1, torch.nn.Sequential) else model.conv1.weight
    fan_in = conv[0].numel()
    assert float(conv.detach().std()) == pytest.approx((2 / fan_in) ** 0.5, rel=0.15)  # kaiming, untrained
    rows = predict(out, [str(three_classes / "circle")])
    assert len(rows) == 12 and all(r["label"] in ("circle", "square", "triangle") for r in rows)


@pytest.mark.parametrize("strategy", ["head-only", "full"])
def test_with_no_initialiser_named_a_new_head_starts_at_zeros(three_classes, pretrained_run, tmp_path, strategy):
    """The mode's own initialiser: zeros for a new last layer (each class learns from its own
    error; no random start adds luck), recorded by name, the pretrained layers as they were."""
    result = train(TrainConfig(data=str(three_classes), strategy=strategy, weights=str(pretrained_run), epochs=0,
                               out=str(tmp_path / "run"), **TINY))
    record = load_run(result.run_dir).record
    assert record["initializer"]["name"] == record["config"]["init"] == "zeros"
    saved, before = tensors(result.run_dir), tensors(pretrained_run)
    head = [name for name in saved if name.startswith("fc.")]
    assert head and all(float(saved[name].abs().max()) == 0.0 for name in head)
    assert all(torch.equal(saved[name], before[name]) for name in saved if name not in head)


def test_with_no_initialiser_named_scratch_starts_every_layer_at_lecun(three_classes, tmp_path):
    """Zeros would trap every hidden unit in symmetry: from scratch the mode's own is LeCun's 1/sqrt(n)."""
    result = train(TrainConfig(data=str(three_classes), strategy="scratch", epochs=0, out=str(tmp_path / "run"),
                               **TINY))
    assert load_run(result.run_dir).record["initializer"]["name"] == "lecun"
    conv = tensors(result.run_dir)["conv1.0.weight"]
    assert float(conv.std()) == pytest.approx(conv[0].numel() ** -0.5, rel=0.15)


def test_an_initialiser_that_raises_names_itself_and_its_plugin(three_classes, tmp_path):
    class Broken(ftgui.Initializer):
        name = "broken"
        description = "divides by zero"

        def init_weight(self, weight, **params):
            return 1 / 0

    registry = load_registry(entry_points=False)
    registry.initializers["broken"] = Registered(Broken(), "my_inits", "/plugins/my_inits.py")
    with pytest.raises(ftgui.FtguiError) as info:
        train(TrainConfig(data=str(three_classes), strategy="scratch", init="broken", epochs=1,
                          out=str(tmp_path / "run"), **TINY), registry=registry)
    message = str(info.value)
    assert "initializer 'broken'" in message and "ZeroDivisionError" in message
    assert "my_inits (/plugins/my_inits.py)" in message and "\n" not in message
