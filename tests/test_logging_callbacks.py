"""The bundled tensorboard and mlflow callbacks: event files in the run folder with a scalar per
metric per epoch; MLflow through its client (a stand-in here: mlflow is not a test dependency);
one clear line when the package is missing, and the run trains as usual."""
from __future__ import annotations

import builtins
import json
import sys
import types
from pathlib import Path

import pytest

from ftgui.cli import main
from ftgui.registry import load_registry
from ftgui.runs import read_metrics

TINY = ["--model", "test_resnet", "--strategy", "scratch", "--img-size", "32", "--batch-size", "16", "--quiet"]


def train(data: Path, out: Path, *args: str) -> int:
    return main(["train", "--data", str(data), "--out", str(out), *TINY, *args])


def test_both_are_ordinary_bundled_plugins():
    registry = load_registry(entry_points=False)
    for name in ("tensorboard", "mlflow"):
        entry = registry.get("callback", name)
        assert entry.source == "bundled" and entry.plugin == "ftgui.bundled_plugins.logging_callbacks"


@pytest.mark.slow
def test_tensorboard_writes_every_metric_of_every_epoch(three_classes, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert train(three_classes, tmp_path / "run", "--epochs", "2", "--callback", "clip-grad",
                 "--callback", "tensorboard") == 0
    assert "tensorboard: event files in" in capsys.readouterr().err
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    rows = read_metrics(tmp_path / "run")
    for key in ("train_loss", "val_acc", "lr", "clipped_fraction"):
        logged = [(event.step, event.value) for event in events.Scalars(key)]
        assert logged == [(row["epoch"], pytest.approx(row[key], rel=1e-6)) for row in rows]
    text = events.Tensors("ftgui/config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert json.loads(text.strip("`\n"))["epochs"] == 2


def test_a_missing_package_is_one_line_and_the_run_trains(three_classes, tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def without(name, *args, **kwargs):
        if name.startswith(("torch.utils.tensorboard", "mlflow")):
            raise ImportError(f"No module named '{name}'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without)
    assert train(three_classes, tmp_path / "run", "--epochs", "1", "--callback", "tensorboard",
                 "--callback", "mlflow") == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith(("tensorboard:", "mlflow:"))]
    assert lines == [
        "tensorboard: the tensorboard package is not installed, so this run writes no event files "
        "(pip install tensorboard)",
        "mlflow: the mlflow package is not installed, so this run is not logged to MLflow (pip install mlflow)",
    ]
    assert not (tmp_path / "run" / "tensorboard").exists() and len(read_metrics(tmp_path / "run")) == 1


class FakeClient:
    """Just enough of mlflow.tracking.MlflowClient, recording every call."""

    calls: list = []

    def __init__(self, tracking_uri=None):
        self.calls.append(("client", tracking_uri))

    def get_experiment_by_name(self, name):
        return None

    def create_experiment(self, name):
        self.calls.append(("experiment", name))
        return "7"

    def create_run(self, experiment_id, run_name=None, tags=None):
        self.calls.append(("run", experiment_id, run_name))
        return types.SimpleNamespace(info=types.SimpleNamespace(run_id="r1"))

    def log_param(self, run_id, key, value):
        self.calls.append(("param", key, value))

    def log_metric(self, run_id, key, value, step=None):
        self.calls.append(("metric", key, step))

    def set_terminated(self, run_id, status):
        self.calls.append(("end", run_id, status))


def test_mlflow_logs_settings_and_metrics_through_its_client(three_classes, tmp_path, monkeypatch, capsys):
    tracking = types.ModuleType("mlflow.tracking")
    tracking.MlflowClient = FakeClient  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mlflow", types.ModuleType("mlflow"))
    monkeypatch.setitem(sys.modules, "mlflow.tracking", tracking)
    FakeClient.calls = []
    assert train(three_classes, tmp_path / "run", "--epochs", "2", "--callback",
                 "mlflow:experiment=shapes,tracking_uri=file:/tmp/nowhere") == 0
    calls = FakeClient.calls
    assert calls[:3] == [("client", "file:/tmp/nowhere"), ("experiment", "shapes"), ("run", "7", "run")]
    assert ("param", "epochs", "2") in calls and ("param", "strategy", "scratch") in calls
    assert [c for c in calls if c[:2] == ("metric", "val_acc")] == [("metric", "val_acc", 1), ("metric", "val_acc", 2)]
    assert calls[-1] == ("end", "r1", "FINISHED")
