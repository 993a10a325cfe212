"""The engine: the seed's three states and scratch, weights, run folders, stop, repeatability."""
from __future__ import annotations

import json
import threading

import pytest
import timm
import torch
from safetensors.torch import load_file

from ftgui import FtguiError, TrainContext, models
from ftgui.config import TrainConfig
from ftgui.engine import train
from ftgui.record import Epoch, Step
from ftgui.registry import Registered, load_registry
from ftgui.runs import load_run

TINY = dict(model="test_resnet", img_size=32, batch_size=8, epochs=1, aug="none")


def tensors(run_dir) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "model.safetensors"))


def test_head_only_freezes_every_backbone_tensor_and_batchnorm_buffer(three_classes, pretrained_run, tmp_path):
    result = train(TrainConfig(data=str(three_classes), strategy="head-only", weights=str(pretrained_run),
                               init="zeros", out=str(tmp_path / "run"), **TINY))
    before, after = tensors(pretrained_run), tensors(result.run_dir)
    backbone = [k for k in before if not k.startswith("fc.")]
    assert any("running_mean" in k for k in backbone) and any("num_batches_tracked" in k for k in backbone)
    for key in backbone:
        assert torch.equal(before[key], after[key]), key
    assert after["fc.weight"].shape == (3, before["fc.weight"].shape[1])
    assert after["fc.weight"].abs().sum() > 0  # started at zeros, so it learned
    record = load_run(result.run_dir).record
    assert record["new_head"] is True and record["initializer"]["applied_to"] == "new head"


def test_full_changes_backbone_and_head(three_classes, pretrained_run, tmp_path):
    result = train(TrainConfig(data=str(three_classes), strategy="full", weights=str(pretrained_run),
                               init="zeros", out=str(tmp_path / "run"), **TINY))
    before, after = tensors(pretrained_run), tensors(result.run_dir)
    changed = [k for k in before if not k.startswith("fc.") and before[k].is_floating_point()
               and not torch.equal(before[k], after[k])]
    assert len(changed) > 10
    assert after["fc.weight"].abs().sum() > 0


def test_full_backbone_lr_scale_zero_keeps_backbone_weights(three_classes, pretrained_run, tmp_path):
    result = train(TrainConfig(data=str(three_classes), strategy="full", weights=str(pretrained_run),
                               strategy_params={"backbone_lr_scale": "0"}, weight_decay=0.0,
                               out=str(tmp_path / "run"), **TINY))
    before, after = tensors(pretrained_run), tensors(result.run_dir)
    conv = [k for k in before if before[k].ndim == 4]
    assert conv and all(torch.equal(before[k], after[k]) for k in conv)


