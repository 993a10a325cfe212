"""Issue 10 at the handler level: the app tells the truth and a newcomer understands it.

What each view says (status line, progress, log, Runs table, run names, form labels) is
checked here without a browser; tests/test_browser_train.py checks what the page shows."""
from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import gradio as gr
import pytest

from ftgui.config import TrainConfig
from ftgui.record import Epoch, Log, Start, Step
from ftgui.runs import (
    METRICS_FILE,
    RUN_FILE,
    VAL_PREDICTIONS_FILE,
    atomic_write_json,
    atomic_write_jsonl,
    list_runs,
    load_run,
)
from ftgui.ui import charts, job_view, runs_tab, train_form, train_layout, train_tab, verdicts, words
from ftgui.ui.context import AppContext, AppOptions
from ftgui.ui.jobs import Job, JobManager, epoch_line
from ftgui.ui.run_names import display_name, display_names

TINY = {"model": "test_resnet", "img_size": 32, "batch_size": 8, "aug": "none", "strategy": "scratch"}


class Result:
    def __init__(self, status: str) -> None:
        self.status = status


@pytest.fixture
def ctx(tmp_path) -> AppContext:
    return AppContext(AppOptions(runs_dir=tmp_path / "runs"))


def form(ctx: AppContext, **changes) -> dict:
    return {**train_form.initial_form(ctx), **TINY, **changes}


def fake_run(root: Path, name: str, *, rows: list[dict], classes=("a", "b", "c"), val: int = 12,
             strategy: str = "scratch", init: str = "zeros", created: str = "2026-11-29T13:24:05",
             status: str = "completed", weights_source: str = "none") -> Path:
    """A run folder as the engine leaves it (record and metrics), without training."""
    run = root / name
    best = max(rows, key=lambda r: r["val_acc"]) if rows else None
    atomic_write_json(run / RUN_FILE, {
        "status": status, "config": {**TrainConfig(epochs=len(rows) or 1, model="test_resnet").to_dict(),
                                     "strategy": strategy, "init": init},
        "architecture": "test_resnet", "created": created, "label_names": list(classes),
        "strategy": {"name": strategy}, "initializer": {"name": init}, "weights_source": weights_source,
        "data": {"source": "/srv/runs/uploads/57d7abc/shapes.zip", "classes": list(classes),
                 "split": {"train": list(range(30)), "val": list(range(val))}},
        "best": best, "epochs_done": len(rows)})
    atomic_write_jsonl(run / METRICS_FILE, rows)
    return run


def rows(*accuracies: float, loss: float = 1.0986) -> list[dict]:
    return [{"epoch": i + 1, "train_loss": loss, "train_acc": a, "val_loss": loss, "val_acc": a, "seconds": 2.0}
            for i, a in enumerate(accuracies)]


# -- 5, 6: verdicts ---------------------------------------------------------------------------
def test_chance_level_and_uncertainty_in_plain_numbers():
    assert verdicts.chance(3) == pytest.approx(1 / 3) and verdicts.chance_loss(3) == pytest.approx(math.log(3))
    assert verdicts.chance_text(3) == "chance is 33%"
    # 1.96 binomial standard errors: 0.5 on 12 images -> ± 28%
    assert verdicts.accuracy_text(0.5, 12) == "50% ± 28% on 12 images"
    low, high = verdicts.wilson(1.0, 12)  # no margin at 100%: the Wilson interval instead
    assert high == 1.0 and 0.7 < low < 0.8
    assert verdicts.accuracy_text(1.0, 12) == f"100% on 12 images (95%: {low:.0%}–100%)"
    assert verdicts.accuracy_text(0.5, None) == "50%"


def test_a_model_at_chance_is_not_celebrated():
    trap = verdicts.verdict(1 / 3, 3, 12, "zeros", strategy_trains_all=True)
    assert "No better than guessing (chance is 33%)" in trap and "symmetry trap" in trap
    assert "pick kaiming or lecun" in trap
    other = verdicts.verdict(1 / 3, 3, 12, "kaiming", strategy_trains_all=True)
    assert other.startswith("⚠ No better than guessing") and "Likely causes" in other
    lucky = verdicts.verdict(0.5, 3, 6, "kaiming", strategy_trains_all=True)  # within luck's margin on 6 images
    assert lucky.startswith("⚠ Not clearly better than guessing") and "on 6 validation images" in lucky
    assert verdicts.verdict(0.9, 3, 12, "zeros", True) == ""  # it learned
    assert verdicts.verdict(0.6, 3, 300, "kaiming", True) == ""  # above chance, beyond the margin


