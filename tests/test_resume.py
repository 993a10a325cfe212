"""Crash safety and resume: nothing lost, the same result as an uninterrupted run."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ftgui import FtguiError, checkpoint, engine, runs
from ftgui.config import TrainConfig
from ftgui.engine import resume, train
from ftgui.predict import Predictor
from ftgui.record import Epoch, Log, Step
from ftgui.training import writer
from ftgui.training.sources import BatchSources

from conftest import THREE, make_dataset

SETTINGS = dict(model="test_resnet", img_size=32, batch_size=8, aug="light", strategy="scratch",
                init="kaiming", lr=3e-3, seed=5, epochs=4, device="cpu", num_workers=0)


class Crash(Exception):
    pass


def crash_after_epoch(n):
    def listener(event):
        if isinstance(event, Epoch) and event.row["epoch"] == n:
            raise Crash
    return listener


@pytest.fixture
def every_epoch(monkeypatch):
    monkeypatch.setattr(writer, "SAVE_INTERVAL_S", 0.0)


@pytest.mark.slow
def test_resume_ends_exactly_like_an_uninterrupted_run(three_classes, tmp_path, every_epoch):
    whole = train(TrainConfig(data=str(three_classes), out=str(tmp_path / "whole"), **SETTINGS))
    with pytest.raises(Crash):
        train(TrainConfig(data=str(three_classes), out=str(tmp_path / "cut"), **SETTINGS), crash_after_epoch(2))
    assert runs.load_run(tmp_path / "cut").status == "failed"
    assert (tmp_path / "cut" / checkpoint.CHECKPOINT_FILE).is_file()
    resumed = resume(tmp_path / "cut")
    assert [m["epoch"] for m in resumed.metrics] == [1, 2, 3, 4]
    final, expected = resumed.metrics[-1]["val_loss"], whole.metrics[-1]["val_loss"]
    assert abs(final - expected) / expected <= 1e-3
    assert resumed.best["epoch"] == whole.best["epoch"]
    assert runs.load_run(tmp_path / "cut").status == "completed"
    assert not (tmp_path / "cut" / checkpoint.CHECKPOINT_FILE).exists()  # done: nothing to resume


@pytest.mark.slow
def test_a_cooperative_stop_resumes_from_the_last_completed_epoch(three_classes, tmp_path, every_epoch):
    import threading

    stop = threading.Event()

    def listener(event):
        if isinstance(event, Step) and event.phase == "train" and event.epoch == 3 and event.step == 2:
            stop.set()

    result = train(TrainConfig(data=str(three_classes), out=str(tmp_path / "run"), **SETTINGS), listener, stop)
    assert result.status == "stopped" and result.best["epoch"] <= 2  # the partial epoch is not kept
    resumed = resume(tmp_path / "run")
    assert [m["epoch"] for m in resumed.metrics] == [1, 2, 3, 4] and resumed.status == "completed"


@pytest.mark.slow
def test_sigkill_leaves_a_loadable_run_that_resumes(tmp_path):
    data = make_dataset(tmp_path / "data", THREE, per_class=40, size=48)
    out = tmp_path / "run"
    args = ["--data", str(data), "--out", str(out), "--quiet"]
    for key, value in SETTINGS.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    args[args.index("--epochs") + 1] = "6"
    env = {**os.environ, "FTGUI_SAVE_INTERVAL_S": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "ftgui", "train", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        metrics = out / "metrics.jsonl"
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = runs.load_run(out)  # loadable: record, metrics and model are whole files
    assert run.status == "running" and len(run.metrics) >= 2
    Predictor.from_run(out)
    done = subprocess.run([sys.executable, "-m", "ftgui", "train", "--resume", str(out), "--quiet"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # half-writes cleaned up
    assert [m["epoch"] for m in runs.load_run(out).metrics] == [1, 2, 3, 4, 5, 6]


def test_a_full_disk_leaves_the_previous_checkpoint_intact(three_classes, tmp_path, every_epoch, monkeypatch):
    with pytest.raises(Crash):
        train(TrainConfig(data=str(three_classes), out=str(tmp_path / "run"), **SETTINGS), crash_after_epoch(2))
    saved = (tmp_path / "run" / checkpoint.CHECKPOINT_FILE).read_bytes()
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(FtguiError, match="the disk is full.*previous version is intact") as info:
        resume(tmp_path / "run")
    assert "\n" not in str(info.value)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert (tmp_path / "run" / checkpoint.CHECKPOINT_FILE).read_bytes() == saved
    assert not [p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]
    assert resume(tmp_path / "run").status == "completed"  # space freed: it carries on


@pytest.mark.slow
def test_resume_refuses_changed_data_and_finished_runs(tmp_path, every_epoch):
    data = make_dataset(tmp_path / "data", THREE, per_class=8)
    with pytest.raises(Crash):
        train(TrainConfig(data=str(data), out=str(tmp_path / "run"), **SETTINGS), crash_after_epoch(1))
    (data / "circle" / "000.png").unlink()
    with pytest.raises(FtguiError, match="changed since"):
        resume(tmp_path / "run")
    done = train(TrainConfig(data=str(data), out=str(tmp_path / "done"), **{**SETTINGS, "epochs": 1}))
    with pytest.raises(FtguiError, match="nothing to resume"):
        resume(done.run_dir)


def test_nan_loss_stops_with_advice_and_keeps_the_last_good_model(three_classes, tmp_path, every_epoch):
    def poison_after_epoch_one(event):
        if isinstance(event, Epoch) and event.row["epoch"] == 1:
            for module in loop_model["model"].modules():
                if hasattr(module, "weight") and module.weight is not None:
                    module.weight.data.fill_(float("nan"))

    loop_model = {}
    original = engine.set_up

    def capture(plan, log, **options):
        setup = original(plan, log, **options)
        loop_model["model"] = setup.model
        return setup

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "set_up", capture)
        with pytest.raises(FtguiError, match="lower --lr") as info:
            train(TrainConfig(data=str(three_classes), out=str(tmp_path / "run"), **SETTINGS),
                  poison_after_epoch_one)
    assert "best epoch so far is kept" in str(info.value)
    run = runs.load_run(tmp_path / "run")
    assert run.status == "failed" and "lower --lr" in run.record["error"]
    rows = list(Predictor.from_run(tmp_path / "run").predict_paths([str(three_classes / "circle")]))
    assert all(0 <= r["score"] <= 1 for r in rows)  # the kept model is the good epoch-1 one


@pytest.mark.slow
def test_out_of_memory_retries_with_a_smaller_batch(three_classes, tmp_path, monkeypatch):
    import torch

    forward = BatchSources.forward_images

    def picky(self, uint8):
        if len(uint8) > 4:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return forward(self, uint8)

    monkeypatch.setattr(BatchSources, "forward_images", picky)
    events = []
    result = train(TrainConfig(data=str(three_classes), out=str(tmp_path / "run"), **SETTINGS), events.append)
    assert result.status == "completed" and len(result.metrics) == 4
    logs = [e.message for e in events if isinstance(e, Log)]
    shrinks = [m for m in logs if m.startswith("out of memory")]
    assert shrinks == ["out of memory with batch size 8: retrying epoch 1 with batch size 6",
                       "out of memory with batch size 6: retrying epoch 1 with batch size 4"]
    record = runs.load_run(result.run_dir).record
    assert record["config"]["batch_size"] == 8 and record["batch_size_used"] == 4  # the settings stay as given


def test_out_of_memory_at_batch_size_one_is_a_clear_error(three_classes, tmp_path, monkeypatch):
    import torch

    def never(self, uint8):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(BatchSources, "forward_images", never)
    with pytest.raises(FtguiError, match="even with batch size 1"):
        train(TrainConfig(data=str(three_classes), out=str(tmp_path / "run"), **SETTINGS))
    assert json.loads((tmp_path / "run" / "ftgui.json").read_text())["status"] == "failed"


def test_a_run_still_being_trained_elsewhere_is_not_resumed(three_classes, tmp_path, every_epoch):
    with pytest.raises(Crash):
        train(TrainConfig(data=str(three_classes), out=str(tmp_path / "run"), **SETTINGS), crash_after_epoch(1))
    assert runs.trainer_pid(tmp_path / "run") is None  # the crashed trainer let go of it
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "run" / runs.TRAINER_FILE).write_text(
            json.dumps({"pid": other.pid, "host": __import__("socket").gethostname()}))
        with pytest.raises(FtguiError, match=f"being trained right now by process {other.pid}"):
            resume(tmp_path / "run")
    finally:
        other.kill()
        other.wait()
    assert runs.trainer_pid(tmp_path / "run") is None  # a dead owner does not count
    assert resume(tmp_path / "run").status == "completed"


def test_head_only_resumes_from_a_checkpoint_of_only_what_it_trains(three_classes, pretrained_run, tmp_path,
                                                                    every_epoch):
    settings = {**SETTINGS, "strategy": "head-only", "weights": str(pretrained_run), "lr": 1e-2}
    whole = train(TrainConfig(data=str(three_classes), out=str(tmp_path / "whole"), **settings))
    with pytest.raises(Crash):
        train(TrainConfig(data=str(three_classes), out=str(tmp_path / "cut"), **settings), crash_after_epoch(2))
    saved = checkpoint.load(tmp_path / "cut")["model"]
    assert "fc.weight" in saved and not any(k.endswith("conv1.weight") for k in saved)  # frozen: not stored
    resumed = resume(tmp_path / "cut")
    assert resumed.metrics[-1]["val_loss"] == pytest.approx(whole.metrics[-1]["val_loss"], rel=1e-3)
