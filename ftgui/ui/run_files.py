"""A run's model as files to take away: timm's own layout (config.json + model.safetensors)
or an ONNX export. A shared app does not serve the runs folder: it hands out copies."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import gradio as gr

from ..errors import FtguiError
from ..i18n import N_, tr
from . import heavy, owners
from .context import AppContext


def model_files(ctx: AppContext, name: str | None, request: gr.Request | None = None) -> list[str]:
    """The run's config.json and model.safetensors (what timm's ``local-dir:`` loads). A shared
    app does not serve the runs folder: it hands out a copy (see ``app.launch_kwargs``)."""
    path = ctx.run_path(name)
    owners.check(ctx, ctx.visitor(request), path, N_("download its model"))
    files = [path / "config.json", path / "model.safetensors"]
    if not all(f.is_file() for f in files):
        raise FtguiError(tr("{run} holds no saved model (it may have failed before its first epoch)", run=name))
    if not ctx.options.local_only:
        files = _copies(files)
    return [str(f) for f in files]


def export_files(ctx: AppContext, name: str | None, request: gr.Request | None = None) -> list[str]:
    """The run's model as ONNX (dynamic batch, checked against PyTorch with onnxruntime) and,
    beside it, the label names and preprocessing a consumer needs (``ftgui export``)."""
    path = ctx.run_path(name)
    owners.check(ctx, ctx.visitor(request), path, N_("export its model"))
    if not (path / "model.safetensors").is_file():
        raise FtguiError(tr("{run} holds no saved model (it may have failed before its first epoch)", run=name))
    heavy.load()
    from ..export import export_run, sidecar_path

    out = export_run(path, "onnx")
    files = [out, sidecar_path(out)]
    if not ctx.options.local_only:
        files = _copies(files)
    return [str(f) for f in files]


def _copies(files: list[Path]) -> list[Path]:
    """Links to (or copies of) ``files`` in a temporary folder, which Gradio may hand out;
    one folder per version of the files, so that asking again copies nothing."""
    stamp = hashlib.sha256(repr([(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]).encode())
    folder = Path(tempfile.gettempdir()) / "ftgui-model-files" / stamp.hexdigest()[:24]
    if not all((folder / f.name).is_file() for f in files):
        folder.parent.mkdir(exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=folder.parent))
        for source in files:
            try:
                os.link(source, scratch / source.name)
            except OSError:
                shutil.copyfile(source, scratch / source.name)
        try:
            scratch.rename(folder)  # whole or not at all
        except OSError:  # another request put them there meanwhile (or a cleaner emptied it)
            folder = scratch
    return [folder / f.name for f in files]
