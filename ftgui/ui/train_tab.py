"""The Train tab: the form (see :mod:`.train_form`), Start/Stop, and the live job.

The handlers take the form as a dict keyed by field name; the Gradio handler made by
:func:`form_handler` has those names as its parameters, so API clients can pass any of
them by name. The job itself lives in the app's JobManager; every page polls it with a
``gr.Timer``, which is how a reloaded page or a second tab re-attaches to it.

On a shared app the job is its starter's (see :mod:`.owners`): only they may stop it, and
only their pages show its settings, log and error; everyone sees that it trains, with its
progress and curves (one training at a time).
"""
from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import gradio as gr

from .. import runs
from ..config import AUGMENTATIONS
from ..errors import FtguiError
from ..record import best_row
from . import catalog, charts, owners, preview, verdicts
from .command import train_command
from .context import UPLOADS, AppContext
from .data_tab import DataTab
from .handlers import bind, show_chosen, show_only
from .plugins_tab import one_liners
from .train_form import (
    config_from_form,
    form_from_config,
    initial_form,
    param_key,
    weights_architecture,
    weights_choices,
)
from .words import control_name

SEED_STATES = ("predict-only", "head-only", "full", "scratch")
MODE_WORDS = {"predict-only": "Use the model as it is, no training (state 1)",
              "head-only": "Train only the last layer (state 2)",
              "full": "Train everything (state 3)",
              "scratch": "Start from random weights (train from scratch)"}
"""Beginners' words first, the seed's terms second; other modes show their name in words."""
PARAM_WORDS = {"lr": "learning-rate", "scale": "factor", "max": "largest", "norm": "norm", "min": "smallest",
               "k": "non-zero weights per unit (k)", "tol": "tolerance", "iters": "rescaling passes",
               "std": "standard deviation"}
CHANCE_HELP = ("**Reading the result:** guessing would score 1 / (number of classes), e.g. 33% for 3 classes; "
               "the accuracy chart draws that level dashed. An accuracy measured on few validation images is "
               "uncertain: the result says by how much (± is a 95% margin).")
LOSS_EMPTY = "the training and validation loss appear here after the first epoch"
ACC_EMPTY = "the accuracies appear here after the first epoch, with guessing's level dashed"
LOG_LINES = 200
POLL_SECONDS = 1.0


def reattach(ctx: AppContext, names: list[str], request: gr.Request | None = None) -> list:
    """On page load while a training runs: its settings (values for ``names``) and, last,
    its data, so the reloaded page shows what is training (and its command line reads the
    data it trains on); else (or when the job is not this visitor's on a shared app)
    nothing changes."""
    job = ctx.jobs.running()
    if job is None or not ctx.visitor(request).owns(job.owner):
        return [gr.skip()] * (len(names) + 1)
    values = form_from_config(ctx, job.config)
    return [values[name] for name in names] + [job.config.data]


PLAIN = ((re.compile(r"\bthe seed's trap\b"), "the symmetry trap"),
         (re.compile(r"\bfan_in\b"), "fan-in (a unit's number of inputs)"),
         (re.compile(r"\bfan_out\b"), "fan-out (a unit's number of outputs)"),
         (re.compile(r"\bthe seed's\b"), "the tutorial's"))
"""Plugin texts in plain words: the tutorial's terms explained where the page shows them."""


def plain_words(text: str) -> str:
    """A plugin's description or help as the page shows it: ``fan_in`` explained (once),
    "the seed's trap" named."""
    for pattern, words in PLAIN:
        text = pattern.sub(words, text, count=1) if "fan" in words else pattern.sub(words, text)
    return text


def mode_label(name: str) -> str:
    """``head-only`` -> "Train only the last layer (state 2)"; other modes in words."""
    return MODE_WORDS.get(name, name.replace("-", " ").replace("_", " "))


def param_label(param) -> str:
    """A plugin parameter's label in words: its own ``label`` if it has one, else its name
    with the abbreviations spelt out (``backbone_lr_scale`` -> "backbone learning-rate factor")."""
    own = getattr(param, "label", None)
    if own:
        return str(own)
    return " ".join(PARAM_WORDS.get(word, word) for word in param.name.replace("-", "_").split("_") if word)


def trains_all(ctx: AppContext, strategy_name: str) -> bool:
    """Every layer starts from the initialiser (no pretrained weights)."""
    try:
        strategy = ctx.registry.strategy(strategy_name)
    except FtguiError:
        return False
    return strategy.trains and not strategy.needs_pretrained


