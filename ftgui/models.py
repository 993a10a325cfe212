"""Backbones and where their weights come from: the hub, a file, a run, or nowhere.

Everything here goes through timm's own factory and helpers; no architecture is special-cased.
"""
from __future__ import annotations

import difflib
import json
import os
import pickle
import socket
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import timm
from timm.data import ImageNetInfo, infer_imagenet_subset

from .errors import FtguiError
from .plugin_types import Initializer

CONV_OR_LINEAR = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
HUB_PROBE_SECONDS = 3.0


@dataclass
class LoadedModel:
    model: nn.Module
    architecture: str
    label_names: list[str] | None
    """The labels the weights were trained for, when known."""
    source: str
    """Where the weights came from, for the run record: hub id, file or run path, or 'none'."""

    def labels(self) -> list[str]:
        """The label names, or class_0, class_1, ... when the weights did not say."""
        return list(self.label_names or [f"class_{i}" for i in range(self.model.num_classes)])


def check_model_name(name: str) -> None:
    """Raise FtguiError for a name timm does not know, suggesting close matches."""
    if name.startswith(("hf-hub:", "local-dir:")) or timm.is_model(name):
        return
    base = name.split(".")[0]
    close = difflib.get_close_matches(base, timm.list_models(), n=4, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise FtguiError(f"unknown model '{name}'{hint} (`ftgui models FILTER` lists timm's models)")


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def run_architecture(run_dir: Path) -> str:
    """The timm architecture a run (or any save_for_hf folder) holds."""
    try:
        return json.loads((run_dir / "config.json").read_text())["architecture"]
    except (OSError, ValueError, KeyError):
        raise FtguiError(f"{run_dir} has no readable config.json; is it an ftgui run folder?") from None


def create_untrained(architecture: str, num_classes: int) -> LoadedModel:
    check_model_name(architecture)
    model = timm.create_model(architecture, pretrained=False, num_classes=num_classes)
    return LoadedModel(model, architecture, None, "none")


def load_weights(architecture: str, weights: str) -> LoadedModel:
    """Create ``architecture`` with the weights named by ``weights`` (hub or a path)."""
    check_weights(architecture, weights)
    if weights == "hub":
        return _from_hub(architecture)
    path = Path(weights).expanduser()
    if is_run_dir(path):
        return _from_run(architecture, path)
    if path.is_dir():
        raise FtguiError(f"{path} is a folder without config.json; give a run folder or a weights file")
    return _from_file(architecture, path)


def _from_run(architecture: str, run_dir: Path) -> LoadedModel:
    saved = run_architecture(run_dir)
    if architecture != saved:
        raise FtguiError(
            f"{run_dir} holds a {saved}, not a {architecture}: use --model {saved} or leave --model out"
        )
    model = timm.create_model(f"local-dir:{run_dir.resolve()}", pretrained=True)
    labels = model.pretrained_cfg.get("label_names")
    return LoadedModel(model, saved, list(labels) if labels else None, str(run_dir.resolve()))


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file, or a .pth/.pt/.bin loaded with weights_only=True
    (a pickle that would run code is refused, never executed)."""
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise FtguiError(f"{path} is not a readable .safetensors file ({exc})") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise FtguiError(
            f"{path} holds more than tensors (loading it could run code), so ftgui refuses it; "
            "convert it to .safetensors or save only the state_dict"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FtguiError(f"{path} is not a readable weights file ({first})") from None
    for key in ("state_dict_ema", "model_ema", "state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FtguiError(f"{path} does not hold a state_dict of tensors")
    return timm.models.clean_state_dict(state)


def _from_file(architecture: str, path: Path) -> LoadedModel:
    check_model_name(architecture)
    state = read_state_dict(path)
    cfg = timm.models.get_pretrained_cfg(architecture)
    head_key = f"{cfg.classifier if cfg else 'fc'}.weight"
    extra = {"num_classes": state[head_key].shape[0]} if head_key in state else {}
    model = timm.create_model(architecture, pretrained=False, **extra)
    load_checked(model, state, str(path))
    return LoadedModel(model, architecture, None, str(path.resolve()))


def load_checked(model: nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """load_state_dict with a message listing the tensors that do not fit."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own if k in state and state[k].shape != own[k].shape
    ]
    problems = [("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)]
    if any(items for _, items in problems):
        parts = [
            f"{label}: {', '.join(items[:4])}{f' (+{len(items) - 4} more)' if len(items) > 4 else ''}"
            for label, items in problems if items
        ]
        raise FtguiError(
            f"the tensors in {where} do not fit {type(model).__name__} - {'; '.join(parts)}; "
            "check --model matches the weights"
        )
    model.load_state_dict(state)


# -- the hub -------------------------------------------------------------------------
def _hub_repo(architecture: str) -> tuple[str | None, str]:
    """(hub repo id, weights file name) for a timm name or ``hf-hub:`` name."""
    if architecture.startswith("hf-hub:"):
        return architecture[len("hf-hub:"):], "model.safetensors"
    cfg = timm.models.get_pretrained_cfg(architecture)
    if cfg is None:
        return None, ""
    return cfg.hf_hub_id, cfg.hf_hub_filename or "model.safetensors"


def _cached_hub_file(repo: str) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    for filename in ("model.safetensors", "open_clip_pytorch_model.bin", "pytorch_model.bin"):
        found = try_to_load_from_cache(repo, filename)
        if isinstance(found, str):
            return found
    return None


def hub_reachable(timeout: float = HUB_PROBE_SECONDS) -> bool:
    """Whether the Hugging Face hub answers within ``timeout`` seconds (DNS included)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    from huggingface_hub import constants

    host = urllib.parse.urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def _offline_message(architecture: str) -> str:
    return (
        f"cannot get pretrained weights for {architecture}: the Hugging Face hub is unreachable "
        "and there is no cached copy - connect and retry, point HF_HOME at a cache that has it, "
        "give --weights PATH (a .safetensors/.pth file or a run folder), or train with "
        "--strategy scratch"
    )


def check_hub_weights(architecture: str) -> str | None:
    """Fail fast unless the hub weights of ``architecture`` are cached or the hub is reachable.

    Returns the cached file, or None when it must be downloaded.
    """
    check_model_name(architecture)
    repo, _ = _hub_repo(architecture)
    if repo is None or (not architecture.startswith("hf-hub:") and not timm.is_model_pretrained(architecture)):
        raise FtguiError(
            f"timm has no pretrained weights for {architecture}; pick one from "
            "`ftgui models --pretrained`, give --weights PATH, or use --strategy scratch"
        )
    cached = _cached_hub_file(repo)
    if cached is None and not hub_reachable():
        raise FtguiError(_offline_message(architecture))
    return cached


def check_weights(architecture: str, weights: str) -> None:
    """The cheap checks of ``load_weights``, done before any image is read."""
    if weights == "hub":
        check_hub_weights(architecture)
    elif not Path(weights).expanduser().exists():
        raise FtguiError(
            f"weights '{weights}' not found: give --weights hub, none, or the path of a "
            ".safetensors/.pth file or run folder"
        )
    else:
        check_model_name(architecture)


def _from_hub(architecture: str) -> LoadedModel:
    cached = check_hub_weights(architecture)
    kwargs = {"pretrained_cfg_overlay": {"file": cached}} if cached and not architecture.startswith("hf-hub:") else {}
    try:
        model = timm.create_model(architecture, pretrained=True, **kwargs)
    except OSError as exc:  # network went away half-way
        raise FtguiError(f"{_offline_message(architecture)} ({type(exc).__name__})") from None
    repo, _ = _hub_repo(architecture)
    return LoadedModel(model, architecture, imagenet_labels(model), f"hub:{repo}")


def imagenet_labels(model: nn.Module) -> list[str] | None:
    """Human-readable label names for a model trained on an ImageNet subset, else None."""
    labels = model.pretrained_cfg.get("label_names")
    if labels and len(labels) == model.num_classes:
        descriptions = model.pretrained_cfg.get("label_descriptions") or {}
        return [descriptions.get(name, name) for name in labels]
    subset = infer_imagenet_subset(model)
    if subset is None:
        return None
    info = ImageNetInfo(subset)
    if info.num_classes() != model.num_classes:
        return None
    return [d.split(",")[0] for d in info.label_descriptions()]


# -- initialisation ---------------------------------------------------------------------
def init_layers(
    modules: list[nn.Module],
    initializer: Initializer,
    params: dict,
    bias: float,
    batch: torch.Tensor | None = None,
) -> None:
    """Initialise the Conv/Linear layers among ``modules`` with ``initializer`` and set their
    biases to ``bias``; reset norm layers among them to weight 1, bias 0, fresh statistics."""
    layers = [m for m in modules if isinstance(m, CONV_OR_LINEAR)]
    with torch.no_grad():
        initializer.init_modules(layers, batch=batch, **params)
        for layer in layers:
            if layer.bias is not None:
                layer.bias.fill_(bias)
        for norm in (m for m in modules if isinstance(m, NORMS)):
            if getattr(norm, "weight", None) is not None:
                norm.weight.fill_(1.0)
            if getattr(norm, "bias", None) is not None:
                norm.bias.zero_()
            if hasattr(norm, "reset_running_stats") and norm.track_running_stats:
                norm.reset_running_stats()


def head_modules(model: nn.Module) -> list[nn.Module]:
    return list(model.get_classifier().modules())


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
