"""A second Start on the same page, whose job takes longer than several polls (1 s each) to
reach its first epoch, in a real browser (Playwright, Debian's Chromium).

The plots then held the first job's chart while the new job had no point: an update with no
value made Gradio 6.31's LinePlot redraw that chart from no data, and the browser logged Vega's
"Infinite extent" (browser_kit.PageProblems fails the test on it). It was seen only on a loaded
machine, where preparing a tiny job took more than a poll; here the second job is held before it
reads anything until the test has seen the page through several polls, so it happens every time.
"""
from __future__ import annotations

import sys
import threading
import time

import pytest
from browser_kit import (
    MARKS,
    SLOW,
    choose_mode,
    markdown_text,
    open_tab,
    plotted,
    tiny_app,
    wait_for_plot,
    wait_for_text,
)

from ftgui.record import Log, Step
from ftgui.runs import read_metrics
from ftgui.ui import jobs, verdicts

from conftest import THREE, make_dataset, zip_folder

pytestmark = MARKS

POLLS = 4
"""How many polls of the held job the page must have been through before it is released."""
PLOTS = ("#loss-plot", "#acc-plot")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with tiny_app(tmp_path_factory.mktemp("browser-second-start") / "runs") as demo:
        yield demo


class Hold:
    """The app's next training, once :meth:`close` was called, is held: the job waits before it
    reads its data (no run record yet, so nothing to plot, not even guessing's line) until
    ``before_log`` is set, then says so in its log (an event: the page is sent the job's view
    again, still without points) and waits until ``after_log`` is set. ``polls`` counts status
    reads (one per poll of the page; the test's own few aside)."""

    def __init__(self, manager: jobs.JobManager) -> None:
        self.before_log, self.after_log = threading.Event(), threading.Event()
        self.held = False
        self.polls = 0
        original = manager._fns["train"]

        def train(target, listener, stop):
            if self.held:
                self.held = False
                self.before_log.wait(SLOW / 1000)
                listener(Log("held by the test"))
                self.after_log.wait(SLOW / 1000)
            from ftgui import engine

            return (original or engine.train)(target, listener=listener, stop=stop)

        self.train = train

    def close(self) -> None:
        self.held = True
        self.before_log.clear()
        self.after_log.clear()

    def release(self) -> None:
        self.before_log.set()
        self.after_log.set()


@pytest.fixture
def hold(app, monkeypatch):
    manager = app.ftgui_context.jobs
    held = Hold(manager)
    monkeypatch.setitem(manager._fns, "train", held.train)
    original = jobs.Job.status

    def status(job):
        held.polls += 1
        return original(job)

    monkeypatch.setattr(jobs.Job, "status", status)
    yield held
    held.release()


def wait_for_polls(hold: Hold, count: int, timeout: float = SLOW / 1000) -> None:
    """Until the held job's status has been read ``count`` more times (the page's polls)."""
    start, deadline = hold.polls, time.monotonic() + timeout
    while hold.polls < start + count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert hold.polls >= start + count, f"only {hold.polls - start} polls in {timeout} s"


def drawn_lines(page) -> dict[str, int]:
    return {plot: page.locator(f"{plot} svg .mark-line path").count() for plot in PLOTS}


def ready_to_train(app, page, tmp_path) -> None:
    """The page with 30 small images of 3 classes, on the Train tab, training from scratch."""
    data = zip_folder(make_dataset(tmp_path / "shapes", THREE, per_class=10), tmp_path / "shapes.zip")
    page.goto(app.local_url)
    page.locator("#data-zip input[type=file]").set_input_files(str(data))
    wait_for_text(page, "#data-summary", "30 images in 3 classes")
    open_tab(page, "2 · Train")
    choose_mode(page, "from scratch", "lecun")


def start(page, epochs: int) -> None:
    page.get_by_label("Epochs").fill(str(epochs))
    page.get_by_label("Epochs").press("Tab")
    page.locator("#start").click()


