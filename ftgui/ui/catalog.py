"""timm's architectures for the backbone picker: names, and a one-line summary of each.

timm (and torch) are imported on first use, not when the app starts.
"""
from __future__ import annotations

import functools
import time
from pathlib import Path

from ..i18n import tr
from . import heavy


@functools.cache
def model_names(pretrained_only: bool = True) -> tuple[str, ...]:
    """timm's model names: with pretrained weights (``name.tag``, one per weight set), or
    every architecture."""
    heavy.load()
    import timm

    return tuple(timm.list_models(pretrained=pretrained_only))


DEFAULT_PRETRAINED = "resnet18.a1_in1k"
"""The Predict tab's first pretrained model when none is on this computer: small, ImageNet labels."""


@functools.cache
def hub_models() -> tuple[str, ...]:
    """timm's pretrained ``name.tag``s whose weights are on the Hugging Face hub (some, such
    as ``legacy_seresnet18.in1k``, name weights timm can no longer fetch: left out)."""
    heavy.load()
    import timm

    def usable(name: str) -> bool:
        cfg = timm.models.get_pretrained_cfg(name)
        return bool(cfg is not None and cfg.hf_hub_id and (cfg.num_classes or 0) > 0)

    return tuple(n for n in timm.list_models(pretrained=True) if usable(n))


def cached_models() -> list[str]:
    """The hub models whose weights are already on this computer (Hugging Face's cache)."""
    names = hub_models()
    import timm
    from huggingface_hub import constants

    cache = Path(constants.HF_HUB_CACHE)
    if not cache.is_dir():
        return []
    repos = {d.name[len("models--"):].replace("--", "/") for d in cache.iterdir()
             if d.name.startswith("models--") and any((d / "snapshots").glob("*/*"))}
    return [n for n in names if getattr(timm.models.get_pretrained_cfg(n), "hf_hub_id", None) in repos]


def predict_model_choices(online: bool) -> list[tuple[str, str]]:
    """The Predict tab's pretrained models as (label, name): those on this computer first
    (marked), then, when the hub answers, every other hub model (a small one first); offline,
    only those on this computer. Models without a classifier (no labels to give) are left out."""
    cached = cached_models()
    choices = [(tr("{name} (on this computer)", name=name), name) for name in cached]
    if online:
        have = set(cached)
        rest = [name for name in hub_models() if name not in have]
        if DEFAULT_PRETRAINED in rest:
            rest.remove(DEFAULT_PRETRAINED)
            rest.insert(0, DEFAULT_PRETRAINED)
        choices += [(name, name) for name in rest]
    return choices


_online: list[tuple[float, bool]] = []


def hub_online(max_age_s: float = 60.0) -> bool:
    """Whether the Hugging Face hub answers (asked at most once a minute)."""
    now = time.monotonic()
    if not _online or now - _online[0][0] > max_age_s:
        heavy.load()
        from ..models import hub_reachable

        _online[:] = [(now, hub_reachable())]
    return _online[0][1]


def model_summary(name: str, weights: str | None = None, img_size: float | None = None,
                  strategy: str | None = None) -> str:
    """One line on the model, saying what training will do with it when the form's settings
    are given: parameter count, the input size it trains at, and where its weights come from,
    e.g. ``11.7 M parameters · trains at 32×32 (Image size) · starts from ftgui's demo backbone``.

    ``weights`` is the weights picker's choice (hub, demo, run:NAME, upload, path), ``img_size``
    the Image size box (0: the model's default), ``strategy`` the mode. Without them the line
    describes the model as timm has it."""
    if not name:
        return ""
    facts = _model_facts(name)
    if facts is None:
        return tr("timm has no model named '{name}'", name=name)
    count, default_size, on_hub = facts
    parts = [tr("{count} parameters", count=count)] if count else []
    size = int(img_size or 0)
    if size > 0:
        parts.append(tr("trains at {size}", size=f"{size}×{size}"))
    elif default_size:
        parts.append(tr("trains at its default input {size}", size=default_size) if img_size is not None
                     else tr("default input {size}", size=default_size))
    if strategy == "scratch":
        parts.append(tr("from random weights (scratch)"))
    elif weights is None:
        parts.append(tr("timm has pretrained weights for it (Hugging Face hub)") if on_hub
                     else tr("timm has no pretrained weights for it"))
    elif weights == "hub":
        parts.append(tr("from timm's pretrained weights (Hugging Face hub, downloaded once)") if on_hub
                     else tr("⚠ timm has no pretrained weights for it: pick other weights, or train from scratch"))
    elif weights == "demo":
        parts.append(tr("from the demo backbone (offline)"))
    elif weights.startswith("run:"):
        parts.append(tr("from the weights of run {run}", run=weights[len('run:'):]))
    elif weights in ("upload", "path"):
        parts.append(tr("from your weights file"))
    return " · ".join(parts)


@functools.cache
def _model_facts(name: str) -> tuple[str, str, bool] | None:
    """(parameter count, timm's default input size, whether timm has pretrained weights),
    or None when timm has no such model."""
    heavy.load()
    import timm
    import torch

    if not timm.is_model(name):
        return None
    count = ""
    try:
        with torch.device("meta"):  # shapes only: no memory, no time spent on weights
            model = timm.create_model(name, pretrained=False)
        count = _millions(sum(p.numel() for p in model.parameters()))
    except Exception:  # noqa: BLE001 - a model that cannot be built on 'meta' still trains
        pass
    cfg = timm.models.get_pretrained_cfg(name)
    size = f"{cfg.input_size[-2]}×{cfg.input_size[-1]}" if cfg is not None and cfg.input_size else ""
    return count, size, bool(timm.is_model_pretrained(name) and cfg is not None and cfg.hf_hub_id)


def _millions(count: int) -> str:
    return f"{count / 1e6:.1f} M" if count >= 1e5 else f"{count / 1e3:.0f} k"
