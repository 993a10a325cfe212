"""The Init Lab tab: two initialisers side by side, and what each does to a deep network.

Three figures, each with two sentences that quote the seed's claim it shows (issue 11, item 7):
the signal layer by layer (:func:`ftgui.lab.activations.run_activations`: spread per layer and
histograms), the symmetry meter (:func:`ftgui.lab.symmetry.run_symmetry`: distinct units, rank
and cosine after training) and gradient diffusion (:func:`ftgui.lab.gradients.run_gradients`,
drawn by :mod:`.gradients`, sigmoid against ReLU). The experiments run on the CPU, on one
torch thread, in a second or two in all; they start on "Run the experiment", with a progress
bar, in Gradio's worker threads, so the other tabs stay usable. A small Compare section
(:mod:`.lab_compare`) trains real models on chosen images over several seeds.
"""
from __future__ import annotations

import functools
import html
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from ..errors import FtguiError
from ..i18n import N_, plugin_text, tr
from . import charts, gradients, heavy, lab_compare
from .context import AppContext
from .handlers import bind
from .words import plain_name

ACTS = ("tanh", "relu", "sigmoid")
"""The activations, named as torch names them (the Chinese page adds what each is)."""
DEFAULTS = (("small-random", "tanh"), ("lecun", "tanh"))
"""Side A and side B as the tab opens: the seed's "smaller is not always better" against its
1/sqrt(n) calibration."""
WIDTH = 500
SIDES = ("A", "B")
TABLE = [N_("layer"), N_("mean"), N_("std"), N_("saturated"), N_("dead")]
METER = [N_("layer"), N_("rank"), N_("mean cosine"), N_("distinct units"), N_("moved")]
SYMMETRY_SHAPE = "64 → 32 → 32 → 10"

INTRO = (
    "## Init Lab: see why the starting weights matter\n"
    "Choose two ways to start the weights (initialisers) and press **Run the experiment**: the same three "
    "small experiments run for both, side by side, on this computer in a few seconds. Try *all zeros* for "
    "the symmetry trap, *small random numbers* with the setting `std=1` for saturation, or ReLU with "
    "*kaiming*. The words in quotes are the seed's (the tutorial ftgui follows)."
)
EXPLAIN_SIGNAL = (
    "Unit-Gaussian noise passes through the chosen number of layers of {width} units; each line is one "
    "initialiser, its height the spread (standard deviation) of a layer's outputs, and the histograms show "
    "those outputs for "
    "the first, middle and last layer. The seed warns about small random numbers - \"smaller is not always "
    "better\": their signal shrinks towards 0 layer by layer - and says to \"calibrate the variance with "
    "1/sqrt(n)\" so every unit's output has variance about 1; weights that are too large saturate tanh "
    "(outputs piled at -1 and +1, where its slope, the gradient, is about 0)."
)
EXPLAIN_SYMMETRY = (
    "A small network ({shape}, the same activation) learns the bundled digits for {steps} steps from each "
    "start; the meter counts how many of each hidden layer's units still really differ afterwards, with the "
    "rank of its weights and how alike the units' weights are (mean cosine, 1 = identical). The seed: with "
    "\"all zeros\" or \"all the same value\" every unit \"computes the same output, receives the same gradient "
    "and the same update; the network stays symmetric\" - one distinct unit is that trap - while \"small "
    "random numbers\" are \"the usual way to break symmetry\"."
)
EXPLAIN_GRADIENTS = (
    "The size of the gradient each layer's weights get at the start of training, for a network of as many "
    "weight layers (the last one the output layer) on the digits, started by each initialiser and run once "
    "with sigmoid and once with ReLU "
    "(log scale: -3 means 0.001; a layer with no gradient at all has no point). The seed's *gradient "
    "diffusion* (梯度扩散): \"the gradient computed by back-propagation shrinks markedly towards the first "
    "layers, so early layers contribute little and update slowly\" - with sigmoid layer 1 gets orders of "
    "magnitude less than the last layer; with ReLU and kaiming it does not."
)
NOT_RUN = "press “Run the experiment”"
"""What an empty plot says (a plot's label is plain text, not Markdown)."""
PROGRESS = gr.Progress()
"""Gradio finds a handler's progress bar by this default value (a no-op outside an event)."""