def test_second_start_with_a_slow_first_epoch_draws_no_old_chart(app, page, problems, hold, tmp_path):
    ready_to_train(app, page, tmp_path)
    start(page, 2)
    wait_for_text(page, "#train-status", "Finished")
    first = app.ftgui_context.jobs.current
    for plot in PLOTS:  # the first job's two curves and guessing's line
        wait_for_plot(page, plot, lambda s: len(s["series"]) == 3)

    hold.close()
    start(page, 3)
    wait_for_text(page, "#train-status", "Preparing")
    second = app.ftgui_context.jobs.current
    assert second is not first and second.name in page.locator("#train-status").inner_text()
    wait_for_polls(hold, POLLS)
    assert not second.status()["metrics"] and second.classes() is None  # still nothing to plot
    assert drawn_lines(page) == dict.fromkeys(PLOTS, 0), "the first job's curves are shown for the second"

    problems.check()  # no chart drawn from nothing

    hold.before_log.set()  # an event of the job, still without points: the page is sent its view again
    deadline = time.monotonic() + SLOW / 1000
    while not second.events_since(0) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert second.events_since(0), "the held job logged nothing"
    wait_for_polls(hold, POLLS)
    assert drawn_lines(page) == dict.fromkeys(PLOTS, 0), "the first job's curves are shown for the second"
    for plot in PLOTS:  # the plots are back, their labels saying what will appear
        wait_for_text(page, plot, "appear here after the first epoch")
        assert plotted(page, plot) is None

    hold.after_log.set()
    wait_for_text(page, "#train-status", "Finished")
    rows = read_metrics(second.run_dir)
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    for plot, kind in (("#loss-plot", "loss"), ("#acc-plot", "acc")):
        def the_second_jobs(shown, kind=kind):
            """Its two curves over its 3 epochs (the first job had 2), at its values: within 1e-3
            (``plotted`` reads y to about 1e-5 of the axis' span), each curve whichever of the two
            it matches (a training and a validation value may be equal)."""
            curves = [[(round(x), y) for x, y in c["points"]] for c in shown["series"] if c["dash"] in ("none", "")]
            want = [[(row["epoch"], row[f"{split}_{kind}"]) for row in rows] for split in ("train", "val")]
            chance = [c["points"] for c in shown["series"] if c["dash"] not in ("none", "")]

            def same(curve, wanted):
                return [x for x, _ in curve] == [x for x, _ in wanted] == [1, 2, 3] and all(
                    abs(y - v) <= 1e-3 for (_, y), (_, v) in zip(curve, wanted))

            return len(curves) == 2 and len(chance) == 1 and round(chance[0][-1][0]) == 3 and any(
                same(curves[0], a) and same(curves[1], b) for a, b in (want, want[::-1]))

        wait_for_plot(page, plot, the_second_jobs)
    problems.check()


def test_started_notice_answered_after_a_poll_is_cleared(app, page, problems, hold, monkeypatch, tmp_path):
    """The Start's answer ("Started ...") arrives after the page's poll has sent the new job's
    view and cleared the notice (a poll runs alongside the Start): the notice is still cleared,
    though the held job has no event left to send for a while."""
    ready_to_train(app, page, tmp_path)
    original = verdicts.start_warning

    def late(*args):  # called by the Start once its job runs: it answers after the polls of that job
        if sys._getframe(1).f_code.co_name != "start_training":  # the Train tab's warning under the form
            return original(*args)
        monkeypatch.setattr(verdicts, "start_warning", original)
        wait_for_polls(hold, POLLS)
        return original(*args)

    hold.close()
    monkeypatch.setattr(verdicts, "start_warning", late)
    page.evaluate("""() => new MutationObserver(() => {  // the notice may be shown for a moment only
        if (document.querySelector('#train-notice')?.innerText.includes('Started')) window.sawStarted = true;
    }).observe(document.body, {subtree: true, childList: true, characterData: true})""")
    start(page, 1)
    page.wait_for_function("window.sawStarted === true", timeout=SLOW)
    job = app.ftgui_context.jobs.current
    assert job.alive and not job.events_since(0)  # held: no event of the job will clear the notice
    wait_for_polls(hold, POLLS)
    assert markdown_text(page, "#train-notice").strip() == ""
    assert job.name in page.locator("#train-status").inner_text()
    hold.release()
    wait_for_text(page, "#train-status", "Finished")


def test_a_job_that_names_its_classes_before_its_first_epoch_draws_its_curves_in_colour(
        app, page, problems, hold, monkeypatch, tmp_path):
    """The job's record names its classes (so the chance level is known) while its first epoch is
    still training - the demo's on 2 cores. The page that started it drew guessing's line alone,
    and the curves that came after were in the page but had no colour: Gradio's LinePlot keeps the
    series of the first data it drew, so only the dashed line was seen. Guessing's line now comes
    with the first points. The job is held at its first training step until the page has polled."""
    manager = app.ftgui_context.jobs
    training = manager._fns["train"]
    reached, release = threading.Event(), threading.Event()

    def train(target, listener, stop):
        def held(event):
            if isinstance(event, Step) and event.phase == "train" and not reached.is_set():
                reached.set()
                release.wait(SLOW / 1000)
            listener(event)

        return training(target, held, stop)

    monkeypatch.setitem(manager._fns, "train", train)
    try:
        ready_to_train(app, page, tmp_path)
        start(page, 2)
        assert reached.wait(SLOW / 1000), "the job never reached its first step"
        job = manager.current
        assert job.classes() == 3 and not job.status()["metrics"]  # the chance level is known, no point yet
        wait_for_polls(hold, POLLS)  # the page has been sent the job's view with the chance level
    finally:
        release.set()
    wait_for_text(page, "#train-status", "Finished")
    for plot in PLOTS:  # each line in a colour (wait_for_plot): the two curves and guessing's
        shown = wait_for_plot(page, plot, lambda s: len(s["series"]) == 3)
        assert len(shown["legend"]) == 3, shown["legend"]
    problems.check()
