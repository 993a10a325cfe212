"""What the tabs draw: curves as tables for ``gr.LinePlot``, the progress bar, the
confusion matrix. Plain data in, plain data (DataFrames, HTML) out, worded in the reader's
language (a curve's name too: the legend shows it)."""
from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import gradio as gr
import pandas as pd

from .. import i18n
from ..i18n import N_, tr
from ..record import REFIT_PHASE
from . import verdicts
from .jobs import READY

SPLITS = (("train", N_("training")), ("val", N_("validation")))
PHASES = {"train": N_("step"), "eval": N_("validating"), "features": N_("computing features"), REFIT_PHASE: N_("step")}
"""A Step event's phase as the progress bar names it, before its step/steps."""
CHANCE = N_("guessing (chance)")
CHANCE_COLOUR = "#9ca3af"
CURVE_COLOURS = {"training": "#6366f1", "validation": "#f97316", CHANCE: CHANCE_COLOUR}
PLOT_STYLE = (f'<style>.ftgui-plot path[stroke="{CHANCE_COLOUR}"]{{stroke-dasharray:6 4}}'
              "#stop:disabled,#start:disabled{opacity:.4;cursor:not-allowed;filter:grayscale(1)}"
              "#train-form-note{display:none}"
              "body:has(#stop:not(:disabled)) #train-form-note{display:block}"
              "body:has(#stop:not(:disabled)) #train-form{pointer-events:none;opacity:.7}"
              "body:has(#stop:not(:disabled)) #train-form button.label-wrap{pointer-events:auto}</style>")
"""The chance-level line is drawn dashed (a LinePlot has no per-series dash setting); a
disabled Start or Stop looks disabled; while this page may stop a training (its Stop is
enabled), the Train tab's form shows that training's settings read-only: nothing in it takes a
click but its accordions' headers (Gradio's ``button.label-wrap``), so "More settings" still
opens to show them."""
METRICS = {"val_acc": N_("validation accuracy"), "val_loss": N_("validation loss"),
           "train_acc": N_("training accuracy"), "train_loss": N_("training loss")}


def curve_colours() -> dict[str, str]:
    """:data:`CURVE_COLOURS` under each curve's name in every language the page speaks: a
    plot's colours are set once, its curves are named in each reader's language."""
    return {i18n.translate(name, language): colour for name, colour in CURVE_COLOURS.items()
            for language in i18n.LANGUAGES}


def curves(metrics: list[dict], kind: str, classes: int | None = None, epochs: int | None = None) -> pd.DataFrame:
    """Training and validation ``kind`` ('loss' or 'acc') per epoch, one row per point; with
    the number of ``classes``, the chance level (1/C for accuracy, ln C for loss) as a line
    from epoch 0 to ``epochs``: it spans the whole run, so curves grow from left to right,
    and the loss axis always includes the loss of guessing.

    The chance line comes with the first points, never alone: Gradio 6.31's LinePlot fixes
    its series (its colour scale's domain) when it draws its chart from its first data, and
    later data only moves the lines, so curves added to a chart drawn with guessing's line
    alone had no colour and were not seen (the page that started a job whose record named
    its classes before the first epoch ended showed only the dashed line)."""
    rows = [{"epoch": row["epoch"], "value": row[f"{split}_{kind}"], "curve": tr(label)}
            for row in metrics for split, label in SPLITS if row.get(f"{split}_{kind}") is not None]
    if rows and classes and classes >= 2:
        level = verdicts.chance(classes) if kind == "acc" else verdicts.chance_loss(classes)
        last = max(epochs or 1, max((r["epoch"] for r in metrics), default=1))
        rows += [{"epoch": epoch, "value": level, "curve": tr(CHANCE)} for epoch in (0, last)]
    return _typed(pd.DataFrame(rows, columns=["epoch", "value", "curve"]))


