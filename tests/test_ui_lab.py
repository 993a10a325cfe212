"""The Init Lab tab and the gradient plots, called directly (no browser, no server): the
numbers the page shows are the seed's figures (docs/init-lab.md)."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from ftgui import FtguiError
from ftgui.runs import read_metrics
from ftgui.ui import gradients, lab_tab
from ftgui.ui.context import AppContext, AppOptions

OUTPUTS = ["status", "spread", "hist_a", "hist_b", "table_a", "table_b", "meter_a", "meter_b",
           "meter_table_a", "meter_table_b", "losses", "grads"]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> AppContext:
    return AppContext(AppOptions(runs_dir=tmp_path_factory.mktemp("lab") / "runs"))


@pytest.fixture(scope="module")
def shown(ctx) -> dict:
    """small-random vs zeros, tanh, 10 layers: what "Run the experiment" puts on the page."""
    steps: list[tuple[float, str]] = []
    result = lab_tab.experiment(ctx, [lab_tab.side("A", "small-random", "tanh", ""),
                                      lab_tab.side("B", "zeros", "tanh", "")], 10,
                                report=lambda fraction, text: steps.append((fraction, text)))
    out = dict(zip(OUTPUTS, lab_tab.views(result, 10), strict=True))
    out["progress"] = steps
    return out


def test_small_random_tanh_collapses_in_the_plotted_spread(shown):
    spread = shown["spread"]["value"]
    a = spread[spread["initialiser"] == "A: small-random · tanh"].set_index("layer")["std"]
    assert list(a.index) == list(range(1, 11))
    assert a[10] < 1e-5  # the seed: smaller is not always better (docs: 3.0e-7)
    assert all(a[k + 1] < a[k] for k in range(1, 10))
    assert 0.15 < a[1] < 0.3
    b = spread[spread["initialiser"] == "B: zeros · tanh"]["std"]
    assert (b == 0).all()
    # the table beside it shows the same figure, in scientific notation
    table = shown["table_a"]
    assert float(table.iloc[-1]["std"]) < 1e-5 and "e-07" in table.iloc[-1]["std"]


def test_histograms_show_first_middle_and_last_layer(shown):
    hist = shown["hist_a"]["value"]
    assert sorted(set(hist["layer"])) == ["layer 1", "layer 10", "layer 5"]
    for _, one in hist.groupby("layer"):
        assert math.isclose(one["share"].sum(), 1.0, abs_tol=1e-9)
    last = hist[hist["layer"] == "layer 10"]
    assert last.loc[last["share"].idxmax(), "output"] == pytest.approx(0.0, abs=0.03)  # all in the centre bin
    assert last["share"].max() == pytest.approx(1.0)


def test_symmetry_meter_zeros_is_one_unit_random_breaks_it(shown):
    zeros, random = shown["meter_table_b"], shown["meter_table_a"]
    assert list(zeros["distinct units"]) == [1, 1]
    assert list(zeros["rank"]) == [0, 0] and list(zeros["mean cosine"]) == [1.0, 1.0]
    assert (random["distinct units"] == 32).all() and (random["rank"] >= 31).all()
    assert "1 of 32</b> distinct units" in shown["meter_b"] and "the symmetry trap" in shown["meter_b"]
    assert "accuracy <b>10.0%</b>" in shown["meter_b"]
    assert "32 of 32</b>" in shown["meter_a"] and "symmetry trap" not in shown["meter_a"]
    losses = shown["losses"]["value"]
    zero_loss = losses[losses["initialiser"] == "B: zeros · tanh"]["loss"]
    assert zero_loss.max() - zero_loss.min() < 1e-6  # never moves: ln 10 throughout
    assert losses[losses["initialiser"] == "A: small-random · tanh"]["loss"].iloc[-1] < 0.5


def test_gradient_plot_sigmoid_fades_relu_not_and_zeros_has_none(ctx):
    result = lab_tab.experiment(ctx, [lab_tab.side("A", "lecun", "tanh", ""), lab_tab.side("B", "kaiming", "relu", "")],
                                10)
    grads = lab_tab.views(result, 10)[-1]["value"]
    series = {name: one.set_index("layer")["value"] for name, one in grads.groupby("run")}
    sigmoid, relu = series["A: lecun · sigmoid"], series["B: kaiming · relu"]
    assert sigmoid[10] - sigmoid[1] > 3  # docs: first/last 3.3e-6 (log10 -5.5)
    assert abs(relu[10] - relu[1]) < 1  # docs: 0.50
    assert len(series) == 4
    # zeros: with ReLU no gradient anywhere (said in words instead of a line); with sigmoid (0.5 everywhere)
    # only the output layer gets one
    zeros = lab_tab.views(lab_tab.experiment(ctx, [lab_tab.side("A", "zeros", "tanh", "")], 3, steps=5), 3)
    assert list(zeros[-1]["value"]["run"]) == ["A: zeros · sigmoid"] and list(zeros[-1]["value"]["layer"]) == [3]
    assert "No gradient at all" in zeros[0] and "A: zeros · relu" in zeros[0]
    assert "Only layer 3 gets a gradient with **A: zeros · sigmoid**" in zeros[0]


def test_progress_is_reported_for_every_step(shown):
    fractions = [fraction for fraction, _ in shown["progress"]]
    assert fractions[0] == 0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert any("training the small network" in text for _, text in shown["progress"])


def test_settings_and_choices_are_checked(ctx):
    assert lab_tab.parse_settings(" std=1, k=5 ") == {"std": "1", "k": "5"}
    with pytest.raises(FtguiError, match="NAME=VALUE"):
        lab_tab.parse_settings("std")
    with pytest.raises(FtguiError, match="activation"):
        lab_tab.side("A", "lecun", "gelu", "")
    with pytest.raises(FtguiError, match="std"):
        lab_tab.experiment(ctx, [lab_tab.side("A", "lecun", "tanh", "std=1")], 3)
    saturated = lab_tab.experiment(ctx, [lab_tab.side("A", "small-random", "tanh", "std=1")], 3, steps=1)
    table = lab_tab.views(saturated, 3)[3]
    assert all(float(value.rstrip("%")) > 85 for value in table["saturated"])  # std 1 saturates tanh
    assert "`std=0.01`" in lab_tab.describe(ctx, "small-random")
    with pytest.raises(FtguiError, match="overflowed with these settings"):  # not an internal error
        lab_tab.experiment(ctx, [lab_tab.side("A", "small-random", "relu", "std=1e30")], 3, steps=1)


# -- the Runs tab's gradient plot (grad-norms callback rows of metrics.jsonl) ------------------------
ROWS = [
    {"epoch": 1, "train_loss": 1.0, "grad_norm/stage0": 1e-4, "grad_norm/stage10": 1e-2, "grad_norm/stage2": 1e-3,
     "grad_norm/head": 0.1, "update_ratio/stage0": 1e-5, "update_ratio/head": 1e-2},
    {"epoch": 2, "train_loss": 0.5, "grad_norm/stage0": 2e-4, "grad_norm/stage10": 2e-2, "grad_norm/stage2": 0.0,
     "grad_norm/head": 0.2, "update_ratio/stage0": None, "update_ratio/head": 2e-2},
    {"epoch": 3, "stopped": True, "grad_norm/stage0": 5.0, "grad_norm/head": 5.0},
]


def test_gradient_plot_of_a_run_in_stage_order_as_log10():
    grad, ratio, text = gradients.gradient_plot(ROWS)
    frame: pd.DataFrame = grad["value"]
    assert list(dict.fromkeys(frame["stage"])) == ["stage0", "stage2", "stage10", "head"]
    assert set(frame["epoch"]) == {1, 2}  # the epoch stopped part-way is left out
    value = frame.set_index(["stage", "epoch"])["value"]
    assert value["stage0", 1] == pytest.approx(-4) and value["head", 2] == pytest.approx(math.log10(0.2))
    assert ("stage2", 2) not in value.index  # a zero gradient has no logarithm
    assert len(ratio["value"]) == 3  # the None ratio is left out
    assert "gradient diffusion" in text and "0.001 times the gradient of the head" in text
    assert "3.0 orders of magnitude" in text


def test_gradient_plot_without_grad_norms_says_how_to_get_them():
    grad, ratio, text = gradients.gradient_plot([{"epoch": 1, "train_loss": 1.0}])
    assert grad["value"] is None and ratio["value"] is None
    assert "not measured" in grad["label"] and "grad-norms" in text


# -- the Compare section ----------------------------------------------------------------------------
def test_compare_reads_only_the_sample_digits_on_a_shared_app(ctx, tmp_path):
    from ftgui.ui import lab_compare

    shared = AppContext(AppOptions(runs_dir=tmp_path / "runs", host="0.0.0.0"))
    with pytest.raises(FtguiError, match="sample digits only"):
        lab_compare.check_data(shared, str(tmp_path))
    assert lab_compare.check_data(shared, "sample:digits") == "sample:digits"
    assert lab_compare.check_data(ctx, str(tmp_path)) == str(tmp_path)  # a local app: this computer's folders
    with pytest.raises(FtguiError, match="no folder"):
        lab_compare.check_data(ctx, str(tmp_path / "missing"))
    with pytest.raises(FtguiError, match="--vary takes"):
        lab_compare.run_compare(ctx, "sample:digits", "colour=red,blue", 2, 1)
    settings = lab_compare.base_settings(ctx, "sample:digits", {"init": ["zeros", "lecun"]}, 3)
    assert settings["strategy"] == "scratch" and settings["epochs"] == 3 and settings["img_size"] == 32


@pytest.mark.slow
def test_compare_shows_mean_and_std_over_seeds_and_a_verdict(ctx):
    from ftgui.ui import lab_compare

    table, verdicts, curves = lab_compare.run_compare(ctx, "sample:digits", "init=zeros,kaiming", 2, 2)
    rows = table.set_index("configuration")
    assert rows.loc["init=zeros", "best val acc (mean ± std)"] == "0.100 ± 0.000"  # the trap: chance, every seed
    assert list(rows["seeds"]) == [2, 2]
    assert "init=zeros vs init=kaiming: 0.100 vs" in verdicts and "noise" in verdicts
    shown = curves["value"]
    assert set(shown["configuration"]) == {f"{c}{band}" for c in ("init=zeros", "init=kaiming")
                                           for band in ("", " − 1 std", " + 1 std")}
    assert curves["visible"] and set(shown["epoch"]) == {1, 2} and "One epoch" not in verdicts
    zeros = shown[shown["configuration"].str.startswith("init=zeros")]
    assert set(zeros["value"].round(3)) == {0.1}  # the trap: chance on every seed, no spread
    compared = next(p for p in ctx.runs_root.iterdir() if p.name.startswith("lab-compare-"))
    run = next(p for p in compared.rglob("metrics.jsonl")).parent
    assert any(key.startswith("grad_norm/") for key in read_metrics(run)[0])  # the Lab measures gradients
    saved = [p for p in ctx.runs_root.iterdir() if p.name.startswith("lab-compare-")]
    assert len(saved) == 1 and (saved[0] / "compare.json").is_file()


@pytest.mark.slow
def test_stop_ends_a_comparison_after_its_current_run_and_shows_the_runs_that_finished(tmp_path):
    """Stop pressed while the third of four runs was about to train: that run is left out (it
    would compare fewer epochs), the two that finished are the table, and the page says so."""
    from ftgui.ui import lab_compare

    ctx = AppContext(AppOptions(runs_dir=tmp_path / "runs"))
    assert lab_compare.stop_compare(ctx) == "Nothing is being compared."
    pressed = []

    def progress(fraction, desc=""):
        if fraction >= 0.5 and not pressed:
            pressed.append(lab_compare.stop_compare(ctx))

    table, verdicts, curves = lab_compare.run_compare(ctx, "sample:digits", "init=zeros,lecun", 2, 1,
                                                      progress=progress)
    assert pressed and pressed[0].startswith("Stopping the comparison")
    assert list(table["configuration"]) == ["init=zeros"] and list(table["seeds"]) == [2]
    assert "**Stopped** after 2 of 4 runs" in verdicts and "one configuration: nothing to compare" in verdicts
    compared = next(p for p in ctx.runs_root.iterdir() if p.name.startswith("lab-compare-"))
    saved = json.loads((compared / "compare.json").read_text())
    assert saved["stopped"] and [len(c["runs"]) for c in saved["configs"]] == [2]
    assert ctx.jobs.comparing is None  # the next Stop says nothing is being compared, and training may start


def test_only_who_started_a_comparison_may_stop_it_on_a_shared_app(tmp_path):
    from ftgui.ui import lab_compare

    shared = AppContext(AppOptions(runs_dir=tmp_path / "runs", host="0.0.0.0"))
    with shared.jobs.comparison("someone") as comparing:
        with pytest.raises(FtguiError, match="another visitor"):
            lab_compare.stop_compare(shared)
    assert not comparing.stop.is_set()
    local = AppContext(AppOptions(runs_dir=tmp_path / "local"))
    with local.jobs.comparison("someone") as comparing:
        lab_compare.stop_compare(local)  # on a local app the person at the computer may stop anything
    assert comparing.stop.is_set()


def test_a_compare_of_one_epoch_draws_no_chart_and_says_why():
    """One point a line drew dots on an x axis labelled from 1.000000 to 1.000000."""
    from ftgui.ui import lab_compare

    one = pd.DataFrame({"epoch": [1, 1], "value": [0.5, 0.7], "configuration": ["init=zeros", "init=lecun"]})
    plot, note = lab_compare.chart(one)
    assert plot == {"__type__": "update", "visible": False} and "One epoch draws no curve" in note
    two = pd.concat([one, one.assign(epoch=2)])
    plot, note = lab_compare.chart(two)
    assert plot["visible"] and plot["value"] is two and note == ""


@pytest.mark.slow
def test_runs_tab_gradient_plot_of_a_run_trained_with_grad_norms(ctx, three_classes):
    """The bundled grad-norms callback's metrics.jsonl keys are what the Runs tab plots."""
    from ftgui import engine
    from ftgui.config import TrainConfig

    config = TrainConfig(data=str(three_classes), model="test_resnet", strategy="scratch", init="kaiming", epochs=2,
                         img_size=32, batch_size=8, aug="none", out=str(ctx.runs_root / "with-grads"),
                         callbacks={"grad-norms": {}})
    engine.train(config, listener=lambda event: None, registry=ctx.registry)
    grad, ratio, text = gradients.for_run(ctx, "with-grads")
    frame = grad["value"]
    order = list(dict.fromkeys(frame["stage"]))
    assert order[0] == "stage0" and order[-1] == "head" and len(order) >= 4
    assert set(frame["epoch"]) == {1, 2} and set(ratio["value"]["epoch"]) == {1, 2}
    assert frame["value"].between(-12, 4).all()
    assert "In the last epoch the first stage (stage0) got" in text
    assert gradients.for_run(ctx, None)[0]["value"] is None
