"""The run folder: every file written atomically, and read back for listing and loading.

A run folder holds::

    config.json, model.safetensors   timm's save_for_hf layout (label_names included), so
                                     timm.create_model("local-dir:RUN", pretrained=True) works
    ftgui.json                       what reproduces the run, and its status and best epoch
    metrics.jsonl                    one JSON object per epoch
    data_report.json                 images per class, skipped files and why, warnings
    val_predictions.json             the best epoch's prediction for each validation image
"""
from __future__ import annotations

import errno
import functools
import json
import math
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import FtguiError
from .record import RunRecord

RUN_FILE = "ftgui.json"
METRICS_FILE = "metrics.jsonl"
REPORT_FILE = "data_report.json"
VAL_PREDICTIONS_FILE = "val_predictions.json"
CHECKPOINT_FILE = "checkpoint.pt"
TRAINER_FILE = "training.pid"
DEFAULT_ROOT = Path("runs")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader (or a crash) sees the old file or the new
    one, never half of one: write a temporary file beside it, fsync, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as handle:  # 'x': a fresh file, with the usual permissions
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if _is_disk_full(exc):
            raise _disk_full(exc, path) from None
        raise


def _is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _disk_full(exc: BaseException, path: Path) -> FtguiError:
    return FtguiError(
        f"the disk is full: could not write {path.name} in {path.parent} (the previous version "
        "is intact); free some space, then `ftgui train --resume` the run"
    )


def remove_partial_writes(run_dir: Path) -> None:
    """Delete what a killed process left half-written (temporary files and save folders);
    the files they were meant to replace are intact."""
    for leftover in Path(run_dir).glob(".*"):
        if leftover.name.endswith(".tmp") and leftover.is_file():
            leftover.unlink(missing_ok=True)
        elif leftover.name.startswith(".save-") and leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)


