"""Train tab tools: find a learning rate before training (a range test, as ``ftgui
lr-find``), and save or load the form's settings as a file ``ftgui train --config`` reads."""
from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from ..config import TrainConfig
from ..i18n import tr
from . import heavy
from .context import AppContext
from .train_form import config_from_form, form_from_config


def find_learning_rate(ctx: AppContext, data: str | None, val_split: float, form: dict[str, Any]) -> tuple:
    """(suggested learning rate for the form, the loss-against-rate plot, a sentence). Only
    while nothing trains: the test trains for up to 100 steps itself."""
    ctx.jobs.ensure_idle()
    config = config_from_form(ctx, data, val_split, form)
    heavy.load()
    from ..engine import lr_find

    finding = lr_find(config, registry=ctx.registry)
    suggestion = float(f"{finding.suggestion:.2g}")  # the box shows what the sentence says: 0.0003, not 0.000298...
    frame = pd.DataFrame({"log10 learning rate": [math.log10(lr) for lr in finding.lrs],
                          "loss": finding.losses, "curve": tr("training loss (smoothed)")})
    near = min(range(len(finding.lrs)), key=lambda i: abs(finding.lrs[i] - suggestion))
    mark = pd.DataFrame({"log10 learning rate": [math.log10(suggestion)] * 2,
                         "loss": [min(finding.losses), finding.losses[near]], "curve": tr("suggested")})
    note = tr("Suggested learning rate **{lr}**, put in *Learning rate* above: the loss fell fastest around it "
              "(the mean of {tests} tries of {steps} steps from 1e-7 upwards, each stopped once the loss exploded). "
              "The weights are untouched: training starts from where it would have.", lr=f"{suggestion:g}",
              tests=finding.tests, steps=finding.steps)
    return suggestion, gr.update(value=pd.concat([frame, mark]), visible=True), note


def save_settings(ctx: AppContext, data: str | None, val_split: float, form: dict[str, Any]) -> str:
    """The form's settings as a YAML file to download (``ftgui train --config FILE`` replays it)."""
    heavy.load()
    from ..config_files import save_config_file

    config = config_from_form(ctx, data, val_split, form)
    folder = Path(tempfile.mkdtemp(prefix="ftgui-settings-"))
    return str(save_config_file(config, folder / "ftgui-settings.yaml"))


def load_settings(ctx: AppContext, names: list[str], file: str | None) -> list:
    """The form's values from a settings file (YAML or JSON, a run's ftgui.json too), for the
    fields ``names``; the data stays as chosen in the Data tab."""
    if not file:
        return [gr.skip()] * len(names)
    from ..config_files import read_config_file

    values = read_config_file(file)
    values.pop("data", None)
    values.pop("val_data", None)
    if not ctx.options.local_only:  # a shared app names no server paths
        values.pop("plugins_dirs", None)
    config = TrainConfig.from_dict({**TrainConfig().to_dict(), **values, "plugins_dirs": ctx.options.plugins_dirs})
    config.validate()
    shown = form_from_config(ctx, config)
    return [shown[name] for name in names]


def tools_section(ui: dict) -> None:
    with gr.Accordion("Find a learning rate · save or load these settings", open=False):
        with gr.Row():
            ui["find_lr"] = gr.Button("Find a learning rate", elem_id="find-lr")
            ui["save_settings"] = gr.Button("Save these settings", elem_id="save-settings")
        ui["lr_note"] = gr.Markdown(elem_id="lr-note")
        ui["lr_plot"] = gr.LinePlot(x="log10 learning rate", y="loss", color="curve", visible=False, height=240,
                                    x_title="log10 learning rate", y_title="loss", color_title="",
                                    label="Loss as the learning rate grows", elem_id="lr-plot",
                                    elem_classes="ftgui-plot")  # room for the legend, as every plot has
        with gr.Row():
            ui["settings_file"] = gr.File(label="Settings file (YAML)", interactive=False, elem_id="settings-file")
            ui["load_settings"] = gr.File(label="Load settings (a .yaml/.json, or a run's ftgui.json)",
                                          file_types=[".yaml", ".yml", ".json"], elem_id="load-settings")
