"""The Train tab's layout: the backbone, the mode and initialiser, the settings, the
callbacks and the job's view, each a function that adds its components to ``form`` (the
training settings) or ``ui`` (everything else).

Texts are written in English; the page shows its fixed ones in the reader's language (see
:mod:`.language`; a plugin's own words through :func:`ftgui.i18n.plugin_text`). Texts made of
several plugins' words are made for each reader on page load (:func:`plugin_help`)."""
from __future__ import annotations

from typing import Any

import gradio as gr

from ..config import AUGMENTATIONS
from ..i18n import plugin_text, tr
from ..record import ACCURACY, LOSS, SMALL_VALIDATION
from . import charts, preview, verdicts
from .context import AppContext
from .job_view import ACC_EMPTY, AUTO_INFO, AUTO_PLACEHOLDER, LOSS_EMPTY, describe_job, trains_all
from .train_form import param_key, weights_choices
from .words import mode_label, param_label, plain_words

SEED_STATES = ("predict-only", "head-only", "full", "scratch")


def strategy_order(ctx: AppContext) -> list[str]:
    """The seed's three states and training from scratch first, then every other strategy."""
    names = list(ctx.registry.strategies)
    return [n for n in SEED_STATES if n in names] + [n for n in names if n not in SEED_STATES]


def lr_info(strategy) -> str:
    return tr("AdamW, cosine schedule; {lr} suits this mode", lr=f"{strategy.default_lr:g}")


def described(plugin) -> str:
    """A plugin's description as the page shows it: in plain words, in the reader's language."""
    return plugin_text(plugin, "description", plain_words(plugin.description))


def plugin_list(plugins) -> str:
    """``- **name**: description`` for each plugin (Strategy or Initializer objects)."""
    return "\n".join(tr("- **{name}**: {description}", name=plugin.name, description=described(plugin))
                     for plugin in plugins)


def plugin_help(ctx: AppContext, strategy_name: str) -> tuple:
    """On page load, in the reader's language: (what the modes mean, the initialisers, the
    callbacks' help, the learning rate's help for the mode ``strategy_name``)."""
    callbacks = "; ".join(tr("{name}: {description}", name=plugin_text(r.item, "label", name),  # as the choices
                             description=described(r.item)) for name, r in ctx.registry.callbacks.items())
    return (plugin_list(ctx.registry.strategy(name) for name in strategy_order(ctx)),
            plugin_list(r.item for r in ctx.registry.initializers.values()), gr.update(info=callbacks),
            gr.update(info=lr_info(ctx.registry.strategy(strategy_name))))


def param_input(param, kind: str, plugin) -> gr.components.Component:
    """The input of a plugin's parameter (its help in the plugin's words)."""
    common: dict[str, Any] = dict(label=param_label(param),
                                  info=plugin_text(plugin, f"param.{param.name}", plain_words(param.help)),
                                  elem_id=param_key(kind, plugin.name, param.name))
    if param.choices:
        return gr.Dropdown(list(param.choices), value=param.default, **common)
    if isinstance(param.default, bool):
        return gr.Checkbox(value=param.default, **common)
    if isinstance(param.default, (int, float)):
        return gr.Number(value=param.default, precision=0 if isinstance(param.default, int) else None, **common)
    return gr.Textbox(value=str(param.default), **common)


def plugin_params(table: dict, kind: str, selected: str, form: dict) -> dict[str, gr.Group]:
    """One group of inputs per plugin with parameters, shown while that plugin is chosen;
    the inputs go into ``form``."""
    groups = {}
    for name, registered in table.items():
        if registered.item.params:
            with gr.Group(visible=name == selected) as groups[name]:
                for param in registered.item.params:
                    form[param_key(kind, name, param.name)] = param_input(param, kind, registered.item)
    return groups


def backbone_section(ctx: AppContext, values: dict, strategy, form: dict, ui: dict) -> None:
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