def test_scratch_loads_no_pretrained_tensor_and_zeros_never_moves(three_classes, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("scratch must not load weights")

    monkeypatch.setattr(models, "load_weights", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    config = TrainConfig(data=str(three_classes), strategy="scratch", init="zeros",
                         out=str(tmp_path / "run"), **{**TINY, "epochs": 2})
    result = train(config)
    after = tensors(result.run_dir)
    convs = [k for k in after if k.endswith(".weight") and after[k].ndim == 4]
    assert convs and all(torch.count_nonzero(after[k]) == 0 for k in convs)  # the symmetry trap
    assert load_run(result.run_dir).record["weights_source"] == "none"
    assert result.best["val_acc"] <= 0.5  # 3 balanced classes: chance is 1/3


def test_predict_only_trains_nothing_and_keeps_the_weights_labels(three_classes, pretrained_run, tmp_path):
    result = train(TrainConfig(data=str(three_classes), strategy="predict-only",
                               weights=str(pretrained_run), out=str(tmp_path / "run"), **TINY))
    before, after = tensors(pretrained_run), tensors(result.run_dir)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    run = load_run(result.run_dir)
    assert run.status == "evaluated" and [m["epoch"] for m in run.metrics] == [0]
    assert run.label_names == load_run(pretrained_run).label_names
    assert run.metrics[0]["val_acc"] == 0.0  # none of these classes is among the weights' labels


def test_same_label_set_continues_the_old_head(pretrained_run, tmp_path):
    data = load_run(pretrained_run).record["data"]["source"]
    result = train(TrainConfig(data=data, strategy="head-only", weights=str(pretrained_run),
                               out=str(tmp_path / "run"), **TINY))
    record = load_run(result.run_dir).record
    assert record["new_head"] is False
    assert record["label_names"] == load_run(pretrained_run).label_names


def test_run_folder_is_complete_and_loads_in_timm(three_classes, tmp_path):
    result = train(TrainConfig(data=str(three_classes), strategy="scratch", init="kaiming",
                               out=str(tmp_path / "run"), **{**TINY, "epochs": 2}))
    run_dir = result.run_dir
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.json", "model.safetensors", "ftgui.json", "metrics.jsonl", "data_report.json",
            "val_predictions.json"} <= names
    assert not [n for n in names if n.startswith(".")]  # no temporary files left behind
    folder_mode = (run_dir / "ftgui.json").stat().st_mode & 0o777
    assert (run_dir / "model.safetensors").stat().st_mode & 0o777 == folder_mode  # not private
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s"):
        assert all(isinstance(r[key], float) for r in rows), key
    record = json.loads((run_dir / "ftgui.json").read_text())
    assert record["status"] == "completed"
    assert record["data"]["content_hash"] and len(record["data"]["split"]["val"]) == 6
    assert record["strategy"] == {"name": "scratch", "params": {}, "source": "bundled"}
    assert record["initializer"]["params"] == {"mode": "fan_in", "distribution": "normal"}
    assert set(record["versions"]) >= {"torch", "timm", "python", "ftgui"}
    assert record["config"]["seed"] == 0 and record["config"]["lr"] == 1e-3
    model = timm.create_model(f"local-dir:{run_dir}", pretrained=True)
    assert model.pretrained_cfg["label_names"] == ["circle", "square", "triangle"]
    assert model.pretrained_cfg["input_size"] == (3, 32, 32)


def test_same_seed_repeats_a_cpu_run(three_classes, tmp_path):
    config = dict(data=str(three_classes), strategy="scratch", init="kaiming", seed=3, **TINY)
    config["aug"] = "light"
    a = train(TrainConfig(out=str(tmp_path / "a"), **config))
    b = train(TrainConfig(out=str(tmp_path / "b"), **config))
    assert a.metrics[0]["val_loss"] == b.metrics[0]["val_loss"]
    assert a.metrics[0]["train_loss"] == b.metrics[0]["train_loss"]


def test_cooperative_stop_finishes_the_step_and_saves(three_classes, tmp_path):
    stop = threading.Event()
    events = []

    def listener(event):
        events.append(event)
        if isinstance(event, Step) and event.phase == "train":
            stop.set()

    result = train(TrainConfig(data=str(three_classes), strategy="scratch", init="kaiming",
                               out=str(tmp_path / "run"), **{**TINY, "epochs": 5}), listener, stop)
    assert result.status == "stopped"
    assert sum(isinstance(e, Step) and e.phase == "train" for e in events) == 1
    assert (result.run_dir / "model.safetensors").is_file()
    assert load_run(result.run_dir).status == "stopped"
    assert result.metrics[-1]["stopped"] is True


def test_best_epoch_is_the_one_kept(three_classes, tmp_path):
    result = train(TrainConfig(data=str(three_classes), strategy="scratch", init="kaiming", select="accuracy",
                               out=str(tmp_path / "run"), **{**TINY, "epochs": 3}))
    best = max(result.metrics, key=lambda r: (r["val_acc"], -r["val_loss"]))
    assert result.best["epoch"] == best["epoch"]
    assert load_run(result.run_dir).best["epoch"] == best["epoch"]


def test_strategy_plugins_can_unfreeze_per_epoch_and_fit_on_their_own(three_classes, tmp_path):
    """The extension points a gradual-unfreezing or layer-wise pre-training plugin needs."""
    from ftgui import Strategy
    from ftgui.plugin_types import split_head

    calls = []

    class Gradual(Strategy):
        name = "gradual-test"
        description = "head first, then everything"

        def param_groups(self, model, **params):
            head, rest = split_head(model)
            for p in rest:
                p.requires_grad_(False)
            return [{"params": head}]

        def on_epoch_start(self, model, epoch, **params):
            calls.append(("epoch", epoch))
            if epoch == 1:
                for p in model.parameters():
                    p.requires_grad_(True)
                return [{"params": list(model.parameters())}]
            return None

        def fit(self, ctx: TrainContext, **params):
            calls.append(("fit", len(ctx.train_loader.dataset)))
            return True

    registry = load_registry(entry_points=False)
    registry.strategies["gradual-test"] = Registered(Gradual(), "test", "test")
    # it needs pretrained weights: start from a scratch run of our own
    seed_run = train(TrainConfig(data=str(three_classes), strategy="scratch", out=str(tmp_path / "seed"), **TINY))
    result = train(TrainConfig(data=str(three_classes), strategy="gradual-test", weights=str(seed_run.run_dir),
                               val_split=0, out=str(tmp_path / "run"), **{**TINY, "epochs": 2}),
                   registry=registry)  # no validation: the last epoch is the one kept
    assert calls == [("fit", 36), ("epoch", 0), ("epoch", 1)]
    before, after = tensors(seed_run.run_dir), tensors(result.run_dir)
    first_conv = next(k for k in before if before[k].ndim == 4)
    assert not torch.equal(before[first_conv], after[first_conv])  # unfrozen in epoch 2


def test_imagenet_label_names_come_from_timm():
    model = timm.create_model("test_resnet", pretrained=False)
    labels = models.imagenet_labels(model)
    assert len(labels) == 1000 and labels[0] == "tench"


@pytest.mark.parametrize("kwargs, message", [
    (dict(strategy="head-only", weights="none"), "starts from pretrained weights"),
    (dict(strategy="scratch", weights="hub"), "loads no weights"),
    (dict(strategy="head-only", weights="/no/such/file.pth"), "not found"),
    (dict(strategy="scratch", model="resnet_18x"), "did you mean"),
    (dict(strategy="scratch", init="kaimin"), "did you mean kaiming"),
    (dict(strategy="scratch", init_params={"bogus": "1"}), "has no parameter 'bogus'"),
    (dict(strategy="scratch", bias_init="tiny"), "--bias-init"),
    (dict(strategy="scratch", val_split=1.5), "--val-split"),
    (dict(strategy="scratch", device="cuda"), "no CUDA GPU"),
])
def test_bad_settings_are_one_line_errors(three_classes, tmp_path, kwargs, message):
    config = TrainConfig(**{"data": str(three_classes), "out": str(tmp_path / "run"), **TINY, **kwargs})
    with pytest.raises(FtguiError, match=message) as info:
        train(config)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()  # nothing written for a run that could not start


def test_deferred_saves_still_write_the_best_epoch(three_classes, tmp_path, monkeypatch):
    """Short epochs save the best model at most every SAVE_INTERVAL_S; the end writes it."""
    from ftgui.predict import predict
    from ftgui.training import writer

    monkeypatch.setattr(writer, "SAVE_INTERVAL_S", 1e9)
    on_disk = []

    def listener(event):  # what a reader (or a crash) would find while training
        if isinstance(event, Epoch):
            on_disk.append(json.loads((tmp_path / "run" / "ftgui.json").read_text())["best"])

    result = train(TrainConfig(data=str(three_classes), strategy="scratch", init="kaiming", lr=3e-3,
                               out=str(tmp_path / "run"), refit="no", **{**TINY, "epochs": 4}), listener)
    assert on_disk == [None] * 4  # the record names only a best epoch whose model is on disk
    assert load_run(result.run_dir).best == result.best
    saved = json.loads((result.run_dir / "val_predictions.json").read_text())
    assert sum(p["true"] == p["pred"] for p in saved) / len(saved) == result.best["val_acc"]
    again = predict(result.run_dir, [str(three_classes / p["path"]) for p in saved])
    assert [r["label"] for r in again] == [p["pred"] for p in saved]
    assert [r["score"] for r in again] == pytest.approx([p["score"] for p in saved], abs=1e-4)