def claim(run_dir: Path) -> None:
    """Mark ``run_dir`` as being trained by this process (see :func:`trainer_pid`), or raise
    FtguiError naming the live process that holds it. The claim is atomic: the owner file is
    written in full, then linked into place, which fails when another process got there first."""
    path = Path(run_dir) / TRAINER_FILE
    tmp = path.with_name(f".{TRAINER_FILE}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    try:
        for _ in range(3):
            try:
                os.link(tmp, path)
                return
            except FileExistsError:
                owner = trainer_pid(run_dir)
                if owner is not None:
                    raise FtguiError(f"{run_dir} is being trained right now by process {owner}; "
                                     "wait for it to end, or stop it, before resuming") from None
                path.unlink(missing_ok=True)  # left by a process that no longer runs
        raise FtguiError(f"{run_dir} is being claimed by another process; try again")
    finally:
        tmp.unlink(missing_ok=True)


def release(run_dir: Path) -> None:
    path = Path(run_dir) / TRAINER_FILE
    if trainer_pid(run_dir) == os.getpid():
        path.unlink(missing_ok=True)


def trainer_pid(run_dir: Path) -> int | None:
    """The live process on this computer that is training ``run_dir`` now, or None (a killed
    process leaves its file behind; a dead pid does not count)."""
    try:
        owner = json.loads((Path(run_dir) / TRAINER_FILE).read_text())
        pid = int(owner["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if owner.get("host") != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None: JSON has no such numbers,
    and a reader (a browser, jq) must never be handed ``NaN``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def atomic_write_json(path: Path, value: Any) -> None:
    text = json.dumps(json_safe(value), indent=2, ensure_ascii=False, allow_nan=False)
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    text = "".join(json.dumps(json_safe(row), ensure_ascii=False, allow_nan=False) + "\n" for row in rows)
    atomic_write_bytes(path, text.encode("utf-8"))


def check_out_dir(out: str | None) -> None:
    """An ``--out`` folder must be new or empty, and can be created: a run never mixes with
    other files."""
    if not out:
        return
    path = Path(out).expanduser()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FtguiError(f"--out {path} already exists and is not empty; choose a new folder")
    existing = next(parent for parent in path.parents if parent.exists())
    if not existing.is_dir():
        raise FtguiError(f"--out {path} cannot be created: {existing} is a file, not a folder; "
                         "choose a folder path")


def new_run_dir(out: str | None, model: str, strategy: str, root: Path = DEFAULT_ROOT) -> Path:
    """Create the run folder: ``out`` if given (it must be empty or new), else
    ``runs/<time>-<model>-<strategy>``."""
    if out:
        check_out_dir(out)
        path = Path(out).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path
    safe_model = re.sub(r"[^A-Za-z0-9_.-]+", "_", model.split(":")[-1].split("/")[-1])
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(1000):
        suffix = f"-{attempt}" if attempt else ""
        path = root / f"{stamp}-{safe_model}-{strategy}{suffix}"
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise FtguiError(f"cannot create a new run folder under {root}")


def save_model(run_dir: Path, model, label_names: list[str], data_config: dict,
               state: dict | None = None) -> None:
    """Write config.json + model.safetensors in timm's save_for_hf layout, atomically: both
    are written to a scratch folder inside the run, then renamed into place.

    ``state`` (default: the model's current state_dict) is what goes into the weights file.
    """
    from safetensors.torch import save_file
    from timm.models._hub import save_config_for_hf

    file_mode = run_dir.stat().st_mode & 0o666  # what the umask gave the run folder, less x
    scratch = Path(tempfile.mkdtemp(prefix=".save-", dir=run_dir))
    try:
        save_config_for_hf(model, str(scratch / "config.json"),
                           model_config={"label_names": list(label_names)}, data_config=data_config)
        tensors = state if state is not None else model.state_dict()
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()},
                  str(scratch / "model.safetensors"))
        for name in ("model.safetensors", "config.json"):
            with open(scratch / name, "rb") as handle:
                os.fsync(handle.fileno())
            os.chmod(scratch / name, file_mode)  # the scratch folder's files are private
            os.replace(scratch / name, run_dir / name)
    except OSError as exc:
        if _is_disk_full(exc):
            raise _disk_full(exc, run_dir / "model.safetensors") from None
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass
class Run:
    """A run folder as read back."""

    path: Path
    record: dict
    """ftgui.json as written (see :attr:`info` for it typed)."""
    metrics: list[dict]

    @functools.cached_property
    def info(self) -> RunRecord:
        return RunRecord.from_dict(self.record)

    @property
    def label_names(self) -> list[str]:
        return self.info.label_names

    @property
    def best(self) -> dict | None:
        return self.info.best

    @property
    def status(self) -> str:
        return self.info.status


RECORD_FIELDS: dict[str, type] = {
    "status": str, "created": str, "architecture": str, "weights_source": str, "label_names": list,
    "config": dict, "best": dict, "strategy": dict, "initializer": dict, "data": dict, "epochs_done": int,
}
"""The type of each field of ftgui.json that the app's listings read, when it is not null."""


def read_metrics(run_dir: Path) -> list[dict]:
    """The rows of metrics.jsonl: JSON objects with a whole-number ``epoch`` (FtguiError otherwise)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                row = None
            if not isinstance(row, dict) or type(row.get("epoch")) is not int:
                raise FtguiError(f"{path} is damaged (line {number} is not an epoch's JSON object); "
                                 "delete the run, or restore the file")
            rows.append(row)
    return rows


def _record_problem(record: object) -> str | None:
    """What would stop the app from listing ``record`` (see RECORD_FIELDS), or None."""
    if not isinstance(record, dict):
        return "not a JSON object"
    for field, kind in RECORD_FIELDS.items():
        if record.get(field) is not None and not isinstance(record[field], kind):
            return f"{field} is a {type(record[field]).__name__}, not a {kind.__name__}"
    best = record.get("best") or {}
    if not all(isinstance(best.get(key), (int, float, type(None))) for key in ("epoch", "val_acc")):
        return "best holds something other than numbers"
    if not all(isinstance(name, str) for name in record.get("label_names") or []):
        return "label_names holds something other than names"
    return None


def load_run(path: str | os.PathLike) -> Run:
    """The run folder at ``path``; FtguiError when its ftgui.json or metrics.jsonl is damaged."""
    run_dir = Path(path)
    record_path = run_dir / RUN_FILE
    if not record_path.is_file():
        raise FtguiError(f"{run_dir} is not an ftgui run folder (no {RUN_FILE})")
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        raise FtguiError(f"{record_path} is damaged (not readable JSON); delete the run, or restore the file") from None
    problem = _record_problem(record)
    if problem:
        raise FtguiError(f"{record_path} is damaged ({problem}); delete the run, or restore the file")
    return Run(run_dir, record, read_metrics(run_dir))


def list_runs(root: str | os.PathLike = DEFAULT_ROOT) -> list[Run]:
    """Every readable run under ``root``, newest first (a damaged one is left out)."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = []
    for child in root.iterdir():
        if (child / RUN_FILE).is_file():
            try:
                runs.append(load_run(child))
            except FtguiError:
                continue
    return sorted(runs, key=lambda r: r.record.get("created", ""), reverse=True)
