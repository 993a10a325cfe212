"""The Train tab's "After picking the best epoch" (TrainConfig ``refit``, ``--refit``): the choice
reaches the TrainConfig, its command line and a settings file, comes back from a file, a run's
record and a reloaded page; while the run trains once more on all images the progress says so
with that training's own epochs, pace and time left, on a bar that never goes back; and the
result line says truthfully which model was saved, in English and Chinese."""
from __future__ import annotations

import queue

import pytest

from ftgui import i18n
from ftgui.config import TrainConfig
from ftgui.record import End, Epoch, Log, Start, Step
from ftgui.ui import charts, job_view, train_tab
from ftgui.ui.jobs import JobManager

from test_ui_handlers import ctx, form  # noqa: F401 - the fixture and the form helper

DATA = "sample:digits"


# -- the control -------------------------------------------------------------------------------
# the choice reaching the TrainConfig, the command, a settings file, a run's record and a reloaded
# page is tested with the epoch rule's, in test_ui_select.py
def test_the_control_sits_right_after_the_best_epoch_rule(tmp_path):
    """(Its label, choices, handlers and words in both languages are tested with the rule's, in
    test_ui_select.py.)"""
    from ftgui.ui.app import AppOptions, build_app

    demo = build_app(AppOptions(runs_dir=tmp_path / "runs"))
    by_id = {getattr(block, "elem_id", None): block for block in demo.blocks.values()}
    radio, select = by_id["refit"], by_id["select"]
    assert radio.choices[0][0] == ("Automatic: train once more on all images when there are fewer than 200 "
                                   "validation images")
    assert radio._id == select._id + 1  # right after "How to pick the best epoch"


def test_a_real_run_says_what_its_second_training_did(ctx, three_classes):  # noqa: F811
    """Through the engine: 9 validation images split off, so automatic trains once more on all 36."""
    train_tab.start_training(ctx, str(three_classes), 0.25, form(ctx, epochs=2))
    job = ctx.jobs.current
    assert job.join(300)
    status = job.status()
    assert status["state"] == "completed" and status["refit_planned"]
    assert status["refit"]["status"] == "completed" and status["refit"]["images"] == 36
    epoch = status["refit"]["epoch"]
    line = job_view.describe_job(status)
    assert (f"Then it trained once more from the same start on all 36 images, the validation ones too, up to the "
            f"same epoch, {epoch}: that is the saved model.") in line
    assert f"epoch 2/2, then once more on all images to epoch {epoch} · 100%" in charts.progress_html(status)
    assert any(line.startswith("all images, epoch 1/") for line in status["log"])


# -- the progress while it trains on all images ----------------------------------------------------
class Result:
    def __init__(self, status: str) -> None:
        self.status = status


class Feed:
    """A train function that reports the events the test sends it, one batch at a time."""

    def __init__(self) -> None:
        self.queue: queue.Queue = queue.Queue()

    def __call__(self, config, listener, stop):
        while True:
            item = self.queue.get()
            try:
                if isinstance(item, Result):
                    return item
                listener(item)
            finally:
                self.queue.task_done()

    def send(self, *events) -> None:
        for event in events:
            self.queue.put(event)
        self.queue.join()  # the job has taken them all


def row(epoch: int) -> dict:
    """Epoch 3 is the best of 4."""
    return {"epoch": epoch, "train_loss": 1.0 / epoch, "train_acc": 0.5, "val_loss": 1.0 / epoch,
            "val_acc": {1: 0.4, 2: 0.6, 3: 0.7, 4: 0.6}[epoch], "seconds": 0.01}


REFIT_DONE = {"status": "completed", "auto": True, "epoch": 3, "images": 50, "seconds": 9.0, "train_loss": 0.2,
              "train_acc": 0.9}


