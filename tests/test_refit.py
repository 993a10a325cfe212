"""Training again on all images once the validation chose the epoch (``--refit``)."""
from __future__ import annotations

import json
import threading

import pytest
import torch
from safetensors.torch import load_file

import ftgui
from ftgui.config import TrainConfig
from ftgui.engine import train
from ftgui.errors import SettingError
from ftgui.record import End, Log, Start, Step, refit_decision, refit_words
from ftgui.registry import Registered, load_registry
from ftgui.runs import load_run, read_metrics
from ftgui.training import refit as refit_module
from ftgui.training.auto_settings import FINE_TUNE, HEAD, SCRATCH, refit_runs

TINY = dict(model="test_resnet", img_size=32, batch_size=8, aug="none")


class StopAfter(ftgui.Callback):
    """Ends training after a given epoch (a plain run that trains as far as the refit does)."""

    name = "stop-after"
    description = "stop after epoch `last`"
    params = (ftgui.Param("last", 1, "the last epoch"),)

    def on_epoch_end(self, state, last=1, **params):
        if state.metrics["epoch"] >= last:
            state.stop(f"stop-after {last}")


class Recorder(ftgui.Callback):
    name = "recorder"
    description = "records fit starts and ends and each epoch's row"

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_fit_start(self, state, **params):
        self.calls.append(("on_fit_start", state.refit))

    def on_epoch_end(self, state, **params):
        self.calls.append(("on_epoch_end", state.refit, state.metrics.get("val_acc")))

    def on_fit_end(self, state, **params):
        self.calls.append(("on_fit_end", state.refit))


def registry_with(*callbacks):
    registry = load_registry(entry_points=False)
    for callback in callbacks:
        registry.callbacks[callback.name] = Registered(callback, "test", "test")
    return registry


def scratch(data, out, **extra) -> TrainConfig:
    return TrainConfig(data=str(data), strategy="scratch", init="kaiming", lr=3e-3, out=str(out),
                       **{**TINY, "epochs": 4, **extra})


def test_the_saved_model_is_a_plain_run_on_all_images_to_the_validated_epoch(three_classes, tmp_path):
    """Same start, same settings and schedule, every image, as far as the validation chose: the
    weights equal those of a run on all images (no validation) stopped at that epoch."""
    events = []
    result = train(scratch(three_classes, tmp_path / "run", refit="yes"), events.append)
    record = load_run(result.run_dir).record
    chosen = record["best"]["epoch"]
    assert record["status"] == "completed" and record["config"]["refit"] == "yes"
    assert {k: record["refit"][k] for k in ("status", "auto", "epoch", "images")} == {
        "status": "completed", "auto": False, "epoch": chosen, "images": 36}
    assert 0 <= record["refit"]["train_acc"] <= 1 and record["refit"]["train_loss"] > 0

    plain = train(scratch(three_classes, tmp_path / "plain", val_split=0.0, refit="no",
                          callbacks={"stop-after": {"last": chosen}}), registry=registry_with(StopAfter()))
    assert plain.metrics[-1]["epoch"] == chosen
    refit_weights = load_file(result.run_dir / "model.safetensors")
    plain_weights = load_file(plain.run_dir / "model.safetensors")
    assert refit_weights.keys() == plain_weights.keys()
    for name, tensor in refit_weights.items():
        assert torch.equal(tensor, plain_weights[name]), name

    # the run's curves and validation predictions stay the first training's, validated ones
    assert [row["epoch"] for row in read_metrics(result.run_dir)] == [1, 2, 3, 4]
    assert len(json.loads((result.run_dir / "val_predictions.json").read_text())) == 6
    steps = [e for e in events if isinstance(e, Step) and e.phase == "refit"]
    assert steps and {e.epochs for e in steps} == {chosen} and max(e.epoch for e in steps) == chosen
    assert steps[-1].steps == 36 // 8  # all 36 images, full batches of 8
    assert [e.refit for e in events if isinstance(e, Start)] == [True]  # announced: the GUI plans its bar on it
    end = next(e for e in events if isinstance(e, End))
    assert end is events[-1] and end.status == "completed" and end.refit["status"] == "completed"
    assert end.best["epoch"] == chosen and end.best["val_acc"] is not None
    logs = [e.message for e in events if isinstance(e, Log)]
    assert any(f"training again on all 36 images (the validation ones too) from the same start to epoch {chosen}"
               in line for line in logs)
    assert "the model trained on all images is saved" in logs


