"""What the Train tab's poll sends when a page that showed one job follows the next, and after
its own Start has answered (see tests/test_browser_second_start.py for the same in a browser)."""
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


def test_a_quiet_poll_leaves_seen_alone(ctx, monkeypatch):
    """A quiet tick does not write ``seen`` back: a Start's :func:`job_view.restarted` written
    meanwhile must reach the next poll, which then clears the notice."""

    class Job:
        id, alive, owner, config = 5, True, None, None

        def status(self):
            return {"id": 5, "n_events": 3, "name": "run", "state": "running", "model": "m", "strategy": "scratch",
                    "epochs": 2, "epoch": 0, "init": "lecun", "log": [], "metrics": [], "error": None, "step": None,
                    "fraction": 0.0, "elapsed_s": 0.0, "eta_s": None, "chosen": {}}

    monkeypatch.setattr(ctx.jobs, "current", Job())
    monkeypatch.setattr(job_view, "trains_all", lambda ctx, name: False)
    quiet = job_view.poll(ctx, (5, 3))
    assert quiet[7] == gr.skip() and quiet[8] == gr.skip()
    again = job_view.poll(ctx, job_view.restarted((5, 3)))
    assert again[7] == (5, 3) and again[8] == ""  # the notice cleared, the job's view sent again
    assert again[2]["visible"] is True and again[2]["value"] is None  # the page already showed this job