def init_warning(ctx: AppContext, strategy_name: str, init: str) -> str:
    """Shown under the initialiser before Start: zeros/constant from scratch cannot learn."""
    return verdicts.start_warning(trains_all(ctx, strategy_name), init)


def preview_command(ctx: AppContext, data: str | None, val_split: float, form: dict[str, Any]) -> str:
    """The equivalent ``ftgui train`` command, or what is still missing, as a comment."""
    try:
        return train_command(config_from_form(ctx, data, val_split, form))
    except FtguiError as exc:
        return f"# {exc.worded(control_name)}"


def start_training(ctx: AppContext, data: str | None, val_split: float, form: dict[str, Any],
                   request: gr.Request | None = None) -> tuple[str, str]:
    """Start a training in the background for the visitor who sent ``request`` (the run
    is theirs); returns (notice, command).

    Raises jobs.Busy (an FtguiError) while another training runs, before reading the form:
    a refused start leaves nothing behind (no run folder, no kept upload). On a shared app
    the weights of another visitor's run (or a CLI run) are refused."""
    ctx.jobs.ensure_idle()
    visitor = ctx.visitor(request)
    config = config_from_form(ctx, data, val_split, form)
    run = owners.run_holding(ctx, config.weights)
    if run is not None:
        owners.check(ctx, visitor, run, "train from its weights")
    run_dir = runs.new_run_dir(None, config.model or "model", config.strategy, root=ctx.runs_root)
    config.out = str(run_dir)
    try:
        job = ctx.jobs.start(config, owner=visitor.id)
    except FtguiError:
        run_dir.rmdir()
        raise
    warning = verdicts.start_warning(trains_all(ctx, config.strategy), config.init)
    return f"Started **{job.name}**." + (f" {warning}" if warning else ""), train_command(config)


def stop_training(ctx: AppContext, request: gr.Request | None = None) -> str:
    """Stop the app's training, when it is this visitor's (on a local app everyone's)."""
    job = ctx.jobs.running()
    if job is None:
        return "Nothing is training."
    if not ctx.visitor(request).owns(job.owner):
        raise FtguiError(f"{job.name} was started by another visitor: only they may stop it; "
                         "it is saved when it ends")
    job.stop()
    return f"Stopping **{job.name}** after the current step; the best epoch so far is kept."


def data_overview(source: str | None, val_split: float = 0.2) -> str:
    """The Train tab's view of the data: its name and, when it can be read, the Data tab's
    summary without the pictures (images, classes, the split, warnings)."""
    line = data_line_text(source)
    if not source:
        return line
    try:
        from . import data_tab

        summary = data_tab.summarize(source, val_split)[0]
    except Exception:  # noqa: BLE001 - the Data tab shows the error; here the name is enough
        return line
    return f"{line}\n\n{summary}"


def data_line_text(source: str | None) -> str:
    if not source:
        return "**Data:** none yet; choose it in the **Data** tab."
    shown = source if source.startswith("sample:") else Path(source).name  # not where uploads are kept
    return f"**Data:** {shown} (change it in the **Data** tab)"


def form_handler(fn, ctx: AppContext, initial: dict[str, Any]):
    """An event handler taking (data, validation share, *form values in ``initial``'s order)
    that calls ``fn(ctx, data, val_split, form)``, with ``request=`` the visitor's request when
    ``fn`` takes one. Its signature names every form field, with the form's initial value as
    default; the request, last, is Gradio's to fill and no API parameter."""
    names = list(initial)
    wants_request = "request" in inspect.signature(fn).parameters

    def handler(data_source, val_split, *values):
        *values, request = values
        extra = {"request": request} if wants_request else {}
        return fn(ctx, data_source, val_split, dict(zip(names, values)), **extra)

    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    handler.__signature__ = inspect.Signature(  # type: ignore[attr-defined]  # read by gradio
        [inspect.Parameter("data_source", keyword, default=None), inspect.Parameter("val_split", keyword, default=0.2)]
        + [inspect.Parameter(name, keyword, default=value) for name, value in initial.items()]
        + [inspect.Parameter("request", keyword, default=None, annotation=gr.Request | None)])
    handler.__annotations__ = {"request": gr.Request | None}
    handler.__name__ = fn.__name__
    return bind(handler)


