"""Issue 13 in the Data and Runs tabs: what their handlers say comes out in the visitor's language
(numbers and the user's class names as they are), and in English exactly as before."""
from __future__ import annotations

import pytest

from ftgui import i18n
from ftgui.ui import data_tab, runs_tab
from ftgui.ui.context import AppContext, AppOptions

from conftest import THREE, make_dataset
from test_ui_truth import fake_run, rows

RUN = "20261129-132405-test_resnet-scratch"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """3 classes of 6 images: few per class, so the summary warns about it."""
    return make_dataset(tmp_path_factory.mktemp("i18n-data") / "three", THREE, per_class=6)


@pytest.fixture
def ctx(tmp_path) -> AppContext:
    context = AppContext(AppOptions(runs_dir=tmp_path / "runs"))
    fake_run(context.runs_root, RUN, rows=rows(0.5, 0.75, 0.5))
    return context


def test_the_data_summary_in_chinese(small):
    with i18n.speaking("zh"):
        summary, table, _ = data_tab.summarize(str(small), 0.2)
    assert "**18 张图片，3 个类别**，来自 **three**" in summary
    assert "15 张用于训练，3 张用于验证" in summary
    assert "验证图片太少（circle: 1, square: 1, triangle: 1；每个类别少于 10 张）" in summary  # class names as they are
    assert "在 3 张图片上测得的准确率可能偏差约 ±50%" in summary and "验证集比例" in summary
    assert list(table.columns) == ["类别", "图片数", "训练集", "验证集"] and list(table["类别"]) == list(THREE)
    with i18n.speaking("zh"):
        empty, table, _ = data_tab.summarize(None, 0.2)
    assert empty.startswith("还没有选择图片") and list(table.columns) == ["类别", "图片数", "训练集", "验证集"]


def test_the_data_summary_in_english_is_unchanged(small):
    summary, table, _ = data_tab.summarize(str(small), 0.2)
    assert summary.startswith("**18 images in 3 classes** from **three** · 15 for training, 3 for validation")
    assert "few validation images (circle: 1, square: 1, triangle: 1; fewer than 10 per class): an accuracy " \
           "measured on 3 image(s) can be off by about ±50%. Add images, or raise the Validation share." in summary
    assert list(table.columns) == ["class", "images", "training", "validation"]


def test_a_runs_summary_and_table_in_chinese(ctx):
    with i18n.speaking("zh"):
        summary = runs_tab.run_details(ctx, RUN)[0]
        table = runs_tab.runs_table(ctx)
    assert f"**{RUN}** · 已完成" in summary
    assert "- 模型 `test_resnet`，权重来自 `none`" in summary
    assert "- 数据 `shapes.zip`：3 个类别，30 张训练图片 / 12 张验证图片" in summary
    assert "- 最佳验证准确率 **75% ± 24%" in summary and "**，在第 2 轮" in summary  # ± words: verdicts.py's
    assert "（± 是 95% 的误差范围：1.96 个二项分布标准误）" in summary
    assert list(table.columns)[:3] == ["名称", "状态", "模型"] and table["状态"][0] == "已完成"
    assert table["运行"][0] == RUN and table["轮数"][0] == "3/3"


def test_a_runs_summary_and_table_in_english_are_unchanged(ctx):
    summary = runs_tab.run_details(ctx, RUN)[0]
    assert f"**{RUN}** · completed" in summary
    assert "- data `shapes.zip`: 3 classes, 30 training / 12 validation images" in summary
    assert "- best validation accuracy **75% ± 24% on 12 images** at epoch 2" in summary
    assert "(± is a 95% margin: 1.96 binomial standard errors)" in summary
    table = runs_tab.runs_table(ctx)
    assert list(table.columns) == runs_tab.TABLE_COLUMNS and table["status"][0] == "completed"
