"""Backbones and where their weights come from: the hub, a file, a run, or nowhere.

Everything here goes through timm's own factory and helpers; no architecture is special-cased.
"""
from __future__ import annotations

import contextlib
import difflib
import os
import pickle
import socket
import struct
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import timm
import torch
from timm.data import ImageNetInfo, infer_imagenet_subset
from torch import nn

from .errors import FtguiError, SettingError, _flag, _Names
from .i18n import N_, tr, translate
from .run_folder import check_data_config, read_run_config, tensor_shapes
from .timm_api import classifier, timm_model

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
        return list(self.label_names or [f"class_{i}" for i in range(timm_model(self.model).num_classes)])


def check_model_name(name: str) -> None:
    """Raise FtguiError for a name timm does not know, suggesting close matches."""
    if name.startswith(("hf-hub:", "local-dir:")) or timm.is_model(name):
        return
    base = name.split(".")[0]
    close = difflib.get_close_matches(base, timm.list_models(), n=4, cutoff=0.6)
    hint = tr("; did you mean {names}?", names=", ".join(close)) if close else ""
    raise FtguiError(tr("unknown model '{name}'{hint} (`ftgui models FILTER` lists timm's models)", name=name,
                        hint=hint))


# -- run folders ------------------------------------------------------------------------
def is_run_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def run_architecture(run_dir: Path) -> str:
    """The timm architecture a run (or any save_for_hf folder) holds."""
    return read_run_config(run_dir)["architecture"]


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
        raise FtguiError(tr("{path} is a folder without config.json; give a run folder or a weights file", path=path))
    return _from_file(architecture, path)