def test_start_with_zeros_from_scratch_warns_first(ctx, three_classes):
    assert "symmetry trap" in train_layout.init_warning(ctx, "scratch", "zeros")
    assert "all the same value" in train_layout.init_warning(ctx, "scratch", "constant")
    assert train_layout.init_warning(ctx, "scratch", "kaiming") == ""
    assert train_layout.init_warning(ctx, "head-only", "zeros") == ""  # a zero head on pretrained features learns
    notice, _ = train_tab.start_training(ctx, str(three_classes), 0.25, form(ctx, init="zeros", epochs=1))
    ctx.jobs.current.join(300)
    assert "symmetry trap" in notice


def test_the_finished_message_states_chance_uncertainty_and_the_verdict():
    base = {"id": 1, "name": "run-1", "model": "test_resnet", "strategy": "scratch", "epochs": 2,
            "stop_reason": None, "error": None, "classes": 3, "val_images": 12, "init": "zeros", "trains_all": True}
    at_chance = job_view.describe_job({**base, "state": "completed", "metrics": rows(1 / 3, 1 / 3)})
    assert "33% ± 27% on 12 images" in at_chance and "chance is 33%" in at_chance
    assert "symmetry trap" in at_chance and "Try it" not in at_chance  # not celebrated
    good = job_view.describe_job({**base, "init": "kaiming", "state": "completed", "metrics": rows(0.5, 0.75)})
    assert good.startswith("✓ Finished **run-1**") and "75% ± 24% on 12 images" in good
    assert "chance is 33%" in good and "⚠" not in good


def test_charts_draw_chance_and_the_loss_axis_includes_ln_c():
    loss = charts.curves(rows(0.3, 0.4, loss=1.0988), "loss", classes=3, epochs=10)
    guessing = loss[loss["curve"] == charts.CHANCE]
    assert list(guessing["epoch"]) == [0, 10] and list(guessing["value"]) == pytest.approx([math.log(3)] * 2)
    acc = charts.curves(rows(0.3, 0.4), "acc", classes=4, epochs=10)
    assert list(acc[acc["curve"] == charts.CHANCE]["value"]) == [0.25, 0.25]
    assert charts.CURVE_COLOURS[charts.CHANCE] == charts.CHANCE_COLOUR and "stroke-dasharray" in charts.PLOT_STYLE
    # never guessing's line alone (before the first epoch): the curves added later would have no colour
    assert len(charts.curves([], "loss", classes=3, epochs=10)) == 0


def test_runs_table_and_details_say_how_uncertain_and_what_chance_is(ctx):
    fake_run(ctx.runs_root, "20261129-132405-test_resnet-scratch", rows=rows(1 / 3, 1 / 3))
    table = runs_tab.runs_table(ctx)
    assert table["val acc (saved epoch)"][0] == "33% ± 27% on 12 images" and table["chance"][0] == "33%"
    summary = runs_tab.run_details(ctx, "20261129-132405-test_resnet-scratch")[0]
    assert "33% ± 27% on 12 images" in summary and "chance is 33%" in summary and "symmetry trap" in summary
    assert "1.96 binomial standard errors" in summary
    assert "shapes.zip" in summary and "uploads" not in summary and "57d7abc" not in summary  # item 7
    predictions = [{"path": f"{c}/{i}.png", "true": c, "pred": "a", "score": 0.34} for c in "abc" for i in range(4)]
    atomic_write_json(ctx.runs_root / "20261129-132405-test_resnet-scratch" / VAL_PREDICTIONS_FILE, predictions)
    summary = runs_tab.run_details(ctx, "20261129-132405-test_resnet-scratch")[0]
    assert "It answers **a** for every validation image" in summary  # not silently


# -- 3: the epoch it really stopped at; a resumed run's own history -------------------------------
def test_a_stop_near_the_end_says_the_epoch_it_stopped_at(ctx):
    run = fake_run(ctx.runs_root, "stopped-run", rows=[*rows(*[0.5] * 149), {**rows(0.5)[0], "epoch": 150,
                                                                            "stopped": True}], status="stopped")
    record = json.loads((run / RUN_FILE).read_text())
    atomic_write_json(run / RUN_FILE, {**record, "config": {**record["config"], "epochs": 150}, "epochs_done": 150})
    assert runs_tab.epochs_text(load_run(run)) == "149/150, stopped in 150"

    def train(config, listener, stop):
        listener(Start(config.out, 3, 4, 16, 4))
        listener(Epoch(rows(0.5)[0]))
        listener(Epoch({**rows(0.5)[0], "epoch": 2}))
        listener(Step("train", 3, 1, 4, 0.9))
        listener(Epoch({**rows(0.5)[0], "epoch": 3, "stopped": True}))
        return Result("stopped")

    job = JobManager(train).start(TrainConfig(epochs=3, out=str(ctx.runs_root / "job")))
    assert job.join(10)
    status = job.status()
    assert status["epoch"] == 2 and status["stopped_in"] == 3 and status["fraction"] == pytest.approx(2 / 3)
    shown = charts.progress_html(status)
    assert "2/3 epochs done" in shown and "stopped during epoch 3" in shown and "100%" not in shown


