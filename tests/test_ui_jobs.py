"""The GUI's training job manager, with a stand-in for engine.train (no torch needed)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ftgui import FtguiError
from ftgui.config import TrainConfig
from ftgui.record import End, Epoch, Log, Start, Step
from ftgui.runs import METRICS_FILE, RUN_FILE, atomic_write_json, atomic_write_jsonl
from ftgui.ui import charts
from ftgui.ui.jobs import Busy, JobManager


class FakeResult:
    def __init__(self, status: str) -> None:
        self.status = status


def fake_train(epochs_done: threading.Event | None = None, steps: int = 4, fail: Exception | None = None):
    """A train function that emits engine-like events and honours the stop event."""

    def train(config: TrainConfig, listener, stop):
        if fail is not None:
            raise fail
        listener(Log("reading images"))
        listener(Start(config.out or "runs/x", config.epochs, steps, 8, 2))
        for epoch in range(1, config.epochs + 1):
            for step in range(1, steps + 1):
                listener(Step("train", epoch, step, steps, 1.0 / step))
                time.sleep(0.01)
                if stop.is_set():
                    listener(Epoch({"epoch": epoch, "train_loss": 1.0, "train_acc": 0.5,
                                    "val_loss": 1.0, "val_acc": 0.5, "stopped": True}))
                    listener(End("stopped", None, config.out))
                    return FakeResult("stopped")
            listener(Epoch({"epoch": epoch, "train_loss": 1.0 / epoch, "train_acc": 0.5,
                            "val_loss": 1.0 / epoch, "val_acc": epoch / config.epochs}))
            if epochs_done is not None:
                epochs_done.wait(5)
        listener(End("completed", None, config.out))
        return FakeResult("completed")

    return train


def wait_until(condition, timeout: float = 60) -> None:
    """Poll ``condition`` until it holds; a wait, not a time limit on the code under test."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still not so after {timeout:.0f} s"
        time.sleep(0.01)


def test_events_status_and_completion(tmp_path):
    manager = JobManager(fake_train())
    job = manager.start(TrainConfig(epochs=2, out=str(tmp_path / "run")))
    assert job.join(10)
    status = job.status()
    assert status["state"] == "completed" and status["fraction"] == 1.0
    assert [m["epoch"] for m in status["metrics"]] == [1, 2]
    assert status["log"][0] == "reading images"  # then a line per epoch, like the CLI's (issue 10, item 11)
    assert [line.split(":")[0] for line in status["log"][1:]] == ["epoch 1/2", "epoch 2/2"]
    assert "validation loss 0.5000, accuracy 100.0%" in status["log"][2]
    kinds = [type(e) for e in job.events_since(0)]
    assert kinds == [Log, Start, Epoch, Epoch, End]  # step events are not kept
    assert job.events_since(3)[0].row["epoch"] == 2
    assert job.name == "run"


def test_second_start_is_refused_while_busy_then_allowed(tmp_path):
    gate = threading.Event()
    manager = JobManager(fake_train(epochs_done=gate))
    first = manager.start(TrainConfig(epochs=3, out=str(tmp_path / "first")))
    wait_until(lambda: first.status()["fraction"] > 0)  # it has begun, however loaded the machine
    with pytest.raises(Busy, match=r"busy: first is training"):
        manager.start(TrainConfig(epochs=1, out=str(tmp_path / "second")))
    assert manager.is_training(tmp_path / "first")
    status = first.status()
    assert status["state"] == "running" and 0 < status["fraction"] < 1 and status["eta_s"] is not None
    first.stop()
    assert first.status()["state"] == "stopping"
    gate.set()
    assert first.join(10)
    stopped = first.status()
    assert stopped["state"] == "stopped" and stopped["eta_s"] is None
    time.sleep(0.1)
    assert first.status()["elapsed_s"] == stopped["elapsed_s"]  # the clock stops with the job
    second = manager.start(TrainConfig(epochs=1, out=str(tmp_path / "second")))
    assert second.join(10) and second.status()["state"] == "completed"
    assert manager.current is second


def test_a_training_and_the_labs_comparison_wait_for_each_other(tmp_path):
    """They would share the computer's cores: while one runs the other is refused in one line."""
    gate = threading.Event()
    manager = JobManager(fake_train(epochs_done=gate))
    with manager.comparison("visitor") as comparing:
        with pytest.raises(Busy, match=r"busy: the Init Lab is comparing; stop it"):
            manager.start(TrainConfig(epochs=1, out=str(tmp_path / "run")))
        with pytest.raises(Busy, match=r"busy: the Init Lab is comparing"), manager.comparison("another"):
            pass
        manager.shutdown()  # the app closing stops the comparison too
        assert comparing.stop.is_set()
    assert manager.comparing is None
    job = manager.start(TrainConfig(epochs=1, out=str(tmp_path / "run")))
    with pytest.raises(Busy, match=r"busy: run is training"), manager.comparison("visitor"):
        pass
    assert manager.comparing is None
    gate.set()
    assert job.join(10)


def test_user_errors_are_kept_as_they_are_and_an_empty_run_folder_is_removed(tmp_path):
    run_dir = tmp_path / "empty"
    run_dir.mkdir()
    manager = JobManager(fake_train(fail=FtguiError("no class folders found in x")))
    job = manager.start(TrainConfig(out=str(run_dir)))
    assert job.join(10)
    assert job.status()["state"] == "failed"
    assert job.status()["error"] == "no class folders found in x"
    assert not run_dir.exists()
    manager = JobManager(fake_train(fail=RuntimeError("boom")))
    job = manager.start(TrainConfig(out=str(tmp_path / "other")))
    assert job.join(10)
    assert job.status()["error"] == "internal error: RuntimeError: boom"


