"""The Predict tab: label one image (upload, webcam, clipboard) or a batch (images, zips) with
a run's model or a pretrained timm model as it is (the seed's state 1).

Loaded models are kept in the app's PredictorCache, so the next image is labelled at once.

On a shared app a visitor predicts with the runs the app started for them (and pretrained
models) only: a run's labels are its data's class names (see :mod:`.owners`).
"""
from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
from PIL import Image

from .. import runs
from ..errors import FtguiError
from ..i18n import N_, tr, translate
from . import catalog, evaluation, heavy, owners
from .context import AppContext
from .handlers import bind
from .run_names import display_names

PRETRAINED = "pretrained"
BATCH_COLUMNS = [N_("file"), N_("label"), N_("score"), N_("top_k"), N_("error")]
"""The batch's columns: the CSV's header as it is (for programs), the table's in the visitor's language."""
CONCURRENCY = 4
"""Predictions of this many requests run at once (Gradio runs one at a time per event by
default), so one person's batch does not hold up everyone's single images. A training
never holds them up: it runs in the app's own thread, not in Gradio's queue."""


def score(value: float | None) -> str:
    """A score or an accuracy as the page shows it everywhere: ``51.8%``, ``100%``."""
    return "" if value is None else f"{value:.1%}".replace(".0%", "%")  # as gr.Label shows it


def _usable_runs(ctx: AppContext, request: gr.Request | None) -> list:
    visitor = ctx.visitor(request)
    return [run for run in runs.list_runs(ctx.runs_root)
            if (run.path / "model.safetensors").is_file() and owners.may_see_all(ctx, visitor, run.path)]


def source_choices(ctx: AppContext, request: gr.Request | None = None) -> list[tuple[str, str]]:
    """Runs that hold a model and that this visitor may use (newest first), then a
    pretrained timm model. A run's validation accuracy says when it was measured before the saved
    model also trained on the validation images (``--refit``)."""
    choices = []
    usable = _usable_runs(ctx, request)
    names = display_names(usable)
    for run in usable:
        acc = (run.best or {}).get("val_acc")
        if acc is None:
            label = names[run.path.name]
        elif evaluation.learned_from_validation(run.info.refit):  # the model predicting has seen those images since
            label = tr("{run} · validation accuracy {accuracy}, measured before it trained on all images",
                       run=names[run.path.name], accuracy=score(acc))
        else:
            label = tr("{run} · validation accuracy {accuracy}", run=names[run.path.name], accuracy=score(acc))
        choices.append((label, run.path.name))
    choices.append((tr("a pretrained timm model, as it is (ImageNet labels)"), PRETRAINED))
    return choices


def best_source(ctx: AppContext, request: gr.Request | None = None) -> str:
    """The run to predict with first: the best validation accuracy (the newest among equals),
    else a pretrained model."""
    best, best_acc = PRETRAINED, -1.0
    for run in _usable_runs(ctx, request):  # newest first: a later equal does not replace it
        acc = (run.best or {}).get("val_acc")
        if best == PRETRAINED or (acc is not None and acc > best_acc):
            best, best_acc = run.path.name, acc if acc is not None else -1.0
    return best


def _predictor(ctx: AppContext, source: str | None, model_name: str | None, request: gr.Request | None):
    if source == PRETRAINED:
        name = (model_name or "").strip()
        if not name:
            raise FtguiError(tr("choose a pretrained model"))
        if name.startswith("local-dir:") and not ctx.options.local_only:
            raise FtguiError(tr("local-dir: models are only available when the app is not shared"))
        heavy.load()
        from ..models import HubWeightsError

        try:
            return ctx.predictors.for_pretrained(name)
        except HubWeightsError:
            raise FtguiError(tr("cannot get timm's pretrained weights for {model}: the Hugging Face hub cannot be "
                                "reached and this computer has no copy of them - pick a model marked "
                                "'on this computer' under \"Pretrained model\", or one of your runs under "
                                "\"Model\"", model=name)) from None
    path = ctx.run_path(source)
    owners.check(ctx, ctx.visitor(request), path, N_("predict with its model"))
    return ctx.predictors.for_run(path)


def predict_image(ctx: AppContext, source: str | None, model_name: str | None,
                  image: Image.Image | None, top_k: int, request: gr.Request | None = None) -> dict[str, float]:
    """The top-k labels of one image, as ``{label: probability}`` for gr.Label."""
    if image is None:
        raise FtguiError(tr("drop an image, paste one, or take a webcam shot first"))
    row = _predictor(ctx, source, model_name, request).predict_images([image], top_k=int(top_k))[0]
    return {label: value for label, value in row["topk"]}


