"""Checking a run folder before anything is built from it.

A run folder's config.json and model.safetensors may have been edited or swapped since ftgui
wrote them: :func:`read_run_config` refuses a config.json that would download, read another
folder or build something huge, :func:`check_data_config` refuses preprocessing no image should
get, and :func:`tensor_shapes` reads the weights' shapes without loading them.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import timm

from .errors import FtguiError

MAX_RUN_CONFIG_BYTES = 16 << 20
MAX_CLASSES = 100_000
MAX_MODEL_ARG = 4096
"""The largest number a run's model_args may hold (num_classes aside): widths, depths and
sizes beyond it take minutes to build even on the meta device."""
MIN_INPUT_SIDE, MAX_INPUT_SIDE = 16, 2048


def read_run_config(run_dir: Path) -> dict:
    """A run folder's config.json, checked before anything is built from it (see
    :func:`_config_problem`)."""
    path = run_dir / "config.json"
    try:
        if path.stat().st_size > MAX_RUN_CONFIG_BYTES:
            raise FtguiError(f"{path} is over {MAX_RUN_CONFIG_BYTES >> 20} MB, far more than a model's config; "
                             "restore the run folder as ftgui wrote it, or train again")
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        raise FtguiError(f"{run_dir} has no readable config.json; is it an ftgui run folder?") from None
    problem = _config_problem(config)
    if problem:
        raise FtguiError(f"{path} {problem}; restore the run folder as ftgui wrote it, or train again")
    return config


def _config_problem(config: object) -> str | None:
    """What makes ``config`` unfit to build a model from: it must name a timm architecture
    (never hf-hub: or local-dir:, so a run folder never downloads or reads another folder),
    1 to MAX_CLASSES classes, one label name per class, and model_args of modest numbers."""
    if not isinstance(config, dict):
        return "is not a JSON object"
    architecture = config.get("architecture")
    if not isinstance(architecture, str) or architecture.startswith(("hf-hub:", "local-dir:")):
        return (f"names architecture {architecture!r}, but a run folder must name a timm architecture "
                "(it never downloads, nor reads another folder)")
    if not timm.is_model(architecture):
        return f"names architecture {architecture!r}, which timm {timm.__version__} does not know"
    classes = config.get("num_classes")
    if type(classes) is not int or not 1 <= classes <= MAX_CLASSES:
        return f"has num_classes {classes!r}, not a whole number from 1 to {MAX_CLASSES}"
    labels = config.get("label_names", [""] * classes)
    if not isinstance(labels, list) or not all(isinstance(name, str) for name in labels):
        return "has label_names that are not a list of names"
    if len(labels) != classes:
        return f"has {len(labels)} label_names for a {classes}-class head (one name per class)"
    args = config.get("model_args", {})
    if not isinstance(args, dict):
        return "has model_args that are not a JSON object"
    if args.get("num_classes", classes) != classes or any(key in args for key in ("device", "dtype")):
        return "has model_args that contradict num_classes or choose a device or dtype"
    sizes = [n for key, value in args.items() if key != "num_classes" for n in _numbers(value)]
    if not all(abs(n) <= MAX_MODEL_ARG for n in sizes):
        return f"has model_args with numbers beyond {MAX_MODEL_ARG}"
    return None


def _numbers(value: object) -> Iterator[float]:
    """Every number in a JSON value, however deeply nested."""
    if isinstance(value, (int, float)):
        yield value
    elif isinstance(value, (list, dict)):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _numbers(item)


def check_data_config(data_config: dict) -> None:
    """Refuse preprocessing no image should get (a tampered config.json would otherwise ask for
    gigapixel resizes): 3 channels of MIN_INPUT_SIDE to MAX_INPUT_SIDE pixels, crop_pct 0.5 to
    2, and a finite mean and a positive std per channel."""
    size, crop_pct, mean, std = (data_config[key] for key in ("input_size", "crop_pct", "mean", "std"))
    numbers = [*size, crop_pct, *mean, *std]
    if not (all(isinstance(n, (int, float)) and math.isfinite(n) for n in numbers)
            and len(size) == 3 and size[0] == 3 and all(MIN_INPUT_SIDE <= side <= MAX_INPUT_SIDE for side in size[1:])
            and 0.5 <= crop_pct <= 2 and len(mean) == len(std) == 3 and all(s > 0 for s in std)):
        raise FtguiError(
            f"asks for input_size {size}, crop_pct {crop_pct}, mean {mean}, std {std}, where ftgui takes "
            f"3 channels of {MIN_INPUT_SIDE} to {MAX_INPUT_SIDE} pixels, crop_pct 0.5 to 2, a finite mean "
            "and a positive std per channel"
        )


def tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """The name and shape of every tensor in a .safetensors file, read from its header only."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise FtguiError(f"{path} is not a readable .safetensors file ({exc})") from None
