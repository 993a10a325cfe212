"""What the app is launched with (:class:`AppOptions`) and what its tabs share (:class:`AppContext`).

Nothing here imports gradio or torch.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import DEFAULT_MODEL, TrainConfig
from ..errors import FtguiError
from ..runs import RUN_FILE
from .jobs import JobManager
from .owners import Visitor, visitor_id

LOOPBACK = ("127.0.0.1", "localhost", "::1")
UPLOADS = "uploads"
"""Sub-folder of the runs root where uploaded zips, weights and class images are kept, so
that a run's record points at data that still exists after Gradio's cache is cleared."""


def safe_name(name: str) -> str:
    """``name`` as a harmless file name: letters, digits, ``.``, ``-`` and ``_``, no leading dot."""
    return re.sub(r"[^\w.-]+", "_", name).lstrip(".") or "upload"


def demo_backbone() -> Path | None:
    """The small pretrained checkpoint that ships with ftgui, if this install has one."""
    from .. import sample_data

    path = getattr(sample_data, "DEMO_BACKBONE", None)
    return Path(path) if path and (Path(path) / "config.json").is_file() else None


def demo_settings(hub_ok: bool, backbone: Path | None) -> dict[str, Any]:
    """Train-tab defaults for ``--demo``: the bundled digits, trained in well under a minute
    on a laptop CPU. Fine-tunes hub weights when the hub answers, else the bundled backbone,
    else trains a tiny network from scratch."""
    common = {"data": "sample:digits", "batch_size": 32}
    if hub_ok:  # resnet18 costs far more an epoch than the tiny bundled backbone: fewer epochs
        return {**common, "model": DEFAULT_MODEL, "weights": "hub", "strategy": "full", "epochs": 5,
                "img_size": 64, "lr": 5e-4}
    if backbone is not None:  # a 0.5 M-parameter network at 32 px: a fraction of a second an epoch
        architecture = json.loads((backbone / "config.json").read_text())["architecture"]
        return {**common, "model": architecture, "weights": str(backbone), "strategy": "full", "epochs": 15,
                "img_size": 32}
    return {**common, "model": "test_resnet", "strategy": "scratch", "init": "kaiming", "epochs": 15, "img_size": 32}


@dataclass
class AppOptions:
    """How the app is served and what it may do; ``launch`` fills it from the flags."""

    runs_dir: Path = Path("runs")
    plugins_dirs: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    share: bool = False
    defaults: dict[str, Any] = field(default_factory=dict)
    """TrainConfig field values that the Train tab starts with (``--demo`` sets some)."""
    max_file_size: str = "1gb"
    language: str | None = None
    """``--lang``: every visitor's language unless they switch (None: their browser's)."""

    @property
    def local_only(self) -> bool:
        """Served to this computer only: then inputs naming server folders are offered."""
        return not self.share and self.host in LOOPBACK

    def form_defaults(self) -> dict[str, Any]:
        """TrainConfig defaults overlaid with ``defaults``."""
        values = TrainConfig().to_dict()
        values["model"] = DEFAULT_MODEL
        values.update(self.defaults)
        return values


class AppContext:
    """Everything the tabs share: options, plugins, the job manager and the loaded models."""

    def __init__(self, options: AppOptions) -> None:
        from ..registry import load_registry
        from .predictors import PredictorCache

        self.options = options
        self.runs_root = Path(options.runs_dir).expanduser().resolve()
        self.runs_root.mkdir(parents=True, exist_ok=True)
        self.registry = load_registry(options.plugins_dirs)
        self.jobs = JobManager()
        self.predictors = PredictorCache()

    @property
    def uploads(self) -> Path:
        path = self.runs_root / UPLOADS
        path.mkdir(exist_ok=True)
        return path

    def keep_upload(self, path: str) -> str:
        """Copy an uploaded file to ``<runs>/uploads/<content hash>/<name>`` and return the
        copy's path (the same upload twice is stored once)."""
        source = Path(path)
        digest = hashlib.sha256()
        with open(source, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        target = self.uploads / digest.hexdigest()[:16] / safe_name(source.name)
        if not target.exists():
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(source, target)
        return str(target)

    def visitor(self, request: Any = None) -> Visitor:
        """Who sent ``request`` (a ``gr.Request``; None when a handler is called directly):
        on a local app everyone is the trusted person at the computer (see :mod:`.owners`)."""
        return Visitor(visitor_id(request), trusted=self.options.local_only)

    def run_path(self, name: str | None) -> Path:
        """The run folder ``name`` directly under the runs root; anything else is refused,
        so a value sent by a browser cannot point elsewhere on the server."""
        if not name:
            raise FtguiError("choose a run first")
        path = (self.runs_root / name).resolve()
        if path.parent != self.runs_root or not (path / RUN_FILE).is_file():
            raise FtguiError(f"no run named '{name}' in {self.runs_root}")
        return path
