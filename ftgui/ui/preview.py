"""The live preview beside a finished training's result: a dropped, pasted or webcam image is
labelled by the model just trained as soon as it arrives, without another click. The
Predict tab stays for batches, CSV and other models."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from ..errors import FtguiError
from ..i18n import tr
from . import owners
from .context import AppContext

SHOWN = ("completed", "stopped")
"""Job states after which the run holds a model worth trying."""
TOP_K = 3


def preview_run(ctx: AppContext, request: Any = None) -> Path | None:
    """The run of the app's last job, when it has ended with a model this visitor may use."""
    job = ctx.jobs.current
    if job is None or job.alive or job.state not in SHOWN or job.run_dir is None:
        return None
    if not (Path(job.run_dir) / "model.safetensors").is_file():
        return None
    if not owners.may_see_all(ctx, ctx.visitor(request), Path(job.run_dir)):
        return None
    return Path(job.run_dir)


def offer(ctx: AppContext, request: Any = None) -> dict:
    """Show the preview when there is a finished run to try, with its name."""
    run = preview_run(ctx, request)
    return gr.update(visible=run is not None)


def predict_preview(ctx: AppContext, image: Any, request: gr.Request | None = None) -> dict[str, float] | None:
    """``{label: probability}`` of the image with the model just trained (None when cleared)."""
    if image is None:
        return None
    run = preview_run(ctx, request)
    if run is None:
        raise FtguiError(tr("the live preview works once a training has ended with a saved model"))
    row = ctx.predictors.for_run(run).predict_images([image], top_k=TOP_K)[0]
    return {label: value for label, value in row["topk"]}