@pytest.fixture
def refitting(tmp_path):
    """A job of 4 epochs (10 s each, on a fake clock) on 40 training and 10 validation images, whose
    validation chose epoch 3: the run trains once more on all 50 images to epoch 3 (5 steps of 2 s an epoch)."""
    now = [1000.0]
    feed = Feed()
    job = JobManager(feed, clock=lambda: now[0]).start(TrainConfig(epochs=4, out=str(tmp_path / "run")))
    feed.send(Start(str(tmp_path / "run"), 4, 2, 40, 10, refit=True))  # the engine's plan: it will
    shown: list[dict] = []

    def status() -> dict:
        shown.append(job.status())
        return shown[-1]

    yield job, feed, now, status, shown
    if job.alive:
        feed.send(Result("stopped"))
    assert job.join(10)


def _first_training(feed, now, status, epochs=4):
    for epoch in range(1, epochs + 1):
        now[0] += 5.0
        feed.send(Step("train", epoch, 1, 2, 0.9))
        status()
        now[0] += 5.0
        feed.send(Step("eval", epoch, 1, 1), Epoch(row(epoch)))
        status()


def test_the_first_training_is_half_the_bar_and_says_what_follows(refitting):
    job, feed, now, status, _ = refitting
    now[0] += 5.0
    feed.send(Step("train", 1, 1, 2, 0.9))
    first = status()
    assert first["refit_planned"] and first["phase"] == "train"
    assert first["fraction"] == pytest.approx(0.5 * 0.5 / 4)  # half of epoch 1, on half of the bar
    text = charts.progress_html(first)
    assert "epoch 1/4, then once more on all images · step 1/2 · loss 0.9000 · 6%" in text
    assert "left:50.0%" in text  # the line where the second phase begins
    _first_training(feed, now, status, epochs=2)
    middle = status()
    assert middle["fraction"] == pytest.approx(0.25)
    # the time left counts the training on all images too, as long as the first until that has chosen its
    # epoch (the best so far, epoch 2, is no guide: a later one may win): 2 + 4 epochs at 10 s
    assert middle["eta_raw_s"] == pytest.approx(60.0)
    with i18n.speaking("zh"):
        assert "第 2/4 轮，之后用全部图片再训练一次" in charts.progress_html(middle)


def test_between_the_trainings_the_bar_says_it_gets_ready(refitting):
    job, feed, now, status, _ = refitting
    _first_training(feed, now, status)
    ready = status()
    assert ready["phase"] == "refit-ready" and ready["fraction"] == pytest.approx(0.5)
    text = charts.progress_html(ready)
    assert "epoch 4/4 done; getting ready to train once more on all images · 50% · 0:40 elapsed" in text
    assert "validating" not in text
    assert ready["eta_raw_s"] == pytest.approx(30.0)  # the validation chose epoch 3: 3 epochs at 10 s
    assert "▶ Training **run**" in job_view.describe_job(ready)