def test_auto_trains_again_below_200_validation_images_split_off_the_data(three_classes, tmp_path):
    assert refit_decision("auto", 6, split_off=True)
    assert not refit_decision("auto", 200, split_off=True)
    assert not refit_decision("auto", 6, split_off=False)  # a separate validation folder: nothing to add
    assert not refit_decision("auto", 0, split_off=True)
    assert refit_decision("yes", 500, split_off=True) and not refit_decision("no", 6, split_off=True)
    starts = []
    result = train(scratch(three_classes, tmp_path / "auto", epochs=2), starts.append)
    assert [e.refit for e in starts if isinstance(e, Start)] == [True]
    record = load_run(result.run_dir).record
    assert record["config"]["refit"] == "yes" and record["refit"]["auto"] is True
    starts.clear()
    separate = train(scratch(three_classes, tmp_path / "separate", epochs=1, val_data=str(three_classes)),
                     starts.append)
    assert [e.refit for e in starts if isinstance(e, Start)] == [False]
    assert load_run(separate.run_dir).record["refit"] is None
    assert load_run(separate.run_dir).record["config"]["refit"] == "no"


def test_yes_without_split_off_validation_images_is_one_clear_line(three_classes, tmp_path):
    with pytest.raises(SettingError, match="trains again on the validation images split off the data") as info:
        train(scratch(three_classes, tmp_path / "none", val_split=0.0, refit="yes"))
    assert "\n" not in str(info.value) and "--val-split" in str(info.value)
    with pytest.raises(SettingError, match="must be one of auto, yes, no"):
        train(scratch(three_classes, tmp_path / "bad", refit="maybe"))
    # a mode that does not train has nothing to train again: no error, no refit
    evaluated = train(TrainConfig(data=str(three_classes), strategy="scratch", epochs=0, refit="yes",
                                  out=str(tmp_path / "zero"), **TINY))
    assert evaluated.status == "initialised" and load_run(evaluated.run_dir).record["refit"] is None


@pytest.mark.parametrize("runs", [1, 2])
def test_stopping_the_training_again_keeps_the_validated_model(three_classes, tmp_path, runs):
    """Stopped in the only training on all images, or in the second of two: nothing of them is saved."""
    stop = threading.Event()
    validated: dict[str, bytes] = {}
    model = tmp_path / "run" / "model.safetensors"

    def listener(event):
        if isinstance(event, Step) and event.phase == "refit":
            validated.setdefault("bytes", model.read_bytes())  # what the first training saved
            if event.run == runs:
                stop.set()

    result = train(scratch(three_classes, tmp_path / "run", refit="yes", refit_runs=runs), listener, stop)
    record = load_run(result.run_dir).record
    assert result.status == "completed" and record["status"] == "completed"
    assert record["refit"]["status"] == "stopped" and record["refit"]["runs"] == runs
    assert model.read_bytes() == validated["bytes"]


