"""The Train tab's "How to pick the best epoch" (TrainConfig ``select``, ``--select`` on the
command line), and beside it "After picking the best epoch" (``refit``, ``--refit``): the choice
reaches the TrainConfig, its command line and a settings file, comes back from a file or a run's
record and into a reloaded page, and is worded in the reader's language, never as a flag."""
from __future__ import annotations

import json

import pytest

from ftgui import i18n
from ftgui.config import TrainConfig
from ftgui.config_files import read_config_file
from ftgui.errors import SettingError
from ftgui.record import REFIT_RULES, SELECT_RULES
from ftgui.ui import train_form, train_layout, train_tab, train_tools
from ftgui.ui.words import control_name, unflag

from test_ui_handlers import ctx, form  # noqa: F401 - the fixture and the form helper

DATA = "sample:digits"


RULES = {"select": (SELECT_RULES, train_layout.SELECT_CHOICES), "refit": (REFIT_RULES, train_layout.REFIT_CHOICES)}
"""The two choices about the saved epoch, wired alike: the rule that picks it, and whether the run
then trains once more on all images (its own behaviour is tested in test_ui_refit.py)."""


@pytest.mark.parametrize("name", RULES)
def test_the_form_starts_on_automatic_and_sends_each_choice(ctx, name):  # noqa: F811
    rules, choices = RULES[name]
    assert train_form.initial_form(ctx)[name] == "auto"
    assert [value for _, value in choices] == list(rules)
    for rule in rules:
        config = train_form.config_from_form(ctx, DATA, 0.2, form(ctx, **{name: rule}))
        assert getattr(config, name) == rule
        assert train_form.form_from_config(ctx, config)[name] == rule
    assert getattr(train_form.config_from_form(ctx, DATA, 0.2, form(ctx, **{name: None})), name) == "auto"
    for rule in rules[1:]:
        assert f"--{name} {rule}" in train_tab.preview_command(ctx, DATA, 0.2, form(ctx, **{name: rule}))
    assert f"--{name}" not in train_tab.preview_command(ctx, DATA, 0.2, form(ctx))  # the default stays implicit


@pytest.mark.parametrize("name", RULES)
def test_the_choice_survives_saving_and_loading_the_settings(ctx, tmp_path, name):  # noqa: F811
    rules, _ = RULES[name]
    for rule in rules[1:]:
        values = form(ctx, **{name: rule})
        saved = train_tools.save_settings(ctx, DATA, 0.2, values)
        assert read_config_file(saved)[name] == rule  # what `ftgui train --config FILE` reads
        assert getattr(TrainConfig.from_dict({**read_config_file(saved), "data": DATA}), name) == rule
        names = list(values)
        loaded = dict(zip(names, train_tools.load_settings(ctx, names, saved)))
        assert loaded[name] == rule
        assert getattr(train_form.config_from_form(ctx, DATA, 0.2, loaded), name) == rule
    # a run's ftgui.json holds what the run did (auto resolved): loading it keeps that
    record = tmp_path / "ftgui.json"
    config = train_form.config_from_form(ctx, DATA, 0.2, form(ctx))
    record.write_text(json.dumps({"status": "completed", "config": {**config.to_dict(), name: rules[-1]}}))
    names = list(form(ctx))
    assert dict(zip(names, train_tools.load_settings(ctx, names, str(record))))[name] == rules[-1]


@pytest.mark.parametrize("name", RULES)
def test_a_reloaded_page_shows_the_running_jobs_choice(ctx, three_classes, name):  # noqa: F811
    chosen = RULES[name][0][1]
    train_tab.start_training(ctx, str(three_classes), 0.2, form(ctx, epochs=100, **{name: chosen}))
    try:
        assert train_tab.reattach(ctx, [name, "epochs"]) == [chosen, 100, str(three_classes)]
    finally:
        ctx.jobs.shutdown()


WORDS = {
    "select": ("How to pick the best epoch", "luck", "auto, accuracy, loss", "“如何选出最佳的一轮”",
               ["自动（按验证图片的数量选择）", "验证准确率最高", "验证损失最低（对几轮取平均）"],
               train_layout.SELECT_INFO),
    "refit": ("After picking the best epoch", "maybe", "auto, yes, no", "“选出最佳的一轮之后”",
              ["自动：验证图片少于 200 张时，用全部图片再训练一次", "用全部图片（包括验证图片）再训练一次",
               "保留没有用验证图片训练的模型"], train_layout.REFIT_INFO),
}
"""Per control: its label, a wrong value, the values its error lists, its Chinese name, its
choices in Chinese and its help."""


@pytest.mark.parametrize("name", RULES)
def test_the_page_has_the_control_and_every_handler_carries_it(tmp_path, name):
    from ftgui.ui.app import AppOptions, build_app

    demo = build_app(AppOptions(runs_dir=tmp_path / "runs"))
    radio = next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == name)
    assert radio.label == WORDS[name][0] and radio.value == "auto"
    assert [value for _, value in radio.choices] == list(RULES[name][0])
    assert not any(f"--{name}" in text or name == text for text in (radio.label, radio.info))
    by_name = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    for handler in ("start_training", "save_settings", "find_learning_rate"):
        assert radio in by_name[handler].inputs, handler
    assert radio in by_name["load_settings"].outputs


@pytest.mark.parametrize("name", RULES)
def test_the_control_is_named_in_words_in_both_languages(name):
    label, wrong, values, chinese, chinese_choices, info = WORDS[name]
    with pytest.raises(SettingError) as caught:
        TrainConfig(**{name: wrong}).validate()
    assert str(caught.value).startswith(f"--{name} must be one of {values}")  # the CLI's words
    assert caught.value.worded(control_name).startswith(f'"{label}" must be one of')
    assert unflag(f"see --{name}") == f'see "{label}"'
    with i18n.speaking("zh"):
        assert control_name(name) == chinese
        assert [i18n.tr(text) for text, _ in RULES[name][1]] == chinese_choices
        assert "200" in i18n.tr(info)