def _from_run(architecture: str, run_dir: Path) -> LoadedModel:
    """The model in a run folder, built from its checked config.json and loaded from its own
    model.safetensors (never a link, never a pickle). The model is first built on the meta
    device and matched against the file's tensor shapes, so a tampered config.json costs no
    memory."""
    config = read_run_config(run_dir)
    saved = config["architecture"]
    if architecture != saved:
        raise FtguiError(tr("{run} holds a {saved}, not a {architecture}: use --model {saved} or leave --model out",
                            run=run_dir, saved=saved, architecture=architecture))
    weights = run_dir / "model.safetensors"
    if weights.is_symlink():
        raise FtguiError(tr("{path} is a symbolic link; ftgui loads only a run's own weights: copy the file it "
                            "points to into the run folder", path=weights))
    if not weights.is_file():
        raise FtguiError(tr("{run} has no model.safetensors, the only weights ftgui loads from a run folder (a "
                            "pickle such as pytorch_model.bin never is): convert the weights to model.safetensors",
                            run=run_dir))
    from timm.data import create_transform, resolve_model_data_config

    source = f"local-dir:{run_dir.resolve()}"
    try:
        with torch.device("meta"):  # shapes only: no memory
            blueprint = timm.create_model(source, pretrained=False)
        data_config = resolve_model_data_config(blueprint)
        check_data_config(data_config)
        create_transform(**data_config, is_training=False)
    except FtguiError as exc:
        raise FtguiError(tr("{config} {problem}; restore the run folder as ftgui wrote it, or train again",
                            config=run_dir / "config.json", problem=exc)) from None
    except Exception as exc:  # noqa: BLE001 - a model's constructor may reject a tampered argument in any way
        raise FtguiError(tr("{config} does not describe a {saved} timm can build from its model_args and "
                            "pretrained_cfg ({kind}: {detail}); restore the run folder as ftgui wrote it, or train "
                            "again", config=run_dir / "config.json", saved=saved, kind=type(exc).__name__,
                            detail=_first_line(exc))) from None
    check_fit(blueprint, tensor_shapes(weights), str(weights))
    model = timm.create_model(source, pretrained=False)
    load_checked(model, read_state_dict(weights), str(weights))
    return LoadedModel(model, saved, config.get("label_names"), str(run_dir.resolve()))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file, or a .pth/.pt/.bin loaded with weights_only=True
    (a pickle that would run code is refused, never executed)."""
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise FtguiError(tr("{path} is not a readable .safetensors file ({detail})", path=path,
                                detail=exc)) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise FtguiError(tr("{path} holds more than tensors (loading it could run code), so ftgui refuses it; "
                            "convert it to .safetensors or save only the state_dict", path=path)) from None
    except (RuntimeError, EOFError, OSError, ValueError, struct.error) as exc:
        raise FtguiError(tr("{path} is not a readable weights file ({detail})", path=path,
                            detail=_first_line(exc))) from None
    for key in ("state_dict_ema", "model_ema", "state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FtguiError(tr("{path} does not hold a state_dict of tensors", path=path))
    return timm.models.clean_state_dict(state)


def _from_file(architecture: str, path: Path) -> LoadedModel:
    check_model_name(architecture)
    state = read_state_dict(path)
    cfg = timm.models.get_pretrained_cfg(architecture)
    head_key = f"{cfg.classifier if cfg else 'fc'}.weight"
    extra: dict[str, Any] = {"num_classes": state[head_key].shape[0]} if head_key in state else {}
    model = timm.create_model(architecture, pretrained=False, **extra)
    load_checked(model, state, str(path))
    return LoadedModel(model, architecture, None, str(path.resolve()))


def load_checked(model: nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """load_state_dict with a message listing the tensors that do not fit."""
    check_fit(model, {key: tuple(tensor.shape) for key, tensor in state.items()}, where)
    model.load_state_dict(state)


def check_fit(model: nn.Module, shapes: dict[str, tuple[int, ...]], where: str) -> None:
    """Raise FtguiError listing the tensors of ``shapes`` (name -> shape) that ``model`` lacks,
    misses or holds in another shape."""
    own = {key: tuple(tensor.shape) for key, tensor in model.state_dict().items()}
    missing = [k for k in own if k not in shapes]
    unexpected = [k for k in shapes if k not in own]
    wrong = [f"{k} {shapes[k]} vs {own[k]}" for k in own if k in shapes and shapes[k] != own[k]]
    problems = [(N_("missing: {names}"), missing), (N_("unexpected: {names}"), unexpected),
                (N_("wrong shape: {names}"), wrong)]
    if any(items for _, items in problems):
        parts = [
            tr(template, names=", ".join(items[:4])) + (tr(" (+{n} more)", n=len(items) - 4) if len(items) > 4 else "")
            for template, items in problems if items
        ]
        raise FtguiError(tr("the tensors in {where} do not fit {model} - {problems}; check --model matches the "
                            "weights", where=where, model=type(model).__name__, problems="; ".join(parts)))


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


class HubWeightsError(SettingError):
    """timm's pretrained weights cannot be had. The CLI's message names flags and HF_HOME;
    a front end that words settings its own way (the GUI: controls) gets ``app_template``, in
    the reader's language, which names no flag and no environment variable."""

    def __init__(self, template: str, app_template: str, **values: Any) -> None:
        self.app_template = app_template
        super().__init__(template, **values)

    def worded(self, name_of: Callable[[str], str]) -> str:
        if name_of is _flag:
            return super().worded(name_of)
        return translate(self.app_template).format(setting=_Names(name_of), **self.values)


def _offline_error(architecture: str, detail: str = "") -> HubWeightsError:
    return HubWeightsError(
        "cannot get pretrained weights for {architecture}: the Hugging Face hub is unreachable "
        "and there is no cached copy - connect and retry, point HF_HOME at a cache that has it, "
        "give {setting[weights]} PATH (a .safetensors/.pth file or a run folder), or train with "
        "{setting[strategy]} scratch{detail}",
        N_("cannot get timm's pretrained weights for {architecture}: the Hugging Face hub cannot be reached "
           "and this computer has no copy of them - connect and try again, pick other weights under "
           "{setting[weights]} (a run, a file you upload, or the demo backbone), or choose from scratch under "
           "{setting[strategy]}{detail}"),
        architecture=architecture, detail=detail)


def check_hub_weights(architecture: str) -> str | None:
    """Fail fast unless the hub weights of ``architecture`` are cached or the hub is reachable.

    Returns the cached file, or None when it must be downloaded.
    """
    check_model_name(architecture)
    repo, _ = _hub_repo(architecture)
    if repo is None or (not architecture.startswith("hf-hub:") and not timm.is_model_pretrained(architecture)):
        raise HubWeightsError(
            "timm has no pretrained weights for {architecture}; pick one from "
            "`ftgui models --pretrained`, give {setting[weights]} PATH, or use {setting[strategy]} scratch",
            N_("timm has no pretrained weights for {architecture}; pick a model that has them, other weights "
               "under {setting[weights]}, or from scratch under {setting[strategy]}"), architecture=architecture)
    cached = _cached_hub_file(repo)
    if cached is None and not hub_reachable():
        raise _offline_error(architecture)
    return cached