def predict_batch(ctx: AppContext, source: str | None, model_name: str | None,
                  files: list[str] | None, top_k: int, request: gr.Request | None = None) -> tuple[pd.DataFrame, str]:
    """Label every image among ``files`` (images and zips): a table and the same as CSV."""
    if not files:
        raise FtguiError(tr("add images or .zip files first"))
    predictor = _predictor(ctx, source, model_name, request)
    parents = sorted({str(Path(f).parent) + os.sep for f in files}, key=len, reverse=True)
    table = []
    for row in predictor.predict_paths(files, top_k=int(top_k)):
        shown = next((row["path"][len(p):] for p in parents if row["path"].startswith(p)), row["path"])
        topk = row.get("topk", [])
        table.append([shown, row.get("label", ""), row.get("score"), topk, row.get("error", "")])
    frame = pd.DataFrame([[f, label, score(value), "; ".join(f"{name} {score(p)}" for name, p in topk), error]
                          for f, label, value, topk, error in table], columns=batch_headers())
    path = Path(tempfile.mkdtemp(prefix="ftgui-predictions-")) / "predictions.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(BATCH_COLUMNS)
        writer.writerows([f, label, "" if value is None else f"{value:.4f}",
                          "; ".join(f"{name}: {p:.4f}" for name, p in topk), error]
                         for f, label, value, topk, error in table)
    return frame, str(path)


def batch_headers() -> list[str]:
    """The batch table's column headers in the visitor's language."""
    return [translate(column) for column in BATCH_COLUMNS]


def empty_batch() -> pd.DataFrame:
    """The batch table before any batch: its headers only (on page load, in the visitor's language)."""
    return pd.DataFrame(columns=batch_headers())


def refresh(ctx: AppContext, source: str | None, model_name: str | None, request: gr.Request | None = None) -> tuple:
    """The model choices (runs come and go), and the pretrained-model picker to match."""
    choices = source_choices(ctx, request)
    values = [value for _, value in choices]
    if source not in values or (source == PRETRAINED and not model_name):
        source = best_source(ctx, request)  # the best run, once there is one
    return gr.update(choices=choices, value=source), on_source(source, model_name)


def pretrained_picker(model_name: str | None, online: bool) -> dict[str, Any]:
    """The pretrained-model picker's choices, value and help: on this computer first; offline,
    only those (a model that cannot be had is not offered)."""
    choices = catalog.predict_model_choices(online)
    names = [name for _, name in choices]
    value = model_name if model_name in names or (model_name or "").startswith("local-dir:") else None
    if value is None and names:
        value = names[0]
    cached = sum(1 for label, name in choices if label != name)  # marked 'on this computer'
    if online:
        info = tr("models marked 'on this computer' answer at once; the others are downloaded from the Hugging "
                  "Face hub on first use")
    elif cached:
        info = tr("offline: the {n} model(s) whose weights are on this computer", n=cached)
    else:
        info = tr("offline, and no pretrained model is on this computer: predict with one of your runs "
                  "(train one in the Train tab)")
    return {"choices": choices, "value": value, "info": info}


def on_source(source: str | None, model_name: str | None) -> dict:
    """Show the model picker for a pretrained model, with the models that can work."""
    if source != PRETRAINED:
        return gr.update(visible=False)
    return gr.update(visible=True, **pretrained_picker(model_name, catalog.hub_online()))


def layout(ctx: AppContext, demo: gr.Blocks) -> None:
    """Build the Predict tab's components and wire its events."""
    with gr.Tab("3 · Predict", id="predict") as tab:
        choices = source_choices(ctx)
        with gr.Row():
            source = gr.Dropdown(choices, value=best_source(ctx), label="Model", scale=3, min_width=260,
                                 elem_id="predict-source",
                                 allow_custom_value=True,
                                 info="a run you trained, or a pretrained model with its own labels")
            model_name = gr.Dropdown([], label="Pretrained model", allow_custom_value=True, filterable=True,
                                     visible=False, scale=3, min_width=260, elem_id="predict-pretrained")
            top_k = gr.Slider(1, 10, value=5, step=1, label="Top-k", scale=1, min_width=160)
        with gr.Tabs(overflow_behavior="wrap"):
            with gr.Tab("One image", id="predict-one-tab"):
                with gr.Row(equal_height=False):
                    with gr.Column():
                        image = gr.Image(label="Image", type="pil", sources=["upload", "webcam", "clipboard"],
                                         height=300, elem_id="predict-image")
                        button = gr.Button("Predict", variant="primary", elem_id="predict-button")
                    label = gr.Label(label="Prediction", elem_id="predict-label")
            with gr.Tab("Many images", id="predict-many-tab"):
                files = gr.File(label="Images or .zip files", file_count="multiple",
                                file_types=["image", ".zip"], elem_id="predict-files")
                batch_button = gr.Button("Label them all", variant="primary")
                table = gr.Dataframe(headers=BATCH_COLUMNS, interactive=False, max_height=360)
                csv_file = gr.File(label="Download as CSV", interactive=False)
    button.click(bind(predict_image, ctx), [source, model_name, image, top_k], [label], api_name="predict_image",
                 concurrency_limit=CONCURRENCY)
    batch_button.click(bind(predict_batch, ctx), [source, model_name, files, top_k], [table, csv_file],
                       api_name="predict_batch", concurrency_limit=CONCURRENCY)
    source.change(bind(on_source), [source, model_name], [model_name], api_visibility="private")
    tab.select(bind(refresh, ctx), [source, model_name], [source, model_name], api_visibility="private",
               show_progress="hidden")  # runs come and go: each time the tab is shown
    demo.load(bind(empty_batch), None, [table], api_visibility="private", show_progress="hidden")
