"""Issue 13, the Train tab: what a training says about its result (chance level, the symmetry
trap) comes out in the reader's language with the seed's own Chinese terms, and in English
exactly as before."""
from __future__ import annotations

from ftgui import i18n
from ftgui.config import TrainConfig
from ftgui.errors import SettingError
from ftgui.ui import charts, job_view, verdicts
from ftgui.ui.words import control_name

AT_CHANCE = {"id": 1, "name": "run-1", "model": "test_resnet", "strategy": "scratch", "epochs": 2,
             "state": "completed", "stop_reason": None, "error": None, "classes": 3, "val_images": 12,
             "init": "zeros", "trains_all": True,
             "metrics": [{"epoch": epoch, "val_acc": 1 / 3, "val_loss": 1.1} for epoch in (1, 2)]}
"""A run from all-zero weights that ended no better than guessing 3 classes, on 12 images."""


def test_a_run_at_chance_level_is_explained_in_chinese():
    with i18n.speaking("zh"):
        status = job_view.describe_job(AT_CHANCE)
    assert status.startswith("✓ **run-1** 训练完成：第 1 轮的验证准确率最佳，为 33% ± 27%（基于 12 张图片）；"
                             "随机猜测水平为 33%。")
    assert "⚠ 不比随机猜测好（随机猜测水平为 33%）：模型还没有学会区分这些类别。" in status
    assert "原因：权重全都初始化为 0，于是每个单元算出和学到的都一样（对称性陷阱）" in status
    assert "预测" not in status  # a model that learned nothing is not offered for predictions


def test_the_same_status_in_english_is_unchanged():
    assert job_view.describe_job(AT_CHANCE) == (
        "✓ Finished **run-1**: best validation accuracy 33% ± 27% on 12 images (epoch 1); chance is 33%.\n\n"
        "⚠ No better than guessing (chance is 33%): the model has not learned to tell the classes apart. "
        "Why: every weight started at all zeros, so every unit computes and learns the same thing (the symmetry "
        "trap); pick kaiming or lecun (small random numbers scaled to each layer's inputs) instead.")


def test_the_warning_before_starting_from_zeros():
    english = verdicts.start_warning(True, "zeros")
    assert english == ("⚠ This will not learn: every weight started at all zeros, so every unit computes and learns "
                       "the same thing (the symmetry trap); pick kaiming or lecun (small random numbers scaled to "
                       "each layer's inputs) instead.")
    with i18n.speaking("zh"):
        assert verdicts.start_warning(True, "zeros") == (
            "⚠ 这样学不到东西：权重全都初始化为 0，于是每个单元算出和学到的都一样（对称性陷阱）；"
            "请改选 kaiming 或 lecun（按每层输入个数缩放的小随机数）。")
        assert "全都初始化为同样的值" in verdicts.start_warning(True, "constant")
        assert verdicts.start_warning(False, "zeros") == ""  # a zero head on pretrained features learns
    assert verdicts.start_warning(True, "zeros") == english


def test_setting_errors_name_the_control_in_the_readers_language():
    try:
        TrainConfig(bias_init="lots").bias_value()
    except SettingError as exc:
        error = exc
    cli = "--bias-init takes 'zero' or a number such as 0.01, not 'lots'"
    assert str(error) == cli
    assert error.worded(control_name) == "\"Bias start value\" takes 'zero' or a number such as 0.01, not 'lots'"
    with i18n.speaking("zh"):
        assert error.worded(control_name) == "“偏差初始值” 只接受 'zero' 或一个数（如 0.01），而不是 'lots'"
    assert str(error) == cli


def test_the_curves_are_named_in_the_readers_language_and_keep_their_colours():
    rows = [{"epoch": 1, "train_acc": 0.4, "val_acc": 0.3}]
    with i18n.speaking("zh"):
        names = set(charts.curves(rows, "acc", classes=3, epochs=2)["curve"])
    assert names == {"训练集", "验证集", "随机猜测水平"}
    colours = charts.curve_colours()
    assert colours["随机猜测水平"] == colours[charts.CHANCE] == charts.CHANCE_COLOUR
    assert colours["训练集"] == colours["training"]
