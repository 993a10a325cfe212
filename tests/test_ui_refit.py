"""The Train tab's "After picking the best epoch" (TrainConfig ``refit``, ``--refit``): the choice
reaches the TrainConfig, its command line and a settings file, comes back from a file, a run's
record and a reloaded page, and is named in words in English and Chinese."""
from __future__ import annotations

import json

import pytest

from ftgui import i18n
from ftgui.config import TrainConfig
from ftgui.config_files import read_config_file
from ftgui.errors import SettingError
from ftgui.record import REFIT_RULES
from ftgui.ui import train_form, train_layout, train_tab, train_tools
from ftgui.ui.words import control_name, unflag

from test_ui_handlers import ctx, form  # noqa: F401 - the fixture and the form helper

DATA = "sample:digits"


# -- the control -------------------------------------------------------------------------------
def test_the_form_starts_on_automatic_and_sends_each_choice(ctx):  # noqa: F811
    assert train_form.initial_form(ctx)["refit"] == "auto"
    assert [value for _, value in train_layout.REFIT_CHOICES] == list(REFIT_RULES)
    for rule in REFIT_RULES:
        config = train_form.config_from_form(ctx, DATA, 0.2, form(ctx, refit=rule))
        assert config.refit == rule
        assert train_form.form_from_config(ctx, config)["refit"] == rule
    assert train_form.config_from_form(ctx, DATA, 0.2, form(ctx, refit=None)).refit == "auto"
    assert "--refit yes" in train_tab.preview_command(ctx, DATA, 0.2, form(ctx, refit="yes"))
    assert "--refit no" in train_tab.preview_command(ctx, DATA, 0.2, form(ctx, refit="no"))
    assert "--refit" not in train_tab.preview_command(ctx, DATA, 0.2, form(ctx))  # the default stays implicit


def test_the_choice_survives_saving_and_loading_the_settings(ctx, tmp_path):  # noqa: F811
    for rule in ("yes", "no"):
        values = form(ctx, refit=rule)
        saved = train_tools.save_settings(ctx, DATA, 0.2, values)
        assert read_config_file(saved)["refit"] == rule  # what `ftgui train --config FILE` reads
        assert TrainConfig.from_dict({**read_config_file(saved), "data": DATA}).refit == rule
        names = list(values)
        loaded = dict(zip(names, train_tools.load_settings(ctx, names, saved)))
        assert loaded["refit"] == rule
        assert train_form.config_from_form(ctx, DATA, 0.2, loaded).refit == rule
    # a run's ftgui.json holds what the run did (auto resolved to yes or no): loading it keeps that
    record = tmp_path / "ftgui.json"
    config = train_form.config_from_form(ctx, DATA, 0.2, form(ctx))
    record.write_text(json.dumps({"status": "completed", "config": {**config.to_dict(), "refit": "yes"}}))
    names = list(form(ctx))
    assert dict(zip(names, train_tools.load_settings(ctx, names, str(record))))["refit"] == "yes"


def test_a_reloaded_page_shows_the_running_jobs_choice(ctx, three_classes):  # noqa: F811
    train_tab.start_training(ctx, str(three_classes), 0.2, form(ctx, epochs=100, refit="no"))
    try:
        assert train_tab.reattach(ctx, ["refit", "epochs"]) == ["no", 100, str(three_classes)]
    finally:
        ctx.jobs.shutdown()


def test_the_page_has_the_control_after_the_best_epoch_rule_and_every_handler_carries_it(tmp_path):
    from ftgui.ui.app import AppOptions, build_app

    demo = build_app(AppOptions(runs_dir=tmp_path / "runs"))
    by_id = {getattr(block, "elem_id", None): block for block in demo.blocks.values()}
    radio, select = by_id["refit"], by_id["select"]
    assert radio.label == "After picking the best epoch" and radio.value == "auto"
    assert [value for _, value in radio.choices] == list(REFIT_RULES)
    assert radio.choices[0][0] == ("Automatic: train once more on all images when there are fewer than 200 "
                                   "validation images")
    assert radio._id == select._id + 1  # right after "How to pick the best epoch"
    assert "--refit" not in radio.info and "refit" not in radio.label
    by_name = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    for name in ("start_training", "save_settings", "find_learning_rate"):
        assert radio in by_name[name].inputs, name
    assert radio in by_name["load_settings"].outputs


def test_the_control_is_named_in_words_in_both_languages():
    with pytest.raises(SettingError) as caught:
        TrainConfig(refit="maybe").validate()
    assert str(caught.value).startswith("--refit must be one of auto, yes, no")  # the CLI's words
    assert caught.value.worded(control_name).startswith('"After picking the best epoch" must be one of')
    assert unflag("see --refit") == 'see "After picking the best epoch"'
    with i18n.speaking("zh"):
        assert control_name("refit") == "“选出最佳的一轮之后”"
        labels = [i18n.tr(label) for label, _ in train_layout.REFIT_CHOICES]
        assert labels == ["自动：验证图片少于 200 张时，用全部图片再训练一次", "用全部图片（包括验证图片）再训练一次",
                          "保留没有用验证图片训练的模型"]
        assert "200" in i18n.tr(train_layout.REFIT_INFO)
