"""The Runs tab: every run with its settings and best accuracy, curves of several runs
overlaid, and for one run its confusion matrix, per-class accuracy, most confused pairs,
misclassified validation images, model files, deletion, and resuming it when it was
interrupted (as the app's training job, followed in the Train tab).

On a shared app a visitor sees all of that, and may resume, delete or download, only for the
runs the app started for them; any other run shows its model, mode, initialiser, epochs and
accuracy only (see :mod:`.owners`)."""
from __future__ import annotations

import functools
import html
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from .. import runs
from ..errors import FtguiError
from ..i18n import ENGLISH, N_, current, tr, translate
from ..record import LOSS, SMALL_VALIDATION, InitializerUse, PluginUse, auto_select_why, loss_window, rule_of
from . import charts, evaluation, gradients, heavy, owners, run_files, verdicts
from .context import AppContext
from .handlers import bind
from .run_names import display_names

if TYPE_CHECKING:
    from .train_tab import Notice

TABLE_COLUMNS = [N_("name"), N_("status"), N_("model"), N_("mode"), N_("initialiser"), N_("epochs"),
                 N_("val acc (saved epoch)"), N_("then trained on all images"), N_("chance"), N_("created"),
                 N_("run")]
"""``name``: what people tell runs apart by (see :mod:`.run_names`); ``run``: the folder; ``then trained
on all images``: whether the saved model trained once more on every image (``--refit``, :func:`refit_cell`).
The tables a handler fills are headed in the visitor's language (:func:`headed`)."""
PER_CLASS = [N_("class"), N_("images"), N_("correct"), N_("accuracy")]
PAIRS = [N_("true"), N_("predicted"), N_("images")]
STATUSES = (N_("running"), N_("completed"), N_("stopped"), N_("failed"), N_("evaluated"), N_("initialised"),
            N_("interrupted"), N_("unknown"))
"""A run's statuses (:func:`shown_status`) as the page words them (:func:`status_text`)."""
MAX_MISTAKES = 24
INTERRUPTED = ("running", "stopped", "failed")
"""Statuses of a run that did not finish; with a checkpoint it can be resumed."""


def shown_status(ctx: AppContext, run: runs.Run) -> str:
    """The run's status, where a 'running' run that this app is not training is shown as
    'interrupted' (its process was killed, or the app was closed while it trained)."""
    if run.status == "running" and not _training_now(ctx, run):
        return "interrupted"
    return run.status


def status_text(ctx: AppContext, run: runs.Run) -> str:
    """:func:`shown_status` in the visitor's language."""
    return translate(shown_status(ctx, run))


def headed(rows: list, columns: list[str]) -> pd.DataFrame:
    """``rows`` (lists, or dicts keyed by the English column names) as a table headed in the
    visitor's language."""
    frame = pd.DataFrame(rows, columns=columns)
    return frame.set_axis([translate(column) for column in columns], axis=1)


def _training_now(ctx: AppContext, run: runs.Run) -> bool:
    """Trained by this app, or by another ftgui process (`ftgui train` in a terminal)."""
    return ctx.jobs.is_training(run.path) or runs.trainer_pid(run.path) is not None


def can_resume(ctx: AppContext, run: runs.Run) -> bool:
    """Interrupted, not being trained by this app, and with a checkpoint to carry on from."""
    return (run.status in INTERRUPTED and not _training_now(ctx, run)
            and (run.path / runs.CHECKPOINT_FILE).is_file())


def val_images(run: runs.Run) -> int | None:
    """How many validation images the run's accuracy was measured on."""
    split = (run.info.data or {}).get("split") or {}
    return len(split.get("val") or []) or None


def epochs_text(run: runs.Run) -> str:
    """``149/150`` (completed epochs), with ``, stopped in 150`` for an epoch stopped part-way."""
    info, rows = run.info, runs.read_metrics(run.path)
    total = info.config.get("epochs", "?")
    partial = next((row["epoch"] for row in rows if row.get("stopped")), None)
    if not rows:
        return f"{info.epochs_done}/{total}"
    done = sum(1 for row in rows if not row.get("stopped"))
    return f"{done}/{total}" + (tr(", stopped in {epoch}", epoch=partial) if partial else "")