def test_a_resumed_job_shows_its_own_history_and_time_at_once(ctx):
    run = fake_run(ctx.runs_root, "resumed", rows=rows(0.4, 0.5), status="stopped")
    gate = threading.Event()

    def resume(run_dir, listener, stop):
        gate.wait(10)
        return Result("completed")

    job = JobManager(resume_fn=resume).resume(run)
    try:
        status = job.status()  # before the engine's Start event: the run's own epochs, not nothing
        assert [m["epoch"] for m in status["metrics"]] == [1, 2] and status["elapsed_total_s"] == 4.0
        loss, acc, _ = job_view.job_curves({**status, "classes": 3})
        assert set(acc["value"]["curve"]) == {"training", "validation", charts.CHANCE}
    finally:
        gate.set()
        job.join(10)


# -- 2: a reloaded page re-attaches with the job's data; a fresh page after the end does not -------
def test_reattach_sends_the_jobs_data_and_a_fresh_page_is_not_shown_an_ended_job(ctx, three_classes):
    train_tab.start_training(ctx, str(three_classes), 0.25, form(ctx, epochs=200, init="kaiming"))
    job = ctx.jobs.current
    try:
        values = train_tab.reattach(ctx, ["strategy", "epochs"])
        assert values == ["scratch", 200, str(three_classes)]  # the data it trains on, not the default
        assert job.name in job_view.poll_fresh(ctx, None)[0]  # still running: shown
    finally:
        ctx.jobs.shutdown()
    fresh = job_view.poll_fresh(ctx, None)
    assert "No training on this page yet" in fresh[0] and job.name in fresh[0]
    assert fresh[2]["value"] is None and fresh[7] == ("detached", job.id)
    assert job_view.poll(ctx, fresh[7])[:7] == (gr.skip(),) * 7  # the timer keeps it empty
    assert "Stopped" in job_view.poll(ctx, None)[0]  # the page that followed it still shows it


# -- 10: names people can tell apart ----------------------------------------------------------------
def test_run_names_people_can_tell_apart(ctx):
    fake_run(ctx.runs_root, "20261129-132405-test_resnet-head-only", rows=rows(0.5), strategy="head-only",
             init="lecun")
    fake_run(ctx.runs_root, "20261129-132406-test_resnet-head-only", rows=rows(0.5), strategy="head-only",
             init="lecun", created="2026-11-29T13:24:40")
    fake_run(ctx.runs_root, "20261129-140000-test_resnet-predict-only", rows=rows(0.5), strategy="predict-only",
             init="timm-default", created="2026-11-29T14:00:00")
    listed = list_runs(ctx.runs_root)
    assert display_name(load_run(ctx.runs_root / "20261129-132405-test_resnet-head-only")) == \
        "test_resnet · head-only · lecun · 13:24"
    names = display_names(listed)
    assert names["20261129-132405-test_resnet-head-only"] == "test_resnet · head-only · lecun · 13:24"
    assert names["20261129-132406-test_resnet-head-only"] == "test_resnet · head-only · lecun · 13:24 #2"
    assert names["20261129-140000-test_resnet-predict-only"] == "test_resnet · predict-only · 14:00"
    table = runs_tab.runs_table(ctx)
    assert set(table["name"]) == set(names.values()) and set(table["run"]) == set(names)  # folders stay
    assert dict((v, k) for k, v in runs_tab.run_choices(ctx)) == names
    update = runs_tab.compare(ctx, list(names), "val_acc")
    assert set(update["value"]["run"]) == set(names.values())