def test_the_training_on_all_images_has_its_own_epochs_pace_and_time_left(refitting):
    job, feed, now, status, shown = refitting
    _first_training(feed, now, status)
    now[0] += 3.0  # setting up the training on all images
    feed.send(Log("training again on all 50 images (the validation ones too) from the same start to epoch 3"))
    now[0] += 2.0
    feed.send(Step("refit", 1, 1, 5, 0.8, epochs=3))
    first = status()
    assert first["phase"] == "refit" and first["state"] == "running" and first["epoch"] == 4
    assert first["fraction"] == pytest.approx(0.5 + 0.5 / 15)
    # no pace of its own yet: the first training's 10 s an epoch, for the 3 epochs less the step done
    assert first["eta_raw_s"] == pytest.approx(10.0 * 3 * 14 / 15)
    text = charts.progress_html(first)
    assert "Training once more on all images: epoch 1/3 · step 1/5 · loss 0.8000 · 53% · 0:45 elapsed" in text
    line = job_view.describe_job({**first, "trains_all": False})
    assert line.startswith("▶ **run**: best validation accuracy 70% ± 28% on 10 images (epoch 3). Now training once "
                           "more from the same start on all 50 images, the validation ones too, up to the same "
                           "epoch, 3…")
    for step in range(2, 6):
        now[0] += 2.0
        feed.send(Step("refit", 1, step, 5, 0.5, epochs=3))
    now[0] += 1.0  # its first epoch warmed up: 1 s a step from now on
    feed.send(Step("refit", 2, 1, 5, 0.4, epochs=3))
    now[0] += 1.0
    feed.send(Step("refit", 2, 2, 5, 0.3, epochs=3))
    second = status()
    assert second["fraction"] == pytest.approx(0.5 + 0.5 * 7 / 15)
    assert second["eta_raw_s"] == pytest.approx(1.0 * 8)  # its own pace since its second epoch began
    # shown: smoothed into the estimate before (28 s, counted down 10 s since), not thrown about
    assert second["eta_s"] == pytest.approx(18.0 * 0.75 + 8.0 * 0.25)
    text = charts.progress_html(second)
    assert "Training once more on all images: epoch 2/3 · step 2/5 · loss 0.3000 · 73%" in text
    assert "about 0:" in text
    with i18n.speaking("zh"):
        assert "用全部图片再训练一次：第 2/3 轮 · 训练步 2/5 · 损失 0.3000 · 73%" in charts.progress_html(second)
    for step in range(3, 6):
        now[0] += 1.0
        feed.send(Step("refit", 2, step, 5, 0.3, epochs=3))
    status()
    for step in range(1, 6):
        now[0] += 2.0
        feed.send(Step("refit", 3, step, 5, 0.2, epochs=3))
        shown_now = status()
        assert shown_now["fraction"] < 1 or step == 5  # full only once its last step is done
        if step == 4:
            assert "· step 4/5 · loss 0.2000 · 96% ·" in charts.progress_html(shown_now)  # 96.7%: not rounded up
    assert "· step 5/5 · loss 0.2000 · 99% ·" in charts.progress_html(shown_now)  # saving: not 100% until it ends
    feed.send(End("completed", row(3), str(job.run_dir), None, REFIT_DONE))
    feed.send(Result("completed"))
    assert job.join(10)
    done = status()
    assert done["state"] == "completed" and done["fraction"] == 1.0 and done["refit"] == REFIT_DONE
    fractions = [s["fraction"] for s in shown]
    assert fractions == sorted(fractions)  # the bar never goes back
    text = charts.progress_html(done)
    assert "epoch 4/4, then once more on all images to epoch 3 · 100%" in text and "left:" not in text
    assert "The validation accuracy above was measured before this" in job_view.describe_job(done)


def test_stop_stops_the_training_on_all_images_and_says_the_validated_model_stays(refitting, ctx):  # noqa: F811
    job, feed, now, status, _ = refitting
    _first_training(feed, now, status)
    now[0] += 2.0
    feed.send(Step("refit", 1, 2, 5, 0.8, epochs=3))
    ctx.jobs = type("Jobs", (), {"running": lambda self: job})()
    notice = train_tab.stop_training(ctx)
    assert notice == ("Stopping **run**'s training on all images after the current step; the model trained "
                      "without the validation images (epoch 3) stays saved.")
    assert job.stop_event.is_set()
    stopping = status()
    assert stopping["state"] == "stopping" and stopping["phase"] == "refit"
    assert job_view.describe_job(stopping) == ("■ Stopping **run**'s training on all images after the current "
                                               "step; the model trained without the validation images (epoch 3) "
                                               "stays saved…")
    assert "Training once more on all images: epoch 1/3 · step 2/5" in charts.progress_html(stopping)
    feed.send(End("completed", row(3), str(job.run_dir), None, {**REFIT_DONE, "status": "stopped"}))
    feed.send(Result("completed"))
    assert job.join(10)
    done = status()
    assert done["state"] == "completed" and done["fraction"] == 1.0
    assert "was stopped, so the saved model is the one from epoch 3" in job_view.describe_job(done)
    assert "then once more" not in charts.progress_html(done)


def test_a_stop_during_the_first_training_no_longer_promises_the_second(refitting):
    job, feed, now, status, _ = refitting
    _first_training(feed, now, status, epochs=2)
    now[0] += 5.0
    feed.send(Step("train", 3, 1, 2, 0.5))
    job.stop()
    text = charts.progress_html(status())
    assert "epoch 3/4 · step 1/2" in text and "once more" not in text
    feed.send(Epoch({**row(3), "stopped": True}), End("stopped", row(2), str(job.run_dir)))
    feed.send(Result("stopped"))
    assert job.join(10)
    stopped = status()
    assert stopped["fraction"] == pytest.approx(2 / 4) and stopped["refit"] is None
    assert "2/4 epochs done · stopped during epoch 3 · 50%" in charts.progress_html(stopped)