def _accuracy(run: runs.Run) -> str:
    acc = (run.info.best or {}).get("val_acc")
    return verdicts.accuracy_text(acc, val_images(run)) if acc is not None else ""


def runs_table(ctx: AppContext) -> pd.DataFrame:
    listed = runs.list_runs(ctx.runs_root)
    names = display_names(listed)
    rows = []
    for run in listed:
        info = run.info
        classes = len(info.label_names)
        rows.append([names[run.path.name], status_text(ctx, run), info.architecture,
                     info.strategy.name if info.strategy else "", info.initializer.name if info.initializer else "",
                     epochs_text(run), _accuracy(run), refit_cell(ctx, run),
                     f"{verdicts.chance(classes):.0%}" if classes > 1 else "",
                     info.created[:19].replace("T", " "), run.path.name])
    return headed(rows, TABLE_COLUMNS)


def run_names(ctx: AppContext) -> list[str]:
    return [run.path.name for run in runs.list_runs(ctx.runs_root)]


def run_choices(ctx: AppContext) -> list[tuple[str, str]]:
    """(display name, folder name) of every run, newest first, for the run pickers."""
    names = display_names(runs.list_runs(ctx.runs_root))
    return [(label, folder) for folder, label in names.items()]


def compare(ctx: AppContext, names: list[str] | None, metric: str) -> dict:
    """``metric`` per epoch of each chosen run, to overlay them (a LinePlot update)."""
    if metric not in charts.METRICS:
        raise FtguiError(tr("unknown metric {metric}", metric=repr(metric)))
    labels = display_names(runs.list_runs(ctx.runs_root))
    metrics = {labels.get(name, name): runs.read_metrics(ctx.run_path(name)) for name in names or []}
    frame = charts.overlay(metrics, metric)
    # only the data and the label change: the axis title and legend follow (compare_axes)
    return gr.update(value=frame if len(frame) else None,
                     label=tr("Curves: {metric}", metric=translate(charts.METRICS[metric])) if len(frame) else
                     tr("Curves: choose runs above to draw their curves here"))


def compare_frame(ctx: AppContext, names: list[str] | None) -> list[str]:
    """The legend's entries for ``names``: their display names, in the order chosen."""
    labels = display_names(runs.list_runs(ctx.runs_root))
    return [labels[name] for name in names or [] if name in labels]


def compare_axes(ctx: AppContext, names: list[str] | None, metric: str) -> dict:
    """The Compare chart's axis title and legend, sent after its data (:func:`compare`): a
    LinePlot redraws its whole chart when these change, from the data it holds then, so
    sent together with new data they would draw the old data; sent after it, the redraw
    draws the new data, and the legend drops a deleted run."""
    if metric not in charts.METRICS:
        raise FtguiError(tr("unknown metric {metric}", metric=repr(metric)))
    return gr.update(y_title=translate(charts.METRICS[metric]), colors_in_legend=compare_frame(ctx, names) or None)


def _params(params: dict | None) -> str:
    return f" ({', '.join(f'{k}={v}' for k, v in params.items())})" if params else ""


def _summary_of_another(ctx: AppContext, run: runs.Run) -> str:
    """What a visitor of a shared app sees of a run the app did not start for them: no data,
    class names, paths or images."""
    info, best = run.info, run.best or {}
    strategy, init = info.strategy or PluginUse("?"), info.initializer or InitializerUse("?")
    lines = [f"**{run.path.name}** · {status_text(ctx, run)}",
             tr("- model `{model}`; mode **{mode}**; initialiser **{init}**; {done}/{total} epochs",
                model=info.architecture, mode=strategy.name, init=init.name, done=info.epochs_done,
                total=info.config.get("epochs", "?"))]
    if best.get("val_acc") is not None:
        lines.append(_best_line(run))
    lines.append(f"- {tr(NOT_YOURS)}")
    return "\n".join(lines)


NOT_YOURS = N_("started by another visitor or from the command line: its data, class names and images "
               "are shown only to whoever started it")


