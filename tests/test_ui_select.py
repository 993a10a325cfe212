"""The Train tab's "How to pick the best epoch" (TrainConfig ``select``, ``--select`` on the
command line): the choice reaches the TrainConfig, its command line and a settings file, comes
back from a file or a run's record and into a reloaded page, and is worded in the reader's
language, never as a flag."""
from __future__ import annotations

import json

import pytest

from ftgui import i18n
from ftgui.config import TrainConfig
from ftgui.config_files import read_config_file
from ftgui.errors import SettingError
from ftgui.record import SELECT_RULES
from ftgui.ui import train_form, train_layout, train_tab, train_tools
from ftgui.ui.words import control_name, unflag

from test_ui_handlers import ctx, form  # noqa: F401 - the fixture and the form helper

DATA = "sample:digits"


def test_the_form_starts_on_automatic_and_sends_each_choice(ctx):  # noqa: F811
    assert train_form.initial_form(ctx)["select"] == "auto"
    assert [value for _, value in train_layout.SELECT_CHOICES] == list(SELECT_RULES)
    for rule in SELECT_RULES:
        config = train_form.config_from_form(ctx, DATA, 0.2, form(ctx, select=rule))
        assert config.select == rule
        assert train_form.form_from_config(ctx, config)["select"] == rule
    assert train_form.config_from_form(ctx, DATA, 0.2, form(ctx, select=None)).select == "auto"
    command = train_tab.preview_command(ctx, DATA, 0.2, form(ctx, select="loss"))
    assert "--select loss" in command
    assert "--select" not in train_tab.preview_command(ctx, DATA, 0.2, form(ctx))  # the default stays implicit


def test_the_choice_survives_saving_and_loading_the_settings(ctx, tmp_path):  # noqa: F811
    for rule in ("accuracy", "loss"):
        values = form(ctx, select=rule)
        saved = train_tools.save_settings(ctx, DATA, 0.2, values)
        assert read_config_file(saved)["select"] == rule  # what `ftgui train --config FILE` reads
        assert TrainConfig.from_dict({**read_config_file(saved), "data": DATA}).select == rule
        names = list(values)
        loaded = dict(zip(names, train_tools.load_settings(ctx, names, saved)))
        assert loaded["select"] == rule
        assert train_form.config_from_form(ctx, DATA, 0.2, loaded).select == rule
    # a run's ftgui.json holds the rule the run used (auto resolved): loading it keeps that rule
    record = tmp_path / "ftgui.json"
    config = train_form.config_from_form(ctx, DATA, 0.2, form(ctx))
    record.write_text(json.dumps({"status": "completed", "config": {**config.to_dict(), "select": "loss"}}))
    names = list(form(ctx))
    assert dict(zip(names, train_tools.load_settings(ctx, names, str(record))))["select"] == "loss"


def test_a_reloaded_page_shows_the_running_jobs_choice(ctx, three_classes):  # noqa: F811
    train_tab.start_training(ctx, str(three_classes), 0.2, form(ctx, epochs=100, select="accuracy"))
    try:
        assert train_tab.reattach(ctx, ["select", "epochs"]) == ["accuracy", 100, str(three_classes)]
    finally:
        ctx.jobs.shutdown()


def test_the_page_has_the_control_and_every_handler_carries_it(tmp_path):
    from ftgui.ui.app import AppOptions, build_app

    demo = build_app(AppOptions(runs_dir=tmp_path / "runs"))
    radio = next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "select")
    assert radio.label == "How to pick the best epoch" and radio.value == "auto"
    assert [value for _, value in radio.choices] == list(SELECT_RULES)
    assert not any("--select" in text or "select" == text for text in (radio.label, radio.info))
    by_name = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    for name in ("start_training", "save_settings", "find_learning_rate"):
        assert radio in by_name[name].inputs, name
    assert radio in by_name["load_settings"].outputs


def test_the_control_is_named_in_words_in_both_languages():
    with pytest.raises(SettingError) as caught:
        TrainConfig(select="luck").validate()
    assert str(caught.value).startswith("--select must be one of auto, accuracy, loss")  # the CLI's words
    assert caught.value.worded(control_name).startswith('"How to pick the best epoch" must be one of')
    assert unflag("see --select") == 'see "How to pick the best epoch"'
    with i18n.speaking("zh"):
        assert control_name("select") == "“如何选出最佳的一轮”"
        labels = [i18n.tr(label) for label, _ in train_layout.SELECT_CHOICES]
        assert labels == ["自动（按验证图片的数量选择）", "验证准确率最高", "验证损失最低（对几轮取平均）"]
        assert "200" in i18n.tr(train_layout.SELECT_INFO)