# -- the live job -----------------------------------------------------------------------
def describe_job(status: dict | None) -> str:
    """One status line per job, with what its accuracy means once it has one: chance level,
    how uncertain it is on this many validation images, and a warning when it is no better
    than guessing (see :mod:`.verdicts`)."""
    if status is None:
        return "No training yet: choose data, a model and a mode, then **Start**."
    if status.get("detached"):
        return (f"No training on this page yet (the last one, **{status['name']}**, has ended: see the **Runs** "
                "tab). Choose data, a model and a mode, then **Start**.")
    name, state = f"**{status['name']}**", status["state"]
    what = f" ({status['model']}, {status['strategy']}, {status['epochs']} epochs)"
    best = best_row([m for m in status["metrics"] if m.get("val_acc") is not None])  # the engine's rule
    classes, images = status.get("classes"), status.get("val_images")
    best_text = ""
    if best:
        best_text = (f"best validation accuracy {verdicts.accuracy_text(best['val_acc'], images)} "
                     f"(epoch {best['epoch']})")
        if classes:
            best_text += f"; {verdicts.chance_text(classes)}"
    warning = ""
    if best and classes and state in ("completed", "stopped", "initialised", "evaluated"):
        warning = verdicts.verdict(best["val_acc"], classes, images, status.get("init"),
                                   bool(status.get("trains_all")))
    try_it = " Try it in the **Predict** tab or below." if not warning else ""
    line = {
        "preparing": f"… Preparing {name}{what}: reading the images and loading the model…",
        "running": f"▶ Training {name}{what}…" + (f" {best_text}" if best else ""),
        "stopping": f"■ Stopping {name} after the current step…",
        "completed": f"✓ Finished {name}" + (f" early ({status['stop_reason']})" if status.get("stop_reason")
                                               else "") + f": {best_text}.{try_it}",
        "initialised": f"✓ Saved {name} as initialised, without training: {best_text}.",
        "stopped": f"■ Stopped {name}; kept the best epoch so far{': ' + best_text if best else ''}.",
        "evaluated": f"✓ Evaluated {name} without training: {best_text or 'no validation images'}.",
        "failed": f"✗ {name} failed: {status['error']}",
    }[state]
    return line + (f"\n\n{warning}" if warning else "")


def poll(ctx: AppContext, seen: Any, request: gr.Request | None = None) -> tuple:
    """Everything the job shows, for the timer: (status, progress, loss curves, accuracy
    curves, log, start button, stop button, seen, notice, live preview). Curves and log are only sent when
    an event arrived since ``seen`` (per page), so a quiet tick sends almost nothing; then
    the notice under Start is cleared, so a job has one status line. Another visitor's job
    (shared app) shows without its log and error, and cannot be stopped. A page opened after
    the last job ended (see :func:`poll_fresh`) keeps its empty view until a new job starts."""
    job = ctx.jobs.current
    if job is not None and not job.alive and seen == ("detached", job.id):
        return (*[gr.skip()] * 7, seen, gr.skip(), gr.skip())
    status = job.status() if job else None
    mine = job is None or ctx.visitor(request).owns(job.owner)
    if status is not None and not mine:
        status = {**status, "log": [], "run_dir": None,
                  "error": status["error"] and "the error is shown to whoever started it"}
    if status is not None:
        status["trains_all"] = trains_all(ctx, status["strategy"])
        status["log"] = [_without_uploads(ctx, line) for line in status["log"]]
    key = (status["id"], status["n_events"]) if status else None
    alive = bool(job and job.alive)
    if key == seen and key is not None:
        curves = (gr.skip(), gr.skip(), gr.skip())
        notice: Any = gr.skip()
        offer: Any = gr.skip()
    else:
        curves = job_curves(status)
        notice = "" if status else gr.skip()
        offer = preview.offer(ctx, request)
    return (describe_job(status), charts.progress_html(status), *curves,
            gr.update(interactive=not alive), gr.update(interactive=alive and mine), key, notice, offer)


def _without_uploads(ctx: AppContext, line: str) -> str:
    """A log line with the folder where uploads are kept left out: ``.../uploads/57d7.../shapes.zip``
    reads ``shapes.zip``."""
    return re.sub(re.escape(str(ctx.runs_root / UPLOADS)) + r"/[^/\s]+/", "", line)


