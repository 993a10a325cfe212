"""The resume checkpoint: everything needed to carry on a run exactly where it stopped.

``checkpoint.pt`` holds the model's tensors, the optimiser, scheduler and grad-scaler state,
every random number generator (Python, NumPy, torch, the data order's generator), the epoch
reached, the metrics and the best epoch so far. It is written atomically after completed
epochs and read back with ``torch.load(weights_only=True)``: plain tensors and Python
values only, so a tampered file cannot run code.
"""
from __future__ import annotations

import io
import random
from pathlib import Path
from typing import cast

import numpy as np
import torch

from .errors import FtguiError
from .runs import CHECKPOINT_FILE, atomic_write_bytes


def rng_state(generator: torch.Generator) -> dict:
    version, keys, gauss = random.getstate()
    # numpy's global generator is an MT19937, whose (legacy) state is this tuple, never the dict
    # its stubs also allow for other bit generators
    numpy_state = cast("tuple[str, np.ndarray, int, int, float]", np.random.get_state())
    name, mt, pos, has_gauss, cached = numpy_state
    state = {
        "python": [version, list(keys), gauss],
        "numpy": [name, mt.tolist(), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
        "generator": generator.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict, generator: torch.Generator) -> None:
    version, keys, gauss = state["python"]
    random.setstate((version, tuple(keys), gauss))
    name, mt, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.array(mt, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(run_dir: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(Path(run_dir) / CHECKPOINT_FILE, buffer.getvalue())


def load(run_dir: Path) -> dict:
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        raise FtguiError(
            f"{run_dir} has no {CHECKPOINT_FILE} to resume from: it finished, or was stopped "
            "before its first epoch ended; start a new run instead"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same message
        raise FtguiError(f"{path} is damaged ({type(exc).__name__}); start a new run instead") from None


def exists(run_dir: Path) -> bool:
    return (Path(run_dir) / CHECKPOINT_FILE).is_file()


def remove(run_dir: Path) -> None:
    (Path(run_dir) / CHECKPOINT_FILE).unlink(missing_ok=True)
