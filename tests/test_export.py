"""ftgui export: ONNX (checked with onnxruntime against PyTorch on real images through the
run's own preprocessing) and TorchScript, each with a JSON file a consumer needs nothing else
beside; YAML/JSON config files."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ftgui import FtguiError
from ftgui.cli import main
from ftgui.config import TrainConfig
from ftgui.config_files import read_config_file, save_config_file
from ftgui.export import export_run, sidecar_path
from ftgui.predict import Predictor

TOLERANCE = 1e-4


def images_of(data: Path) -> list[Image.Image]:
    """Every third image of the data set, as files on disk (real PNGs, not random tensors)."""
    return [Image.open(path).convert("RGB") for path in sorted(data.rglob("*.png"))[::3]]


def consumer_preprocess(image: Image.Image, info: dict) -> np.ndarray:
    """What a consumer does with only the JSON file, Pillow and numpy (no torch, no ftgui)."""
    pre = info["preprocessing"]
    _, height, width = pre["input_size"]
    assert pre["crop_mode"] == "center" and pre["resize_size"][0] == pre["resize_size"][1]
    short = pre["resize_size"][0]
    w, h = image.size
    size = (short, int(short * h / w)) if w <= h else (int(short * w / h), short)
    resample = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}[pre["interpolation"]]
    image = image.convert("RGB").resize(size, resample)
    left, top = round((image.width - width) / 2), round((image.height - height) / 2)
    image = image.crop((left, top, left + width, top + height))
    array = np.asarray(image, dtype=np.float32) / 255.0
    array = (array - np.array(pre["mean"], dtype=np.float32)) / np.array(pre["std"], dtype=np.float32)
    return array.transpose(2, 0, 1)


@pytest.fixture(scope="module")
def onnx_export(pretrained_run, tmp_path_factory) -> Path:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    out = tmp_path_factory.mktemp("onnx") / "shapes.onnx"
    assert main(["export", str(pretrained_run), "--format", "onnx", "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_onnx_matches_pytorch_on_real_images_at_any_batch_size(onnx_export, pretrained_run, tmp_path, capsys):
    import onnxruntime

    info = json.loads(sidecar_path(onnx_export).read_text())
    predictor = Predictor.from_run(pretrained_run, "cpu")
    assert info["label_names"] == predictor.label_names and info["format"] == "onnx"
    pre = info["preprocessing"]
    assert pre["input_size"] == list(predictor.data_config["input_size"])
    assert (pre["mean"], pre["std"], pre["interpolation"], pre["crop_pct"]) == (
        list(predictor.data_config["mean"]), list(predictor.data_config["std"]),
        predictor.data_config["interpolation"], predictor.data_config["crop_pct"])
    session = onnxruntime.InferenceSession(str(onnx_export), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == "input" and isinstance(session.get_inputs()[0].shape[0], str)
    data = Path(json.loads((pretrained_run / "ftgui.json").read_text())["config"]["data"])
    images = images_of(data)
    batch = torch.stack([predictor.transform(image) for image in images])  # the run's own preprocessing
    with torch.inference_mode():
        want = predictor.model(batch).numpy()
    worst = 0.0
    for size in (1, 3, len(images)):  # a dynamic batch size
        (got,) = session.run(["logits"], {"input": batch[:size].numpy()})
        assert got.shape == want[:size].shape
        worst = max(worst, float(np.abs(got - want[:size]).max()))
    print(f"ONNX vs PyTorch, {len(images)} real images: max abs difference of logits {worst:.3g}", file=sys.stderr)
    assert worst < TOLERANCE
    # a consumer with the JSON file, Pillow and numpy prepares the same input and gets the same labels
    mine = np.stack([consumer_preprocess(image, info) for image in images])
    assert float(np.abs(mine - batch.numpy()).max()) < 1e-5
    (theirs,) = session.run(["logits"], {"input": mine})
    assert [info["label_names"][i] for i in theirs.argmax(1)] == [predictor.label_names[i] for i in want.argmax(1)]


def test_torchscript_export_predicts_like_the_run(pretrained_run, tmp_path, capsys):
    out = export_run(pretrained_run, "torchscript", tmp_path / "model.pt")
    info = json.loads(sidecar_path(out).read_text())
    assert info["format"] == "torchscript" and info["max_abs_diff_vs_pytorch"] < TOLERANCE
    loaded = torch.jit.load(str(out))
    predictor = Predictor.from_run(pretrained_run, "cpu")
    batch = torch.randn(3, *predictor.data_config["input_size"])
    with torch.inference_mode():
        assert float((loaded(batch) - predictor.model(batch)).abs().max()) < TOLERANCE
    run = tmp_path / "run"  # the default goes inside the run: a copy, the session's run stays as it is
    shutil.copytree(pretrained_run, run)
    assert main(["export", str(run), "--format", "torchscript"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["model"] == str(run / "export" / "model.pt") and Path(printed["info"]).is_file()


def test_export_errors_are_one_line(tmp_path, pretrained_run, monkeypatch, capsys):
    assert main(["export", str(tmp_path), "--format", "torchscript"]) == 2
    assert "holds no trained model" in capsys.readouterr().err
    with pytest.raises(FtguiError, match="--format must be one of"):
        export_run(pretrained_run, "tflite")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    assert main(["export", str(pretrained_run), "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("ftgui: error: ONNX export needs onnxruntime, which is not installed: "
                   "pip install 'ftgui[export]'")
    assert not (tmp_path / "m.onnx").exists()


# -- config files ----------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_saved_config_file_replays_the_settings(tmp_path, suffix):
    config = TrainConfig(data="sample:digits", model="test_resnet", strategy="scratch", init="kaiming",
                         init_params={"mode": "fan_out"}, epochs=3, lr=0.002, img_size=32, out="runs/x",
                         callbacks={"early-stop": {"patience": 2}})
    path = save_config_file(config, tmp_path / f"settings{suffix}")
    values = read_config_file(path)
    assert "out" not in values
    assert TrainConfig.from_dict(values) == TrainConfig.from_dict({**config.to_dict(), "out": None})


def test_train_takes_a_yaml_config_and_a_runs_ftgui_json(three_classes, pretrained_run, tmp_path, capsys):
    (tmp_path / "c.yml").write_text(f"data: {three_classes}\nmodel: test_resnet\nstrategy: scratch\n"
                                    "epochs: 0\nimg_size: 32\nseed: 3\n")
    assert main(["train", "--config", str(tmp_path / "c.yml"), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    record = json.loads((tmp_path / "a" / "ftgui.json").read_text())
    assert (record["config"]["seed"], record["config"]["epochs"], record["config"]["img_size"]) == (3, 0, 32)
    assert main(["train", "--config", str(pretrained_run / "ftgui.json"), "--epochs", "0",
                 "--out", str(tmp_path / "b"), "--quiet"]) == 0
    replay = json.loads((tmp_path / "b" / "ftgui.json").read_text())["config"]
    original = json.loads((pretrained_run / "ftgui.json").read_text())["config"]
    # refit: what the run resolved, and a run of 0 epochs has nothing to train again
    assert {k: v for k, v in replay.items() if k not in ("out", "epochs", "refit")} == {
        k: v for k, v in original.items() if k not in ("out", "epochs", "refit")}
    assert (replay["refit"], original["refit"]) == ("no", "yes")
    capsys.readouterr()
    (tmp_path / "bad.yaml").write_text("epochs: [1\n")
    assert main(["train", "--config", str(tmp_path / "bad.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "not valid YAML" in err
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    assert main(["train", "--config", str(tmp_path / "list.yaml")]) == 2
    assert "holds a YAML list, not an object of settings" in capsys.readouterr().err


def test_the_new_commands_help_imports_no_torch():
    import subprocess

    for command in ("export", "push"):
        result = subprocess.run([sys.executable, "-X", "importtime", "-m", "ftgui", command, "--help"],
                                capture_output=True, text=True, timeout=60)
        imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
        assert result.returncode == 0 and ("--out" in result.stdout or "--repo" in result.stdout)
        assert "torch" not in imported and "onnx" not in imported and "timm" not in imported
