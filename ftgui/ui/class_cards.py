"""Classes as cards, the Data tab's "class by class" source (as in Teachable Machine): one card
per class with its name, its images as thumbnails with a count, adding images by files, webcam
or paste, removing an image, renaming or deleting the class, and "add a class".

The classes live in this session's workspace, ``<runs>/uploads/classes-<random>/<class>/``
(one folder per class, the layout every data source has). The functions below are plain (the
tests call them); :func:`layout` draws the cards with ``gr.render`` and redraws them whenever
the workspace changes (``version`` counts the changes).

Thumbnails are handed to the page as images (copies in Gradio's cache), never as paths: the
uploads folder is not served.
"""
from __future__ import annotations

import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from ..errors import FtguiError
from ..i18n import tr
from .context import AppContext, safe_name
from .handlers import bind

THUMBS_SHOWN = 24
"""A card shows this many thumbnails at most (and says how many more there are)."""
THUMB_SIZE = 128
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def class_name_ok(name: str | None) -> str:
    """The class name, stripped; refused if it could not be a folder name."""
    name = (name or "").strip()
    if not name or name.startswith(".") or re.search(r"[/\\:*?\"<>|\x00-\x1f]", name) or len(name) > 100:
        raise FtguiError(tr("give the class a name (letters, digits, spaces, - or _; no / or leading dot)"))
    return name


def _workspace(ctx: AppContext, workspace: str | None, create: bool = False) -> Path:
    """This session's workspace folder (made on first use), always directly under the uploads
    folder."""
    if not workspace:
        if not create:
            raise FtguiError(tr("add a class first"))
        folder = ctx.uploads / f"classes-{secrets.token_hex(6)}"
        folder.mkdir()
        return folder
    folder = Path(workspace).resolve()
    if folder.parent != ctx.uploads.resolve() or not folder.name.startswith("classes-"):
        raise FtguiError(tr("these classes are not this page's; start over"))
    folder.mkdir(exist_ok=True)
    return folder


def classes(workspace: str | None) -> list[str]:
    """The class names of ``workspace``, sorted."""
    if not workspace or not Path(workspace).is_dir():
        return []
    return sorted(d.name for d in Path(workspace).iterdir() if d.is_dir() and not d.name.startswith("."))


def images(workspace: str, name: str) -> list[Path]:
    """The images of class ``name``, oldest first."""
    folder = Path(workspace) / name
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _class_folder(ctx: AppContext, workspace: str | None, name: str) -> Path:
    folder = _workspace(ctx, workspace) / class_name_ok(name)
    if not folder.is_dir():
        raise FtguiError(tr("there is no class '{name}' any more", name=name))
    return folder


def add_class(ctx: AppContext, workspace: str | None, version: int) -> tuple[str, int]:
    """A new empty class, "class 1", "class 2", ... (the first name not taken)."""
    folder = _workspace(ctx, workspace, create=True)
    taken = set(classes(str(folder)))
    number = 1
    while f"class {number}" in taken:
        number += 1
    (folder / f"class {number}").mkdir()
    return str(folder), version + 1


def add_to_class(ctx: AppContext, workspace: str | None, name: str, files: list[str] | None,
                 shot: Image.Image | None, version: int) -> int:
    """Copy uploaded images and/or a webcam shot or pasted image into class ``name`` (nothing
    given: nothing changes, as when the shot input is emptied after its image was added)."""
    folder = _class_folder(ctx, workspace, name)
    if not files and shot is None:
        return version
    number = max((int(p.name[:4]) for p in folder.iterdir() if p.name[:4].isdigit()), default=0)
    for path in files or []:
        number += 1
        shutil.copyfile(path, folder / f"{number:04d}-{safe_name(Path(path).name)}")
    if shot is not None:
        number += 1
        shot.convert("RGB").save(folder / f"{number:04d}-shot.png")
    return version + 1


