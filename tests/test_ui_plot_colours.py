"""Gradio 6.31's LinePlot fixes its series (its colour scale's domain) when it draws its chart;
new data only moves the lines, so a series its first data did not have is drawn with no colour.
Each plot whose series can change is sent a legend naming them right after its data
(``charts.keep_series_coloured``), which makes it draw its chart again. In a browser:
test_browser_lab.py (the Lab's second experiment, the Runs tab's gradients of another model)."""
from __future__ import annotations

import gradio as gr

from ftgui.ui import charts
from ftgui.ui.context import AppOptions

CHANGING = {"lab-spread", "lab-hist-a", "lab-hist-b", "lab-loss", "lab-gradients", "lab-compare-plot"}
"""Plots whose series follow what the visitor chose (initialisers, layers, what to vary)."""


def test_the_legend_names_the_series_a_plot_shows_in_order():
    shown = {"columns": ["epoch", "value", "run"], "data": [[1, 0.5, "b"], [1, 0.4, "a"], [2, 0.6, "b"]]}
    assert charts._legend(shown, "run") == gr.update(colors_in_legend=["b", "a"])
    for nothing in (None, {"columns": ["epoch", "value", "run"], "data": []}):
        assert charts._legend(nothing, "run") == gr.skip()


def test_every_plot_whose_series_change_is_sent_its_legend_after_its_data(tmp_path):
    from ftgui.ui.app import build_app

    demo = build_app(AppOptions(runs_dir=tmp_path / "runs"))
    fns = list(demo.fns.values())
    plots = [block for block in demo.blocks.values() if isinstance(block, gr.LinePlot)]
    changing = [plot for plot in plots if plot.elem_id in CHANGING]
    changing += [plot for fn in fns if fn.name == "for_run" for plot in fn.outputs if isinstance(plot, gr.LinePlot)]
    assert len(changing) == len(CHANGING) + 2  # the Runs tab's gradient and update-ratio plots
    for plot in changing:
        writers = [fn for fn in fns if plot in fn.outputs and fn.name != "legends"]
        assert writers, plot.elem_id
        for writer in writers:
            if writer.name == "texts":  # the page's texts in the visitor's language: no data
                continue
            assert any(fn.name == "legends" and fn.trigger_after == writer._id and plot in fn.outputs
                       and plot in fn.inputs for fn in fns), f"{plot.elem_id}: {writer.name}, no legend"