def job_curves(status: dict | None) -> tuple:
    """(loss plot update, accuracy plot update, log text) for a job's status."""
    metrics = status["metrics"] if status else []
    log = "\n".join(status["log"][-LOG_LINES:]) if status else ""
    epochs = status["epochs"] if status else 1
    classes = status.get("classes") if status else None
    return (charts.epoch_plot(charts.curves(metrics, "loss", classes, epochs), "Loss", LOSS_EMPTY),
            charts.epoch_plot(charts.curves(metrics, "acc", classes, epochs), "Accuracy", ACC_EMPTY), log)


def poll_fresh(ctx: AppContext, seen: Any, request: gr.Request | None = None) -> tuple:
    """:func:`poll` for a page that has just opened: a job that still runs is shown (the
    page re-attaches, see :func:`reattach`); one that has ended is not, since the page's
    form shows other settings: the status line names it and points to the Runs tab."""
    job = ctx.jobs.current
    if job is None or job.alive:
        return poll(ctx, seen, request)
    status = {"detached": True, "name": job.name}
    empty = job_curves(None)
    return (describe_job(status), charts.progress_html(None), *empty,
            gr.update(interactive=True), gr.update(interactive=False), ("detached", job.id), "",
            gr.update(visible=False))


# -- plugin choices --------------------------------------------------------------------------
def strategy_order(ctx: AppContext) -> list[str]:
    """The seed's three states and training from scratch first, then every other strategy."""
    names = list(ctx.registry.strategies)
    return [n for n in SEED_STATES if n in names] + [n for n in names if n not in SEED_STATES]


def lr_info(strategy) -> str:
    return f"AdamW, cosine schedule; {strategy.default_lr:g} suits this mode"


def on_strategy(ctx: AppContext, name: str) -> tuple:
    """Updates for (mode, weights section, initialiser section, training settings,
    initialiser, learning rate) when the mode changes."""
    strategy = ctx.registry.strategy(name)
    init_label = "Initialiser of the new head" if strategy.needs_pretrained else "Initialiser of every layer"
    return (gr.update(info=plain_words(strategy.description)), gr.update(visible=strategy.needs_pretrained),
            gr.update(visible=strategy.trains and not strategy.keeps_head), gr.update(visible=strategy.trains),
            gr.update(label=init_label), gr.update(info=lr_info(strategy)))


def mode_learning_rate(ctx: AppContext, name: str) -> float:
    """When a person picks another mode: that mode's usual learning rate."""
    return ctx.registry.strategy(name).default_lr


def weights_model(ctx: AppContext, choice: str) -> dict:
    """When a person picks a run or the demo backbone: the architecture it holds."""
    architecture = weights_architecture(ctx, choice)
    return gr.update(value=architecture) if architecture else gr.update()


def load_choices(ctx: AppContext, pretrained_only: bool, model: str, request: gr.Request | None = None) -> tuple:
    """Model and weights choices, filled after the page is shown (timm loads on first use);
    on a shared app, only the visitor's own runs are offered as weights."""
    names = list(catalog.model_names(bool(pretrained_only)))
    if model and model not in names:
        names.insert(0, model)
    visitor = ctx.visitor(request)
    weights = [(label, value) for label, value in weights_choices(ctx)
               if not value.startswith("run:") or owners.may_see_all(ctx, visitor, ctx.runs_root / value[4:])]
    return gr.update(choices=names, value=model), gr.update(choices=weights)


# -- layout ----------------------------------------------------------------------------------
def _param_input(param, kind: str, plugin: str) -> gr.components.Component:
    common: dict[str, Any] = dict(label=param_label(param), info=plain_words(param.help),
                                  elem_id=param_key(kind, plugin, param.name))
    if param.choices:
        return gr.Dropdown(list(param.choices), value=param.default, **common)
    if isinstance(param.default, bool):
        return gr.Checkbox(value=param.default, **common)
    if isinstance(param.default, (int, float)):
        return gr.Number(value=param.default, precision=0 if isinstance(param.default, int) else None, **common)
    return gr.Textbox(value=str(param.default), **common)


def _plugin_params(table: dict, kind: str, selected: str, form: dict) -> dict[str, gr.Group]:
    """One group of inputs per plugin with parameters, shown while that plugin is chosen;
    the inputs go into ``form``."""
    groups = {}
    for name, registered in table.items():
        if registered.item.params:
            with gr.Group(visible=name == selected) as groups[name]:
                for param in registered.item.params:
                    form[param_key(kind, name, param.name)] = _param_input(param, kind, name)
    return groups


