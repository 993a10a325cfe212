"""Taking a run's model out of ftgui: an ONNX or TorchScript file, and beside it a JSON file
with everything a consumer needs (label names, preprocessing), so nothing of ftgui is needed
to use it.

``export_run(run_dir, "onnx")`` writes ``<run>/export/model.onnx`` and
``<run>/export/model.onnx.json``; ``ftgui export RUN --format onnx|torchscript [--out PATH]``
is the same from the command line. The ONNX file takes a float32 batch ``input`` of shape
(N, 3, H, W) with any N and returns the ``logits`` (N, classes).
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import FtguiError

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
EXPORT_DIR = "export"
ONNX_OPSET = 18
INSTALL_HINT = "pip install 'ftgui[export]'"


def default_out(run_dir: str | os.PathLike, fmt: str) -> Path:
    """Where ``export_run`` writes when no ``out`` is given: ``<run>/export/model.<ext>``."""
    return Path(run_dir) / EXPORT_DIR / f"model{FORMATS[fmt]}"


def sidecar_path(out: str | os.PathLike) -> Path:
    """The JSON file that goes with an exported model: ``PATH.json``."""
    return Path(f"{out}.json")


def export_run(run_dir: str | os.PathLike, fmt: str = "onnx", out: str | os.PathLike | None = None,
               log: Callable[[str], None] | None = None) -> Path:
    """Export the model of ``run_dir`` as ``fmt`` (onnx or torchscript) to ``out`` (default
    :func:`default_out`) and write :func:`sidecar_path` beside it; return ``out``.

    The ONNX file is checked with onnxruntime against PyTorch on a random batch of 2 before
    this returns (the maximum absolute difference of the logits is in the JSON file)."""
    if fmt not in FORMATS:
        raise FtguiError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "onnx":
        _require_onnx()
    import torch

    from .models import run_architecture
    from .predict import Predictor

    predictor = Predictor.from_run(run_dir, "cpu")
    model = predictor.model.eval().float()
    target = Path(out).expanduser() if out else default_out(run_dir, fmt)
    if target.is_dir():
        raise FtguiError(f"--out {target} is a folder; give a file path such as {target / ('model' + FORMATS[fmt])}")
    target.parent.mkdir(parents=True, exist_ok=True)
    _, height, width = predictor.data_config["input_size"]
    example = torch.randn(2, 3, height, width, generator=torch.Generator().manual_seed(0))
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        if fmt == "onnx":
            exporter = _export_onnx(model, example, tmp)
            check = _onnx_difference(model, tmp, example)
        else:
            exporter = "torch.jit.trace"
            check = _export_torchscript(model, example, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    info = describe(predictor.label_names, predictor.data_config, fmt, target.name, exporter, check)
    info["architecture"] = run_architecture(Path(run_dir))
    info["run"] = str(Path(run_dir).resolve())
    sidecar_path(target).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if log:
        log(f"exported {fmt} to {target} (labels and preprocessing in {sidecar_path(target).name}; "
            f"largest difference from PyTorch on a test batch: {check:.2e})")
    return target


def describe(label_names: list[str], data_config: dict, fmt: str, filename: str, exporter: str,
             max_abs_diff: float) -> dict[str, Any]:
    """The sidecar JSON: what the model file takes and gives, and how to prepare an image."""
    _, height, width = data_config["input_size"]
    crop_pct = float(data_config.get("crop_pct") or 0.875)
    mode = data_config.get("crop_mode") or "center"
    scale = [math.floor(height / crop_pct), math.floor(width / crop_pct)]
    if mode == "squash":
        resize = f"resize the image to exactly {scale[1]}x{scale[0]} pixels (width x height)"
    elif mode == "border":
        resize = (f"resize so the longer side fits {scale[1]}x{scale[0]} (aspect ratio kept), then pad with the "
                  "mean colour")
    elif scale[0] == scale[1]:
        resize = (f"resize so the shorter side is {scale[0]} pixels (the longer one: int({scale[0]} * long / "
                  "short)), aspect ratio kept")
    else:
        resize = f"resize so the image covers {scale[1]}x{scale[0]} pixels (width x height), aspect ratio kept"
    interpolation = data_config.get("interpolation", "bilinear")
    return {
        "format": fmt,
        "model": filename,
        "exporter": exporter,
        "max_abs_diff_vs_pytorch": max_abs_diff,
        "label_names": list(label_names),
        "input": {"name": "input", "shape": ["batch", 3, height, width], "dtype": "float32", "layout": "NCHW",
                  "channels": "RGB"},
        "output": {"name": "logits", "shape": ["batch", len(label_names)],
                   "meaning": "unnormalised scores; softmax over dim 1 gives probabilities in label_names order"},
        "preprocessing": {
            "input_size": [3, height, width],
            "interpolation": interpolation,
            "mean": list(data_config["mean"]),
            "std": list(data_config["std"]),
            "crop_pct": crop_pct,
            "crop_mode": mode,
            "resize_size": scale,
            "steps": [
                "convert the image to RGB",
                f"{resize}, {interpolation} interpolation (Pillow)",
                f"crop the centre {width}x{height} (left = round((w - {width}) / 2), "
                f"top = round((h - {height}) / 2))",
                "divide the 0..255 pixel values by 255",
                "per channel, subtract mean and divide by std",
                "lay out as channels, height, width; stack images into a batch",
            ],
        },
    }


def _require_onnx() -> None:
    import importlib.util

    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise FtguiError(f"ONNX export needs {', '.join(missing)}, which is not installed: {INSTALL_HINT}")


def _export_onnx(model, example, path: Path) -> str:
    """torch.onnx's exporter (torch.export based, onnxscript), with a dynamic batch size;
    the TorchScript-based one when that fails for this model. Returns which one worked."""
    import torch

    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (example,), str(path), input_names=["input"], output_names=["logits"],
                              dynamic_shapes=({0: batch},), opset_version=ONNX_OPSET, dynamo=True,
                              external_data=False, verbose=False)
            return "torch.onnx.export (dynamo)"
        except Exception as first:  # noqa: BLE001 - any failure: try the older exporter
            try:
                torch.onnx.export(model, (example,), str(path), input_names=["input"], output_names=["logits"],
                                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                                  opset_version=17, dynamo=False)
            except Exception as second:  # noqa: BLE001
                raise FtguiError(f"cannot export this model to ONNX: {type(first).__name__}: "
                                 f"{_first_line(first)}; the TorchScript-based exporter: "
                                 f"{type(second).__name__}: {_first_line(second)}") from None
            return "torch.onnx.export (TorchScript-based)"


def _onnx_difference(model, path: Path, example) -> float:
    """The largest absolute difference between onnxruntime's and PyTorch's logits on ``example``."""
    import onnxruntime
    import torch

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"input": example.numpy()})
    with torch.inference_mode():
        want = model(example).float()
    return float((torch.from_numpy(got) - want).abs().max())


def _export_torchscript(model, example, path: Path) -> float:
    import torch

    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # torch.jit is deprecated upstream, and says so on every call
        try:
            traced = torch.jit.trace(model, example, check_trace=False)
        except Exception as exc:  # noqa: BLE001
            raise FtguiError(f"cannot export this model to TorchScript: {type(exc).__name__}: "
                             f"{_first_line(exc)}; try --format onnx") from None
        torch.jit.save(traced, str(path))
        loaded = torch.jit.load(str(path))
        return float((loaded(example) - model(example)).abs().max())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
