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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.events import Dependency

from .. import runs
from ..errors import FtguiError
from ..i18n import tr
from ..record import REFIT_PHASE
from . import catalog, owners, preview, train_tools, verdicts, words
from .command import train_command
from .context import AppContext
from .data_tab import DataTab
from .handlers import bind, show_chosen, show_only
from .job_view import CHANCE_HELP, poll, poll_fresh, restarted, trains_all
from .train_form import (
    CHOSEN_IF_EMPTY,
    config_from_form,
    form_from_config,
    initial_form,
    weights_architecture,
    weights_choices,
)
from .train_layout import (
    backbone_section,
    callbacks_section,
    described,
    init_label,
    init_warning,
    job_section,
    lr_info,
    mode_section,
    plugin_help,
    settings_section,
)
from .words import control_name

POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Notice:
    """The notice under Start/Stop (``text``), which the page's poll clears when it sends a
    job's view, and the page's ``seen`` (what that poll sent last, see :func:`.job_view.poll`);
    ``settings``: the form's controls and then the data source, and ``follow``: the handler that
    fills them with the running job's (:func:`reattach`)."""

    text: gr.Markdown
    seen: gr.State
    settings: list
    follow: Callable[..., list]

    def written_by(self, event: Dependency) -> Dependency:
        """Wire ``event`` (its dependency), which writes the notice: once it has answered, the
        next poll sends the job's whole view again and so clears the notice (see
        :func:`.job_view.restarted`). The timer's poll runs alongside: after a Start or the Runs
        tab's Resume it may send the new job's view, after a Stop the stopped job's last event,
        and clear the notice before the answer writes it; the notice then stayed until the job's
        next event, for good if it had none left (a job that ended as Stop answered)."""
        return event.success(restarted, [self.seen], [self.seen], api_visibility="private", show_progress="hidden")

    def started_elsewhere(self, event: Dependency) -> Dependency:
        """Wire ``event`` (the Runs tab's Resume), which started a job this page's form did not
        describe: once it succeeded, the form shows that job's settings and data. (Not on every
        change of the notice: every event is costly for the page, see :mod:`.app`, and these
        outputs set off the form's change events.)"""
        return event.success(self.follow, None, self.settings, api_visibility="private", show_progress="hidden")


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
    return tr("Started **{name}**.", name=job.name) + (f" {warning}" if warning else ""), train_command(config)


def stop_training(ctx: AppContext, request: gr.Request | None = None) -> str:
    """Stop the app's training, when it is this visitor's (on a local app everyone's)."""
    job = ctx.jobs.running()
    if job is None:
        return tr("Nothing is training.")
    if not ctx.visitor(request).owns(job.owner):
        raise FtguiError(tr("{name} was started by another visitor: only they may stop it; it is saved when it ends",
                            name=job.name))
    status = job.status()
    job.stop()
    if status.get("phase") == REFIT_PHASE and status["step"]:
        return tr("Stopping **{name}**'s training on all images after the current step; the model trained without "
                  "the validation images (epoch {epoch}) stays saved.", name=job.name,
                  epoch=status["step"].get("epochs") or "?")
    return tr("Stopping **{name}** after the current step; the best epoch so far is kept.", name=job.name)


def job_data_summary(ctx: AppContext, source: str | None, val_split: float,
                     request: gr.Request | None = None) -> tuple:
    """After a reload re-attached this page to its training: the Data tab's view of that
    job's data; otherwise nothing changes (the Data tab drew its own on load)."""
    from . import data_tab

    job = ctx.jobs.running()
    if job is None or not source or not ctx.visitor(request).owns(job.owner):
        return (gr.skip(),) * 3
    return data_tab.summarize(source, val_split)


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
        return tr("**Data:** none yet; choose it in the **Data** tab.")
    return tr("**Data:** {name} (change it in the **Data** tab)", name=words.data_name(source))


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


def on_strategy(ctx: AppContext, name: str) -> tuple:
    """Updates for (mode, weights section, initialiser section, training settings,
    initialiser, learning rate) when the mode changes."""
    strategy = ctx.registry.strategy(name)
    return (gr.update(info=described(strategy)), gr.update(visible=strategy.needs_pretrained),
            gr.update(visible=strategy.trains and not strategy.keeps_head), gr.update(visible=strategy.trains),
            gr.update(label=init_label(strategy)), gr.update(info=lr_info(strategy)))


def init_info(ctx: AppContext, name: str) -> dict:
    """When a person picks another initialiser: its description."""
    return gr.update(info=described(ctx.registry.initializer(name)))