def _best_line(run: runs.Run) -> str:
    """The saved epoch's validation accuracy: "best" only when the accuracy chose it; of a run
    whose saved model then also trained on the validation images, measured before that."""
    best = run.best or {}
    accuracy = verdicts.accuracy_text(best["val_acc"], val_images(run))
    if rule_of(run.info) == LOSS:
        line = tr("- saved epoch {epoch} (lowest smoothed validation loss): validation accuracy **{accuracy}**",
                  accuracy=accuracy, epoch=best["epoch"])
    else:
        line = tr("- best validation accuracy **{accuracy}** at epoch {epoch}", accuracy=accuracy,
                  epoch=best["epoch"])
    if evaluation.learned_from_validation(run.info.refit):
        line += tr(MEASURED_BEFORE)
    return line


MEASURED_BEFORE = N_(", measured before the saved model also learned from these validation images")
"""After the validation accuracy of a run that then trained once more on all images (``--refit``)."""


def _all_images(refit: dict) -> str:
    images = refit.get("images")
    return tr("all {images} images", images=images) if images else tr("all images")


REFIT_ENDED = {
    "stopped": N_("- training once more on {all} up to epoch {epoch} (refit) was stopped: the saved model is the "
                  "validated one, from epoch {epoch}"),
    "failed": N_("- training once more on {all} up to epoch {epoch} (refit) failed: the saved model is the "
                 "validated one, from epoch {epoch}"),
    "interrupted": N_("- training once more on {all} up to epoch {epoch} (refit) was interrupted: the saved model "
                      "is the validated one, from epoch {epoch}"),
}
"""A training once more on all images that did not complete: the validated model stays saved."""


def refit_lines(ctx: AppContext, run: runs.Run) -> list[str]:
    """Whether the saved model trained once more on all images up to the chosen epoch (``--refit``),
    in plain words first, and why (automatically: few validation images); when that was stopped,
    failed or interrupted, that the saved model is the validated one. Nothing for a run without."""
    refit = run.info.refit
    if not isinstance(refit, dict):
        return []
    epoch = refit.get("epoch", (run.best or {}).get("epoch", "?"))
    everything = _all_images(refit)
    status = refit.get("status")
    if status == "completed":
        lines = [tr("- the saved model then trained once more, from the same start, on {all} (the {val} validation "
                    "ones too) up to epoch {epoch}, the epoch the validation chose (refit)",
                    all=everything, val=val_images(run) or "?", epoch=epoch)]
    elif status == "running" and _training_now(ctx, run):
        lines = [tr("- now training once more on {all} up to epoch {epoch} (refit); until that ends, the saved model "
                    "is the validated one", all=everything, epoch=epoch)]
    else:
        lines = [tr(REFIT_ENDED.get(str(status), REFIT_ENDED["interrupted"]), all=everything, epoch=epoch)]
        if status == "failed" and refit.get("error"):
            lines.append(f"  - ✗ {refit['error']}")
    if refit.get("auto"):
        lines.append("  - " + tr("automatic: fewer than {limit} validation images ({val})", limit=SMALL_VALIDATION,
                                 val=val_images(run) or "?"))
    else:
        lines.append("  - " + tr("set to yes in the settings, not chosen automatically"))
    return lines


def refit_cell(ctx: AppContext, run: runs.Run) -> str:
    """The Runs table's short word on the training once more on all images: empty without one."""
    refit = run.info.refit
    if not isinstance(refit, dict):
        return ""
    status = refit.get("status")
    if status == "completed":
        return tr("yes, {all}; val acc from before", all=_all_images(refit))
    if status == "running" and _training_now(ctx, run):
        return tr("running")
    ended = status if status in ("stopped", "failed") else "interrupted"
    return tr("{ended}: validated model kept", ended=translate(ended))


EMA_SAVED = N_(", of the averaged (EMA) weights, which the run saves")


