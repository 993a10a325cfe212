"""Issue 15: epochs, batch size and warm-up chosen from the data when none is given, said in the
log and recorded with the reason; an explicit value wins; resume keeps what was chosen. And the
best epoch chosen on the smoothed validation loss when the validation set is small."""
from __future__ import annotations

import json

import pytest

from ftgui import FtguiError, runs
from ftgui.cli import main
from ftgui.config import TrainConfig
from ftgui.engine import resume, train
from ftgui.record import Epoch, best_row, is_better, loss_window, selection_rule, smoothed_loss
from ftgui.sample_data import DEMO_BACKBONE
from ftgui.training import auto_settings, writer
from ftgui.training.auto_settings import FINE_TUNE, HEAD, SCRATCH, choose

DIGITS = ["--data", "sample:digits", "--weights", str(DEMO_BACKBONE), "--strategy", "head-only",
          "--img-size", "32", "--aug", "none", "--device", "cpu"]
"""400 digits (320 training images), only the new head learning: auto picks 30 epochs of batch 32."""


# -- the rules -------------------------------------------------------------------------------
def test_twenty_and_two_thousand_images_per_class_get_different_sensible_sizes():
    few = choose(10 * 16, FINE_TUNE)  # 10 classes x 20 images, 80% of them for training
    many = choose(10 * 1600, FINE_TUNE)  # 10 classes x 2000 images
    assert (few.batch_size, few.epochs, few.warmup_epochs) == (16, 50, 5)
    assert (many.batch_size, many.epochs, many.warmup_epochs) == (32, 5, 1)
    for sizes, images in ((few, 160), (many, 16000)):
        steps = images // sizes.batch_size
        assert steps >= 8  # an epoch is more than a couple of steps
        assert 500 <= steps * sizes.epochs <= 2500  # about the target, more only when 5 epochs are more
        assert 0 < sizes.warmup_epochs <= sizes.epochs // 4  # warm-up, within the scheduler's cap
    assert set(few.reasons) == {"epochs", "batch_size", "warmup_epochs"}
    assert "160 training images" in few.reasons["batch_size"] and "500 steps" in few.reasons["epochs"]


def test_the_kind_of_training_sets_the_steps_and_the_warm_up():
    head, scratch = choose(160, HEAD), choose(160, SCRATCH)
    assert (head.epochs, head.warmup_epochs) == (30, 0)  # 300 steps of 10; nothing pretrained to protect
    assert (scratch.epochs, scratch.warmup_epochs) == (100, 10)  # 3000 steps wanted: capped at 100 epochs
    tiny = choose(12, FINE_TUNE)  # a handful of images: batches of 8, and at most 100 epochs
    assert (tiny.batch_size, tiny.epochs) == (8, 100)


def test_a_given_value_wins_and_the_others_follow_it():
    sizes = choose(160, FINE_TUNE, epochs=7, batch_size=4)
    assert (sizes.epochs, sizes.batch_size, sizes.warmup_epochs) == (7, 4, 1)
    assert set(sizes.reasons) == {"warmup_epochs"}
    assert choose(160, FINE_TUNE, epochs=3, batch_size=4, warmup_epochs=0).record(160, FINE_TUNE) is None
    assert auto_settings.auto_epochs(16000, 16, FINE_TUNE) == 5  # at least 5 epochs


def test_auto_is_a_setting_value_and_nonsense_is_refused():
    config = TrainConfig.from_dict({"epochs": "AUTO", "batch_size": 16, "warmup_epochs": "auto"})
    assert (config.epochs, config.batch_size, config.warmup_epochs) == ("auto", 16, "auto")
    assert TrainConfig().epochs == TrainConfig().batch_size == TrainConfig().select == "auto"
    for bad in ({"epochs": "many"}, {"batch_size": 2.5}, {"warmup_epochs": True}):
        with pytest.raises(FtguiError, match="whole number or auto"):
            TrainConfig.from_dict(bad)
    with pytest.raises(FtguiError, match="--select must be one of auto, accuracy, loss"):
        TrainConfig(select="luck").validate()
    with pytest.raises(SystemExit):
        main(["train", "--data", "x", "--epochs", "lots"])