def overlay(runs: dict[str, list[dict]], metric: str) -> pd.DataFrame:
    """One ``metric`` (a key of METRICS) per epoch for several runs, to draw them together."""
    rows = [{"epoch": row["epoch"], "value": row[metric], "run": name}
            for name, metrics in runs.items() for row in metrics if row.get(metric) is not None]
    return _typed(pd.DataFrame(rows, columns=["epoch", "value", "run"]))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric epochs and values even when empty: the plot picks its axis type from the
    column types of the first data it gets."""
    return frame.astype({"epoch": "int64", "value": "float64"})


def epoch_plot(frame: pd.DataFrame, label: str, empty: str, replaces: bool = False) -> dict:
    """A LinePlot update with data only (and its label, which is not part of the chart: ``label``,
    or ``empty`` while there are no points), and ``visible``.

    Never x_lim, y_title or y_lim here: Gradio 6's LinePlot redraws its chart when one of
    those changes, from the data it had before the same update, so a change sent together
    with new data plots the previous data (the Compare chart lagged one change behind, a
    resumed run showed the previous job's curves). No points yet: no chart (an empty table
    draws a collapsed chart with "Infinite extent" warnings), and the label says what will
    appear.

    No points yet, but the plot may still hold another job's chart (``replaces``: the page
    showed another job before this one, e.g. a second Start): the plot is hidden, its value
    left as it is. Gradio 6.31 applies a value of None to the chart it has drawn before it
    removes that chart, and so redraws it from no data ("Infinite extent", seen when a second
    job's first epoch took longer than a poll); a hidden plot is taken out of the page with its
    chart, and a later update (``visible=True``: every other one says so) puts it back drawn
    from that update's value alone, the label's hint if there are still no points."""
    if len(frame) > 0:
        return gr.update(value=frame, label=label, visible=True)
    if replaces:
        return gr.update(visible=False)
    return gr.update(value=None, label=empty, visible=True)


def keep_series_coloured(event: Any, plots: Sequence[gr.LinePlot]) -> None:
    """After ``event`` has sent ``plots`` their data, send each a legend naming the series that
    data holds (in order): every series then has a colour.

    Gradio 6.31's LinePlot fixes its series (its colour scale's domain) when it draws its chart,
    and new data only moves the lines: a series the chart's first data did not have was in the
    page with no colour, so not seen (the Lab's second experiment with another initialiser or
    other layers, the Runs tab's gradients of a model with other stages). A change of legend
    makes the plot draw its chart again from the data it holds then; sent with the data, it
    would draw the data before it (see :func:`epoch_plot`), so it is an event of its own."""
    def legends(*shown: Any) -> Any:
        updates = [_legend(value, plot.color) for value, plot in zip(shown, plots)]
        return updates[0] if len(updates) == 1 else tuple(updates)

    event.then(legends, list(plots), list(plots), api_visibility="private", show_progress="hidden")


def _legend(shown: Any, column: str | None) -> Any:
    """A plot's legend update from the data it shows (Gradio's plot payload, a dict or its
    PlotData model: ``columns`` and ``data`` rows); no data or no series column: no change."""
    payload = shown.model_dump() if hasattr(shown, "model_dump") else shown
    if not payload or column is None or column not in payload["columns"]:
        return gr.skip()
    at = payload["columns"].index(column)
    series = list(dict.fromkeys(row[at] for row in payload["data"]))
    return gr.update(colors_in_legend=series) if series else gr.skip()


def duration(seconds: float) -> str:
    """``0:07``, ``12:30``, ``1:02:03``."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_html(status: dict | None) -> str:
    """A progress bar with epoch, step, current loss and time left, from Job.status(). A run
    that trains once more on all images after the validation chose its epoch (``--refit``) says
    so while its first training runs, then names that second phase with its own epochs; the bar
    marks where that phase begins (see Job.status)."""
    if status is None:
        return _bar(0, tr("No training yet"))
    step, state, phase = status["step"], status["state"], status.get("phase")
    alive = state in ("preparing", "running", "stopping")
    refit = status.get("refit") or {}
    epoch, epochs = status["epoch"], status["epochs"]
    runs = status.get("refit_runs") or 1
    if phase == REFIT_PHASE and step and step.get("runs", 1) > 1:
        parts = [tr("Training on all images, {run} of {runs}: epoch {epoch}/{epochs}", run=step["run"],
                    runs=step["runs"], epoch=step["epoch"], epochs=step.get("epochs") or step["epoch"])]
    elif phase == REFIT_PHASE and step:
        parts = [tr("Training once more on all images: epoch {epoch}/{epochs}", epoch=step["epoch"],
                    epochs=step.get("epochs") or step["epoch"])]
    elif phase == READY:
        parts = [tr("epoch {epoch}/{epochs} done; getting ready to train once more on all images", epoch=epoch,
                    epochs=epochs)]
    elif alive and status.get("refit_planned") and state != "stopping":  # a stop cancels the second training
        parts = [tr("epoch {epoch}/{epochs}, then {runs} more times on all images", epoch=epoch, epochs=epochs,
                    runs=runs) if runs > 1 else
                 tr("epoch {epoch}/{epochs}, then once more on all images", epoch=epoch, epochs=epochs)]
    elif state == "completed" and refit.get("status") == "completed" and refit.get("runs", 1) > 1:
        parts = [tr("epoch {epoch}/{epochs}, then {runs} more times on all images to epoch {until}", epoch=epoch,
                    epochs=epochs, runs=refit["runs"], until=refit.get("epoch"))]
    elif state == "completed" and refit.get("status") == "completed":
        parts = [tr("epoch {epoch}/{epochs}, then once more on all images to epoch {until}", epoch=epoch,
                    epochs=epochs, until=refit.get("epoch"))]
    else:
        parts = [tr("epoch {epoch}/{epochs}", epoch=epoch, epochs=epochs)]
    if state in ("stopped", "failed"):
        parts = [tr("{done}/{epochs} epochs done", done=epoch, epochs=epochs)]
        if status.get("stopped_in"):
            parts.append(tr("stopped during epoch {epoch}", epoch=status["stopped_in"]))
    if step and alive and phase != READY:
        name = tr(PHASES[step["phase"]]) if step["phase"] in PHASES else step["phase"]
        parts.append(f"{name} {step['step']}/{step['steps']}")
        if step.get("loss") is not None:
            parts.append(tr("loss {loss}", loss=f"{step['loss']:.4f}"))
    percent = status["fraction"] * 100
    parts.append(f"{min(math.floor(percent), 99) if alive else round(percent)}%")  # not 100% while it still works
    elapsed = status.get("elapsed_total_s", status["elapsed_s"])  # a resumed run's earlier epochs too
    if elapsed:
        parts.append(tr("{time} elapsed", time=duration(elapsed)))
    if status["eta_s"] is not None:
        parts.append(tr("about {time} left", time=duration(status["eta_s"])))
    second = alive and (phase == REFIT_PHASE or state != "stopping")  # a stop in the first training cancels it
    return _bar(status["fraction"], " · ".join(parts), status.get("refit_from") if second else None)