def _rule_lines(run: runs.Run) -> list[str]:
    """Which rule chose the saved epoch (with the run's real averaging window), and whether it
    was chosen automatically (and why) or set."""
    info = run.info
    if rule_of(info) == LOSS:
        epochs = info.config.get("epochs")
        window = loss_window(epochs) if isinstance(epochs, int) else None
        line = (tr("- the saved epoch has the lowest validation loss averaged over the last {window} epochs",
                   window=window) if window else
                tr("- the saved epoch is the best by {rule}", rule=translate(info.selected_by)))
        if window and "EMA" in info.selected_by:
            line += tr(EMA_SAVED)
    else:
        line = tr("- the saved epoch is the best by {rule}", rule=translate(info.selected_by))
    why = auto_select_why(info)
    if why is not None:
        return [line, tr("- this rule was chosen automatically: {why}", why=tr(why[0], **why[1]))]
    return [line]


def _summary(ctx: AppContext, run: runs.Run) -> str:
    info, best = run.info, run.best or {}
    strategy, init = info.strategy or PluginUse("?"), info.initializer or InitializerUse("?")
    data = info.data or {}
    split = data.get("split") or {}
    lines = [f"**{run.path.name}** · {status_text(ctx, run)}",
             tr("- model `{model}`, weights from `{weights}`", model=info.architecture,
                weights=_weights_shown(info.weights_source)),
             tr("- mode **{mode}**{mode_params}; initialiser **{init}**{init_params} on {applied_to}, bias {bias}",
                mode=strategy.name, mode_params=_params(strategy.params), init=init.name,
                init_params=_params(init.params), applied_to=translate(init.applied_to), bias=init.bias),
             tr("- data `{data}`: {classes} classes, {train} training / {val} validation images",
                data=_data_shown(data.get("source")), classes=len(data.get("classes") or []),
                train=len(split.get("train", [])), val=len(split.get("val", [])))]
    if info.callbacks:
        lines.append(tr("- callbacks {callbacks}",
                        callbacks=", ".join(f"**{c.name}**{_params(c.params)}" for c in info.callbacks)))
    if best.get("val_acc") is not None:
        classes = len(info.label_names)
        lines.append(_best_line(run) + (tr("; {chance} (± is a 95% margin: 1.96 binomial standard errors)",
                                           chance=verdicts.chance_text(classes)) if classes > 1
                                        else tr(" (± is a 95% margin: 1.96 binomial standard errors)")))
        trains_all = info.weights_source in ("", "none")  # every layer from the initialiser
        warning = verdicts.verdict(best["val_acc"], classes, val_images(run), init.name, trains_all)
        if warning:
            lines.append(f"- {warning}")
        lines += _rule_lines(run)
    lines += refit_lines(ctx, run)
    if info.auto_settings:
        lines += _chosen_lines(info.auto_settings)
    if info.stop_reason:
        lines.append(tr("- ended early: {reason}", reason=info.stop_reason))
    if info.error:
        lines.append(f"- ✗ {info.error}")
    return "\n".join(lines)


CHOSEN_PARTS = {"epochs": N_("{value} epochs"), "batch_size": N_("batch size {value}"),
                "warmup_epochs": N_("warm-up {value} epochs")}
PER_PROCESS = N_("batch size {value} per process")
"""A run of several processes (torchrun): the batch size it chose is each one's."""


def _chosen_lines(chosen: dict) -> list[str]:
    """What the run chose from its data (``auto``): the values, for how many training images,
    then why, one line each."""
    parts = {name: tr(PER_PROCESS if name == "batch_size" and chosen.get("processes", 1) > 1 else text,
                      value=chosen[name]["value"])
             for name, text in CHOSEN_PARTS.items() if isinstance(chosen.get(name), dict)}
    comma = ", " if current.get() == ENGLISH else "，"
    lines = [tr("- chosen from the data ({images} training images): {chosen}",
                images=chosen.get("train_images", "?"), chosen=comma.join(parts.values()))]
    for name, part in parts.items():
        why = _reason(chosen[name])
        if why:
            lines.append("  - " + tr("{setting}: {why}", setting=part, why=why))
    return lines