def _backbone(ctx: AppContext, values: dict, strategy, form: dict, ui: dict) -> None:
    gr.Markdown("### Backbone")
    with gr.Row():
        form["model"] = gr.Dropdown([values["model"]], value=values["model"], label="Model", scale=3,
                                    allow_custom_value=True, filterable=True, elem_id="model",
                                    info="type to search timm's models")
        ui["pretrained_only"] = gr.Checkbox(value=True, label="pretrained only", scale=1, min_width=110)
    ui["model_info"] = gr.Markdown(elem_classes="ftgui-help", elem_id="model-info")
    with gr.Group(visible=strategy.needs_pretrained) as ui["weights_group"]:
        form["weights"] = gr.Dropdown(weights_choices(ctx), value=values["weights"], label="Start from weights",
                                      allow_custom_value=True, elem_id="weights")
        form["weights_file"] = gr.File(label="Weights file", visible=False,
                                       file_types=[".safetensors", ".pth", ".pt", ".bin"])
        if ctx.options.local_only:  # a served app has no input naming a server file
            form["weights_path"] = gr.Textbox(label="Weights path", visible=False,
                                              placeholder="a .safetensors/.pth file or a run folder")


def _mode(ctx: AppContext, values: dict, strategy, form: dict, ui: dict) -> None:
    gr.Markdown("### Mode")
    form["strategy"] = gr.Radio([(mode_label(n), n) for n in strategy_order(ctx)], value=strategy.name,
                                label="What to train",
                                info=plain_words(strategy.description), elem_id="strategy")
    with gr.Accordion("What do the modes mean?", open=False):
        gr.Markdown(plain_words(one_liners(ctx.registry.strategy(name) for name in strategy_order(ctx))),
                    elem_classes="ftgui-help")
    ui["strategy_groups"] = _plugin_params(ctx.registry.strategies, "strategy", strategy.name, form)
    initializer = ctx.registry.initializer(values["init"])
    with gr.Group(visible=strategy.trains and not strategy.keeps_head) as ui["init_group"]:
        form["init"] = gr.Dropdown(list(ctx.registry.initializers), value=initializer.name,
                                   label="Initialiser of the new head" if strategy.needs_pretrained
                                   else "Initialiser of every layer", info=plain_words(initializer.description),
                                   elem_id="init")
        ui["init_warning"] = gr.Markdown(init_warning(ctx, strategy.name, initializer.name), elem_id="init-warning")
        with gr.Accordion("Initialiser details", open=False,
                          elem_id="init-details"):
            gr.Markdown(plain_words(one_liners(r.item for r in ctx.registry.initializers.values())),
                        elem_classes="ftgui-help")
            ui["init_groups"] = _plugin_params(ctx.registry.initializers, "init", initializer.name, form)
            form["bias_init"] = gr.Dropdown(["zero", "0.01"], value=values["bias_init"], allow_custom_value=True,
                                            label="Bias start value", info="zero, or a number such as 0.01")


def _settings(values: dict, strategy, form: dict, ui: dict) -> None:
    with gr.Group(visible=strategy.trains) as ui["settings_group"]:
        with gr.Row():
            form["epochs"] = gr.Number(values["epochs"], label="Epochs", precision=0, minimum=1)
            form["lr"] = gr.Number(values["lr"], label="Learning rate", info=lr_info(strategy))
    with gr.Accordion("More settings", open=False):
        with gr.Row():
            form["batch_size"] = gr.Number(values["batch_size"], label="Batch size", precision=0, minimum=1)
            form["img_size"] = gr.Number(values["img_size"], label="Image size", precision=0, minimum=0,
                                         info="pixels; 0 = the model's own")
        with gr.Row():
            form["aug"] = gr.Radio(list(AUGMENTATIONS), value=values["aug"], label="Augmentation")
            form["device"] = gr.Dropdown(["auto", "cpu", "cuda", "mps"], value=values["device"], label="Device",
                                         allow_custom_value=True, info="auto: the GPU if there is one")
            form["seed"] = gr.Number(values["seed"], label="Seed", precision=0, info="same seed, same split")
        with gr.Row():
            form["weight_decay"] = gr.Number(values["weight_decay"], label="Weight decay")
            form["warmup_epochs"] = gr.Number(values["warmup_epochs"], label="Warm-up epochs", precision=0,
                                              minimum=0)
            form["label_smoothing"] = gr.Number(values["label_smoothing"], label="Label smoothing", minimum=0)