def test_a_failing_training_again_is_recorded_and_keeps_the_validated_model(three_classes, tmp_path,
                                                                             monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    first = train(scratch(three_classes, tmp_path / "first", refit="no"))
    monkeypatch.setattr(refit_module, "set_up", broken)
    events = []
    result = train(scratch(three_classes, tmp_path / "run", refit="yes"), events.append)
    record = load_run(result.run_dir).record
    assert result.status == "completed"
    assert record["refit"]["status"] == "failed" and record["refit"]["error"] == "RuntimeError: disk on fire"
    assert (result.run_dir / "model.safetensors").read_bytes() == (first.run_dir / "model.safetensors").read_bytes()
    assert any("the training on all images failed (disk on fire); the validated model stays saved" in e.message
               for e in events if isinstance(e, Log))


def test_callbacks_see_the_training_again_as_a_second_fit_without_validation(three_classes, tmp_path):
    recorder = Recorder()
    result = train(scratch(three_classes, tmp_path / "run", epochs=2, refit="yes", callbacks={"recorder": {}}),
                   registry=registry_with(recorder))
    chosen = result.best["epoch"]
    first = [("on_epoch_end", False, row["val_acc"]) for row in result.metrics]
    assert recorder.calls == [("on_fit_start", False), *first, ("on_fit_start", True),
                              *[("on_epoch_end", True, None)] * chosen, ("on_fit_end", True),
                              ("on_fit_end", False)]


class StartRecorder(ftgui.Callback):
    """Keeps a copy of the weights each fit starts from."""

    name = "start-recorder"
    description = "records the weights at each fit's start"

    def __init__(self) -> None:
        self.starts: list[dict[str, torch.Tensor]] = []

    def on_fit_start(self, state, **params):
        self.starts.append({name: value.detach().clone() for name, value in state.model.state_dict().items()})


def test_a_data_dependent_initialiser_gives_the_training_again_the_same_start(three_classes, tmp_path):
    """LSUV scales each layer on a batch of training images: the training again on all images
    measures on the very images the first training's initialiser saw (not the first of all
    images, which include validation ones), so it starts where the first training started."""
    recorder = StartRecorder()
    config = scratch(three_classes, tmp_path / "run", epochs=1, refit="yes", seed=3, callbacks={"start-recorder": {}})
    config.init = "lsuv"
    train(config, registry=registry_with(recorder))
    first, again = recorder.starts
    assert first.keys() == again.keys()
    differ = [name for name in first if not torch.equal(first[name], again[name])]
    assert not differ, differ


def test_head_only_trains_again_on_the_features_it_has(three_classes, pretrained_run, tmp_path, monkeypatch):
    """The first training computed the frozen backbone's features of every image (training and
    validation): the training again takes them, and no image is decoded again."""
    from ftgui import features, pipeline

    monkeypatch.setattr(features, "_MEMO", type(features._MEMO)())  # no features from earlier tests' runs
    monkeypatch.setenv("FTGUI_CACHE_DIR", str(tmp_path / "cache"))
    runs = []
    real = features.pre_logits
    monkeypatch.setattr(features, "pre_logits", lambda model, images: runs.append(len(images)) or real(model, images))
    decoded = []
    real_decode = pipeline._decode
    monkeypatch.setattr(pipeline, "_decode", lambda *args: decoded.append(args[1]) or real_decode(*args))
    result = train(TrainConfig(data=str(three_classes), strategy="head-only", weights=str(pretrained_run),
                               out=str(tmp_path / "run"), **{**TINY, "epochs": 3}))
    assert load_run(result.run_dir).record["refit"]["status"] == "completed"
    assert sum(runs) == 36 and len(decoded) == 36


def test_the_command_line_says_what_was_saved(three_classes, tmp_path, capsys):
    from ftgui.cli import main

    assert main(["train", "--data", str(three_classes), "--model", "test_resnet", "--strategy", "scratch",
                 "--img-size", "32", "--batch-size", "8", "--aug", "none", "--epochs", "2",
                 "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    record = load_run(tmp_path / "run").record
    chosen = record["best"]["epoch"]
    assert "training again on all 36 images (the validation ones too)" in err
    assert f"all images, epoch {chosen}/{chosen}: train_loss" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("completed: ") and last.endswith(f"saved in {tmp_path / 'run'}")
    assert (f"; then trained again on all 36 images to epoch {chosen}, which is the model saved (its validation "
            "accuracy was measured before it learned from those images);") in last
    assert main(["train", "--data", str(three_classes), "--model", "test_resnet", "--strategy", "scratch",
                 "--refit", "sometimes", "--out", str(tmp_path / "bad")]) == 2
    assert "--refit must be one of auto, yes, no, not 'sometimes'" in capsys.readouterr().err


def fine_tune(data, weights, out, **extra) -> TrainConfig:
    return TrainConfig(data=str(data), weights=str(weights), lr=1e-3, out=str(out),
                       **{**TINY, "strategy": "full", "epochs": 3, **extra})


def test_several_trainings_on_all_images_are_averaged_into_the_saved_model(three_classes, pretrained_run,
                                                                            tmp_path, monkeypatch):
    """``--refit-runs 2``: the saved weights are the mean of two plain runs on all images to the
    validated epoch, from the same start (pretrained weights, a zero head), the first with the
    run's seed and the second with the next (its own order of images); an average that scores
    lower on those images than the trainings alone is refused for the first of them."""
    events = []
    result = train(fine_tune(three_classes, pretrained_run, tmp_path / "run", refit="yes", refit_runs=2, seed=5),
                   events.append)
    record = load_run(result.run_dir).record
    chosen = record["best"]["epoch"]
    assert record["config"]["refit_runs"] == 2
    assert {k: record["refit"][k] for k in ("status", "epoch", "images", "runs")} == {
        "status": "completed", "epoch": chosen, "images": 36, "runs": 2}
    plains = [load_file(train(fine_tune(three_classes, pretrained_run, tmp_path / f"plain-{seed}", val_split=0.0,
                                        refit="no", seed=seed, callbacks={"stop-after": {"last": chosen}}),
                              registry=registry_with(StopAfter())).run_dir / "model.safetensors")
              for seed in (5, 6)]
    assert not torch.equal(plains[0]["fc.weight"], plains[1]["fc.weight"])  # their own orders of images
    saved = load_file(result.run_dir / "model.safetensors")
    assert saved.keys() == plains[0].keys()
    for name, tensor in saved.items():
        expected = (plains[0][name] + plains[1][name]) / 2 if tensor.is_floating_point() else plains[1][name]
        assert torch.equal(tensor, expected), name

    steps = [e for e in events if isinstance(e, Step) and e.phase == "refit"]
    assert [(e.run, e.runs) for e in steps][0] == (1, 2) and (steps[-1].run, steps[-1].runs) == (2, 2)
    assert [(e.refit, e.refit_runs) for e in events if isinstance(e, Start)] == [(True, 2)]
    logs = [e.message for e in events if isinstance(e, Log)]
    assert any(f"from the same start to epoch {chosen}, the epoch the validation chose, 2 times" in line
               for line in logs)
    assert "the average of the 2 models trained on all images is saved" in logs
    assert any(line.startswith("all images (2 of 2), epoch 1/") for line in logs)
    refit = record["refit"]
    assert refit["averaged"] is True and len(refit["accuracy_alone"]) == 2
    assert refit["accuracy_averaged"] >= min(refit["accuracy_alone"]) - refit_module.AVERAGE_TOLERANCE
    assert any(line.startswith("the average of their weights classifies ") for line in logs)

    scores = iter([1.0, 1.0, 0.5])  # each training alone learned every image; their average half of them
    monkeypatch.setattr(refit_module, "accuracy_on_all", lambda model, setup, plan: next(scores))
    events.clear()
    refused = train(fine_tune(three_classes, pretrained_run, tmp_path / "refused", refit="yes", refit_runs=2, seed=5),
                    events.append)
    refit = load_run(refused.run_dir).record["refit"]
    assert (refit["status"], refit["averaged"], refit["accuracy_alone"], refit["accuracy_averaged"]) == (
        "completed", False, [1.0, 1.0], 0.5)
    first = load_file(refused.run_dir / "model.safetensors")
    assert all(torch.equal(tensor, plains[0][name]) for name, tensor in first.items())  # the first training's
    logs = [e.message for e in events if isinstance(e, Log)]
    assert "the average of their weights classifies only 50% of the images right (each alone: 100%, 100%): the " \
           "trainings went too far apart to average, as a high learning rate makes them; the first of them is " \
           "saved instead" in logs
    assert "the model trained on all images is saved" in logs


def test_auto_averages_three_trainings_when_pretrained_weights_learn_else_one(three_classes, pretrained_run,
                                                                             tmp_path):
    assert [refit_runs("auto", kind) for kind in (FINE_TUNE, HEAD, SCRATCH)] == [3, 1, 1]
    assert refit_runs(2, SCRATCH) == 2
    events = []
    full = load_run(train(fine_tune(three_classes, pretrained_run, tmp_path / "full", epochs=1),
                          events.append).run_dir).record
    assert full["config"]["refit_runs"] == 3 and full["refit"]["runs"] == 3 and full["refit"]["status"] == "completed"
    start = next(e for e in events if isinstance(e, Start))
    assert start.refit_runs == 3 and start.chosen["refit_runs"] == 3  # the form's empty control shows it
    assert {e.run for e in events if isinstance(e, Step) and e.phase == "refit"} == {1, 2, 3}
    head = load_run(train(fine_tune(three_classes, pretrained_run, tmp_path / "head", epochs=1,
                                    strategy="head-only")).run_dir).record
    assert head["config"]["refit_runs"] == 1 and head["refit"]["runs"] == 1
    with pytest.raises(SettingError, match="must be auto or between 1 and 10, not 0"):
        train(fine_tune(three_classes, pretrained_run, tmp_path / "bad", refit_runs=0))


def test_the_console_says_whether_the_average_or_the_first_training_was_saved():
    done = {"status": "completed", "images": 36, "epoch": 3, "runs": 3, "averaged": True}
    assert refit_words(done).startswith("then trained again on all 36 images to epoch 3, 3 times, and averaged their "
                                        "weights into the model saved")
    refused = refit_words({**done, "averaged": False})
    assert "their average scored lower on those images than each alone" in refused
    assert "the first of them is the model saved" in refused


def test_the_average_is_judged_by_the_share_of_all_images_a_model_gets_right(three_classes, tmp_path):
    from torch import nn

    from ftgui.training.plan import plan_run
    from ftgui.training.setup import set_up

    class Always(nn.Module):
        """Says ``label`` for every image."""

        def __init__(self, label: int) -> None:
            super().__init__()
            self.label = label

        def forward(self, images):
            return nn.functional.one_hot(torch.full((len(images),), self.label), 3).float()

    plan = plan_run(scratch(three_classes, tmp_path / "none", val_split=0.0))
    setup = set_up(plan, lambda message: None)
    assert len(setup.train.indices) == 36  # 12 images of each of 3 classes
    assert [refit_module.accuracy_on_all(Always(label), setup, plan) for label in range(3)] == [1 / 3] * 3