def test_shutdown_stops_and_waits_for_the_job(tmp_path):
    manager = JobManager(fake_train(steps=1000))
    job = manager.start(TrainConfig(epochs=1, out=str(tmp_path / "run")))
    time.sleep(0.1)
    manager.shutdown(timeout=10)
    assert job.status()["state"] == "stopped"
    assert not manager.is_training(Path(tmp_path / "run"))


def test_a_resumed_job_shows_the_epochs_it_kept_and_times_only_its_own(tmp_path):
    run = tmp_path / "run"
    atomic_write_json(run / RUN_FILE, {"status": "stopped",  # one training: no second on all images (--refit)
                                      "config": TrainConfig(epochs=4, model="m", refit="no").to_dict()})
    rows = [{"epoch": e, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5} for e in (1, 2, 3)]
    atomic_write_jsonl(run / METRICS_FILE, rows)  # epoch 3 ended after the last checkpoint (epoch 2)
    gate = threading.Event()

    def resume(run_dir, listener, stop):
        listener(Start(str(run_dir), 4, 2, 8, 2, earlier_epochs=rows[:2]))  # the checkpoint's epochs
        listener(Step("train", 3, 1, 2, 1.0))
        gate.wait(10)
        for epoch in (3, 4):
            listener(Epoch({**rows[0], "epoch": epoch}))
        return FakeResult("completed")

    job = JobManager(resume_fn=resume).resume(run)
    assert (job.name, job.config.model, job.config.epochs) == ("run", "m", 4)
    while job.status()["step"] is None:
        time.sleep(0.01)
    status = job.status()
    assert [m["epoch"] for m in status["metrics"]] == [1, 2]  # epoch 3 is trained again
    assert status["fraction"] == 2.5 / 4  # half of epoch 3 done...
    assert status["eta_raw_s"] == pytest.approx(status["elapsed_s"] * 3)  # ...in this job's time, with 1.5 to go
    gate.set()
    assert job.join(10)
    assert [m["epoch"] for m in job.status()["metrics"]] == [1, 2, 3, 4]


def test_the_time_left_is_wall_clock_time_validation_and_all_not_the_epochs_seconds(tmp_path):
    """Head-only epochs on cached features report ~0.005 s, yet arrive 0.1 s apart (validation,
    writing, overhead): the time left is counted at 0.1 s an epoch (a fake clock, no waiting)."""
    now = [1000.0]
    gate = threading.Event()

    def train(config, listener, stop):
        listener(Start(config.out, 3000, 1, 8, 2))
        now[0] += 20.0  # features computed, then the first epoch: slow, and left out
        for epoch in range(1, 101):
            if epoch > 1:
                now[0] += 0.1
            listener(Epoch({"epoch": epoch, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0,
                            "val_acc": 0.5, "seconds": 0.005}))
        listener(Step("train", 101, 0, 1, 1.0))
        gate.wait(10)
        return FakeResult("completed")

    job = JobManager(train, clock=lambda: now[0]).start(TrainConfig(epochs=3000, refit="no", out=str(tmp_path / "run")))
    try:
        wait_until(lambda: job.status()["step"] is not None)
        status = job.status()
        assert status["elapsed_s"] == pytest.approx(20.0 + 99 * 0.1)
        assert status["eta_raw_s"] == pytest.approx(2900 * 0.1)  # not 2900 * 0.005 s = 15 s
        assert status["eta_s"] == pytest.approx(290.0)  # shown: not smoothed from the slow first epoch's guess
        assert "about 4:50 left" in charts.progress_html(status)
    finally:
        gate.set()
        assert job.join(10)


def test_a_resumed_jobs_time_left_counts_only_the_epochs_it_timed(tmp_path):
    """A resumed run's first 50 epochs were trained by an earlier job: this job's pace is what it
    measured itself (0.2 s an epoch), not its time over all 60 epochs done."""
    now = [0.0]
    gate = threading.Event()
    earlier = [{"epoch": e, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5, "seconds": 0.01}
               for e in range(1, 51)]

    def resume(run_dir, listener, stop):
        listener(Start(str(run_dir), 100, 1, 8, 2, earlier_epochs=earlier))
        for epoch in range(51, 61):
            now[0] += 5.0 if epoch == 51 else 0.2  # the resumed run's first epoch reloads and warms up
            listener(Epoch({**earlier[0], "epoch": epoch}))
        gate.wait(10)
        return FakeResult("completed")

    run = tmp_path / "run"
    atomic_write_json(run / RUN_FILE, {"status": "stopped",
                                      "config": TrainConfig(epochs=100, model="m", refit="no").to_dict()})
    atomic_write_jsonl(run / METRICS_FILE, earlier)
    job = JobManager(resume_fn=resume, clock=lambda: now[0]).resume(run)
    try:
        wait_until(lambda: len(job.status()["metrics"]) == 60)
        status = job.status()
        assert status["fraction"] == 0.6
        assert status["eta_raw_s"] == pytest.approx(40 * 0.2)
    finally:
        gate.set()
        assert job.join(10)
