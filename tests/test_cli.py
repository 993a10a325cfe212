"""The CLI end to end, prediction parity with timm, weights files, and bad input."""
from __future__ import annotations

import csv
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from timm.data import create_transform, resolve_model_data_config

from ftgui import FtguiError, models
from ftgui.cli import main
from ftgui.runs import load_run

from conftest import THREE, make_dataset, zip_folder


def ftgui(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftgui", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


@pytest.fixture(scope="module")
def messy_zip(tmp_path_factory) -> Path:
    """The three-class data set zipped inside a wrapper folder, with junk mixed in."""
    base = tmp_path_factory.mktemp("messy")
    folder = make_dataset(base / "photos", THREE, per_class=10, seed=5)
    (folder / "circle" / "notes.jpg").write_text("not an image")
    (folder / "square" / "empty.png").write_bytes(b"")
    path = zip_folder(folder, base / "photos.zip", wrapper="photos")
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("__MACOSX/photos/circle/._000.png", b"junk")
        archive.writestr("photos/.DS_Store", b"junk")
    return path


@pytest.fixture(scope="module")
def cli_run(messy_zip, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    proc = ftgui("train", "--data", str(messy_zip), "--model", "test_resnet", "--strategy", "scratch",
                 "--init", "sparse", "--init-arg", "k=3", "--bias-init", "0.01", "--epochs", "2",
                 "--lr", "0.002", "--batch-size", "8", "--img-size", "32", "--aug", "light",
                 "--val-split", "0.3", "--seed", "7", "--device", "cpu", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["run_dir"] == str(out) and summary["status"] == "completed"
    assert "skipped photos/circle/notes.jpg" in proc.stderr and "skipped photos/square/empty.png" in proc.stderr
    return out


@pytest.mark.slow
def test_cli_train_writes_a_run_that_reproduces_its_settings(cli_run, messy_zip):
    record = load_run(cli_run).record
    config = record["config"]
    assert config["data"] == str(messy_zip) and config["seed"] == 7 and config["epochs"] == 2
    assert record["initializer"] == {"name": "sparse", "params": {"k": 3, "scale": 1.0},
                                     "source": "bundled", "bias": 0.01, "applied_to": "every layer"}
    report = json.loads((cli_run / "data_report.json").read_text())
    assert report["images_per_class"] == {"circle": 10, "square": 10, "triangle": 10}
    assert {s["path"] for s in report["skipped"]} == {"photos/circle/notes.jpg", "photos/square/empty.png"}
    assert report["ignored"] == ["__MACOSX/photos/circle/._000.png", "photos/.DS_Store"]
    assert report["split"] == {"train": 21, "val": 9}
    assert len(load_run(cli_run).metrics) == 2


@pytest.mark.slow
def test_cli_predict_matches_timm_loading_the_run_folder(cli_run, tmp_path):
    images = make_dataset(tmp_path / "new", THREE, per_class=2, seed=11)
    proc = ftgui("predict", "--run", str(cli_run), str(images), "--top-k", "2")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 6 and all(len(r["topk"]) == 2 for r in rows)
    model = timm.create_model(f"local-dir:{cli_run}", pretrained=True).eval()
    transform = create_transform(**resolve_model_data_config(model), is_training=False)
    labels = model.pretrained_cfg["label_names"]
    for row in rows:
        image = Image.open(images / row["path"]).convert("RGB")
        with torch.inference_mode():
            probs = model(transform(image)[None]).softmax(1)[0]
        assert row["label"] == labels[int(probs.argmax())]
        assert row["score"] == pytest.approx(float(probs.max()), abs=1e-5)


@pytest.mark.slow
def test_cli_predict_csv_over_a_zip_reports_unreadable_files(cli_run, tmp_path):
    folder = make_dataset(tmp_path / "new", {"x": ("circle", "red")}, per_class=3)
    (folder / "x" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    archive = zip_folder(folder, tmp_path / "new.zip")
    proc = ftgui("predict", "--run", str(cli_run), str(archive), "--format", "csv", "--top-k", "1")
    assert proc.returncode == 0, proc.stderr
    table = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(table) == 4
    broken = [r for r in table if r["path"].endswith("broken.png")]
    assert broken and broken[0]["error"] and not broken[0]["label"]
    assert all(r["label"] in ("circle", "square", "triangle") for r in table if not r["error"])
    assert "1 file(s) could not be read" in proc.stderr


def test_train_from_safetensors_and_pth_files(cli_run, three_classes, tmp_path):
    state = load_file(str(cli_run / "model.safetensors"))
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": state}, tmp_path / "w.pth")
    for weights in ("w.safetensors", "w.pth"):
        code = main(["train", "--data", str(three_classes), "--model", "test_resnet", "--strategy", "head-only",
                     "--weights", str(tmp_path / weights), "--epochs", "1", "--img-size", "32",
                     "--out", str(tmp_path / f"run-{weights}"), "--quiet"])
        assert code == 0
        record = load_run(tmp_path / f"run-{weights}").record
        assert record["weights_source"] == str((tmp_path / weights).resolve())
        assert record["new_head"] is True  # a bare file has no label names


class _Payload:
    """A pickle that would create a file when loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_carrying_code_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil.pth", "wb") as handle:
        pickle.dump({"fc.weight": _Payload(marker)}, handle)
    with pytest.raises(FtguiError, match="refuses it"):
        models.load_weights("test_resnet", str(tmp_path / "evil.pth"))
    assert not marker.exists()


@pytest.mark.parametrize("junk", [b"", b"\x00", b"PK\x03\x04 not a zip", b"\x80\x02}q\x00", bytes(range(256)) * 3])
def test_a_junk_weights_file_is_a_clear_error(tmp_path, junk):
    (tmp_path / "junk.pth").write_bytes(junk)
    clear = "junk.pth (is not a readable weights file|does not hold a state_dict|holds more than tensors)"
    with pytest.raises(FtguiError, match=clear):
        models.read_state_dict(tmp_path / "junk.pth")


def test_tensors_that_do_not_fit_are_listed(cli_run, tmp_path):
    state = load_file(str(cli_run / "model.safetensors"))
    state.pop(next(iter(state)))
    state["extra.weight"] = torch.zeros(2)
    save_file(state, str(tmp_path / "bad.safetensors"))
    with pytest.raises(FtguiError, match="missing: .*unexpected: extra.weight"):
        models.load_weights("test_resnet", str(tmp_path / "bad.safetensors"))
    state = load_file(str(cli_run / "model.safetensors"))
    conv = next(k for k in state if state[k].ndim == 4)
    state[conv] = torch.zeros(1, 1, 1, 1)
    save_file(state, str(tmp_path / "shape.safetensors"))
    with pytest.raises(FtguiError, match=f"wrong shape: {conv} \\(1, 1, 1, 1\\) vs"):
        models.load_weights("test_resnet", str(tmp_path / "shape.safetensors"))


def test_a_run_folder_of_another_architecture_is_refused(cli_run):
    with pytest.raises(FtguiError, match="holds a test_resnet, not a test_vit"):
        models.load_weights("test_vit", str(cli_run))


@pytest.mark.slow
def test_hub_weights_offline_fail_fast_with_remedies(three_classes, tmp_path):
    env = {"HF_HOME": str(tmp_path / "empty-cache"), "HF_HUB_OFFLINE": ""}
    proc = ftgui("train", "--data", str(three_classes), "--model", "test_resnet", "--strategy", "head-only",
                 "--out", str(tmp_path / "run"), env=env)
    assert proc.returncode == 2, proc.stderr  # fails, not hangs: its speed is in benchmarks/latency.py
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "--weights PATH" in proc.stderr and "--strategy scratch" in proc.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_predict_with_a_pretrained_model_fails_fast_offline(tmp_path):
    proc = ftgui("predict", "--model", "test_resnet", str(tmp_path),
                 env={"HF_HOME": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2 and "no cached copy" in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "/no/such/folder", "--model", "test_resnet", "--strategy", "scratch"], "does not exist"),
    (["train", "--data", "{data}", "--model", "tset_resnet", "--strategy", "scratch"], "did you mean test_resnet"),
    (["train", "--data", "{data}", "--model", "test_resnet", "--strategy", "fullish"], "no strategy named"),
    (["train", "--data", "{data}", "--model", "test_resnet", "--strategy", "scratch", "--init-arg", "k"],
     "KEY=VALUE"),
    (["train", "--data", "{data}", "--model", "test_resnet", "--strategy", "scratch", "--epochs", "-1"],
     "--epochs"),
    (["train", "--data", "{data}", "--model", "test_resnet", "--strategy", "scratch", "--aug", "wild"],
     "--aug"),
    (["train", "--data", "{data}", "--model", "test_resnet", "--strategy", "scratch", "--out", "{data}"],
     "not empty"),
    (["train", "--data", "{data}", "--model", "test_resnet", "--strategy", "scratch",
      "--val-data", "{other}"], "classes the training data lacks"),
    (["train", "--data", "{zipfile}", "--model", "test_resnet", "--strategy", "scratch"], "zip"),
    (["train", "--resume", "{data}", "--epochs", "3", "--init-arg", "k=1"], "drop --epochs, --init-arg"),
    (["predict", "--run", "{data}", "{data}"], "holds no trained model"),
    (["predict", "--run", "{data}"], "PATH"),
    (["models", "zzzz-no-such"], "no timm model matches"),
])
def test_bad_input_is_one_line_on_stderr_with_nonzero_exit(args, message, three_classes, tmp_path, capsys):
    other = make_dataset(tmp_path / "other", {"hexagon": ("cross", "red"), "circle": ("circle", "red")},
                         per_class=3)
    (tmp_path / "bad.zip").write_text("not a zip")
    fill = {"{data}": str(three_classes), "{other}": str(other), "{zipfile}": str(tmp_path / "bad.zip")}
    try:
        code = main([fill.get(a, a) for a in args])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("ftgui") and ": error: " in last and message in last, err
    assert "Traceback" not in err


def test_models_lists_timm_architectures(capsys):
    assert main(["models", "test_res"]) == 0
    assert "test_resnet" in capsys.readouterr().out.split()


def test_predict_on_a_missing_path_is_a_one_line_error(cli_run, tmp_path, capsys):
    assert main(["predict", "--run", str(cli_run), str(tmp_path / "no-such.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ftgui: error:") and "no-such.jpg" in err and err.count("\n") == 1