def _bar(fraction: float, text: str, mark: float | None = None) -> str:
    """The bar filled to ``fraction``; ``mark``: where its second phase (training once more on
    all images) begins, drawn as a thin line."""
    line = ""
    if mark is not None and 0 < mark < 1:
        title = html.escape(tr("from here: training once more on all images"))
        line = (f'<div class="ftgui-progress-mark" title="{title}" '
                f'style="position:absolute;top:0;bottom:0;left:{mark * 100:.1f}%;width:2px;'
                'background:var(--body-text-color);opacity:.5"></div>')
    return (f'<div class="ftgui-progress" role="progressbar" aria-valuenow="{fraction * 100:.0f}" '
            f'aria-valuemin="0" aria-valuemax="100" style="position:relative"><div class="ftgui-progress-fill" '
            f'style="width:{fraction * 100:.1f}%"></div>{line}</div>'
            f'<div class="ftgui-progress-text">{html.escape(text)}</div>')


def confusion_html(labels: list[str], matrix: list[list[int]]) -> str:
    """The confusion matrix as a table, rows = true class, columns = predicted; each cell is
    shaded by its share of the row (works on light and dark themes)."""
    if not labels:
        return f"<p>{html.escape(tr('No validation predictions for this run.'))}</p>"
    head = "".join(f"<th>{html.escape(name)}</th>" for name in labels)
    body = []
    for name, row in zip(labels, matrix):
        total = sum(row) or 1
        cells = []
        for j, count in enumerate(row):
            share = count / total
            kind = "hit" if labels[j] == name else "miss"
            cells.append(f'<td class="{kind}" style="--share:{share:.3f}" '
                         f'title="{html.escape(name)} → {html.escape(labels[j])}: {count}">{count or ""}</td>')
        body.append(f"<tr><th>{html.escape(name)}</th>{''.join(cells)}</tr>")
    corner = html.escape(tr("true ↓ / predicted →"))
    return (f'<div class="ftgui-confusion"><table><thead><tr><th>{corner}</th>'
            f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")