def _callbacks(ctx: AppContext, values: dict, form: dict, ui: dict) -> None:
    """Callbacks to switch on, each with its parameters while it is on."""
    table = ctx.registry.callbacks
    with gr.Accordion("Extras while training (callbacks)", open=bool(values["callbacks"])):
        explained = plain_words("; ".join(f"{name}: {r.item.description}" for name, r in table.items()))
        form["callbacks"] = gr.CheckboxGroup(list(table), value=values["callbacks"], label="Use", info=explained,
                                             elem_id="callbacks")
        ui["callback_groups"] = {}
        for name, registered in table.items():
            if registered.item.params:
                with gr.Group(visible=name in values["callbacks"]) as ui["callback_groups"][name]:
                    for param in registered.item.params:
                        form[param_key("callback", name, param.name)] = _param_input(param, "callback", name)


def _job_view(ui: dict) -> None:
    with gr.Row():
        ui["start"] = gr.Button("Start training", variant="primary", elem_id="start")
        ui["stop"] = gr.Button("Stop", variant="stop", interactive=False, elem_id="stop")
    ui["notice"] = gr.Markdown(elem_id="train-notice")
    ui["status"] = gr.Markdown(describe_job(None), elem_id="train-status")
    ui["progress"] = gr.HTML(charts.progress_html(None), elem_id="train-progress")
    with gr.Group(visible=False, elem_id="live-preview") as ui["preview"]:
        gr.Markdown("**Try it now:** drop a picture, paste one or take a webcam shot: the model you just trained "
                    "labels it at once. (The **Predict** tab does many images and other models.)")
        with gr.Row():
            ui["preview_image"] = gr.Image(sources=["upload", "webcam", "clipboard"], type="pil",
                                           label="Your picture", height=220, elem_id="preview-image")
            ui["preview_label"] = gr.Label(num_top_classes=preview.TOP_K, label="The model says",
                                           elem_id="preview-label")
        with gr.Accordion("Live webcam: labelled as you move", open=False, elem_id="preview-live-box"):
            ui["preview_live"] = gr.Image(sources=["webcam"], streaming=True, type="pil", label="Webcam",
                                          height=220, elem_id="preview-live")
    gr.HTML(charts.PLOT_STYLE, padding=False, container=False)
    curve: dict[str, Any] = dict(x="epoch", y="value", color="curve", color_map=charts.CURVE_COLOURS, color_title="",
                 x_title="epoch", height=260, elem_classes="ftgui-plot")
    with gr.Row():
        ui["loss"] = gr.LinePlot(label=f"Loss: {LOSS_EMPTY}", y_title="loss", elem_id="loss-plot", **curve)
        ui["acc"] = gr.LinePlot(label=f"Accuracy: {ACC_EMPTY}", y_title="accuracy", y_lim=[0, 1],
                                elem_id="acc-plot", **curve)
    with gr.Accordion("Log", open=False, elem_id="train-log-box"):
        ui["log"] = gr.Textbox(show_label=False, lines=8, max_lines=8, autoscroll=True, interactive=False,
                               elem_id="train-log")
    ui["command"] = gr.Textbox(label="The same training from a terminal", lines=1, max_lines=4,
                               interactive=False, buttons=["copy"], elem_id="train-command")