def remove_image(ctx: AppContext, workspace: str | None, name: str, index: int | None, version: int) -> int:
    """Delete image number ``index`` (as the card shows them) of class ``name``."""
    folder = _class_folder(ctx, workspace, name)
    shown = images(str(folder.parent), folder.name)
    if index is None or not 0 <= index < len(shown):
        raise FtguiError(tr("click an image of this class first, then remove it"))
    shown[index].unlink()
    return version + 1


def rename_class(ctx: AppContext, workspace: str | None, old: str, new: str, version: int) -> int:
    """Rename class ``old`` to ``new`` (refused if ``new`` is taken)."""
    folder = _class_folder(ctx, workspace, old)
    new = class_name_ok(new)
    if new == old:
        return version
    if (folder.parent / new).exists():
        raise FtguiError(tr("there is already a class named '{name}'", name=new))
    folder.rename(folder.parent / new)
    return version + 1


def delete_class(ctx: AppContext, workspace: str | None, name: str, version: int) -> int:
    """Delete class ``name`` and its images."""
    shutil.rmtree(_class_folder(ctx, workspace, name))
    return version + 1


def thumbnails(workspace: str, name: str) -> list[tuple[Image.Image, str]]:
    """The first THUMBS_SHOWN images of class ``name`` as small copies, with their numbers."""
    shown = []
    for number, path in enumerate(images(workspace, name)[:THUMBS_SHOWN], start=1):
        try:
            with Image.open(path) as image:
                image.thumbnail((THUMB_SIZE, THUMB_SIZE))
                shown.append((image.convert("RGB"), str(number)))
        except (OSError, ValueError):
            continue  # not an image after all: the data report lists it when the classes are used
    return shown


def count_line(workspace: str, name: str) -> str:
    count = len(images(workspace, name))
    if count > THUMBS_SHOWN:
        return tr("**{count} images** (the first {shown} are shown)", count=count, shown=THUMBS_SHOWN)
    if count > 1:
        return tr("**{count} images**", count=count)
    return tr("**1 image**") if count else tr("**no images yet**: add some below")


# -- layout --------------------------------------------------------------------------------
MAX_CARDS = 12
"""Cards on the page; more classes than this are better given as a zip."""


VIEW = 7
"""Components of a card that handlers update: the card, name, count, thumbnails, the remove
button, the files input and the shot input."""


def _slot_view(workspace: str | None, name: str | None) -> list[Any]:
    """What one card shows: hidden when unused; the thumbnails and the remove button only when
    the class has images; the inputs emptied (their images are in the class now)."""
    if not workspace or not name:
        return [gr.update(visible=False), gr.skip(), gr.skip(), gr.skip(), gr.skip(), None, None]
    shown = thumbnails(workspace, name)
    return [gr.update(visible=True), name, count_line(workspace, name), gr.update(value=shown, visible=bool(shown)),
            gr.update(visible=bool(shown)), None, None]


@dataclass
class Cards:
    names: gr.State
    """One class name per card, None for an unused card."""
    outputs: list[Any]
    """Every card's components, as :func:`start_over` returns them."""


def start_over(ctx: AppContext, workspace: str | None) -> list[Any]:
    """Delete this session's classes and hide every card."""
    if workspace:
        try:
            shutil.rmtree(_workspace(ctx, workspace), ignore_errors=True)
        except FtguiError:
            pass
    return [None, [None] * MAX_CARDS, *(c for _ in range(MAX_CARDS) for c in _slot_view(None, None))]