@pytest.mark.parametrize("refit", ["auto", "yes", "no"])
def test_a_run_that_will_not_train_on_all_images_keeps_one_bar(tmp_path, refit):
    """Whatever the setting, the run's Start says whether it will (a mode that does not train, a
    validation folder, 200 validation images or more: it will not)."""
    feed = Feed()
    job = JobManager(feed).start(TrainConfig(epochs=4, refit=refit, out=str(tmp_path / "run")))
    feed.send(Start(str(tmp_path / "run"), 4, 2, 40, 10, refit=False), Step("train", 2, 1, 2, 0.5))
    status = job.status()
    assert not status["refit_planned"] and status["fraction"] == pytest.approx(1.5 / 4)
    text = charts.progress_html(status)
    assert "epoch 2/4 · step 1/2 · loss 0.5000 · 37%" in text and "once more" not in text
    feed.send(Epoch(row(2)), Epoch(row(3)), Epoch(row(4)))
    last = job.status()
    assert last["phase"] == "train" and "getting ready" not in charts.progress_html(last)
    feed.send(Result("completed"))
    assert job.join(10)


def test_several_trainings_on_all_images_share_the_rest_of_the_bar_and_say_which_is_running(tmp_path):
    """``--refit-runs 3``: the first training gets a quarter of the bar, the three trainings on
    all images the rest, one after the other; the texts say which of them runs, and the result
    that their weights were averaged."""
    now = [1000.0]
    feed = Feed()
    job = JobManager(feed, clock=lambda: now[0]).start(TrainConfig(epochs=4, out=str(tmp_path / "run")))
    feed.send(Start(str(tmp_path / "run"), 4, 2, 40, 10, refit=True, refit_runs=3))
    now[0] += 5.0
    feed.send(Step("train", 1, 1, 2, 0.9))
    first = job.status()
    assert first["refit_runs"] == 3 and first["fraction"] == pytest.approx(0.25 * 0.5 / 4)
    assert "epoch 1/4, then 3 more times on all images · step 1/2" in charts.progress_html(first)
    assert "left:25.0%" in charts.progress_html(first)
    _first_training(feed, now, lambda: None, epochs=2)
    assert job.status()["eta_raw_s"] == pytest.approx(10.0 * (2 + 3 * 4))  # 2 epochs left, then 3 trainings of 4
    feed.send(*(event for epoch in (3, 4) for event in (Step("train", epoch, 1, 2, 0.9), Step("eval", epoch, 1, 1),
                                                        Epoch(row(epoch)))))
    feed.send(Step("refit", 2, 5, 5, 0.5, epochs=3, run=2, runs=3))  # the second training's epoch 2 done
    second = job.status()
    assert second["phase"] == "refit" and second["fraction"] == pytest.approx(0.25 + 0.75 * (1 + 2 / 3) / 3)
    text = charts.progress_html(second)
    assert "Training on all images, 2 of 3: epoch 2/3 · step 5/5" in text
    with i18n.speaking("zh"):
        assert "用全部图片训练（第 2/3 次）：第 2/3 轮" in charts.progress_html(second)
    line = job_view.describe_job({**second, "trains_all": True})
    assert "Now training 3 more times from the same start on all 50 images, the validation ones too, each with its " \
           "own order of images, up to the same epoch, 3, to average their weights…" in line
    done_refit = {**REFIT_DONE, "runs": 3}
    feed.send(End("completed", row(3), str(job.run_dir), None, done_refit), Result("completed"))
    assert job.join(10)
    done = job.status()
    assert "epoch 4/4, then 3 more times on all images to epoch 3 · 100%" in charts.progress_html(done)
    result = job_view.describe_job(done)
    assert "Then it trained 3 more times from the same start on all 50 images, the validation ones too, each with " \
           "its own order of images, up to the same epoch, 3, and averaged their weights: that is the saved " \
           "model." in result
    with i18n.speaking("zh"):
        assert "训练了 3 次，每次图片顺序不同，都训练同样的 3 轮，并取了它们权重的平均" in job_view.describe_job(done)
    refused = {**done, "refit": {**done_refit, "averaged": False, "accuracy_alone": [1.0, 0.98, 1.0],
                                 "accuracy_averaged": 0.56}}
    result = job_view.describe_job(refused)
    assert "but the average of their weights got only 56% of those images right, where each alone got at least 98%" \
           in result and "So the saved model is the first of them." in result and "averaged their" not in result
    with i18n.speaking("zh"):
        assert "只认对了这些图片中的 56%，而每个单独的模型至少认对 98%" in job_view.describe_job(refused)


