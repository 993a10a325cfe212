"""The first minutes on the console (issue 10, item 17): ``ftgui --help`` lists the app's
options, the console names ftgui's flags (not Gradio's ``launch()`` arguments), and it says
what the app is doing while it trains."""
from __future__ import annotations

import io
import subprocess
import sys
from types import SimpleNamespace

import gradio

from ftgui.record import SMOOTHED, End, Epoch, Log, Start
from ftgui.ui import launch

from test_ui_e2e import free_port


def test_help_lists_the_apps_options():
    result = subprocess.run([sys.executable, "-m", "ftgui", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for flag in ("--demo", "--port", "--share", "--runs-dir", "--host", "--auth", "--no-browser", "--max-file-size"):
        assert flag in result.stdout, flag
    assert "train" in result.stdout and "ftgui launch" in result.stdout


def test_the_console_names_ftguis_flags_not_gradios(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gradio.Blocks, "block_thread", lambda self: None)
    port = free_port()
    assert launch.run(runs_dir=str(tmp_path / "runs"), port=port, open_browser=False) == 0
    out, err = capsys.readouterr()
    assert "share=True" not in out + err and "launch()" not in out + err
    assert f"http://127.0.0.1:{port}" in out and "ftgui --share" in out


def test_the_console_says_what_the_app_is_doing_while_it_trains():
    job = SimpleNamespace(config=SimpleNamespace(model="test_resnet", strategy="scratch"), events=[])
    job.events_since = lambda n: job.events[n:]
    jobs = SimpleNamespace(current=None)
    out = io.StringIO()
    report = launch.ConsoleReport(jobs, out=out)
    report.poll()
    assert out.getvalue() == ""
    jobs.current = job
    job.events += [Start("runs/r1", 2, 3, 24, 6), Log("model test_resnet")]
    report.poll()
    row = {"epoch": 1, "train_loss": 1.1, "train_acc": 0.4, "val_loss": 1.0, "val_acc": 0.5, "seconds": 0.3}
    job.events += [Epoch(row), End("completed", row, "runs/r1")]
    report.poll()
    report.poll()  # nothing new: nothing printed twice
    lines = out.getvalue().splitlines()
    assert lines[0] == "ftgui: training test_resnet (scratch) started from the app"
    assert "runs/r1: 2 epoch(s), 24 training and 6 validation images" in lines[1]
    assert lines[2] == "ftgui: model test_resnet"
    assert lines[3].startswith("ftgui: epoch 1  train_loss 1.1000") and "val_acc 0.5000" in lines[3]
    assert lines[4] == "ftgui: training completed; best epoch 1: validation accuracy 50.0%"
    assert len(lines) == 5
    job.events.append(End("completed", {**row, SMOOTHED: 0.9}, "runs/r1"))  # the smoothed loss chose it
    report.poll()
    assert out.getvalue().splitlines()[5] == ("ftgui: training completed; saved epoch 1 (lowest smoothed validation "
                                              "loss): validation accuracy 50.0%")
    job.events.append(End("completed", row, "runs/r1", refit={"status": "completed", "epoch": 1, "images": 36}))
    report.poll()
    assert out.getvalue().splitlines()[6] == (
        "ftgui: training completed; best epoch 1: validation accuracy 50.0%; then trained again on all 36 images "
        "to epoch 1, which is the model saved (its validation accuracy was measured before it learned from those "
        "images)")
    job.events.append(End("completed", row, "runs/r1", refit={"status": "stopped", "epoch": 1, "images": 36}))
    report.poll()
    assert out.getvalue().splitlines()[7].endswith(
        "; training again on all images was stopped; the validated model is saved")