def _reason(setting: dict) -> str:
    """Why a setting has its value, in the visitor's language (runs saved before ``why_text``:
    the English reason, translated where the catalogue has it)."""
    text, values = setting.get("why_text"), setting.get("why_values")
    if isinstance(text, str) and isinstance(values, dict):
        return tr(text, **{k: translate(v) if isinstance(v, str) else v for k, v in values.items()})
    return translate(str(setting.get("why") or ""))


@functools.lru_cache(maxsize=2)
def _opener(source: str):
    heavy.load()
    from ..data import image_opener

    return image_opener(source)


def _mistake_images(run: runs.Run, rows: list[dict]) -> list:
    """(image, caption) for the most confidently wrong validation images still readable."""
    data = run.info.data or {}
    source = data.get("val_source") or data.get("source")
    wrong = evaluation.mistakes(rows)[:MAX_MISTAKES]
    if not wrong or not source:
        return []
    try:
        open_image = _opener(source)
    except FtguiError:
        return []  # the data moved or was deleted; the tables still show the mistakes
    shown = []
    for r in wrong:
        try:
            shown.append((open_image(r["path"]), f"{r['true']} → {r['pred']} ({r['score']:.0%})"))
        except FtguiError:
            continue  # this file changed since; the others are still worth showing
    return shown


def run_details(ctx: AppContext, name: str | None, request: gr.Request | None = None) -> tuple:
    """(summary, confusion matrix HTML, per-class accuracy, most confused pairs, mistakes);
    of another's run on a shared app, the summary only."""
    if not name:
        return tr("Choose a run."), "", headed([], PER_CLASS), headed([], PAIRS), gr.update(value=[])
    run = runs.load_run(ctx.run_path(name))
    if not owners.may_see_all(ctx, ctx.visitor(request), run.path):
        return (_summary_of_another(ctx, run), "", headed([], PER_CLASS), headed([], PAIRS),
                gr.update(value=[], label=tr("Misclassified validation images: shown only to whoever started the run")))
    path = run.path / runs.VAL_PREDICTIONS_FILE
    rows = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    labels = run.label_names
    names, matrix = evaluation.confusion(rows, labels)
    mistakes = _mistake_images(run, rows)
    summary = _summary(ctx, run)
    before = evaluation.learned_from_validation(run.info.refit)  # the rows are the validated model's, from before
    same = evaluation.one_answer(rows, labels)
    if same is not None:
        summary += "\n" + (tr("- ⚠ Before it trained on all images, it answered **{answer}** for every validation "
                               "image: it had not learned to tell the classes apart", answer=same) if before else
                            tr("- ⚠ It answers **{answer}** for every validation image: it has not learned to tell "
                               "the classes apart", answer=same))
    confusion = charts.confusion_html(names, matrix)
    if before and rows:
        confusion = _before_note(run) + confusion
    count = len(evaluation.mistakes(rows))
    return (summary, confusion,
            headed(evaluation.per_class(rows, labels), PER_CLASS),
            headed(evaluation.confused_pairs(rows), PAIRS),
            gr.update(value=mistakes, label=tr("Misclassified validation images (true → predicted), before the model "
                                               "also trained on them: {count}", count=count) if before else
                      tr("Misclassified validation images (true → predicted): {count}", count=count)))


def _before_note(run: runs.Run) -> str:
    """Above the validation results of a run whose saved model then also trained on those images:
    they are the validated model's, and no longer test the saved one."""
    epoch = (run.best or {}).get("epoch", "?")
    note = tr("These validation results (matrix, accuracy per class, most confused, misclassified images) are the "
              "validated model's at epoch {epoch}, measured before it trained once more on all images. The saved "
              "model has learned these images since, so they no longer test it, and it may no longer get them "
              "wrong.", epoch=epoch)
    return (f'<p class="ftgui-refit-note" id="runs-refit-note" style="border-left:3px solid '
            f'var(--color-accent);padding-left:.6em">{html.escape(note, quote=False)}</p>')