def layout(ctx: AppContext, demo: gr.Blocks, data: DataTab) -> gr.Markdown:
    """Build the Train tab's components and wire its events; returns the notice under
    Start/Stop, where the Runs tab says that it resumed a run."""
    values = initial_form(ctx)
    strategy = ctx.registry.strategy(values["strategy"])
    form: dict[str, Any] = {}
    ui: dict[str, Any] = {}
    with gr.Tab("2 · Train", id="train"):
        seen = gr.State(None)
        timer = gr.Timer(POLL_SECONDS)
        gr.Markdown("🔒 These are the settings of the training in progress; they can be changed when it ends.",
                    elem_id="train-form-note")
        with gr.Column(elem_id="train-form"):  # read-only while this page's job trains (see charts.PLOT_STYLE)
            with gr.Row(equal_height=False):
                with gr.Column(scale=1, min_width=320):
                    _backbone(ctx, values, strategy, form, ui)
                    gr.Markdown("### Your data")
                    data_line = gr.Markdown(elem_classes="ftgui-help", elem_id="train-data")
                    with gr.Accordion("How to read the result", open=False):
                        gr.Markdown(CHANCE_HELP, elem_classes="ftgui-help")
                with gr.Column(scale=1, min_width=320):
                    _mode(ctx, values, strategy, form, ui)
            _settings(values, strategy, form, ui)
            _callbacks(ctx, values, form, ui)
        _job_view(ui)

    inputs = [data.source, data.val_split, *form.values()]
    initial = {name: values[name] for name in form}
    job_outputs = ([ui[k] for k in ("status", "progress", "loss", "acc", "log", "start", "stop")]
                   + [seen, ui["notice"], ui["preview"]])
    timer.tick(bind(poll, ctx), [seen], job_outputs, show_progress="hidden", api_name="poll", concurrency_limit=None)
    ui["start"].click(form_handler(start_training, ctx, initial), inputs, [ui["notice"], ui["command"]],
                      api_name="start_training")
    ui["stop"].click(bind(stop_training, ctx), None, [ui["notice"]], api_name="stop_training")

    private: dict[str, Any] = dict(api_visibility="private", show_progress="hidden")
    choices = [form["model"], form["weights"]]
    demo.load(bind(poll_fresh, ctx), [seen], job_outputs, **private)
    ui["preview_image"].change(bind(preview.predict_preview, ctx), [ui["preview_image"]], [ui["preview_label"]],
                               trigger_mode="always_last", **private)
    ui["preview_live"].stream(bind(preview.predict_preview, ctx), [ui["preview_live"]], [ui["preview_label"]],
                              stream_every=0.5, time_limit=300, concurrency_limit=1, **private)
    demo.load(bind(load_choices, ctx), [ui["pretrained_only"], form["model"]], choices, **private)
    ui["pretrained_only"].change(bind(load_choices, ctx), [ui["pretrained_only"], form["model"]], choices, **private)
    gr.on([form["model"].change, demo.load], bind(catalog.model_summary), [form["model"]], [ui["model_info"]],
          trigger_mode="always_last", **private)
    gr.on([f.change for f in form.values()] + [data.source.change, data.val_split.change, demo.load],
          form_handler(preview_command, ctx, initial), inputs, [ui["command"]], trigger_mode="always_last", **private)
    gr.on([data.source.change, data.val_split.release, demo.load], bind(data_overview), [data.source, data.val_split],
          [data_line], trigger_mode="always_last", **private)
    weights_inputs = {"upload": form["weights_file"]}  # the input each weights choice needs
    if "weights_path" in form:
        weights_inputs["path"] = form["weights_path"]
    form["weights"].change(show_only(weights_inputs), [form["weights"]], list(weights_inputs.values()), **private)
    form["weights"].input(bind(weights_model, ctx), [form["weights"]], [form["model"]], **private)
    form["strategy"].change(bind(on_strategy, ctx), [form["strategy"]],
                            [form["strategy"], ui["weights_group"], ui["init_group"], ui["settings_group"],
                             form["init"], form["lr"]], **private)
    form["strategy"].input(bind(mode_learning_rate, ctx), [form["strategy"]], [form["lr"]], **private)
    form["strategy"].change(show_only(ui["strategy_groups"]), [form["strategy"]],
                            list(ui["strategy_groups"].values()), **private)
    demo.load(bind(reattach, ctx, list(form)), None, [*form.values(), data.source], **private)
    # a job started elsewhere (Resume in the Runs tab writes the notice): the form shows its settings
    ui["notice"].change(bind(reattach, ctx, list(form)), None, [*form.values(), data.source], **private)
    gr.on([form["init"].change, form["strategy"].change], bind(init_warning, ctx), [form["strategy"], form["init"]],
          [ui["init_warning"]], **private)
    form["init"].change(lambda name: gr.update(info=plain_words(ctx.registry.initializer(name).description)),
                        [form["init"]],
                        [form["init"]], **private)
    form["init"].change(show_only(ui["init_groups"]), [form["init"]], list(ui["init_groups"].values()), **private)
    callback_groups = ui["callback_groups"]
    form["callbacks"].change(show_chosen(callback_groups), [form["callbacks"]], list(callback_groups.values()),
                             **private)
    return ui["notice"]
