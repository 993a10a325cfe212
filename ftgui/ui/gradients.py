"""Gradient diffusion as plots: per stage and epoch from a run's ``metrics.jsonl`` (written by
the bundled ``grad-norms`` callback), and per layer in the Init Lab.

Gradient norms span many orders of magnitude (a deep sigmoid network's first layer gets a
millionth of its last layer's), and Gradio's LinePlot has no logarithmic axis, so every value
is plotted as its base-10 logarithm: -3 means 0.001. A value of 0 (a layer that gets no
gradient at all, as with all-zero weights) has no logarithm and is left out; the text beside
the plot says so. Plain data in, plain data (DataFrames, plot updates) out; no torch.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import gradio as gr
import pandas as pd

from ..i18n import N_, tr

GRAD = "grad_norm/"
RATIO = "update_ratio/"
LOG_TITLE = "log10 of the size (-3 = 0.001)"
GRAD_LABEL = N_("Gradient size per stage (grad-norms)")
RATIO_LABEL = N_("Update / weight size per stage (grad-norms)")
NO_GRADIENTS = N_("this run did not measure gradients: tick **grad-norms** under *Extras while training "
                "(callbacks)* in the Train tab to see, per stage and epoch, how much gradient each part of "
                "the model gets")
EXPLAIN = N_(
    "Each line is one stage of the model, from the first (stage0, next to the image) to the head; the "
    "height is the average gradient size of its weights in an epoch, and below, how far an epoch moved "
    "them compared with their size. The seed calls it *gradient diffusion* (梯度扩散): \"the gradient "
    "computed by back-propagation shrinks markedly towards the first layers, so early layers contribute "
    "little and update slowly\" - a line far below the head's is a stage that barely learns."
)


def log10(value: Any) -> float | None:
    """log10 of a positive finite number; None for 0, negatives, None, NaN or infinity."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return math.log10(value)


def log_frame(points: Iterable[tuple[float, str, Any]], x: str, series: str) -> pd.DataFrame:
    """(x, series, value) points as a DataFrame with columns ``x``, ``value`` (log10 of the value)
    and ``series``; points without a logarithm are dropped."""
    rows = [{x: position, "value": logged, series: name}
            for position, name, value in points if (logged := log10(value)) is not None]
    frame = pd.DataFrame(rows, columns=[x, "value", series])
    return frame.astype({x: "int64", "value": "float64", series: "str"})


def stage_key(name: str) -> tuple[int, int, str]:
    """Sort stages in forward order: stage0, stage1, ..., stage10, then backbone, then head."""
    match = re.fullmatch(r"stage(\d+)", name)
    if match:
        return (0, int(match.group(1)), name)
    return (2 if name == "head" else 1, 0, name)


def stages(metrics: list[dict], prefix: str = GRAD) -> list[str]:
    """The stages the run measured, in forward order."""
    names = {key[len(prefix):] for row in metrics for key in row if key.startswith(prefix)}
    return sorted(names, key=stage_key)


def has_gradients(metrics: list[dict]) -> bool:
    return any(key.startswith(GRAD) for row in metrics for key in row)


def gradient_frames(metrics: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(gradient norms, update/weight ratios) per epoch and stage, as log10 values: DataFrames
    with columns epoch, value, stage, the stages in forward order. Rows of metrics.jsonl
    without an epoch, or from an epoch stopped part-way, are left out."""
    done = [row for row in metrics if isinstance(row.get("epoch"), int) and not row.get("stopped")]

    def frame(prefix: str) -> pd.DataFrame:
        order = stages(done, prefix)
        points = [(row["epoch"], stage, row.get(prefix + stage)) for stage in order for row in done]
        return log_frame(points, "epoch", "stage")

    return frame(GRAD), frame(RATIO)


def plot_update(frame: pd.DataFrame, label: str, empty: str) -> dict:
    """A LinePlot update with data and label only (see ``charts.epoch_plot``: axis settings are
    fixed when the plot is made, never sent with data); no data: no chart, the label says why
    (``label`` and ``empty`` in the visitor's language)."""
    has_data = len(frame) > 0
    return gr.update(value=frame if has_data else None, label=label if has_data else f"{label}: {empty}")


def gradient_plot(metrics: list[dict]) -> tuple[dict, dict, str]:
    """The Runs tab's view of one run: (gradient plot update, update-ratio plot update, text)."""
    if not has_gradients(metrics):
        return (plot_update(log_frame([], "epoch", "stage"), tr(GRAD_LABEL), tr("not measured")),
                plot_update(log_frame([], "epoch", "stage"), tr(RATIO_LABEL), tr("not measured")), tr(NO_GRADIENTS))
    grads, ratios = gradient_frames(metrics)
    text = tr(EXPLAIN)
    if len(grads):
        last = grads[grads["epoch"] == grads["epoch"].max()].set_index("stage")["value"]
        first, head = stages(metrics)[0], "head" if "head" in last.index else last.index[-1]
        if first in last.index and head in last.index and first != head:
            gap = last[head] - last[first]
            facts = dict(first=first, head=head, ratio=f"{10 ** -gap:.2g}", orders=f"{gap:.1f}")
            text += "\n\n" + (tr("In the last epoch the first stage ({first}) got {ratio} times the gradient of "
                                  "the {head} ({orders} orders of magnitude less).", **facts) if gap >= 1 else
                               tr("In the last epoch the first stage ({first}) got {ratio} times the gradient of "
                                  "the {head}.", **facts))
    return (plot_update(grads, tr(GRAD_LABEL), tr("no epoch finished yet")),
            plot_update(ratios, tr(RATIO_LABEL), tr("no epoch finished yet")), text)


def plots(**common: Any) -> tuple[gr.LinePlot, gr.LinePlot]:
    """The two LinePlots ``gradient_plot`` fills (made inside a layout)."""
    style: dict[str, Any] = dict(x="epoch", y="value", color="stage", color_title="", x_title="epoch",
                                 y_title=LOG_TITLE, height=260, elem_classes="ftgui-plot", **common)
    return (gr.LinePlot(label=f"{GRAD_LABEL}: choose a run", **style),
            gr.LinePlot(label=f"{RATIO_LABEL}: choose a run", **style))


def for_run(ctx: Any, name: str | None) -> tuple[dict, dict, str]:
    """``gradient_plot`` of the run folder ``name`` under the app's runs root (Runs tab)."""
    if not name:
        empty = log_frame([], "epoch", "stage")
        why = tr("choose a run")
        return plot_update(empty, tr(GRAD_LABEL), why), plot_update(empty, tr(RATIO_LABEL), why), ""
    from ..runs import read_metrics

    return gradient_plot(read_metrics(ctx.run_path(name)))


def section() -> list[Any]:
    """The Runs tab's gradient section (an accordion: the text and two plots); returns the
    outputs of :func:`for_run`."""
    with gr.Accordion("Gradients per stage (gradient diffusion)", open=False, elem_id="runs-gradients"):
        grad_plot, ratio_plot = plots()
        text = gr.Markdown(elem_classes="ftgui-help", elem_id="runs-gradients-text")
    return [grad_plot, ratio_plot, text]
