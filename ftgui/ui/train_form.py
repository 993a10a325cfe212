"""The Train tab's form as data: the values a form shows for a TrainConfig, and the
TrainConfig a form's values describe.

A form is a dict keyed by field name (see :func:`form_from_config`; one key per plugin
parameter, see :func:`param_key`), so all of this is testable without Gradio.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from .. import runs
from ..config import AUTO, TrainConfig
from ..errors import FtguiError
from ..i18n import N_, tr
from . import heavy
from .context import AppContext, demo_backbone
from .run_names import display_names


def param_key(kind: str, plugin: str, param: str) -> str:
    """The form key of a plugin parameter, a Python identifier so that API clients can pass
    it by name: ``init_small_random_std``."""
    return re.sub(r"\W", "_", f"{kind}_{plugin}_{param}")


# -- weights -----------------------------------------------------------------------------
def weights_choices(ctx: AppContext) -> list[tuple[str, str]]:
    """Where pretrained weights can come from: the hub, the bundled demo backbone, a
    finished run, an uploaded file, or (local app only) a path; labelled in the reader's language."""
    choices = [(tr("timm's pretrained weights (Hugging Face hub)"), "hub")]
    if demo_backbone() is not None:
        choices.append((tr("ftgui's small demo backbone (offline)"), "demo"))
    listed = runs.list_runs(ctx.runs_root)
    names = display_names(listed)
    for run in listed:
        if (run.path / "model.safetensors").is_file() and run.status != "running":
            choices.append((tr("run {name}", name=names[run.path.name]), f"run:{run.path.name}"))
    choices.append((tr("a weights file I upload (.safetensors, .pth)"), "upload"))
    if ctx.options.local_only:
        choices.append((tr("a file or run folder on this computer"), "path"))
    return choices


def resolve_weights(ctx: AppContext, choice: str, upload: str | None, path: str | None) -> str:
    """The TrainConfig ``weights`` value for the weights dropdown's ``choice``."""
    if choice == "hub":
        return "hub"
    if choice == "demo":
        backbone = demo_backbone()
        if backbone is None:
            raise FtguiError(tr("this install has no demo backbone; pick another weights source"))
        return str(backbone)
    if choice and choice.startswith("run:"):
        return str(ctx.run_path(choice[len("run:"):]))
    if choice == "upload":
        if not upload:
            raise FtguiError(tr("upload a weights file (.safetensors or .pth) first"))
        return ctx.keep_upload(upload)
    if choice == "path" and ctx.options.local_only:
        if not path or not path.strip():
            raise FtguiError(tr("type the path of a weights file or run folder"))
        return str(Path(path.strip()).expanduser())
    raise FtguiError(tr("unknown weights source {choice}", choice=repr(choice)))


def weights_architecture(ctx: AppContext, choice: str) -> str | None:
    """The architecture a run or the demo backbone holds (the model must match it)."""
    if choice == "demo" or (choice or "").startswith("run:"):
        heavy.load()
        from ..models import run_architecture

        return run_architecture(Path(resolve_weights(ctx, choice, None, None)))
    return None


# -- the form -----------------------------------------------------------------------------
SETTINGS = ("model", "strategy", "init", "bias_init", "epochs", "batch_size", "aug", "device", "seed",
            "weight_decay", "warmup_epochs", "label_smoothing", "select", "refit", "refit_runs")
CHOSEN_IF_EMPTY = ("epochs", "batch_size", "warmup_epochs", "refit_runs")
"""Settings an empty control leaves to the run (``auto``): epochs, batch size and warm-up chosen
from the data (see ftgui.training.auto_settings), the trainings on all images from what learns."""


def form_from_config(ctx: AppContext, config: TrainConfig) -> dict[str, Any]:
    """The form's values for ``config`` (the inverse of :func:`config_from_form`); every
    plugin parameter the config does not set keeps its default."""
    strategy = ctx.registry.strategy(config.strategy)
    values: dict[str, Any] = {name: getattr(config, name) for name in SETTINGS}
    values.update({name: None for name in CHOSEN_IF_EMPTY if values[name] == AUTO})  # an empty box
    values.update(weights_file=None, weights_path=None, lr=config.lr or strategy.default_lr,
                  init=config.init or strategy.default_init, img_size=config.img_size or 0,
                  weights=_weights_choice(ctx, config.weights))
    if values["weights"] == "path":
        values["weights_path"] = config.weights
    for kind, table, chosen, given in (("strategy", ctx.registry.strategies, config.strategy, config.strategy_params),
                                       ("init", ctx.registry.initializers, values["init"], config.init_params)):
        for name, registered in table.items():
            for param in registered.item.params:
                value = given.get(param.name, param.default) if name == chosen else param.default
                values[param_key(kind, name, param.name)] = value
    values["callbacks"] = [name for name in config.callbacks if name in ctx.registry.callbacks]
    for name, registered in ctx.registry.callbacks.items():
        given = config.callbacks.get(name) or {}
        for param in registered.item.params:
            values[param_key("callback", name, param.name)] = given.get(param.name, param.default)
    return values