def resume_offer(ctx: AppContext, name: str | None, request: gr.Request | None = None) -> dict:
    """Show the Resume button for a run that can be resumed by this visitor, hide it for any other."""
    if not name:
        return gr.update(visible=False)
    run = runs.load_run(ctx.run_path(name))
    return gr.update(visible=can_resume(ctx, run) and owners.may_see_all(ctx, ctx.visitor(request), run.path))


def resume_run(ctx: AppContext, name: str | None, request: gr.Request | None = None) -> tuple[str, dict]:
    """Carry on run ``name`` from its last checkpoint as the app's training job; returns
    (notice, Resume button update). Busy while another training runs; on a shared app only
    the run's owner may resume it."""
    run = runs.load_run(ctx.run_path(name))
    visitor = ctx.visitor(request)
    owners.check(ctx, visitor, run.path, N_("resume it"))
    ctx.jobs.ensure_idle()
    if not can_resume(ctx, run):
        raise FtguiError(tr("{run} cannot be resumed: it is {status} and has no checkpoint (it stopped before one "
                            "was saved)", run=name, status=status_text(ctx, run)) if run.status in INTERRUPTED else
                         tr("{run} cannot be resumed: it is {status}", run=name, status=status_text(ctx, run)))
    job = ctx.jobs.resume(run.path, owner=visitor.id)
    return tr("Resumed **{run}** from its last checkpoint.", run=job.name), gr.update(visible=False)


def delete_run(ctx: AppContext, name: str | None, request: gr.Request | None = None) -> str:
    path = ctx.run_path(name)
    owners.check(ctx, ctx.visitor(request), path, N_("delete it"))
    if ctx.jobs.is_training(path):
        raise FtguiError(tr("{run} is training; stop it first", run=name))
    shutil.rmtree(path)
    return tr("Deleted {run}.", run=name)


def ask_to_delete(name: str | None) -> tuple:
    """Show the confirmation row for ``name``."""
    return gr.update(visible=bool(name)), tr("Delete **{run}** for good?", run=name) if name else ""


def refresh(ctx: AppContext, chosen: list[str] | None, one: str | None) -> tuple:
    """The table and both run pickers (display names, folder values), keeping what is still
    there; with nothing chosen to compare, the two newest runs."""
    choices = run_choices(ctx)
    names = [folder for _, folder in choices]
    keep = [n for n in chosen or [] if n in names] or names[:2]
    return (runs_table(ctx), gr.update(choices=choices, value=keep),
            gr.update(choices=choices, value=one if one in names else (names[0] if names else None)))


def _data_shown(source: str | None) -> str:
    """A data source as a person knows it: the file or folder name, not the server path
    where uploads are kept."""
    if not source:
        return "?"
    return source if source.startswith("sample:") else Path(source).name


def _weights_shown(source: str | None) -> str:
    if not source or source in ("hub", "none"):
        return source or "none"
    return Path(source).name


