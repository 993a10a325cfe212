"""The Data tab: where the images come from, and what ftgui makes of them before training.

Sources: a zip of class folders, classes built one at a time (files or webcam shots), a
folder on this computer (only when the app is served to this computer alone), or the
bundled sample. Uploads are copied under ``<runs>/uploads/`` so that a run's record keeps
pointing at data that exists.

The chosen data is the page's own (a ``gr.State``, one per browser session): no other page
ever gets it, not even one opened while this page's training runs (that page follows the
training in the Train tab, but its Data tab starts empty), so one person's upload is never
listed, shown or picked in another person's session.
"""
from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd
from PIL import Image

from ..errors import FtguiError
from ..i18n import N_, tr, translate
from . import class_cards, heavy
from .context import AppContext, safe_name
from .handlers import bind, show_only
from .words import data_name

THUMBS_PER_CLASS = 6
MAX_THUMBS = 60
THUMB_SIZE = 160
MAX_LISTED_SKIPS = 20
MIN_VALIDATION = 10
"""Fewer validation images per class than this get a warning (an accuracy on them is mostly luck)."""
SAMPLE = "sample:digits"
ZIP, CLASSES, FOLDER, SAMPLE_KIND = "a zip", "class by class", "a folder on this computer", "the sample"
SOURCES = (ZIP, CLASSES, FOLDER, SAMPLE_KIND)
COLUMNS = [N_("class"), N_("images"), N_("training"), N_("validation")]
"""The per-class table's columns (headed in the visitor's language)."""


@dataclass
class DataTab:
    """What other tabs use: the chosen data (a per-session state) and the validation share."""

    source: gr.State
    val_split: gr.Slider
    shown: list
    """The summary, per-class table and gallery (outputs of :func:`summarize`)."""


# -- handlers (plain functions) ----------------------------------------------------------
def summarize(source: str | None, val_split: float) -> tuple[str, pd.DataFrame, list]:
    """(summary Markdown, per-class table, gallery of (thumbnail, class)) for ``source``."""
    columns = [translate(column) for column in COLUMNS]
    if not source:
        return (tr("No images chosen yet: upload a zip, build classes, or use the sample."),
                pd.DataFrame(columns=columns), [])
    heavy.load()
    from ..data import load_images, stratified_split

    collection = load_images(source)
    train_idx, val_idx = stratified_split(collection.labels, val_split, seed=0)
    counts = collection.report()["images_per_class"]
    val_of = [0] * len(collection.classes)
    for index in val_idx:
        val_of[collection.labels[index]] += 1
    table = pd.DataFrame([[name, counts[name], counts[name] - val_of[i], val_of[i]]
                          for i, name in enumerate(collection.classes)], columns=columns)
    lines = [tr("**{images} images in {classes} classes** from **{data}** · {train} for training, "
                "{val} for validation", images=len(collection.paths), classes=len(collection.classes),
                data=data_name(source), train=len(train_idx), val=len(val_idx))]
    lines += [f"- ⚠ {warning}" for warning in collection.warnings]
    few = few_validation_images(collection.classes, val_of)
    if few:
        lines.append(f"- ⚠ {few}")
    if collection.skipped:
        lines.append(tr("- ⚠ {n} file(s) skipped:", n=len(collection.skipped)))
        lines += [f"    - `{s.path}`: {s.reason}" for s in collection.skipped[:MAX_LISTED_SKIPS]]
        if len(collection.skipped) > MAX_LISTED_SKIPS:
            lines.append(tr("    - … and {n} more", n=len(collection.skipped) - MAX_LISTED_SKIPS))
    if collection.ignored:
        lines.append(tr("- {n} hidden or system file(s) ignored (never read):", n=len(collection.ignored)))
        lines += [f"    - `{name}`" for name in collection.ignored[:MAX_LISTED_SKIPS]]
        if len(collection.ignored) > MAX_LISTED_SKIPS:
            lines.append(tr("    - … and {n} more", n=len(collection.ignored) - MAX_LISTED_SKIPS))
    if not collection.warnings and not collection.skipped and not few:
        lines.append(tr("- ✓ no problems found"))
    return "\n".join(lines), table, _thumbnails(collection)