def _weights_choice(ctx: AppContext, weights: str | None) -> str:
    if weights in (None, "hub", "none"):
        return "hub"
    path, backbone = Path(weights).resolve(), demo_backbone()
    if backbone is not None and path == backbone.resolve():
        return "demo"
    if path.parent == ctx.runs_root:
        return f"run:{path.name}"
    return "path" if ctx.options.local_only else "hub"


def initial_form(ctx: AppContext) -> dict[str, Any]:
    """The form's starting values: TrainConfig's defaults, with ``--demo``'s settings."""
    return form_from_config(ctx, TrainConfig.from_dict(ctx.options.form_defaults()))


def _number(value: Any, kind: type, name: str) -> Any:
    """The form's number ``value``; ``name`` (marked ``N_``) says which is empty."""
    if value is None or value == "":
        raise FtguiError(tr("{name} is empty", name=tr(name)))
    return kind(value)


def _number_or_auto(value: Any, name: str) -> int | str:
    """An epochs, batch size, warm-up or trainings-on-all-images box's value: empty (or "auto")
    means ftgui chooses it (from the data, or for the trainings from the mode); ``name`` (marked
    ``N_``) names the box in the error for anything else."""
    text = "" if value is None else str(value).strip()
    if text.lower() in ("", AUTO):
        return AUTO
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not number.is_integer():
        raise FtguiError(tr("{name} takes a whole number, or stays empty to have ftgui choose it; not {value!r}",
                            name=tr(name), value=text))
    return int(number)


def config_from_form(ctx: AppContext, data: str | None, val_split: float, form: dict[str, Any]) -> TrainConfig:
    """The TrainConfig the form describes; FtguiError for anything no run can use."""
    if not data:
        raise FtguiError(tr("choose your images in the Data tab first"))
    strategy = ctx.registry.strategy(form["strategy"])
    initializer = ctx.registry.initializer(form["init"])
    model = (form.get("model") or "").strip()
    if not model:
        raise FtguiError(tr("choose a backbone model"))
    if model.startswith("local-dir:") and not ctx.options.local_only:
        raise FtguiError(tr("local-dir: models are only available when the app is not shared"))
    img_size = int(form.get("img_size") or 0)
    config = TrainConfig(
        data=data, model=model, strategy=strategy.name,
        strategy_params=_changed_params(form, "strategy", strategy),
        init=None if initializer.name == strategy.default_init else initializer.name,
        init_params=_changed_params(form, "init", initializer),
        bias_init=str(form.get("bias_init") or "zero"),
        weights=(resolve_weights(ctx, form["weights"], form.get("weights_file"), form.get("weights_path"))
                 if strategy.needs_pretrained else None),
        epochs=_number_or_auto(form["epochs"], N_("Epochs")),
        lr=_learning_rate(form.get("lr"), strategy),
        batch_size=_number_or_auto(form["batch_size"], N_("Batch size")), img_size=img_size or None,
        aug=form["aug"], val_split=float(val_split), seed=_number(form["seed"], int, N_("seed")),
        device=form.get("device") or "auto",
        weight_decay=_number(form["weight_decay"], float, N_("weight decay")),
        warmup_epochs=_number_or_auto(form["warmup_epochs"], N_("Warm-up epochs")),
        label_smoothing=_number(form["label_smoothing"], float, N_("label smoothing")),
        select=form.get("select") or AUTO,
        refit=form.get("refit") or AUTO,
        refit_runs=_number_or_auto(form.get("refit_runs"), N_("Trainings on all images")),
        callbacks={name: _changed_params(form, "callback", ctx.registry.callback(name))
                   for name in form.get("callbacks") or []},
        plugins_dirs=list(ctx.options.plugins_dirs),
    )
    config.validate()
    return config


def _learning_rate(value: Any, strategy) -> float | None:
    """The form's learning rate; None (the engine's per-mode default) when empty or equal
    to that default, so the command line stays short."""
    if value in (None, "") or float(value) == strategy.default_lr:
        return None
    return float(value)


def _changed_params(form: dict[str, Any], kind: str, plugin) -> dict[str, Any]:
    """The plugin's parameters whose form value differs from the default, parsed."""
    values = {}
    for param in plugin.params:
        value = form.get(param_key(kind, plugin.name, param.name), param.default)
        if value is not None and param.parse(value) != param.default:
            values[param.name] = param.parse(value)
    return values
