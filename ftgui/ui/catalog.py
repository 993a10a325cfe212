"""timm's architectures for the backbone picker: names, and a one-line summary of each.

timm (and torch) are imported on first use, not when the app starts.
"""
from __future__ import annotations

import functools

from . import heavy


@functools.cache
def model_names(pretrained_only: bool = True) -> tuple[str, ...]:
    """timm's model names: with pretrained weights (``name.tag``, one per weight set), or
    every architecture."""
    heavy.load()
    import timm

    return tuple(timm.list_models(pretrained=pretrained_only))


@functools.cache
def model_summary(name: str) -> str:
    """Parameter count, default input size and whether timm has pretrained weights, e.g.
    ``11.7 M parameters · default input 224×224 · pretrained weights on the hub``."""
    if not name:
        return ""
    heavy.load()
    import timm
    import torch

    if not timm.is_model(name):
        return f"timm has no model named '{name}'"
    parts = []
    try:
        with torch.device("meta"):  # shapes only: no memory, no time spent on weights
            model = timm.create_model(name, pretrained=False)
        parts.append(f"{_millions(sum(p.numel() for p in model.parameters()))} parameters")
    except Exception:  # noqa: BLE001 - a model that cannot be built on 'meta' still trains
        pass
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is not None and cfg.input_size:
        parts.append(f"default input {cfg.input_size[-2]}×{cfg.input_size[-1]}")
    parts.append("pretrained weights on the hub" if timm.is_model_pretrained(name) else "no pretrained weights")
    return " · ".join(parts)


def _millions(count: int) -> str:
    return f"{count / 1e6:.1f} M" if count >= 1e5 else f"{count / 1e3:.0f} k"