# -- a run -----------------------------------------------------------------------------------
def test_train_without_sizes_records_and_says_what_it_chose(tmp_path, capsys):
    assert main(["train", *DIGITS, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    record = json.loads((tmp_path / "run" / "ftgui.json").read_text())
    config, chosen = record["config"], record["auto_settings"]
    assert (config["epochs"], config["batch_size"], config["warmup_epochs"]) == (30, 32, 0)
    assert chosen["train_images"] == 320 and chosen["kind"] == HEAD
    assert {k: chosen[k]["value"] for k in ("epochs", "batch_size", "warmup_epochs")} == {
        "epochs": 30, "batch_size": 32, "warmup_epochs": 0}
    assert "300 steps" in chosen["epochs"]["why"] and "320 training images" in chosen["batch_size"]["why"]
    assert len(runs.load_run(tmp_path / "run").metrics) == 30
    log = capsys.readouterr().err
    assert "chosen automatically: batch size 32 (320 training images" in log
    assert "epochs 30 (only the new head learns: about 300 steps wanted, 10 an epoch" in log
    assert "warm-up epochs 0 (only the new head learns" in log


def test_a_given_number_of_epochs_wins(tmp_path, capsys):
    assert main(["train", *DIGITS, "--epochs", "2", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    record = json.loads((tmp_path / "run" / "ftgui.json").read_text())
    assert record["config"]["epochs"] == 2 and len(runs.load_run(tmp_path / "run").metrics) == 2
    assert "epochs" not in record["auto_settings"] and record["auto_settings"]["batch_size"]["value"] == 32
    log = capsys.readouterr().err
    assert "chosen automatically: batch size 32" in log and "epochs 2 (" not in log


class Crash(Exception):
    pass


def test_resume_keeps_the_chosen_sizes(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "SAVE_INTERVAL_S", 0.0)  # a checkpoint after every epoch

    def crash(event):
        if isinstance(event, Epoch) and event.row["epoch"] == 2:
            raise Crash

    config = TrainConfig(data="sample:digits", weights=str(DEMO_BACKBONE), strategy="head-only", img_size=32,
                         aug="none", device="cpu", out=str(tmp_path / "run"))
    with pytest.raises(Crash):
        train(config, crash)
    before = runs.load_run(tmp_path / "run").record
    resumed = resume(tmp_path / "run")
    after = runs.load_run(tmp_path / "run").record
    assert [row["epoch"] for row in resumed.metrics] == list(range(1, 31))
    assert {k: after["config"][k] for k in ("epochs", "batch_size", "warmup_epochs", "select")} == {
        "epochs": 30, "batch_size": 32, "warmup_epochs": 0, "select": "loss"}
    assert after["auto_settings"] == before["auto_settings"] and after["auto_settings"]["epochs"]["value"] == 30


# -- choosing the best epoch -----------------------------------------------------------------
HISTORY = [  # one lucky epoch (3) by accuracy on a few images; the loss says epochs 5-7 are better
    {"epoch": 1, "val_acc": 0.6, "val_loss": 1.00},
    {"epoch": 2, "val_acc": 0.8, "val_loss": 0.70},
    {"epoch": 3, "val_acc": 1.0, "val_loss": 0.62},
    {"epoch": 4, "val_acc": 0.8, "val_loss": 0.66},
    {"epoch": 5, "val_acc": 0.8, "val_loss": 0.50},
    {"epoch": 6, "val_acc": 0.8, "val_loss": 0.46},
    {"epoch": 7, "val_acc": 0.8, "val_loss": 0.47},
    {"epoch": 8, "val_acc": 0.8, "val_loss": 0.58},
]


def test_the_smoothed_loss_picks_the_steady_epoch_not_the_lucky_one():
    assert best_row(HISTORY)["epoch"] == 3  # the old rule: the highest accuracy
    assert loss_window(len(HISTORY)) == 3 and loss_window(50) == 10 and loss_window(100) == 20
    smoothed = [{**row, "val_loss_smoothed": smoothed_loss(HISTORY[:i + 1], 3)} for i, row in enumerate(HISTORY)]
    assert smoothed[2]["val_loss_smoothed"] == pytest.approx((0.70 + 0.62 + 1.00) / 3)
    assert smoothed[6]["val_loss_smoothed"] == pytest.approx((0.50 + 0.46 + 0.47) / 3)
    assert best_row(smoothed)["epoch"] == 7  # the lowest mean of three epochs: 5, 6, 7
    tie = [{"epoch": 1, "val_acc": 0.6, "val_loss_smoothed": 0.5},
           {"epoch": 2, "val_acc": 0.8, "val_loss_smoothed": 0.5}]
    assert best_row(tie)["epoch"] == 2 and not is_better(tie[0], tie[1])  # equal losses: the accuracy decides


def test_auto_selects_on_the_loss_below_200_validation_images():
    assert selection_rule("auto", 20) == "loss" and selection_rule("auto", 199) == "loss"
    assert selection_rule("auto", 200) == "accuracy" and selection_rule("auto", 0) == "accuracy"
    assert selection_rule("accuracy", 5) == "accuracy" and selection_rule("loss", 5000) == "loss"


def test_the_run_keeps_the_epoch_the_rule_picks_and_records_the_rule(tmp_path, capsys):
    assert main(["train", *DIGITS, "--epochs", "6", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    run = runs.load_run(tmp_path / "run")
    rows = run.metrics
    assert [row["val_loss_smoothed"] for row in rows] == pytest.approx(
        [smoothed_loss(rows[:i + 1], 3) for i in range(len(rows))])
    lowest = min(rows, key=lambda row: (row["val_loss_smoothed"], -row["val_acc"]))
    assert run.best["epoch"] == lowest["epoch"]
    assert run.record["selected_by"] == ("validation loss averaged over the last few epochs (a fifth of the run, "
                                         "at least 3)")
    assert run.record["config"]["select"] == "loss"
    assert run.record["select_auto"] == {"val_images": 80, "limit": 200}  # auto chose it, and why
    assert ("the saved epoch is the one with the lowest validation loss averaged over the last 3 epochs (chosen "
            "automatically: 80 validation images, fewer than 200)") in capsys.readouterr().err
    from ftgui.ui import runs_tab
    from ftgui.ui.context import AppContext, AppOptions

    summary = runs_tab._summary(AppContext(AppOptions(runs_dir=tmp_path)), run)  # the Runs tab says it
    assert "- the saved epoch has the lowest validation loss averaged over the last 3 epochs" in summary
    assert "- this rule was chosen automatically: 80 validation images: fewer than 200" in summary
    assert "best validation accuracy" not in summary  # the loss chose it: another epoch may score higher
    assert f"- saved epoch {run.best['epoch']} (lowest smoothed validation loss): validation accuracy" in summary
    assert "- chosen from the data (320 training images): batch size 32, warm-up 0 epochs" in summary
    assert "  - batch size 32: 320 training images: batches of 32 give 10 steps an epoch" in summary
    assert "  - warm-up 0 epochs: only the new head learns: nothing pretrained to protect" in summary
    assert main(["train", *DIGITS, "--epochs", "2", "--select", "accuracy", "--out", str(tmp_path / "acc"),
                 "--quiet"]) == 0
    old = runs.load_run(tmp_path / "acc")
    assert old.record["selected_by"] == "validation accuracy" and "val_loss_smoothed" not in old.metrics[0]
    assert old.record["select_auto"] is None  # given, not chosen


# -- the GUI ---------------------------------------------------------------------------------
def test_the_train_tab_leaves_empty_controls_to_the_data_and_shows_what_was_chosen(tmp_path):
    from ftgui.i18n import speaking
    from ftgui.ui import job_view, runs_tab, train_form
    from ftgui.ui.context import AppContext, AppOptions

    ctx = AppContext(AppOptions(runs_dir=tmp_path / "runs"))
    values = train_form.initial_form(ctx)
    assert [values[name] for name in ("epochs", "batch_size", "warmup_epochs", "refit_runs")] == [None] * 4
    config = train_form.config_from_form(ctx, "sample:digits", 0.2, {**values, "batch_size": 16})
    assert (config.epochs, config.batch_size, config.warmup_epochs, config.refit_runs) == ("auto", 16, "auto", "auto")
    assert train_form.config_from_form(ctx, "sample:digits", 0.2, {**values, "refit_runs": "2"}).refit_runs == 2
    hints = job_view.chosen_hints({"chosen": {"epochs": 50, "warmup_epochs": 5, "refit_runs": 3}})
    assert [hint["placeholder"] for hint in hints] == ["auto: 50 in this run", "auto", "auto: 5 in this run",
                                                       "auto: 3 in this run"]
    with speaking("zh"):
        assert job_view.chosen_hints(None)[0]["placeholder"] == "自动"
    chosen = {"train_images": 80, "kind": "fine-tune", "epochs": {"value": 50, "why": "..."},
              "batch_size": {"value": 8, "why": "..."}}
    lines = runs_tab._chosen_lines(chosen)  # a record saved before the reasons were templates: shown as kept
    assert lines == ["- chosen from the data (80 training images): 50 epochs, batch size 8", "  - 50 epochs: ...",
                     "  - batch size 8: ..."]