def mode_defaults(ctx: AppContext, name: str) -> tuple[float, str]:
    """When a person picks another mode: that mode's usual learning rate and initialiser."""
    strategy = ctx.registry.strategy(name)
    return strategy.default_lr, strategy.default_init


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


def layout(ctx: AppContext, demo: gr.Blocks, data: DataTab) -> Notice:
    """Build the Train tab's components and wire its events; returns the notice under
    Start/Stop (:class:`Notice`), where the Runs tab says that it resumed a run."""
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
                    backbone_section(ctx, values, strategy, form, ui)
                    gr.Markdown("### Your data")
                    data_line = gr.Markdown(elem_classes="ftgui-help", elem_id="train-data")
                    with gr.Accordion("How to read the result", open=False):
                        gr.Markdown(CHANCE_HELP, elem_classes="ftgui-help")
                with gr.Column(scale=1, min_width=320):
                    mode_section(ctx, values, strategy, form, ui)
            settings_section(values, strategy, form, ui)
            callbacks_section(ctx, values, form, ui)
        job_section(ui)
        train_tools.tools_section(ui)

    inputs = [data.source, data.val_split, *form.values()]
    initial = {name: values[name] for name in form}
    job_outputs = ([ui[k] for k in ("status", "progress", "loss", "acc", "log", "start", "stop")]
                   + [seen, ui["notice"], ui["preview"]] + [form[name] for name in CHOSEN_IF_EMPTY])
    timer.tick(bind(poll, ctx), [seen], job_outputs, show_progress="hidden", api_name="poll", concurrency_limit=None)
    settings = [*form.values(), data.source]
    notice = Notice(ui["notice"], seen, settings, bind(reattach, ctx, list(form)))
    notice.written_by(ui["start"].click(form_handler(start_training, ctx, initial), inputs,
                                        [ui["notice"], ui["command"]], api_name="start_training"))
    notice.written_by(ui["stop"].click(bind(stop_training, ctx), None, [ui["notice"]], api_name="stop_training"))
    ui["find_lr"].click(form_handler(train_tools.find_learning_rate, ctx, initial), inputs,
                        [form["lr"], ui["lr_plot"], ui["lr_note"]], api_name="find_learning_rate")
    ui["save_settings"].click(form_handler(train_tools.save_settings, ctx, initial), inputs, [ui["settings_file"]],
                              api_name="save_settings")
    ui["load_settings"].upload(bind(train_tools.load_settings, ctx, list(form)), [ui["load_settings"]],
                               list(form.values()), api_name="load_settings")

    private: dict[str, Any] = dict(api_visibility="private", show_progress="hidden")
    choices = [form["model"], form["weights"]]
    demo.load(bind(poll_fresh, ctx), [seen], job_outputs, **private)
    ui["preview_image"].change(bind(preview.predict_preview, ctx), [ui["preview_image"]], [ui["preview_label"]],
                               trigger_mode="always_last", **private)
    ui["preview_live"].stream(bind(preview.predict_preview, ctx), [ui["preview_live"]], [ui["preview_label"]],
                              stream_every=0.5, time_limit=300, concurrency_limit=1, **private)
    demo.load(bind(load_choices, ctx), [ui["pretrained_only"], form["model"]], choices, **private)
    ui["pretrained_only"].change(bind(load_choices, ctx), [ui["pretrained_only"], form["model"]], choices, **private)
    gr.on([form["model"].change, form["weights"].change, form["img_size"].change, form["strategy"].change,
           demo.load], bind(catalog.model_summary),
          [form["model"], form["weights"], form["img_size"], form["strategy"]], [ui["model_info"]],
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
    form["strategy"].input(bind(mode_defaults, ctx), [form["strategy"]], [form["lr"], form["init"]], **private)
    form["strategy"].change(show_only(ui["strategy_groups"]), [form["strategy"]],
                            list(ui["strategy_groups"].values()), **private)
    demo.load(notice.follow, None, settings, **private).then(
        bind(job_data_summary, ctx), [data.source, data.val_split], data.shown, **private)
    gr.on([form["init"].change, form["strategy"].change, demo.load], bind(init_warning, ctx),
          [form["strategy"], form["init"]], [ui["init_warning"]], **private)
    form["init"].change(bind(init_info, ctx), [form["init"]], [form["init"]], **private)
    demo.load(bind(plugin_help, ctx), [form["strategy"]],
              [ui["modes_help"], ui["init_help"], form["callbacks"], form["lr"]], **private)
    form["init"].change(show_only(ui["init_groups"]), [form["init"]], list(ui["init_groups"].values()), **private)
    callback_groups = ui["callback_groups"]
    form["callbacks"].change(show_chosen(callback_groups), [form["callbacks"]], list(callback_groups.values()),
                             **private)
    return notice