# -- 1: the Compare chart changes only its data --------------------------------------------------------
def test_compare_sends_data_and_label_only(ctx):
    fake_run(ctx.runs_root, "a", rows=rows(0.3, 0.4))
    update = runs_tab.compare(ctx, ["a"], "val_loss")
    assert "y_title" not in update and "x_lim" not in update  # see charts.epoch_plot
    assert update["label"] == "Curves: validation loss" and list(update["value"]["value"]) == [1.0986, 1.0986]
    assert "choose runs" in runs_tab.compare(ctx, [], "val_acc")["label"]


# -- 11: the log's line per epoch ----------------------------------------------------------------------
def test_the_log_has_a_line_per_epoch(ctx):
    line = epoch_line({**rows(0.5)[0], "epoch": 3}, 15)
    assert line == "epoch 3/15: training loss 1.0986, accuracy 50.0% · validation loss 1.0986, accuracy 50.0% · 2.0 s"

    def train(config, listener, stop):
        listener(Log("reading images"))
        listener(Start(config.out, 2, 4, 16, 4))
        for row in rows(0.5, 0.6):
            listener(Epoch(row))
        return Result("completed")

    job = JobManager(train).start(TrainConfig(epochs=2, out=str(ctx.runs_root / "job")))
    assert job.join(10)
    assert [line.split(":")[0] for line in job.status()["log"]] == ["reading images", "epoch 1/2", "epoch 2/2"]


# -- 18: a time-left estimate that does not jump about ---------------------------------------------------
def test_the_time_left_is_smoothed():
    job = Job(TrainConfig(epochs=10), work=lambda **_: Result("completed"))
    assert job._smoothed_eta(100.0, now=0.0) == 100.0
    jumped = job._smoothed_eta(60.0, now=1.0)  # a raw estimate that jumps by 39 s...
    assert 80 < jumped < 99  # ...moves the shown one only part of the way
    assert job._smoothed_eta(None, now=2.0) is None


# -- 7: beginners' words first -------------------------------------------------------------------------
def test_modes_and_plugin_parameters_in_words(ctx):
    assert words.mode_label("head-only") == "Train only the last layer (state 2)"
    assert words.mode_label("full") == "Train everything (state 3)"
    assert words.mode_label("gradual-unfreeze") == "gradual unfreeze"
    full = ctx.registry.strategy("full")
    assert words.param_label(full.params[0]) == "backbone learning-rate factor"
    assert train_tab.preview_command(ctx, None, 0.2, form(ctx)).startswith("# choose your images")
    with pytest.raises(Exception) as caught:
        train_form.config_from_form(ctx, "sample:digits", 0.2, form(ctx, seed=None))
    assert "--" not in str(caught.value)
    assert train_form.config_from_form(ctx, "sample:digits", 0.2, form(ctx, epochs=None)).epochs == "auto"


def test_plugin_texts_in_plain_words(ctx):
    zeros = words.plain_words(ctx.registry.initializer("zeros").description)
    assert "seed's trap" not in zeros and "symmetry trap" in zeros
    lecun = words.plain_words(ctx.registry.initializer("lecun").description)
    assert "fan_in" not in lecun and "fan-in (a unit's number of inputs)" in lecun


def test_the_train_tab_shows_the_data_summary(three_classes):
    shown = train_tab.data_overview(str(three_classes), 0.25)
    assert "three" in shown and "36 images in 3 classes" in shown and str(three_classes.parent) not in shown
    assert "none yet" in train_tab.data_overview(None)


def test_the_time_left_follows_the_typical_epoch_not_the_slow_first(ctx):
    gate = threading.Event()
    now = [0.0]  # a fake wall clock: the epochs end at 30, 31, 32.2 and 33 s, the step at 33.5 s

    def train(config, listener, stop):
        listener(Start(config.out, 10, 4, 16, 4))
        for epoch, took in ((1, 30.0), (2, 1.0), (3, 1.2), (4, 0.8)):
            now[0] += took
            listener(Epoch({**rows(0.5)[0], "epoch": epoch, "seconds": took}))
        now[0] += 0.5
        listener(Step("train", 5, 2, 4, 0.9))
        gate.wait(10)
        return Result("completed")

    job = JobManager(train, clock=lambda: now[0]).start(  # one training, no second one on all images (--refit)
        TrainConfig(epochs=10, refit="no", out=str(ctx.runs_root / "job")))
    try:
        while job.status()["step"] is None:
            time.sleep(0.01)
        status = job.status()
        assert status["eta_raw_s"] == pytest.approx(1.0 * 5.5)  # 5.5 epochs to go at 1 s, not at 33.5 s / 4.5
        assert status["eta_s"] == pytest.approx(5.5)  # and shown so at once, not smoothed from the slow start
    finally:
        gate.set()
        job.join(10)