# -- the result line ---------------------------------------------------------------------------
BASE = {"id": 1, "name": "run-1", "model": "resnet18", "strategy": "head-only", "epochs": 5, "state": "completed",
        "stop_reason": None, "error": None, "classes": 10, "val_images": 80, "train_images": 320,
        "init": "default", "trains_all": False,
        "metrics": [{"epoch": e, "val_acc": acc, "val_loss": 1.0} for e, acc in ((1, 0.5), (2, 0.8375), (3, 0.8))]}
DONE = {"status": "completed", "auto": True, "epoch": 2, "images": 400, "seconds": 12.0}


def test_a_completed_refit_says_the_saved_model_learned_from_all_images_and_what_the_accuracy_is():
    line = job_view.describe_job({**BASE, "refit": DONE})
    assert line == ("✓ Finished **run-1**: best validation accuracy 84% ± 8% on 80 images (epoch 2); chance is 10%. "
                    "Then it trained once more from the same start on all 400 images, the validation ones too, up "
                    "to the same epoch, 2: that is the saved model. The validation accuracy above was measured before "
                    "this; no image is left to check it on, so it likely understates the model a little. Try it in "
                    "the **Predict** tab or below.")
    with i18n.speaking("zh"):
        zh = job_view.describe_job({**BASE, "refit": DONE})
    assert zh == ("✓ **run-1** 训练完成：第 2 轮的验证准确率最佳，为 84% ± 8%（基于 80 张图片）；随机猜测水平为 10%。"
                  "之后又从同样的起点、用全部 400 张图片（包括验证图片）训练了同样的 2 轮：保存的就是这个模型。"
                  "上面的验证准确率是在这之前测得的；现在已没有图片可以再检验它，所以它很可能略微低估了这个模型。"
                  "可以在 **预测** 标签页或下方试用。")


def test_a_stopped_or_failed_refit_says_the_validated_model_is_saved_and_why():
    stopped = job_view.describe_job({**BASE, "refit": {**DONE, "status": "stopped"}})
    assert ("(epoch 2); chance is 10%. Training once more on all images was stopped, so the saved model is the one "
            "from epoch 2, trained without the validation images: the accuracy above is its own.") in stopped
    assert "measured before" not in stopped
    failed = job_view.describe_job({**BASE, "refit": {**DONE, "status": "failed", "error": "RuntimeError: out of "
                                                      "memory"}})
    assert ("Training once more on all images failed (RuntimeError: out of memory), so the saved model is the one "
            "from epoch 2, trained without the validation images: the accuracy above is its own.") in failed
    with i18n.speaking("zh"):
        stopped_zh = job_view.describe_job({**BASE, "refit": {**DONE, "status": "stopped"}})
        failed_zh = job_view.describe_job({**BASE, "refit": {**DONE, "status": "failed", "error": "RuntimeError: x"}})
    assert ("用全部图片再训练一次的过程被停止了，所以保存的是第 2 轮的模型，"
            "它没有用验证图片训练：上面的准确率就是它的。") in stopped_zh
    assert "用全部图片再训练一次失败了（RuntimeError: x），所以保存的是第 2 轮的模型" in failed_zh


def test_a_run_without_refit_reads_as_before():
    line = job_view.describe_job({**BASE, "refit": None})
    assert line == ("✓ Finished **run-1**: best validation accuracy 84% ± 8% on 80 images (epoch 2); chance is 10%. "
                    "Try it in the **Predict** tab or below.")
