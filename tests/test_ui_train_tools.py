"""Train tab tools: the learning-rate finder fills the form; settings saved to a file and
loaded back give the same form (and `ftgui train --config` reads the file)."""
from __future__ import annotations

import math

import pytest

from ftgui.config import TrainConfig
from ftgui.config_files import read_config_file
from ftgui.ui import train_form, train_tools
from ftgui.ui.jobs import Busy

from test_ui_handlers import ctx, form  # noqa: F401 - the fixture and the form helper


def test_find_a_learning_rate_fills_the_form_and_plots_the_test(ctx, three_classes):  # noqa: F811
    lr, plot, note = train_tools.find_learning_rate(ctx, str(three_classes), 0.2, form(ctx))
    assert 1e-5 < lr < 1.0 and f"**{lr:g}**" in note and lr == float(f"{lr:.2g}")  # two digits, as it says
    frame = plot["value"]
    tested = frame[frame["curve"] == "training loss (smoothed)"]
    assert len(tested) >= 10 and tested["log10 learning rate"].min() == pytest.approx(-7)
    marked = frame[frame["curve"] == "suggested"]["log10 learning rate"].unique()
    assert list(marked) == [pytest.approx(math.log10(lr))]


def test_find_a_learning_rate_waits_while_a_training_runs(ctx, three_classes):  # noqa: F811
    from ftgui.ui import train_tab

    train_tab.start_training(ctx, str(three_classes), 0.2, form(ctx, epochs=200))
    try:
        with pytest.raises(Busy):
            train_tools.find_learning_rate(ctx, str(three_classes), 0.2, form(ctx))
    finally:
        ctx.jobs.shutdown()


def test_settings_saved_and_loaded_back_give_the_same_form(ctx, three_classes):  # noqa: F811
    values = form(ctx, init="sparse", init_sparse_k=3, epochs=7, lr=0.02, callbacks=["early-stop"],
                  callback_early_stop_patience=5)
    saved = train_tools.save_settings(ctx, str(three_classes), 0.2, values)
    assert saved.endswith(".yaml")
    config = TrainConfig.from_dict({**read_config_file(saved), "data": str(three_classes)})
    assert config == train_form.config_from_form(ctx, str(three_classes), 0.2, values)
    names = list(values)
    loaded = dict(zip(names, train_tools.load_settings(ctx, names, saved)))
    again = train_form.config_from_form(ctx, str(three_classes), 0.2, loaded)
    assert again == config and again.callbacks == {"early-stop": {"patience": 5}}
