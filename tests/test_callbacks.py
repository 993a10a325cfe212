"""Callbacks: the order and count of every event, state that survives SIGKILL + --resume,
third-party callbacks from a folder, an entry point and the GUI, and the bundled ones."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import ftgui
from ftgui.callback_types import EVENTS
from ftgui.cli import main
from ftgui.config import TrainConfig
from ftgui.engine import train
from ftgui.registry import Registered, load_registry
from ftgui.runs import load_run, read_metrics

from conftest import THREE, make_dataset

TINY = dict(model="test_resnet", img_size=32, batch_size=8, aug="none")

# A callback plugin as a third party writes it: it adds a metric and stops after `after` epochs,
# keeping a per-run count in state.store (which the checkpoint saves and --resume restores).
STOPPER = '''
import ftgui

class Stopper(ftgui.Callback):
    name = "stopper"
    description = "counts epochs in a metric and stops after `after` of them"
    params = (ftgui.Param("after", 2, "epochs before stopping"),)

    def on_epoch_end(self, state, after=2, **params):
        memory = state.store[self.name]
        memory["seen"] = memory.get("seen", 0) + 1
        state.metrics["seen"] = memory["seen"]
        if memory["seen"] >= after:
            state.stop(f"stopper: {after} epochs seen")

@ftgui.hookimpl
def ftgui_register_callbacks(register):
    register(Stopper())
'''


class Recorder(ftgui.Callback):
    name = "recorder"
    description = "records every event and what the state held then"

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def _note(self, event, state):
        grads = any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in state.model.parameters())
        self.calls.append((event, state.epoch, state.step, state.batch_index, state.loss is not None, grads,
                           dict(state.metrics)))


for _event in EVENTS:
    setattr(Recorder, _event, lambda self, state, _event=_event, **params: self._note(_event, state))


def write_plugin(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(source))
    return folder


def test_every_event_in_order_and_count_on_a_two_epoch_run(three_classes, tmp_path):
    recorder = Recorder()
    registry = load_registry(entry_points=False)
    registry.callbacks["recorder"] = Registered(recorder, "test", "test")
    result = train(TrainConfig(data=str(three_classes), strategy="scratch", epochs=2, callbacks={"recorder": {}},
                               out=str(tmp_path / "run"), refit="no", **TINY), registry=registry)
    assert result.status == "completed"
    batches = 30 // 8  # 30 training images, full batches only
    per_batch = ["on_batch_start", "on_after_backward", "on_batch_end"]
    per_epoch = ["on_epoch_start", *per_batch * batches, "on_validation_end", "on_epoch_end"]
    assert [c[0] for c in recorder.calls] == ["on_fit_start", *per_epoch * 2, "on_fit_end"]
    by_event = {}
    for call in recorder.calls:
        by_event.setdefault(call[0], []).append(call[1:])
    assert [c[0] for c in by_event["on_epoch_start"]] == [0, 1]  # epochs are 0-based
    assert [c[1] for c in by_event["on_batch_end"]] == list(range(1, 2 * batches + 1))  # steps so far
    assert [c[2] for c in by_event["on_batch_start"]] == list(range(batches)) * 2
    assert all(c[3] and c[4] for c in by_event["on_after_backward"])  # a loss, and gradients present
    assert all(c[5]["val_acc"] is not None for c in by_event["on_validation_end"])
    assert [c[5]["epoch"] for c in by_event["on_epoch_end"]] == [1, 2]  # the row is 1-based like metrics.jsonl


def test_a_callback_plugin_from_a_folder_adds_a_metric_and_stops(three_classes, tmp_path, capsys):
    plugins = write_plugin(tmp_path / "plugins", "stopper.py", STOPPER)
    out = tmp_path / "run"
    code = main(["--plugins-dir", str(plugins), "train", "--data", str(three_classes), "--strategy", "scratch",
                 "--model", "test_resnet", "--img-size", "32", "--epochs", "5", "--callback", "stopper:after=2",
                 "--out", str(out), "--quiet"])  # --plugins-dir before the command works too
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["status"] == "completed" and printed["stop_reason"] == "stopper: 2 epochs seen"
    assert [row["seen"] for row in read_metrics(out)] == [1, 2]
    record = load_run(out).record
    assert record["stop_reason"] == "stopper: 2 epochs seen"
    assert record["callbacks"] == [{"name": "stopper", "params": {"after": 2},
                                    "source": str((plugins / "stopper.py").resolve())}]


def test_a_callback_plugin_from_an_entry_point(three_classes, tmp_path):
    site = tmp_path / "site"
    write_plugin(site, "stopper_plugin.py", STOPPER)
    dist = site / "stopper_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: stopper-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[ftgui]\nstopper = stopper_plugin\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "ftgui", "train", "--data", str(three_classes), "--strategy",
                           "scratch", "--model", "test_resnet", "--img-size", "32", "--epochs", "4",
                           "--callback", "stopper:after=1", "--out", str(out), "--quiet"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [row["seen"] for row in read_metrics(out)] == [1]
    assert load_run(out).record["callbacks"][0]["source"] == "stopper-plugin 1.0"


def test_a_callback_plugin_from_the_gui(three_classes, tmp_path):
    from ftgui.ui import job_view, train_form, train_tab
    from ftgui.ui.context import AppContext, AppOptions

    plugins = write_plugin(tmp_path / "plugins", "stopper.py", STOPPER)
    ctx = AppContext(AppOptions(runs_dir=tmp_path / "runs", plugins_dirs=[str(plugins)]))
    values = train_form.form_from_config(ctx, TrainConfig(**{**TINY, "strategy": "scratch", "epochs": 6}))
    assert values["callbacks"] == [] and values["callback_stopper_after"] == 2
    values.update(callbacks=["stopper"], callback_stopper_after=3)
    train_tab.start_training(ctx, str(three_classes), 0.2, values)
    job = ctx.jobs.current
    assert job.join(300)
    status = job.status()
    assert status["state"] == "completed" and [m["seen"] for m in status["metrics"]] == [1, 2, 3]
    assert "early (stopper: 3 epochs seen)" in job_view.describe_job(status)
    assert "--callback stopper:after=3" in train_tab.preview_command(ctx, str(three_classes), 0.2, values)


def test_a_callbacks_state_survives_sigkill_and_resume(tmp_path, spawn):
    """The stopper counts epochs in state.store; after SIGKILL and --resume the count goes on
    from the checkpoint instead of starting again (so it stops after 5 epochs in all)."""
    data = make_dataset(tmp_path / "data", THREE, per_class=40, size=48)
    plugins = write_plugin(tmp_path / "plugins", "stopper.py", STOPPER)
    out = tmp_path / "run"
    env = {**os.environ, "FTGUI_SAVE_INTERVAL_S": "0", "FTGUI_PLUGINS_DIR": str(plugins)}
    args = [sys.executable, "-m", "ftgui", "train", "--data", str(data), "--strategy", "scratch", "--model",
            "test_resnet", "--img-size", "32", "--epochs", "8", "--callback", "stopper:after=5", "--out", str(out),
            "--quiet", "--num-workers", "0"]
    proc = spawn(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / "metrics.jsonl").is_file() and len(read_metrics(out)) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = torch.load(out / "checkpoint.pt", weights_only=True)
    assert kept["callbacks"]["stopper"]["seen"] == kept["epoch"] >= 1
    done = subprocess.run([sys.executable, "-m", "ftgui", "train", "--resume", str(out), "--quiet"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = read_metrics(out)
    assert [row["seen"] for row in rows] == [1, 2, 3, 4, 5]  # counted on, not restarted
    assert load_run(out).record["stop_reason"] == "stopper: 5 epochs seen"


def test_a_callback_that_raises_ends_the_run_naming_the_plugin(three_classes, tmp_path, capsys):
    plugins = write_plugin(tmp_path / "plugins", "oops.py", '''
        import ftgui

        class Oops(ftgui.Callback):
            name = "oops"
            description = "divides by zero after the first epoch"

            def on_epoch_end(self, state, **params):
                1 / 0

        @ftgui.hookimpl
        def ftgui_register_callbacks(register):
            register(Oops())
    ''')
    code = main(["train", "--plugins-dir", str(plugins), "--data", str(three_classes), "--strategy", "scratch",
                 "--model", "test_resnet", "--img-size", "32", "--epochs", "2", "--callback", "oops",
                 "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "internal error" not in err
    assert "callback 'oops' failed in on_epoch_end - ZeroDivisionError: division by zero (at oops.py:" in err
    assert f"oops ({(plugins / 'oops.py').resolve()})" in err
    assert load_run(tmp_path / "run").status == "failed"


# -- the bundled callbacks -------------------------------------------------------------
def test_early_stop_ends_training_when_the_loss_stops_improving(three_classes, tmp_path):
    result = train(TrainConfig(data=str(three_classes), strategy="scratch", epochs=10, out=str(tmp_path / "run"),
                               callbacks={"early-stop": {"patience": 2, "min_delta": 100.0}}, **TINY))
    assert result.status == "completed" and len(result.metrics) == 3  # epoch 1 sets the bar, 2 more fail it
    assert result.stop_reason.startswith("early-stop: val_loss has not improved for 2 epochs")


def test_grad_norms_per_stage_and_clipping_bounds_them(three_classes, tmp_path):
    result = train(TrainConfig(data=str(three_classes), strategy="scratch", epochs=1, out=str(tmp_path / "run"),
                               callbacks={"clip-grad": {"max_norm": 0.01}, "grad-norms": {}}, **TINY))
    row = read_metrics(result.run_dir)[0]
    norms = {k.split("/")[1]: v for k, v in row.items() if k.startswith("grad_norm/")}
    assert set(norms) == {"stage0", "stage1", "stage2", "stage3", "stage4", "head"}
    assert all(0 < v <= 0.01 + 1e-6 for v in norms.values())  # measured after clipping
    assert row["clipped_fraction"] == 1.0
    ratios = [v for k, v in row.items() if k.startswith("update_ratio/")]
    assert len(ratios) == 6 and all(0 < r < 1 for r in ratios)


def test_grad_norms_with_a_frozen_backbone_measure_only_the_head(three_classes, pretrained_run, tmp_path):
    result = train(TrainConfig(data=str(three_classes), strategy="head-only", weights=str(pretrained_run),
                               epochs=1, out=str(tmp_path / "run"), callbacks={"grad-norms": {}}, **TINY))
    row = read_metrics(result.run_dir)[0]
    assert [k for k in row if k.startswith("grad_norm/")] == ["grad_norm/head"]


def test_ema_validates_and_saves_the_averaged_weights(three_classes, pretrained_run, tmp_path):
    """With decay 1 the average never moves after timm's EMA takes its first copy (after step 1):
    a 3-step run with ema saves exactly the head a 1-step run ends with."""
    settings = dict(data=str(three_classes), strategy="head-only", weights=str(pretrained_run), init="zeros",
                    **{**TINY, "batch_size": 64})  # one step per epoch
    one_step = train(TrainConfig(out=str(tmp_path / "one"), epochs=1, **settings))
    three_steps = train(TrainConfig(out=str(tmp_path / "three"), epochs=3, **settings))
    averaged = train(TrainConfig(out=str(tmp_path / "ema"), epochs=3, **settings,
                                 callbacks={"ema": {"decay": 1.0, "warmup": False}}))
    one, three, ema = (load_file(str(run.run_dir / "model.safetensors"))["fc.weight"]
                       for run in (one_step, three_steps, averaged))
    assert torch.equal(ema, one) and not torch.equal(ema, three)
    assert averaged.metrics[-1]["val_loss"] == pytest.approx(one_step.metrics[-1]["val_loss"], abs=1e-6)
    assert "EMA" in load_run(averaged.run_dir).record["selected_by"]