@dataclass
class Side:
    """One column's choice: an initialiser, its settings and an activation."""

    name: str
    init: str
    act: str
    params: dict[str, str]

    @property
    def label(self) -> str:
        settings = f" ({', '.join(f'{k}={v}' for k, v in self.params.items())})" if self.params else ""
        return f"{self.name}: {self.init}{settings} · {self.act}"


def parse_settings(text: str | None) -> dict[str, str]:
    """``"std=1, k=5"`` -> {"std": "1", "k": "5"} (the initialiser checks and converts them)."""
    settings: dict[str, str] = {}
    for item in re.split(r"[,;\s]+", (text or "").strip()):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise FtguiError(tr("write initialiser settings as NAME=VALUE, e.g. std=1 (not {item})", item=repr(item)))
        settings[key] = value
    return settings


def side(name: str, init: str | None, act: str | None, settings: str | None) -> Side:
    if act not in ACTS:
        raise FtguiError(tr("choose an activation among {choices}", choices=", ".join(ACTS)))
    if not init:
        raise FtguiError(tr("choose an initialiser for side {side}", side=name))
    return Side(name, init, act, parse_settings(settings))


# -- what the figures show -----------------------------------------------------------------------
def number(value: float | None) -> str:
    """3 significant digits, or scientific notation for tiny and huge values; "-" for None."""
    if value is None:
        return "-"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e4):
        return f"{value:.1e}"
    return f"{value:.3g}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def spread_frame(reports: dict[str, Any]) -> pd.DataFrame:
    """The std of every layer's outputs, per side (label -> ActivationReport)."""
    rows = [{"layer": stats.layer, "std": stats.std, "initialiser": label}
            for label, report in reports.items() for stats in report.layers if math.isfinite(stats.std)]
    return pd.DataFrame(rows, columns=["layer", "std", "initialiser"]).astype({"layer": "int64", "std": "float64"})