def check_weights(architecture: str, weights: str) -> None:
    """The cheap checks of ``load_weights``, done before any image is read."""
    if weights == "hub":
        check_hub_weights(architecture)
    elif not Path(weights).expanduser().exists():
        raise FtguiError(tr("weights '{weights}' not found: give --weights hub, none, or the path of a "
                            ".safetensors/.pth file or run folder", weights=weights))
    else:
        check_model_name(architecture)


def _from_hub(architecture: str) -> LoadedModel:
    cached = check_hub_weights(architecture)
    kwargs: dict[str, Any] = {}
    if cached and not architecture.startswith("hf-hub:"):
        kwargs["pretrained_cfg_overlay"] = {"file": cached}
    try:
        model = timm.create_model(architecture, pretrained=True, **kwargs)
    except OSError as exc:  # network went away half-way
        raise _offline_error(architecture, f" ({type(exc).__name__})") from None
    repo, _ = _hub_repo(architecture)
    return LoadedModel(model, architecture, imagenet_labels(model), f"hub:{repo}")


def imagenet_labels(model: nn.Module) -> list[str] | None:
    """Human-readable label names for a model trained on an ImageNet subset, else None."""
    timm_view = timm_model(model)
    labels = timm_view.pretrained_cfg.get("label_names")
    if labels and len(labels) == timm_view.num_classes:
        descriptions = timm_view.pretrained_cfg.get("label_descriptions") or {}
        return [descriptions.get(name, name) for name in labels]
    subset = infer_imagenet_subset(model)
    if subset is None:
        return None
    info = ImageNetInfo(subset)
    if info.num_classes() != timm_view.num_classes:
        return None
    return [d.split(",")[0] for d in info.label_descriptions()]


# -- initialisation ---------------------------------------------------------------------
def reset_new_layers(modules: list[nn.Module], bias: float) -> list[nn.Module]:
    """Set the biases of the Conv/Linear layers among ``modules`` to ``bias`` and reset norm
    layers among them (weight 1, bias 0, fresh statistics); return those Conv/Linear layers,
    whose weights an initialiser sets next."""
    layers = [m for m in modules if isinstance(m, CONV_OR_LINEAR)]
    with torch.no_grad():
        for layer in layers:
            if layer.bias is not None:
                layer.bias.fill_(bias)
        for norm in (m for m in modules if isinstance(m, NORMS)):
            if getattr(norm, "weight", None) is not None:
                norm.weight.fill_(1.0)
            if getattr(norm, "bias", None) is not None:
                norm.bias.zero_()
            if isinstance(norm, nn.modules.batchnorm._NormBase) and norm.track_running_stats:
                norm.reset_running_stats()  # BatchNorm/InstanceNorm: LayerNorm and GroupNorm keep no statistics
    return list(layers)


@contextlib.contextmanager
def buffers_kept(model: nn.Module) -> Iterator[None]:
    """Run a block (a forward pass, say) and put every buffer of ``model`` (BatchNorm running
    statistics, ...) back as it was."""
    saved = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


def forward_order(model: nn.Module, layers: list[nn.Module], batch: torch.Tensor) -> list[nn.Module]:
    """``layers`` in the order a forward pass on ``batch`` first runs them (layers it does not
    run go last); buffers such as BatchNorm statistics are left as they were."""
    first_call: dict[int, int] = {}

    def note(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        first_call.setdefault(id(module), len(first_call))

    hooks = [layer.register_forward_hook(note) for layer in layers]
    try:
        with buffers_kept(model), torch.no_grad():
            model(batch)
    finally:
        for hook in hooks:
            hook.remove()
    return sorted(layers, key=lambda layer: first_call.get(id(layer), len(layers)))


def head_modules(model: nn.Module) -> list[nn.Module]:
    return list(classifier(model).modules())


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
