"""What the Train tab's poll sends when a page that showed one job follows the next, and after
its own Start, Stop or Resume has answered (see tests/test_browser_second_start.py for the Start
in a browser)."""
from __future__ import annotations

import gradio as gr
import pandas as pd
import pytest

from ftgui.ui import charts, job_view
from ftgui.ui.context import AppContext, AppOptions

EMPTY = charts.curves([], "loss")
POINTS = charts.curves([{"epoch": 1, "train_loss": 1.0, "val_loss": 1.2}], "loss")


@pytest.fixture
def ctx(tmp_path) -> AppContext:
    return AppContext(AppOptions(runs_dir=tmp_path / "runs"))


def test_an_empty_plot_that_may_hold_another_jobs_chart_is_hidden_with_its_value_untouched():
    hidden = charts.epoch_plot(EMPTY, "Loss", "appears here", replaces=True)
    assert hidden["visible"] is False and "value" not in hidden  # a None would be drawn on the old chart
    shown = charts.epoch_plot(EMPTY, "Loss", "appears here")
    assert shown["value"] is None and shown["visible"] is True and shown["label"] == "appears here"
    drawn = charts.epoch_plot(POINTS, "Loss", "appears here", replaces=True)
    assert isinstance(drawn["value"], pd.DataFrame) and drawn["visible"] is True and drawn["label"] == "Loss"
    assert not {"x_lim", "y_lim", "y_title"} & set(drawn)


def test_which_job_a_page_was_shown():
    status = {"id": 2}
    assert job_view.follows_another_job((1, 7), status)
    assert job_view.follows_another_job(job_view.restarted((1, 7)), status)
    assert job_view.follows_another_job(job_view.restarted(job_view.restarted((1, 7))), status)
    assert not job_view.follows_another_job((2, 0), status)
    assert not job_view.follows_another_job(job_view.restarted((2, 3)), status)
    for nothing_drawn in (None, ("detached", 1), job_view.restarted(None), job_view.restarted(("detached", 1))):
        assert not job_view.follows_another_job(nothing_drawn, status)
    assert not job_view.follows_another_job((1, 7), None)


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_a_quiet_poll_leaves_seen_alone(ctx, monkeypatch, state):
    """A quiet tick does not write ``seen`` back: a Start's :func:`job_view.restarted` written
    meanwhile must reach the next poll, which then clears the notice; also for a job that ended
    (``stopped``: a Stop that answered after the poll had sent the job's last event)."""

    class Job:
        id, alive, owner, config, run_dir = 5, state == "running", None, None, None

        def __init__(self):
            self.state = state

        def status(self):
            return {"id": 5, "n_events": 3, "name": "run", "state": state, "model": "m", "strategy": "scratch",
                    "epochs": 2, "epoch": 0, "init": "lecun", "log": [], "metrics": [], "error": None, "step": None,
                    "fraction": 0.0, "elapsed_s": 0.0, "eta_s": None, "chosen": {}}

    monkeypatch.setattr(ctx.jobs, "current", Job())
    monkeypatch.setattr(job_view, "trains_all", lambda ctx, name: False)
    quiet = job_view.poll(ctx, (5, 3))
    assert quiet[7] == gr.skip() and quiet[8] == gr.skip()
    again = job_view.poll(ctx, job_view.restarted((5, 3)))
    assert again[7] == (5, 3) and again[8] == ""  # the notice cleared, the job's view sent again
    assert again[2]["visible"] is True and again[2]["value"] is None  # the page already showed this job


def test_start_stop_and_resume_each_make_the_next_poll_clear_their_notice(tmp_path):
    """Every event that writes the notice under Start, other than the polls that clear it, marks
    the page's ``seen`` once it has answered (:func:`job_view.restarted`): a poll running alongside
    may have sent the job's new view and cleared the notice before that answer arrived. Start and
    Resume start a job, which the poll may show first; after a Stop the job may end, and the poll
    send its last event, first. The notice then stayed until the job's next event, for good after
    a Stop."""
    from ftgui.ui.app import build_app

    demo = build_app(AppOptions(runs_dir=tmp_path / "runs"))
    notice = next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "train-notice")
    fns = list(demo.fns.values())
    polls = [fn for fn in fns if fn.api_name in ("poll", "poll_fresh")]
    seen = polls[0].inputs[0]
    assert len(polls) == 2 and all(fn.inputs == [seen] and notice in fn.outputs for fn in polls)
    writers = {fn.api_name: fn for fn in fns if notice in fn.outputs and fn not in polls}
    assert set(writers) == {"start_training", "stop_training", "resume_run"}
    for name, writer in writers.items():
        assert any(fn.fn is job_view.restarted and fn.inputs == fn.outputs == [seen] and fn.trigger_only_on_success
                   for fn in fns if fn.trigger_after == writer._id), f"{name}: its notice may stay"


def test_the_form_follows_a_resumed_job_and_tabs_refresh_only_when_shown(tmp_path):
    """Every event costs Gradio's page more for each component it names (ftgui.ui.app), so the
    form's ~50 controls are refilled once the Runs tab's Resume started a job - not on page load
    only, and not on every change of the notice - and the Runs and Predict tabs refresh their
    lists when they are selected, not on load nor on every other tab's click."""
    from ftgui.ui.app import build_app

    demo = build_app(AppOptions(runs_dir=tmp_path / "runs"))
    fns = list(demo.fns.values())
    resume = next(fn for fn in fns if fn.api_name == "resume_run")
    on_load = next(fn for fn in fns if fn.name == "reattach" and [event for _, event in fn.targets] == ["load"])
    refills = [fn for fn in fns if fn.name == "reattach" and fn.trigger_after == resume._id]
    assert len(refills) == 1 and refills[0].trigger_only_on_success and refills[0].outputs == on_load.outputs
    assert len(on_load.outputs) > 40  # every control of the form, and the data
    assert [fn for fn in fns if fn.name == "reattach"] == [on_load, *refills]  # nothing else refills it
    refreshes = {demo.blocks[target].id: events for fn in fns if fn.name == "refresh"
                 for target, events in [fn.targets[0]] if target is not None}
    assert refreshes == {"predict": "select", "runs": "select"}