def mode_section(ctx: AppContext, values: dict, strategy, form: dict, ui: dict) -> None:
    gr.Markdown("### Mode")
    modes = [ctx.registry.strategy(name) for name in strategy_order(ctx)]
    form["strategy"] = gr.Radio([(plugin_text(mode, "label", mode_label(mode.name)), mode.name) for mode in modes],
                                value=strategy.name, label="What to train", info=described(strategy),
                                elem_id="strategy")
    with gr.Accordion("What do the modes mean?", open=False):
        ui["modes_help"] = gr.Markdown(plugin_list(modes), elem_classes="ftgui-help")
    ui["strategy_groups"] = plugin_params(ctx.registry.strategies, "strategy", strategy.name, form)
    initializer = ctx.registry.initializer(values["init"])
    with gr.Group(visible=strategy.trains and not strategy.keeps_head) as ui["init_group"]:
        form["init"] = gr.Dropdown(list(ctx.registry.initializers), value=initializer.name,
                                   label=init_label(strategy), info=described(initializer), elem_id="init")
        ui["init_warning"] = gr.Markdown(init_warning(ctx, strategy.name, initializer.name), elem_id="init-warning")
        with gr.Accordion("Initialiser details", open=False,
                          elem_id="init-details"):
            ui["init_help"] = gr.Markdown(plugin_list(r.item for r in ctx.registry.initializers.values()),
                                          elem_classes="ftgui-help")
            ui["init_groups"] = plugin_params(ctx.registry.initializers, "init", initializer.name, form)
            form["bias_init"] = gr.Dropdown(["zero", "0.01"], value=values["bias_init"], allow_custom_value=True,
                                            label="Bias start value", info="zero, or a number such as 0.01")


def init_label(strategy) -> str:
    """The initialiser's label for ``strategy``: what it initialises."""
    return tr("Initialiser of the new head") if strategy.needs_pretrained else tr("Initialiser of every layer")


def settings_section(values: dict, strategy, form: dict, ui: dict) -> None:
    with gr.Group(visible=strategy.trains) as ui["settings_group"]:
        with gr.Row():
            form["epochs"] = gr.Textbox(values["epochs"], label="Epochs", placeholder=AUTO_PLACEHOLDER)
            form["lr"] = gr.Number(values["lr"], label="Learning rate")  # its help: plugin_help
    with gr.Accordion("More settings", open=False):
        with gr.Row():
            form["batch_size"] = gr.Textbox(values["batch_size"], label="Batch size", placeholder=AUTO_PLACEHOLDER,
                                            info=AUTO_INFO)
            form["img_size"] = gr.Number(values["img_size"], label="Image size", precision=0, minimum=0,
                                         info="pixels; 0 = the model's own")
        with gr.Row():
            form["aug"] = gr.Radio(list(AUGMENTATIONS), value=values["aug"], label="Augmentation")
            form["device"] = gr.Dropdown(["auto", "cpu", "cuda", "mps"], value=values["device"], label="Device",
                                         allow_custom_value=True, info="auto: the GPU if there is one")
            form["seed"] = gr.Number(values["seed"], label="Seed", precision=0, info="same seed, same split")
        with gr.Row():
            form["weight_decay"] = gr.Number(values["weight_decay"], label="Weight decay")
            form["warmup_epochs"] = gr.Textbox(values["warmup_epochs"], label="Warm-up epochs",
                                               placeholder=AUTO_PLACEHOLDER, info=AUTO_INFO)
            form["label_smoothing"] = gr.Number(values["label_smoothing"], label="Label smoothing", minimum=0)
        form["select"] = gr.Radio(SELECT_CHOICES, value=values["select"], label="How to pick the best epoch",
                                  info=SELECT_INFO, elem_id="select")
        form["refit"] = gr.Radio(REFIT_CHOICES, value=values["refit"], label="After picking the best epoch",
                                 info=REFIT_INFO, elem_id="refit")
        form["refit_runs"] = gr.Textbox(values["refit_runs"], label="Trainings on all images",
                                        placeholder=AUTO_PLACEHOLDER, info=REFIT_RUNS_INFO, elem_id="refit-runs")