def histogram_frame(report: Any) -> pd.DataFrame:
    """The share of outputs per value bin for the first, middle and last layer."""
    layers = report.layers
    picked = sorted({0, (len(layers) - 1) // 2, len(layers) - 1})
    rows = []
    for index in picked:
        stats = layers[index]
        total = sum(stats.histogram) or 1
        for count, low, high in zip(stats.histogram, stats.edges[:-1], stats.edges[1:]):
            rows.append({"output": (low + high) / 2, "share": count / total, "layer": tr("layer {n}", n=stats.layer)})
    return pd.DataFrame(rows, columns=["output", "share", "layer"]).astype({"output": "float64", "share": "float64"})


def stats_table(report: Any) -> pd.DataFrame:
    """Mean, std, saturated and dead fraction per layer, as the page shows them."""
    return pd.DataFrame([[s.layer, number(s.mean), number(s.std), percent(s.saturated), percent(s.dead)]
                         for s in report.layers], columns=headers(TABLE))


def meter_frame(report: Any) -> pd.DataFrame:
    """The symmetry meter's numbers per hidden layer."""
    return pd.DataFrame([[layer.layer, layer.rank, round(layer.mean_cosine, 3), layer.distinct_units,
                          round(layer.change, 3)] for layer in report.layers], columns=headers(METER))


def headers(columns: list[str]) -> list[str]:
    """A table's column headers in the current language."""
    return [tr(column) for column in columns]


def meter_html(label: str, report: Any) -> str:
    """Accuracy against guessing, then a bar per hidden layer: distinct units of all units."""
    trapped = any(layer.distinct_units <= 1 for layer in report.layers)
    accuracy = tr("validation accuracy <b>{accuracy}</b> (guessing: {chance})", accuracy=f"{report.accuracy:.1%}",
                  chance=f"{report.chance:.0%}")
    trap = " · " + tr("<b>the symmetry trap</b>: every unit of a layer is the same unit") if trapped else ""
    head = f'<div class="ftgui-meter"><p><b>{html.escape(label)}</b><br>{accuracy}{trap}</p>'
    bars = []
    for layer in report.layers:
        share = layer.distinct_units / max(layer.units, 1)
        bars.append(
            f'<div class="ftgui-progress" role="meter" aria-valuenow="{layer.distinct_units}" aria-valuemin="0" '
            f'aria-valuemax="{layer.units}"><div class="ftgui-progress-fill" style="width:{share * 100:.1f}%">'
            f'</div></div><div class="ftgui-progress-text">'
            + tr("layer {layer}: <b>{distinct} of {units}</b> distinct units · rank {rank} · mean cosine {cosine} · "
                 "moved {moved}", layer=layer.layer, distinct=layer.distinct_units, units=layer.units,
                 rank=layer.rank, cosine=f"{layer.mean_cosine:.3f}", moved=number(layer.change)) + "</div>")
    return head + "".join(bars) + "</div>"


def loss_frame(reports: dict[str, Any], every: int = 5) -> pd.DataFrame:
    """The symmetry experiment's training loss, every ``every`` steps and the last, per side."""
    rows = []
    for label, report in reports.items():
        losses = report.losses
        for step in sorted({*range(0, len(losses), every), len(losses) - 1} - {-1}):
            if math.isfinite(losses[step]):
                    rows.append({"step": step + 1, "loss": losses[step], "initialiser": label})
    return pd.DataFrame(rows, columns=["step", "loss", "initialiser"]).astype({"step": "int64", "loss": "float64"})


def gradient_frame(reports: dict[str, Any]) -> pd.DataFrame:
    """log10 of each layer's gradient norm, one series per (side, activation)."""
    points = [(layer.layer, label, layer.grad_norm) for label, report in reports.items() for layer in report.layers]
    return gradients.log_frame(points, "layer", "run")


def plot(frame: pd.DataFrame, label: str) -> dict:
    return gradients.plot_update(frame, label, tr("nothing to draw"))


# -- running it ---------------------------------------------------------------------------------
@dataclass
class LabResult:
    sides: list[Side]
    activations: dict[str, Any]
    symmetry: dict[str, Any]
    gradients: dict[str, Any]
    seconds: float


def experiment(ctx: AppContext, sides: list[Side], layers: int, steps: int = 300,
               report: Callable[[float, str], None] = lambda fraction, text: None) -> LabResult:
    """Run the three experiments for each side; ``report(fraction, text)`` before each."""
    if not 2 <= layers <= 30:
        raise FtguiError(tr("choose between 2 and 30 layers"))
    heavy.load()
    from ..lab.activations import run_activations
    from ..lab.gradients import run_gradients
    from ..lab.symmetry import run_symmetry

    started = time.perf_counter()
    common: dict[str, Any] = dict(registry=ctx.registry, log=lambda message: None)
    found: dict[str, dict[str, Any]] = {"activations": {}, "symmetry": {}, "gradients": {}}
    total = len(sides) * 4
    done = 0

    def step(text: str) -> None:
        nonlocal done
        report(done / total, text)
        done += 1

    def guarded(one: Side, run: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return run(*args, init_params=one.params, **common, **kwargs)
        except (RuntimeError, ValueError, OverflowError) as exc:  # e.g. an SVD of infinite weights
            raise FtguiError(tr("{side}: the numbers overflowed with these settings (infinite or not a number: "
                                "{error}); choose smaller ones", side=one.label,
                                error=str(exc).splitlines()[0][:120])) from None

    for one in sides:
        step(tr("{side}: the signal through {layers} layers", side=one.label, layers=layers))
        found["activations"][one.label] = guarded(one, run_activations, one.init, one.act, layers=layers,
                                                  width=WIDTH)
        step(tr("{side}: training the small network {steps} steps", side=one.label, steps=steps))
        found["symmetry"][one.label] = guarded(one, run_symmetry, one.init, steps=steps, act=one.act)
        for act in ("sigmoid", "relu"):
            step(tr("{side}: gradients with {activation}", side=one.label, activation=act))
            found["gradients"][f"{one.name}: {one.init} · {act}"] = guarded(one, run_gradients, one.init, act,
                                                                            layers=layers)
    report(1.0, tr("drawing"))
    return LabResult(sides, found["activations"], found["symmetry"], found["gradients"],
                     time.perf_counter() - started)


def views(result: LabResult, layers: int) -> tuple:
    """The outputs of :func:`run_lab`, in the order :func:`layout` wires them."""
    labels = [one.label for one in result.sides]
    acts, syms = result.activations, result.symmetry
    compared = functools.reduce(lambda a, b: tr("{a} against {b}", a=a, b=b),
                                [f"**{html.escape(x)}**" for x in labels])
    out: list[Any] = [tr("Ran in {seconds} s: {sides}", seconds=f"{result.seconds:.1f}", sides=compared)]
    out.append(plot(spread_frame(acts), tr("Spread (std) of each layer's outputs, {layers} layers of {width} units",
                                           layers=layers, width=WIDTH)))
    out += [plot(histogram_frame(acts[label]), tr("{side}: outputs of the first, middle and last layer", side=label))
            for label in labels]
    out += [stats_table(acts[label]) for label in labels]
    out += [meter_html(label, syms[label]) for label in labels]
    out += [meter_frame(syms[label]) for label in labels]
    out.append(plot(loss_frame(syms), tr("Training loss of the small network (the symmetry experiment)")))
    out.append(plot(gradient_frame(result.gradients), tr("Gradient size per layer (log10), {layers} weight layers",
                                                         layers=layers)))
    silent = [label for label, report in result.gradients.items() if not any(x.grad_norm > 0 for x in report.layers)]
    if silent:
        out[0] += "\n\n" + tr("No gradient at all (every layer's is exactly 0, so the gradient plot has no line for "
                               "it): {runs}.", runs=", ".join(f"**{html.escape(label)}**" for label in silent))
    for label, report in result.gradients.items():
        alive = [x.layer for x in report.layers if x.grad_norm > 0]
        if len(alive) == 1:  # one point draws no line
            out[0] += "\n\n" + tr("Only layer {layer} gets a gradient with **{run}**; the others get exactly 0.",
                                   layer=alive[0], run=html.escape(label))
    return tuple(out)


def run_lab(ctx: AppContext, init_a: str, act_a: str, settings_a: str, init_b: str, act_b: str, settings_b: str,
            layers: float, progress: gr.Progress = PROGRESS) -> tuple:
    """The handler of "Run the experiment": both sides' figures."""
    sides = [side("A", init_a, act_a, settings_a), side("B", init_b, act_b, settings_b)]
    count = int(layers)
    result = experiment(ctx, sides, count, report=lambda fraction, text: progress(fraction, desc=text))
    return views(result, count)


def describe(ctx: AppContext, init: str | None) -> str:
    """The chosen initialiser in plain words, with its settings, in the current language."""
    if not init or init not in ctx.registry.initializers:
        return ""
    item = ctx.registry.initializers[init].item
    settings = ", ".join(f"`{p.name}={p.default}`" for p in item.params)
    plain = plugin_text(item, "label", plain_name(init))
    text = plugin_text(item, "description", item.description)
    if plain != init:
        text = f"{plain} - {text}"
    return tr("{text} (settings: {settings})", text=text, settings=settings) if settings else text


def waiting(name: str) -> str:
    """A symmetry meter before the first run."""
    return f"<p>{html.escape(tr('{side}: press Run the experiment', side=name))}</p>"


def opening() -> list[Any]:
    """The tab's empty tables and meters in the visitor's language (on each page load)."""
    return [*(pd.DataFrame(columns=headers(TABLE)) for _ in SIDES), *(waiting(name) for name in SIDES),
            *(pd.DataFrame(columns=headers(METER)) for _ in SIDES)]


# -- the tab ------------------------------------------------------------------------------------
def _side_controls(ctx: AppContext, name: str, init: str, act: str) -> list[Any]:
    inits = list(ctx.registry.initializers)
    with gr.Column(min_width=300):
        gr.Markdown(f"### Side {name}")
        chosen = gr.Dropdown(inits, value=init if init in inits else inits[0], label="Initialiser",
                             elem_id=f"lab-init-{name.lower()}")
        about = gr.Markdown(describe(ctx, init), elem_classes="ftgui-help")
        with gr.Row():
            activation = gr.Radio(list(ACTS), value=act, label="Activation", elem_id=f"lab-act-{name.lower()}")
            settings = gr.Textbox(label="Initialiser settings (optional)", placeholder="e.g. std=1",
                                  elem_id=f"lab-settings-{name.lower()}")
    # on each page load (in the visitor's language) and on each choice
    gr.on(None, bind(describe, ctx), [chosen], [about], api_visibility="private", show_progress="hidden")
    return [chosen, activation, settings]


def layout(ctx: AppContext, demo: gr.Blocks) -> None:
    """Build the Init Lab tab and wire its button."""
    curve: dict[str, Any] = dict(height=260, elem_classes="ftgui-plot", color_title="")
    with gr.Tab("6 · Init Lab", id="lab"):
        gr.Markdown(INTRO)
        inputs: list[Any] = []
        with gr.Row(equal_height=False):
            for name, (init, act) in zip(SIDES, DEFAULTS):
                inputs += _side_controls(ctx, name, init, act)
        with gr.Row():
            layers = gr.Slider(2, 20, value=10, step=1, label="Layers", scale=3, elem_id="lab-layers")
            button = gr.Button("Run the experiment", variant="primary", scale=1, elem_id="lab-run")
        status = gr.Markdown(elem_id="lab-status")
        gr.Markdown("### 1 · The signal, layer by layer")
        gr.Markdown(EXPLAIN_SIGNAL.format(width=WIDTH), elem_classes="ftgui-help")
        spread = gr.LinePlot(x="layer", y="std", color="initialiser", x_title="layer", y_title="std of the outputs",
                             label=f"Spread (std) of each layer's outputs: {NOT_RUN}", elem_id="lab-spread", **curve)
        with gr.Row(equal_height=False):
            hists = [gr.LinePlot(x="output", y="share", color="layer", x_title="output value",
                                 y_title="share of outputs", label=f"{name}: outputs per layer: {NOT_RUN}",
                                 elem_id=f"lab-hist-{name.lower()}", **curve) for name in SIDES]
        with gr.Row(equal_height=False):
            tables = [gr.Dataframe(headers=TABLE, label=f"{name}: per layer", interactive=False, max_height=420,
                                   elem_id=f"lab-table-{name.lower()}") for name in SIDES]
        gr.Markdown("### 2 · The symmetry meter")
        gr.Markdown(EXPLAIN_SYMMETRY.format(shape=SYMMETRY_SHAPE, steps=300), elem_classes="ftgui-help")
        with gr.Row(equal_height=False):
            meters, meter_tables = [], []
            for name in SIDES:
                with gr.Column(min_width=300):
                    meters.append(gr.HTML(waiting(name), elem_id=f"lab-meter-{name.lower()}"))
                    meter_tables.append(gr.Dataframe(headers=METER, interactive=False, show_label=False,
                                                     elem_id=f"lab-meter-table-{name.lower()}"))
        losses = gr.LinePlot(x="step", y="loss", color="initialiser", x_title="step", y_title="training loss",
                             label=f"Training loss of the small network: {NOT_RUN}", elem_id="lab-loss", **curve)
        gr.Markdown("### 3 · Gradient diffusion")
        gr.Markdown(EXPLAIN_GRADIENTS, elem_classes="ftgui-help")
        grads = gr.LinePlot(x="layer", y="value", color="run", x_title="layer (1 = next to the input)",
                            y_title=gradients.LOG_TITLE, label=f"Gradient size per layer: {NOT_RUN}",
                            elem_id="lab-gradients", **curve)
        lab_compare.layout(ctx)
    demo.load(bind(opening), None, [*tables, *meters, *meter_tables], api_visibility="private", show_progress="hidden")
    outputs = [status, spread, *hists, *tables, *meters, *meter_tables, losses, grads]
    ran = button.click(bind(run_lab, ctx), [*inputs, layers], outputs, api_name="run_lab", concurrency_limit=1)
    charts.keep_series_coloured(ran, [spread, *hists, losses, grads])
    # one at a time: the Lab sets torch's thread count process-wide while it runs (ftgui.lab.mlp.one_thread),
    # and two overlapping runs could leave it at 1 for good
