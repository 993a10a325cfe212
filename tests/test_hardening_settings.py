"""Hardening round two: absurd settings are refused up front, a NaN model is never saved as
good, no data-loading worker outlives its run, and two resumes cannot both run."""
from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

import ftgui
from ftgui import checkpoint, runs
from ftgui.cli import main
from ftgui.config import TrainConfig, max_workers
from ftgui.engine import train
from ftgui.registry import Registered, load_registry
from ftgui.training import writer

TINY = dict(model="test_resnet", img_size=32, batch_size=8, aug="none", strategy="scratch")


@pytest.mark.parametrize("flags, message", [
    (["--num-workers", "1000"], f"--num-workers must be between 0 and {max_workers()} on this computer"),
    (["--num-workers", "-1"], "--num-workers must be between 0 and"),
    (["--lr", "inf"], "--lr must be a number above 0 and at most 10"),
    (["--lr", "nan"], "--lr must be a number above 0"),
    (["--lr", "1e300"], "--lr must be a number above 0 and at most 10"),
    (["--weight-decay", "nan"], "--weight-decay must be between 0 and 10"),
    (["--seed", str(2**40)], "--seed must be between 0 and 4294967295"),
    (["--out", ""], "--out is empty"),
    (["--bias-init", "inf"], "--bias-init takes 'zero' or a number"),
    (["--strategy", "full", "--weights", "{data}", "--strategy-arg", "backbone_lr_scale=nan"],
     "parameter 'backbone_lr_scale' takes a finite number"),
])
def test_absurd_settings_are_refused_before_any_work(three_classes, tmp_path, capsys, monkeypatch, flags, message):
    monkeypatch.chdir(tmp_path)  # where a default run folder would appear
    args = ["train", "--data", str(three_classes), "--model", "test_resnet", "--epochs", "1"]
    code = main(args + [str(three_classes) if f == "{data}" else f for f in flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err and "internal error" not in err
    assert not list(tmp_path.iterdir())


def test_a_config_file_that_is_a_json_list_is_one_line(three_classes, tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text("[1, 2]")
    assert main(["train", "--config", str(config), "--data", str(three_classes)]) == 2
    assert "holds a JSON list, not an object of settings" in capsys.readouterr().err


def poisoner(when: str):
    """A callback that fills every weight with NaN after the last batch of the first epoch."""

    class Poison(ftgui.Callback):
        name = "poison"
        description = "fills the weights with NaN"

        def on_batch_end(self, state, **params):
            if when == "weights" and state.batch_index + 1 == state.steps_per_epoch:
                for p in state.model.parameters():
                    p.data.fill_(float("nan"))

        def on_epoch_end(self, state, **params):
            state.metrics["broken_metric"] = float("nan")

    registry = load_registry(entry_points=False)
    registry.callbacks["poison"] = Registered(Poison(), "test", "test")
    return registry


def test_a_nan_model_is_never_saved_as_completed(three_classes, tmp_path):
    with pytest.raises(ftgui.FtguiError, match="became NaN or infinite at epoch 1: the learning rate"):
        train(TrainConfig(data=str(three_classes), out=str(tmp_path / "run"), epochs=2,
                          callbacks={"poison": {}}, **TINY), registry=poisoner("weights"))
    run = runs.load_run(tmp_path / "run")
    assert run.status == "failed" and run.best is None
    assert not (tmp_path / "run" / "model.safetensors").exists()  # nothing NaN was saved as the model


def test_json_files_never_hold_nan(three_classes, tmp_path):
    result = train(TrainConfig(data=str(three_classes), out=str(tmp_path / "run"), epochs=1,
                               callbacks={"poison": {}}, **TINY), registry=poisoner("metrics only"))
    text = (result.run_dir / runs.METRICS_FILE).read_text() + (result.run_dir / runs.RUN_FILE).read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads((result.run_dir / runs.METRICS_FILE).read_text())["broken_metric"] is None


@pytest.mark.parametrize("fails", [False, True])
def test_no_data_loading_worker_outlives_its_run(three_classes, tmp_path, fails):
    registry = poisoner("weights") if fails else None
    config = TrainConfig(data=str(three_classes), out=str(tmp_path / "run"), epochs=2, num_workers=2,
                         feature_cache=False, callbacks={"poison": {}} if fails else {}, **TINY)
    if fails:
        with pytest.raises(ftgui.FtguiError):
            train(config, registry=registry)
    else:
        train(config)
    assert multiprocessing.active_children() == []


def test_two_resumes_started_together_do_not_both_run(three_classes, tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "SAVE_INTERVAL_S", 0.0)

    class Crash(Exception):
        pass

    def crash_after_first_epoch(event):
        if type(event).__name__ == "Epoch":
            raise Crash

    with pytest.raises(Crash):
        train(TrainConfig(data=str(three_classes), out=str(tmp_path / "run"), epochs=30, **TINY),
              crash_after_first_epoch)
    assert checkpoint.exists(tmp_path / "run")
    command = [sys.executable, "-m", "ftgui", "train", "--resume", str(tmp_path / "run"), "--quiet"]
    both = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in both]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2).strip().splitlines()[-1]
    assert "is being trained right now by process" in loser or "already completed" in loser
    assert [row["epoch"] for row in runs.read_metrics(tmp_path / "run")] == list(range(1, 31))


def test_the_claim_is_atomic_and_names_the_holder(tmp_path):
    runs.claim(tmp_path)
    try:
        with pytest.raises(ftgui.FtguiError, match=r"is being trained right now by process \d+"):
            runs.claim(tmp_path)
    finally:
        runs.release(tmp_path)
    runs.claim(tmp_path)  # released: free again
    runs.release(tmp_path)


def test_validation_data_that_overlaps_the_training_data_is_warned_about(three_classes, tmp_path):
    logs = []
    train(TrainConfig(data=str(three_classes), val_data=str(three_classes), out=str(tmp_path / "run"), epochs=0,
                      **TINY), lambda event: logs.append(getattr(event, "message", "")))
    (warning,) = [line for line in logs if "also training images" in line]
    assert warning.startswith("warning: 36 of the validation images (100%) are also training images")


def test_predicting_with_nan_weights_is_one_line(three_classes, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    result = train(TrainConfig(data=str(three_classes), out=str(tmp_path / "run"), epochs=0, **TINY))
    weights = result.run_dir / "model.safetensors"
    save_file({k: v.float().fill_(float("nan")) if v.is_floating_point() else v
               for k, v in load_file(str(weights)).items()}, str(weights))
    code = main(["predict", "--run", str(result.run_dir), str(three_classes / "circle" / "000.png")])
    captured = capsys.readouterr()
    assert code == 2 and "NaN" not in captured.out
    assert "the model's output is not a number (NaN): its weights are damaged" in captured.err


@pytest.mark.slow
def test_no_worker_outlives_a_killed_trainer(three_classes, tmp_path, spawn):
    """SIGKILL leaves the loader's worker processes no parent: they notice and end (torch's
    worker watchdog), instead of running on as orphans."""
    import os
    import signal
    import time

    def children(pid: int) -> set[int]:
        try:
            return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
        except OSError:
            return set()

    def alive(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
        except OSError:
            return False

    trainer = spawn([sys.executable, "-m", "ftgui", "train", "--data", str(three_classes), "--model", "test_resnet",
                     "--img-size", "32", "--strategy", "scratch", "--epochs", "500", "--num-workers", "2",
                     "--no-feature-cache", "--out", str(tmp_path / "run"), "--quiet"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    workers: set[int] = set()
    while time.monotonic() < deadline and len(workers) < 2 and trainer.poll() is None:
        workers = children(trainer.pid)
        time.sleep(0.2)
    assert len(workers) >= 2, "the trainer never started its 2 loader workers"
    os.kill(trainer.pid, signal.SIGKILL)
    trainer.wait()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.5)
    assert not any(alive(pid) for pid in workers)