SELECT_CHOICES = [("Automatic (chosen from the number of validation images)", "auto"),
                  ("Highest validation accuracy", ACCURACY),
                  ("Lowest validation loss (smoothed over several epochs)", LOSS)]
"""The best-epoch rule (TrainConfig ``select``, see :func:`ftgui.record.selection_rule`) in words."""
SELECT_INFO = ("The run keeps the weights of its best epoch, judged on the images kept aside (validation "
               "images). With few of them, one image is a large step of accuracy, so the most accurate epoch is "
               "often a lucky one; the loss weighs how sure the model is of every image and is averaged over the "
               "last few epochs (a fifth of the run, at least 3), which is steadier. Automatic uses the loss below "
               f"{SMALL_VALIDATION} validation images, else the accuracy.")


REFIT_CHOICES = [(f"Automatic: train once more on all images when there are fewer than {SMALL_VALIDATION} "
                  "validation images", "auto"),
                 ("Train once more on all images, the validation ones too", "yes"),
                 ("Keep the model trained without the validation images", "no")]
"""Whether the run trains again on all images once the validation chose the epoch (TrainConfig
``refit``, see :func:`ftgui.record.refit_decision`) in words."""
REFIT_INFO = ("The validation images are kept aside to pick the best epoch, so the model does not learn from "
              "them. Once that epoch is picked, the run can train once more from the same start on all images, "
              "the validation ones too, up to that epoch, and save that model: with few images it usually does "
              "better on new images. Its validation accuracy cannot be measured any more (it has seen those "
              "images), so the one shown is from before. Each training on all images takes up to as long as the "
              "first. Automatic does it below "
              f"{SMALL_VALIDATION} validation images split off your data.")
REFIT_RUNS_INFO = ("How many times to train once more on all images, each time from the same start with its own order "
                   "of images; the saved model averages their weights, so it depends less on luck. Leave empty for "
                   "3 when pretrained weights learn (up to about four times as long as one training), else 1.")


def callbacks_section(ctx: AppContext, values: dict, form: dict, ui: dict) -> None:
    """Callbacks to switch on, each with its parameters while it is on (their help: :func:`plugin_help`)."""
    table = ctx.registry.callbacks
    with gr.Accordion("Extras while training (callbacks)", open=bool(values["callbacks"])):
        form["callbacks"] = gr.CheckboxGroup([(plugin_text(r.item, "label", name), name) for name, r in table.items()],
                                             value=values["callbacks"], label="Use", elem_id="callbacks")
        ui["callback_groups"] = {}
        for name, registered in table.items():
            if registered.item.params:
                with gr.Group(visible=name in values["callbacks"]) as ui["callback_groups"][name]:
                    for param in registered.item.params:
                        form[param_key("callback", name, param.name)] = param_input(param, "callback",
                                                                                    registered.item)


def job_section(ui: dict) -> None:
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
    curve: dict[str, Any] = dict(x="epoch", y="value", color="curve", color_map=charts.curve_colours(), color_title="",
                 x_title="epoch", height=260, elem_classes="ftgui-plot")
    with gr.Row():
        ui["loss"] = gr.LinePlot(label=LOSS_EMPTY, y_title="loss", elem_id="loss-plot", **curve)
        ui["acc"] = gr.LinePlot(label=ACC_EMPTY, y_title="accuracy", y_lim=[0, 1],
                                elem_id="acc-plot", **curve)
    with gr.Accordion("Log", open=False, elem_id="train-log-box"):
        ui["log"] = gr.Textbox(show_label=False, lines=8, max_lines=8, autoscroll=True, interactive=False,
                               elem_id="train-log")
    ui["command"] = gr.Textbox(label="The same training from a terminal", lines=1, max_lines=4,
                               interactive=False, buttons=["copy"], elem_id="train-command")


def init_warning(ctx: AppContext, strategy_name: str, init: str) -> str:
    """Shown under the initialiser before Start: zeros/constant from scratch cannot learn."""
    return verdicts.start_warning(trains_all(ctx, strategy_name), init)