def layout(ctx: AppContext, demo: gr.Blocks, tabs: gr.Tabs, train_notice: Notice) -> None:
    """Build the Runs tab's components and wire its events; Resume says what it did in
    ``train_notice`` (which the Train tab's next poll then clears, see ``Notice.written_by``) and
    shows the Train tab, which follows the resumed run."""
    with gr.Tab("4 · Runs", id="runs") as tab:
        table = gr.Dataframe(headers=TABLE_COLUMNS, label="Runs (newest first)", interactive=False,
                             max_height=300, elem_id="runs-table")
        gr.Markdown("### Compare")
        with gr.Row():
            chosen = gr.Dropdown([], multiselect=True, allow_custom_value=True, label="Runs to overlay", scale=3,
                                 elem_id="runs-compare", info="e.g. pretrained vs scratch, initialiser A vs B")
            metric = gr.Radio([(label, key) for key, label in charts.METRICS.items()], value="val_acc",
                              label="Curve", scale=2, elem_id="runs-metric")
        overlay = gr.LinePlot(x="epoch", y="value", color="run", color_title="", height=280, y_title="",
                              x_title="epoch", label="Curves: choose runs above to draw their curves here",
                              elem_id="runs-plot", elem_classes="ftgui-plot")
        gr.Markdown("### One run")
        one = gr.Dropdown([], label="Run", elem_id="runs-one", allow_custom_value=True)
        summary = gr.Markdown()
        with gr.Row(equal_height=False):
            confusion = gr.HTML(label="Confusion matrix", elem_id="runs-confusion")
            with gr.Column():
                per_class = gr.Dataframe(headers=PER_CLASS, label="Accuracy per class", interactive=False,
                                         max_height=260)
                pairs = gr.Dataframe(headers=PAIRS, label="Most confused", interactive=False, max_height=200)
        mistakes = gr.Gallery(label="Misclassified validation images (true → predicted)", columns=8,
                              height=240, object_fit="contain")
        gradient_views = gradients.section()  # per stage and epoch, for a run trained with grad-norms
        with gr.Row():
            resume_button = gr.Button("Resume this run", variant="primary", visible=False, elem_id="runs-resume")
            files_button = gr.Button("Get the model files", elem_id="runs-files-button")
            export_button = gr.Button("Export for other programs (ONNX)", elem_id="runs-export-button")
            delete_button = gr.Button("Delete this run…", variant="stop", elem_id="runs-delete")
        files = gr.File(label="config.json + model.safetensors (load with timm: local-dir:FOLDER)",
                        file_count="multiple", interactive=False, visible=False, elem_id="runs-files")
        exported = gr.File(label="model.onnx + model.onnx.json (label names and preprocessing)",
                           file_count="multiple", interactive=False, visible=False, elem_id="runs-exported")
        with gr.Row(visible=False) as confirm_row:
            confirm = gr.Button("Yes, delete it", variant="stop", elem_id="runs-confirm")
            cancel = gr.Button("Cancel")
        notice = gr.Markdown(elem_id="runs-notice")

    details = [summary, confusion, per_class, pairs, mistakes]
    pickers = [table, chosen, one]
    private: dict[str, Any] = dict(api_visibility="private", show_progress="hidden")
    # the API events first: a private event with the same function would take its name
    gr.on([chosen.change, metric.change], bind(compare, ctx), [chosen, metric], [overlay], api_name="compare_runs",
          trigger_mode="always_last").then(bind(compare_axes, ctx), [chosen, metric], [overlay], **private)
    one.change(bind(run_details, ctx), [one], details, api_name="run_details")
    resumed = resume_button.click(bind(resume_run, ctx), [one], [train_notice.text, resume_button],
                                  api_name="resume_run")
    resumed.success(lambda: gr.Tabs(selected="train"), None, [tabs], **private)
    train_notice.written_by(resumed)
    train_notice.started_elsewhere(resumed)
    one.change(bind(resume_offer, ctx), [one], [resume_button], **private)
    charts.keep_series_coloured(one.change(bind(gradients.for_run, ctx), [one], gradient_views, **private),
                                gradient_views[:2])
    files_button.click(bind(run_files.model_files, ctx), [one], [files], api_name="model_files").success(
        lambda: gr.update(visible=True), None, [files], **private)
    confirm.click(bind(delete_run, ctx), [one], [notice], api_name="delete_run").then(
        lambda: (gr.update(visible=False), gr.update(visible=False, value=None)), None, [confirm_row, files],
        **private).then(bind(refresh, ctx), [chosen, one], pickers, **private)
    export_button.click(bind(run_files.export_files, ctx), [one], [exported], api_name="export_model").success(
        lambda: gr.update(visible=True), None, [exported], **private)
    one.change(lambda: (gr.update(visible=False, value=None),) * 2, None, [files, exported], **private)
    delete_button.click(bind(ask_to_delete), [one], [confirm_row, notice], **private)
    cancel.click(lambda: (gr.update(visible=False), ""), None, [confirm_row, notice], **private)
    # runs come and go, a shown run may have finished since: each time the tab is shown (only then:
    # every event is costly for the page, see ftgui.ui.app)
    tab.select(bind(refresh, ctx), [chosen, one], pickers, **private).then(
        bind(run_details, ctx), [one], details, **private).then(
        bind(resume_offer, ctx), [one], [resume_button], **private)  # after the refresh, whatever else ran
