"""Which device to run on, and the mixed precision that goes with it."""
from __future__ import annotations

import torch

from .errors import FtguiError


def pick_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an explicit device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise FtguiError(f"unknown device '{name}': use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FtguiError("--device cuda asked for, but no CUDA GPU is available; use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise FtguiError("--device mps asked for, but MPS is not available; use --device cpu")
    return device


def autocast(device: torch.device) -> torch.autocast:
    """Mixed precision on CUDA (bf16 where the GPU has it, else fp16); off elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    return torch.autocast(device.type, enabled=False)