def layout(ctx: AppContext, workspace: gr.State) -> Cards:
    """The cards (MAX_CARDS of them, hidden until used) and the "Add a class" button."""
    names = gr.State([None] * MAX_CARDS)
    private: dict[str, Any] = dict(api_visibility="private", show_progress="hidden")
    slots = []
    for index in range(MAX_CARDS):
        with gr.Group(visible=False, elem_id=f"class-card-{index}", elem_classes="ftgui-class-card") as card:
            with gr.Row(equal_height=True):
                title = gr.Textbox(label="Class name", scale=4, min_width=160, elem_classes="ftgui-class-name",
                                   info="press Enter to rename", max_lines=1)
                delete = gr.Button("Delete class", variant="secondary", size="sm", scale=1, min_width=110,
                                   elem_classes="ftgui-delete-class")
            count = gr.Markdown(elem_classes=["ftgui-pad", "ftgui-class-count"])
            gallery = gr.Gallery(show_label=False, columns=5, height=200, object_fit="contain", visible=False,
                                 allow_preview=False, elem_classes="ftgui-class-thumbs", buttons=[])
            remove = gr.Button("Remove the selected image", size="sm", elem_classes="ftgui-remove-image",
                               visible=False)
            with gr.Row(equal_height=False):
                files = gr.File(label="Add images (files)", file_count="multiple", file_types=["image"],
                                height=180, elem_classes="ftgui-class-files", min_width=160)
                shot = gr.Image(label="…or paste an image or take a webcam shot", sources=["clipboard", "webcam"],
                                type="pil", height=180, min_width=160, elem_classes="ftgui-class-shot")
        chosen = gr.State(None)
        view = [card, title, count, gallery, remove, files, shot]
        slots.append(view)

        def select(event: gr.SelectData) -> int:
            return int(event.index)

        gallery.select(select, None, [chosen], **private)
        slot = gr.State(index)
        files.upload(bind(_on_add, ctx), [workspace, names, slot, files, gr.State(None)], view, **private)
        shot.change(bind(_on_add, ctx), [workspace, names, slot, gr.State(None), shot], view, **private)
        remove.click(bind(_on_remove, ctx), [workspace, names, slot, chosen], view, **private)
        title.submit(bind(_on_rename, ctx), [workspace, names, slot, title], [names, *view], **private)
        delete.click(bind(_on_delete, ctx), [workspace, names, slot], [names, *view], **private)
    add = gr.Button("+ Add a class", elem_id="add-class")
    outputs = [c for v in slots for c in v]
    add.click(bind(_on_add_class, ctx), [workspace, names], [workspace, names, *outputs], **private)
    return Cards(names, outputs)


def _name(names: list[str | None], slot: int) -> str:
    name = names[slot] if 0 <= slot < len(names) else None
    if not name:
        raise FtguiError(tr("this class is gone; add a class"))
    return name


def _on_add_class(ctx: AppContext, workspace: str | None, names: list[str | None]) -> list[Any]:
    names = list(names or [None] * MAX_CARDS)
    if None not in names:
        raise FtguiError(tr("{n} classes is the most the cards hold; for more, upload a zip of class folders",
                            n=MAX_CARDS))
    slot = names.index(None)
    workspace, _ = add_class(ctx, workspace, 0)
    known = {n for n in names if n}
    new = next(n for n in classes(workspace) if n not in known)
    names[slot] = new
    views = [_slot_view(workspace, new) if i == slot else [gr.skip()] * VIEW for i in range(MAX_CARDS)]
    return [workspace, names, *(c for v in views for c in v)]


def _on_add(ctx: AppContext, workspace: str | None, names: list[str | None], slot: int,
            files: list[str] | None, shot: Image.Image | None) -> list[Any]:
    name = _name(names, slot)
    add_to_class(ctx, workspace, name, files, shot, 0)
    return _slot_view(workspace, name)


def _on_remove(ctx: AppContext, workspace: str | None, names: list[str | None], slot: int,
               index: int | None) -> list[Any]:
    name = _name(names, slot)
    remove_image(ctx, workspace, name, index, 0)
    return _slot_view(workspace, name)


def _on_rename(ctx: AppContext, workspace: str | None, names: list[str | None], slot: int, new: str) -> list[Any]:
    names = list(names)
    old = _name(names, slot)
    rename_class(ctx, workspace, old, new, 0)
    names[slot] = class_name_ok(new)
    return [names, *_slot_view(workspace, names[slot])]


def _on_delete(ctx: AppContext, workspace: str | None, names: list[str | None], slot: int) -> list[Any]:
    names = list(names)
    delete_class(ctx, workspace, _name(names, slot), 0)
    names[slot] = None
    return [names, *_slot_view(None, None)]