def few_validation_images(classes: list[str], val_of: list[int]) -> str:
    """A warning when a class has fewer than MIN_VALIDATION validation images: an accuracy
    measured on so few images is mostly luck ("" when every class has enough)."""
    short = [(name, n) for name, n in zip(classes, val_of) if n < MIN_VALIDATION]
    if not short:
        return ""
    total = sum(val_of)
    shown = ", ".join(f"{name}: {n}" for name, n in short[:5]) + (" …" if len(short) > 5 else "")
    margin = 1 / max(total, 1) ** 0.5  # about the 95% margin of an accuracy near 50%
    return tr("few validation images ({shown}; fewer than {minimum} per class): an accuracy measured on "
              "{total} image(s) can be off by about ±{margin}. Add images, or raise the Validation share.",
              shown=shown, minimum=MIN_VALIDATION, total=total, margin=f"{min(margin, 0.5):.0%}")


def _thumbnails(collection) -> list[tuple[Image.Image, str]]:
    thumbs: list[tuple[Image.Image, str]] = []
    per_class = max(1, min(THUMBS_PER_CLASS, MAX_THUMBS // len(collection.classes)))
    taken = [0] * len(collection.classes)
    for index, label in enumerate(collection.labels):
        if taken[label] < per_class:
            taken[label] += 1
            image = collection.open_image(index)
            image.thumbnail((THUMB_SIZE, THUMB_SIZE))
            thumbs.append((image, collection.classes[label]))
    return thumbs


def use_zip(ctx: AppContext, upload: str | None, val_split: float):
    if not upload:
        raise FtguiError(tr("choose a .zip file first"))
    source = ctx.keep_upload(upload)
    return (source, *summarize(source, val_split))


def use_sample(val_split: float):
    return (SAMPLE, *summarize(SAMPLE, val_split))


def use_folder(folder: str, val_split: float):
    if not folder or not folder.strip():
        raise FtguiError(tr("type the path of a folder that holds one sub-folder per class"))
    source = str(Path(folder.strip()).expanduser().resolve())
    return (source, *summarize(source, val_split))


class_name_ok = class_cards.class_name_ok


def add_images(ctx: AppContext, workspace: str | None, class_name: str,
               files: list[str] | None, shot: Image.Image | None) -> tuple[str, str]:
    """Add uploaded images and/or a webcam shot to class ``class_name`` of this session's
    workspace (created on first use). Returns (workspace, list of classes so far)."""
    name = class_name_ok(class_name)
    if not files and shot is None:
        raise FtguiError(tr("drop some images or take a webcam shot first"))
    folder = Path(workspace) if workspace else ctx.uploads / f"classes-{secrets.token_hex(6)}"
    target = folder / name
    target.mkdir(parents=True, exist_ok=True)
    number = len(list(target.iterdir()))
    for path in files or []:
        number += 1
        shutil.copyfile(path, target / f"{number:04d}-{safe_name(Path(path).name)}")
    if shot is not None:
        number += 1
        shot.save(target / f"{number:04d}-webcam.png")
    return str(folder), class_list(str(folder))


def class_list(workspace: str | None) -> str:
    if not workspace or not Path(workspace).is_dir():
        return tr("No classes yet.")
    counts = [(d.name, sum(1 for _ in d.iterdir())) for d in sorted(Path(workspace).iterdir()) if d.is_dir()]
    return " · ".join(tr("**{name}**: {count} image(s)", name=name, count=count)
                      for name, count in counts) or tr("No classes yet.")


def use_classes(workspace: str | None, val_split: float):
    if not workspace:
        raise FtguiError(tr("add at least two classes first"))
    return (workspace, *summarize(workspace, val_split))


def clear_classes(ctx: AppContext, workspace: str | None) -> tuple[None, str]:
    if workspace:
        path = Path(workspace).resolve()
        if path.parent == ctx.uploads.resolve():
            shutil.rmtree(path, ignore_errors=True)
    return None, class_list(None)


# -- layout --------------------------------------------------------------------------------
def layout(ctx: AppContext, demo: gr.Blocks) -> DataTab:
    """Build the Data tab's components and wire its events."""
    with gr.Tab("1 · Data", id="data"):
        source = gr.State(ctx.options.defaults.get("data"))
        workspace = gr.State(None)
        gr.Markdown("Give ftgui **one folder of images per class** (the folder name is the class). "
                    "Every image is checked before training; problems are listed with the summary.",
                    elem_classes="ftgui-help")
        kinds = [k for k in SOURCES if k != FOLDER or ctx.options.local_only]
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                first = SAMPLE_KIND if str(source.value or "").startswith("sample:") else kinds[0]
                kind = gr.Radio(kinds, value=first, label="Where are your images?", elem_id="data-kind")
                with gr.Column(visible=first == ZIP) as zip_group:
                    upload = gr.File(label="A .zip of class folders", file_types=[".zip"], elem_id="data-zip")
                    gr.Markdown("e.g. `cats/1.jpg`, `dogs/7.png`; hidden files and non-images are "
                                "skipped and listed.", elem_classes="ftgui-help")
                with gr.Column(visible=False) as classes_group:
                    gr.Markdown("One card per class: name it, then add images by file, webcam or paste.",
                                elem_classes="ftgui-help")
                    cards = class_cards.layout(ctx, workspace)
                    with gr.Row():
                        classes_button = gr.Button("Use these classes", variant="primary", elem_id="use-classes")
                        clear_button = gr.Button("Start over", elem_id="classes-start-over")
                with gr.Column(visible=False) as folder_group:
                    if ctx.options.local_only:
                        folder = gr.Textbox(label="Folder", placeholder="/home/me/photos",
                                            info="holds one sub-folder per class")
                        folder_button = gr.Button("Use this folder", variant="primary")
                with gr.Column(visible=first == SAMPLE_KIND) as sample_group:
                    gr.Markdown("400 handwritten digits, 10 classes of 40 images (32×32 pixels). With the "
                                "demo's settings, 15 epochs of the small offline backbone take about 7 "
                                "seconds on 2 idle CPU cores (longer while the computer is busy).")
                    sample_button = gr.Button("Use the sample digits", variant="primary", elem_id="use-sample")
                val_split = gr.Slider(0.05, 0.5, value=ctx.options.form_defaults()["val_split"], step=0.05,
                                      label="Validation share",
                                      info="held out from each class to measure accuracy")
            with gr.Column(scale=3, min_width=320):
                summary = gr.Markdown(elem_id="data-summary")
                table = gr.Dataframe(label="Images per class", interactive=False, max_height=260)
                gr.Markdown("**A few images of each class**", elem_classes="ftgui-pad")
                gallery = gr.Gallery(show_label=False, columns=6, height=300, object_fit="contain", type="pil",
                                     elem_id="data-gallery", allow_preview=True)

    shown = [summary, table, gallery]
    groups = {ZIP: zip_group, CLASSES: classes_group, FOLDER: folder_group, SAMPLE_KIND: sample_group}
    kind.change(show_only(groups), [kind], list(groups.values()), api_visibility="private", show_progress="hidden")
    upload.upload(bind(use_zip, ctx), [upload, val_split], [source, *shown], api_name="use_zip")
    sample_button.click(bind(use_sample), [val_split], [source, *shown], api_name="use_sample")
    if ctx.options.local_only:
        folder_button.click(bind(use_folder), [folder, val_split], [source, *shown], api_name="use_folder")
    classes_button.click(bind(use_classes), [workspace, val_split], [source, *shown], api_name="use_classes")
    clear_button.click(bind(class_cards.start_over, ctx), [workspace], [workspace, cards.names, *cards.outputs],
                       api_visibility="private", show_progress="hidden")
    val_split.release(bind(summarize), [source, val_split], shown, api_visibility="private")
    demo.load(bind(summarize), [source, val_split], shown, api_visibility="private")
    return DataTab(source, val_split, shown)
