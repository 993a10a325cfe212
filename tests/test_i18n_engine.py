"""Issue 13, the engine's messages: a data set's warnings, the reasons files were skipped and a
model's errors come out in the language of the visitor the GUI serves (Chinese here, with the
numbers and names kept), and in English, unchanged, everywhere else (the CLI, the run folder).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from ftgui import i18n
from ftgui.data import iter_prediction_inputs, load_images
from ftgui.errors import FtguiError
from ftgui.models import _offline_error, check_model_name

from conftest import make_dataset


@pytest.fixture
def lopsided(tmp_path):
    """12 circles, 12 squares, 2 triangles (a tiny class), 1 cross (left out) and an empty file."""
    root = make_dataset(tmp_path / "data", {"circle": ("circle", "red"), "square": ("square", "green")})
    make_dataset(root, {"tiny": ("triangle", "blue")}, per_class=2)
    make_dataset(root, {"one": ("cross", "yellow")}, per_class=1)
    (root / "circle" / "empty.png").write_bytes(b"")
    return root


def test_the_warnings_of_a_data_set_in_chinese(lopsided):
    with i18n.speaking("zh"):
        collection = load_images(lopsided)
    assert collection.warnings == [
        "类别“one”只有 1 张可用图片，已被排除；每个类别至少需要 2 张",
        "类别“tiny”只有 2 张图片；每个类别有 20 张或更多，效果会好得多",
        "各类别的图片数量不均衡：“circle”有 12 张，“tiny”只有 2 张；除非给小类别补充图片，否则模型会偏向大类别",
    ]
    reasons = {s.path: s.reason for s in collection.skipped}
    assert reasons["circle/empty.png"] == "空文件（0 字节）"  # decoded in a pool's thread, still in Chinese
    assert reasons["one/000.png"] == "它所在的类别“one”只有 1 张可用图片，已被排除；每个类别至少需要 2 张"


def test_the_same_warnings_in_english_are_unchanged(lopsided):
    collection = load_images(lopsided)
    assert collection.warnings == [
        "class 'one' has only 1 usable image and was left out; each class needs at least 2",
        "class 'tiny' has only 2 images; 20 or more per class give much better results",
        "the classes are unbalanced: 'circle' has 12 images, 'tiny' only 2; the model will favour the big "
        "classes unless the small ones get more images",
    ]
    assert {s.path: s.reason for s in collection.skipped}["circle/empty.png"] == "empty file (0 bytes)"


def test_a_data_set_with_one_class_is_refused_in_chinese(tmp_path):
    root = make_dataset(tmp_path / "data", {"circle": ("circle", "red")}, per_class=3)
    with i18n.speaking("zh"), pytest.raises(FtguiError) as caught:
        load_images(root)
    assert str(caught.value) == f"在 {root} 中只找到一个类别“circle”；分类模型至少需要两个类别文件夹"


def test_an_unknown_model_in_chinese_and_in_english():
    with i18n.speaking("zh"), pytest.raises(FtguiError) as caught:
        check_model_name("resnt50")
    assert str(caught.value).startswith("未知的模型“resnt50”；你是不是想用 resnet50, ")
    assert str(caught.value).endswith("（`ftgui models FILTER` 会列出 timm 的模型）")
    with pytest.raises(FtguiError) as caught:
        check_model_name("resnt50")
    assert str(caught.value).startswith("unknown model 'resnt50'; did you mean resnet50, ")
    assert str(caught.value).endswith(" (`ftgui models FILTER` lists timm's models)")


def test_the_hub_offline_error_is_worded_when_shown():
    """Made in English (a training thread, the CLI), worded in the reader's language when shown."""
    error = _offline_error("resnet18")
    assert str(error).startswith("cannot get pretrained weights for resnet18: the Hugging Face hub is unreachable")
    with i18n.speaking("zh"):
        shown = error.worded(lambda field: f"“{field}”")
    assert shown.startswith("无法获取 resnet18 的 timm 预训练权重：连不上 Hugging Face hub")
    assert "在 “weights” 中选择其他权重" in shown and "在 “strategy” 中选择从随机权重开始（直接训练）" in shown
    assert error.worded(lambda field: f'"{field}"').startswith("cannot get timm's pretrained weights for resnet18")


def test_an_image_to_label_keeps_the_language_it_was_listed_in(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"")
    with i18n.speaking("zh"):
        [(display, load)] = list(iter_prediction_inputs([str(tmp_path / "broken.png")]))
    with ThreadPoolExecutor(1) as pool, pytest.raises(FtguiError) as caught:
        pool.submit(load).result()  # as Predictor.predict_paths loads images: in another thread
    assert str(caught.value) == f"无法读取 {display}：空文件（0 字节）"


def test_a_zips_skip_reasons_in_chinese(tmp_path):
    import zipfile

    from ftgui.archive import ZipSource

    path = tmp_path / "mixed.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("cats/1.png", b"x")
        archive.writestr("../evil.png", b"x")
        archive.writestr("cats/1.png", b"y")  # a second entry of the same name
    with i18n.speaking("zh"):
        _, _, skipped = ZipSource(path).list()
    reasons = dict(skipped)
    assert reasons["../evil.png"] == "zip 中的路径不安全（“..”会指向压缩包之外）"
    assert reasons["cats/1.png"] == "zip 中第二个名为 cats/1.png 的条目（使用第一个）"
    _, _, skipped = ZipSource(path).list()
    assert dict(skipped)["../evil.png"] == "unsafe path in zip ('..' leads outside the archive)"
