"""Classes as cards (issue 10, item 12), without a browser: add a class, add images by file and
by webcam shot or paste, remove an image, rename (a taken name refused), delete, start over, and
the classes used as a data set. tests/test_browser_data.py clicks the same in a page."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from ftgui.errors import FtguiError
from ftgui.ui import class_cards, data_tab
from ftgui.ui.context import AppContext, AppOptions

from conftest import COLOURS, draw_shape


@pytest.fixture
def ctx(tmp_path) -> AppContext:
    return AppContext(AppOptions(runs_dir=tmp_path / "runs"))


def test_cards_from_first_class_to_a_data_set(ctx, tmp_path):
    rng = random.Random(0)
    files = []
    for i in range(4):
        path = tmp_path / f"red{i}.png"
        draw_shape("circle", COLOURS["red"], 32, rng).save(path)
        files.append(str(path))
    workspace, version = class_cards.add_class(ctx, None, 0)
    assert Path(workspace).parent == ctx.uploads and class_cards.classes(workspace) == ["class 1"]
    workspace, version = class_cards.add_class(ctx, workspace, version)
    assert class_cards.classes(workspace) == ["class 1", "class 2"] and version == 2
    version = class_cards.add_to_class(ctx, workspace, "class 1", files, None, version)
    for _ in range(3):  # webcam shots or pasted images
        version = class_cards.add_to_class(ctx, workspace, "class 2", None,
                                           draw_shape("square", COLOURS["blue"], 32, rng), version)
    assert len(class_cards.images(workspace, "class 1")) == 4 and len(class_cards.images(workspace, "class 2")) == 3
    assert class_cards.count_line(workspace, "class 1") == "**4 images**"
    assert [caption for _, caption in class_cards.thumbnails(workspace, "class 2")] == ["1", "2", "3"]

    version = class_cards.rename_class(ctx, workspace, "class 1", "red", version)
    with pytest.raises(FtguiError, match="already a class named 'red'"):
        class_cards.rename_class(ctx, workspace, "class 2", "red", version)
    for bad in ("", "../x", ".hidden", "a/b"):
        with pytest.raises(FtguiError, match="give the class a name"):
            class_cards.rename_class(ctx, workspace, "class 2", bad, version)
    version = class_cards.rename_class(ctx, workspace, "class 2", "blue", version)

    second = class_cards.images(workspace, "red")[1]
    version = class_cards.remove_image(ctx, workspace, "red", 1, version)
    assert not second.exists() and len(class_cards.images(workspace, "red")) == 3
    with pytest.raises(FtguiError, match="click an image"):
        class_cards.remove_image(ctx, workspace, "red", None, version)

    workspace, version = class_cards.add_class(ctx, workspace, version)
    assert class_cards.classes(workspace) == ["blue", "class 1", "red"]  # the first free name
    version = class_cards.delete_class(ctx, workspace, "class 1", version)
    assert class_cards.classes(workspace) == ["blue", "red"]

    source, summary, table, _ = data_tab.use_classes(workspace, 0.34)
    assert "6 images in 2 classes" in summary and "the classes you built here" in summary
    assert list(table["class"]) == ["blue", "red"]

    outputs = class_cards.start_over(ctx, workspace)
    assert outputs[0] is None and outputs[1] == [None] * class_cards.MAX_CARDS and not Path(workspace).exists()


def test_a_workspace_outside_the_uploads_folder_is_refused(ctx, tmp_path):
    elsewhere = tmp_path / "elsewhere" / "classes-0123456789ab"
    (elsewhere / "cat").mkdir(parents=True)
    with pytest.raises(FtguiError, match="not this page's"):
        class_cards.delete_class(ctx, str(elsewhere), "cat", 0)
    assert (elsewhere / "cat").is_dir()


def test_the_cards_fill_in_order_and_hold_at_most_max_cards(ctx):
    workspace, names = None, [None] * class_cards.MAX_CARDS
    for _ in range(class_cards.MAX_CARDS):
        workspace, names, *_ = class_cards._on_add_class(ctx, workspace, names)
    assert names == [f"class {i}" for i in range(1, class_cards.MAX_CARDS + 1)]
    with pytest.raises(FtguiError, match="upload a zip"):
        class_cards._on_add_class(ctx, workspace, names)
    names, *_ = class_cards._on_delete(ctx, workspace, names, 0)
    assert names[0] is None
    workspace, names, *_ = class_cards._on_add_class(ctx, workspace, names)
    assert names[0] == "class 1"  # the freed card is used again, the others stay where they are
