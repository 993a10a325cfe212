"""The Runs and Predict tabs say truthfully what a run's saved model is when it trained once more on
all images after the validation chose the epoch (``--refit``): in plain words, with the images and
the epoch, whether that was automatic, and that the validation results were measured before the
saved model also learned from those images; a stopped, failed or interrupted one keeps the
validated model; a run without one (or an old record) shows nothing new. English and Chinese."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ftgui import i18n, runs
from ftgui.config import TrainConfig
from ftgui.engine import train
from ftgui.ui import predict_tab, runs_tab
from ftgui.ui.context import AppContext, AppOptions

TINY = dict(model="test_resnet", strategy="scratch", init="kaiming", img_size=32, batch_size=8, aug="none",
            epochs=2, lr=3e-3)
COLUMN = "then trained on all images"
BEFORE = ", measured before the saved model also learned from these validation images"


@pytest.fixture(scope="module")
def root(three_classes, tmp_path_factory) -> Path:
    """A runs folder: ``auto`` (refit auto, which trains again: few validation images), ``no``
    (refit no), and copies of ``auto`` whose record says the training again was stopped, failed,
    interrupted (running, nobody training it), set by hand, or is an old record without it."""
    root = tmp_path_factory.mktemp("refit-runs") / "runs"
    train(TrainConfig(data=str(three_classes), out=str(root / "auto"), **TINY))
    train(TrainConfig(data=str(three_classes), out=str(root / "no"), refit="no", **TINY))
    changes = {"stopped": {"status": "stopped"}, "failed": {"status": "failed", "error": "RuntimeError: boom"},
               "interrupted": {"status": "running"}, "yes": {"auto": False}, "old": None}
    for name, change in changes.items():
        shutil.copytree(root / "auto", root / name)
        record = json.loads((root / name / runs.RUN_FILE).read_text())
        if change is None:
            del record["refit"]
        else:
            record["refit"].update(change)
        (root / name / runs.RUN_FILE).write_text(json.dumps(record))
    return root


@pytest.fixture
def ctx(root) -> AppContext:
    return AppContext(AppOptions(runs_dir=root))


def facts(root: Path) -> tuple[int, int, int]:
    """(all images, validation images, the validated epoch) of the ``auto`` run, as its record says."""
    record = runs.load_run(root / "auto").info
    assert record.refit is not None and record.best is not None
    return record.refit["images"], len(record.data["split"]["val"]), record.best["epoch"]


def test_the_engine_made_what_the_tab_reads(root):
    auto, no = runs.load_run(root / "auto").info, runs.load_run(root / "no").info
    assert auto.refit and auto.refit["status"] == "completed" and auto.refit["auto"] is True
    assert no.refit is None
    images, val, epoch = facts(root)
    assert 0 < val < 200 and images == val + len(auto.data["split"]["train"]) and auto.refit["epoch"] == epoch


def test_a_completed_refit_is_said_in_plain_words_and_the_accuracy_is_from_before(ctx, root):
    images, val, epoch = facts(root)
    summary = runs_tab.run_details(ctx, "auto")[0]
    assert (f"- the saved model then trained once more, from the same start, on all {images} images (the {val} "
            f"validation ones too) up to epoch {epoch}, the epoch the validation chose (refit)") in summary
    assert f"  - automatic: fewer than 200 validation images ({val})" in summary
    best = next(line for line in summary.splitlines() if "validation accuracy **" in line)
    assert f"at epoch {epoch}{BEFORE}" in best or f"**{BEFORE}" in best  # the accuracy line itself says it
    assert "set to yes in the settings" not in summary and "the saved model is the validated one" not in summary

    by_hand = runs_tab.run_details(ctx, "yes")[0]
    assert "  - set to yes in the settings, not chosen automatically" in by_hand and "automatic:" not in by_hand


def test_the_validation_views_are_labelled_as_the_validated_models_from_before(ctx, root):
    _, val, epoch = facts(root)
    summary, confusion, per_class, pairs, mistakes = runs_tab.run_details(ctx, "auto")
    assert confusion.startswith('<p class="ftgui-refit-note"')
    assert (f"are the validated model's at epoch {epoch}, measured before it trained once more on all images. "
            "The saved model has learned these images since, so they no longer test it") in confusion
    assert "<table>" in confusion and per_class["images"].sum() == val  # the views themselves are unchanged
    assert mistakes["label"].startswith("Misclassified validation images (true → predicted), before the model also "
                                        "trained on them: ")
    for plain in ("no", "stopped", "failed", "old"):  # the saved model is the validated one: nothing to add
        _, confusion, _, _, mistakes = runs_tab.run_details(ctx, plain)
        assert "ftgui-refit-note" not in confusion and "before the model" not in mistakes["label"], plain


def test_the_runs_tab_never_predicts_the_validation_images_with_the_saved_model(ctx, monkeypatch):
    """The views read val_predictions.json (the validated model's); predicting those images again with
    a refit model would present training images as a validation result."""
    def refuse(*args, **kwargs):
        raise AssertionError("the Runs tab loaded a model to predict")

    monkeypatch.setattr(ctx.predictors, "for_run", refuse)
    monkeypatch.setattr(ctx.predictors, "for_pretrained", refuse)
    for name in ("auto", "no", "stopped"):
        runs_tab.run_details(ctx, name)


@pytest.mark.parametrize("name, words", [
    ("stopped", "(refit) was stopped: the saved model is the validated one, from epoch {epoch}"),
    ("failed", "(refit) failed: the saved model is the validated one, from epoch {epoch}"),
    ("interrupted", "(refit) was interrupted: the saved model is the validated one, from epoch {epoch}"),
])
def test_a_refit_that_did_not_complete_keeps_the_validated_model(ctx, root, name, words):
    images, _, epoch = facts(root)
    summary = runs_tab.run_details(ctx, name)[0]
    assert f"- training once more on all {images} images up to epoch {epoch} " + words.format(epoch=epoch) in summary
    assert BEFORE not in summary and "trained once more, from the same start" not in summary
    assert ("  - ✗ RuntimeError: boom" in summary) == (name == "failed")


def test_no_refit_and_old_records_show_nothing_new(ctx):
    for name in ("no", "old"):
        summary = runs_tab.run_details(ctx, name)[0]
        assert "once more" not in summary and "refit" not in summary and BEFORE not in summary, name
        assert "automatic: fewer than" not in summary


def test_the_table_marks_it_in_its_own_column(ctx, root):
    images, _, _ = facts(root)
    table = runs_tab.runs_table(ctx)
    assert list(table.columns) == runs_tab.TABLE_COLUMNS
    assert runs_tab.TABLE_COLUMNS.index(COLUMN) == runs_tab.TABLE_COLUMNS.index("val acc (saved epoch)") + 1
    cells = table.set_index("run")[COLUMN]
    assert cells["auto"] == cells["yes"] == f"yes, all {images} images; val acc from before"
    assert cells["stopped"] == "stopped: validated model kept" and cells["failed"] == "failed: validated model kept"
    assert cells["interrupted"] == "interrupted: validated model kept"
    assert cells["no"] == cells["old"] == ""
    accuracy = table.set_index("run")["val acc (saved epoch)"]
    assert accuracy["auto"] == accuracy["old"]  # the accuracy cell itself is as before


def test_the_predict_tab_says_the_accuracy_is_from_before(ctx):
    labels = {value: label for label, value in predict_tab.source_choices(ctx)}
    assert labels["auto"].endswith(", measured before it trained on all images")
    assert " · validation accuracy " in labels["auto"]
    for name in ("no", "stopped", "old"):
        assert " · validation accuracy " in labels[name] and "measured before" not in labels[name], name
    with i18n.speaking("zh"):
        zh = {value: label for label, value in predict_tab.source_choices(ctx)}
    assert zh["auto"].endswith("（在用全部图片再训练之前测得）") and "验证准确率" in zh["auto"]
    assert "之前测得" not in zh["no"]


def test_another_visitors_view_of_a_refit_run_says_the_accuracy_is_from_before(ctx):
    assert BEFORE in runs_tab._summary_of_another(ctx, runs.load_run(ctx.run_path("auto")))
    assert BEFORE not in runs_tab._summary_of_another(ctx, runs.load_run(ctx.run_path("stopped")))


def test_in_chinese(ctx, root):
    images, val, epoch = facts(root)
    with i18n.speaking("zh"):
        summary, confusion, _, _, mistakes = runs_tab.run_details(ctx, "auto")
        stopped = runs_tab.run_details(ctx, "stopped")[0]
        by_hand = runs_tab.run_details(ctx, "yes")[0]
        table = runs_tab.runs_table(ctx)
        plain = runs_tab.run_details(ctx, "no")[0]
    assert (f"- 保存的模型随后从同一起点，用全部 {images} 张图片（包括那 {val} 张验证图片）再训练了一次，"
            f"训练到第 {epoch} 轮") in summary
    assert f"  - 自动决定：验证图片少于 200 张（{val} 张）" in summary
    assert "，这是在保存的模型也学习这些验证图片之前测得的" in summary
    assert f"是第 {epoch} 轮经过验证的模型的结果，是在它用全部图片再训练之前测得的" in confusion
    assert mistakes["label"].startswith("分错的验证图片（真实 → 预测），这是模型也学习这些图片之前的结果：")
    assert f"- 用全部 {images} 张图片再训练到第 {epoch} 轮（refit）已被停止：保存的模型是经过验证的那个" in stopped
    assert "在设置中设为 yes，不是自动决定的" in by_hand
    cells = table.set_index("运行")["之后用全部图片再训练"]
    assert cells["auto"] == f"是，全部 {images} 张图片；验证准确率是再训练之前的"
    assert cells["stopped"] == "已停止：保留经过验证的模型" and cells["no"] == ""
    assert "再训练" not in plain
    for text in (summary, stopped, by_hand):
        assert "trained once more" not in text and "validated one" not in text and "automatic" not in text
