"""The Train tab's view of the live job: its status line with what the result means, the
progress, curves and log, polled by every page (a reloaded page re-attaches this way), in
each reader's language."""
from __future__ import annotations

import re
from typing import Any

import gradio as gr

from ..config import AUTO
from ..errors import FtguiError
from ..i18n import N_, tr
from ..record import REFIT_PHASE, SMOOTHED, best_row
from . import charts, preview, verdicts
from .context import UPLOADS, AppContext
from .train_form import CHOSEN_IF_EMPTY

CHANCE_HELP = N_("**Reading the result:** guessing would score 1 / (number of classes), e.g. 33% for 3 classes; "
                 "the accuracy chart draws that level dashed. An accuracy measured on few validation images is "
                 "uncertain: the result says by how much (± is a 95% margin).")


LOSS_EMPTY = N_("Loss: the training and validation loss appear here after the first epoch")
"""The loss chart's label while it has no points."""


ACC_EMPTY = N_("Accuracy: the accuracies appear here after the first epoch, with guessing's level dashed")


LOG_LINES = 200

AUTO_PLACEHOLDER = N_("auto")
"""What an empty Epochs, Batch size or Warm-up control shows: the run chooses it from the data."""
AUTO_INFO = N_("leave empty to have it chosen from your data")
CHOSEN = N_("auto: {value} in this run")
"""An empty control's placeholder once the run has chosen its value."""


def trains_all(ctx: AppContext, strategy_name: str) -> bool:
    """Every layer starts from the initialiser (no pretrained weights)."""
    try:
        strategy = ctx.registry.strategy(strategy_name)
    except FtguiError:
        return False
    return strategy.trains and not strategy.needs_pretrained


def describe_job(status: dict | None) -> str:
    """One status line per job, with what its accuracy means once it has one: chance level,
    how uncertain it is on this many validation images, and a warning when it is no better
    than guessing (see :mod:`.verdicts`)."""
    if status is None:
        return tr("No training yet: choose data, a model and a mode, then **Start**.")
    if status.get("detached"):
        return tr("No training on this page yet (the last one, **{name}**, has ended: see the **Runs** tab). "
                  "Choose data, a model and a mode, then **Start**.", name=status["name"])
    name, state = f"**{status['name']}**", status["state"]
    what = (tr("{model}, {strategy}, epochs chosen from the data", model=status["model"], strategy=status["strategy"])
            if status["epochs"] == AUTO else
            tr("{model}, {strategy}, {epochs} epochs", model=status["model"], strategy=status["strategy"],
               epochs=status["epochs"]))
    best = best_row([m for m in status["metrics"] if m.get("val_acc") is not None])  # the engine's rule
    classes, images = status.get("classes"), status.get("val_images")
    best_text = ""
    if best:
        accuracy = verdicts.accuracy_text(best["val_acc"], images)
        if best.get(SMOOTHED) is not None:  # the smoothed loss chose it: not "best", another epoch may score higher
            best_text = tr("saved epoch {epoch} (lowest smoothed validation loss): validation accuracy {accuracy}",
                           accuracy=accuracy, epoch=best["epoch"])
        else:
            best_text = tr("best validation accuracy {accuracy} (epoch {epoch})", accuracy=accuracy,
                           epoch=best["epoch"])
        if classes:
            best_text = tr("{result}; {chance}", result=best_text, chance=verdicts.chance_text(classes))
    warning = ""
    if best and classes and state in ("completed", "stopped", "initialised", "evaluated"):
        warning = verdicts.verdict(best["val_acc"], classes, images, status.get("init"),
                                   bool(status.get("trains_all")))
    if state == "preparing":
        line = tr("… Preparing {name} ({what}): reading the images and loading the model…", name=name, what=what)
    elif state == "running" and status.get("phase") == REFIT_PHASE and best and status.get("refit_runs", 1) > 1:
        line = tr("▶ {name}: {best}. Now training {runs} more times from the same start on all {images} images, the "
                  "validation ones too, each with its own order of images, up to the same epoch, {epoch}, to average "
                  "their weights…", name=name, best=best_text, runs=status["refit_runs"], images=all_images(status),
                  epoch=best["epoch"])
    elif state == "running" and status.get("phase") == REFIT_PHASE and best:
        line = tr("▶ {name}: {best}. Now training once more from the same start on all {images} images, the "
                  "validation ones too, up to the same epoch, {epoch}…", name=name, best=best_text,
                  images=all_images(status), epoch=best["epoch"])
    elif state == "running":
        line = (tr("▶ Training {name} ({what})… {best}", name=name, what=what, best=best_text) if best else
                tr("▶ Training {name} ({what})…", name=name, what=what))
    elif state == "stopping" and status.get("phase") == REFIT_PHASE and best:
        line = tr("■ Stopping {name}'s training on all images after the current step; the model trained without "
                  "the validation images (epoch {epoch}) stays saved…", name=name, epoch=best["epoch"])
    elif state == "stopping":
        line = tr("■ Stopping {name} after the current step…", name=name)
    elif state == "completed":
        line = (tr("✓ Finished {name} early ({reason}): {best}.", name=name, reason=status["stop_reason"],
                   best=best_text) if status.get("stop_reason") else
                tr("✓ Finished {name}: {best}.", name=name, best=best_text))
        line += refit_text(status.get("refit"), best)
        if not warning:
            line += tr(" Try it in the **Predict** tab or below.")
    elif state == "initialised":
        line = tr("✓ Saved {name} as initialised, without training: {best}.", name=name, best=best_text)
    elif state == "stopped":
        line = (tr("■ Stopped {name}; kept the best epoch so far: {best}.", name=name, best=best_text) if best else
                tr("■ Stopped {name}; kept the best epoch so far.", name=name))
    elif state == "evaluated":
        line = tr("✓ Evaluated {name} without training: {best}.", name=name,
                  best=best_text or tr("no validation images"))
    else:
        line = tr("✗ {name} failed: {error}", name=name, error=status["error"])
    return line + (f"\n\n{warning}" if warning else "")


def all_images(status: dict) -> int | str:
    """How many images the training on all images learns from: the run's training and validation images."""
    train, val = status.get("train_images"), status.get("val_images")
    return train + val if isinstance(train, int) and isinstance(val, int) else "?"


def refit_text(refit: dict | None, best: dict | None) -> str:
    """What the training once more on all images (the run's End.refit, ``--refit``) did to the saved
    model, as a sentence to follow the result line; empty when the run did none."""
    if not refit or refit.get("status") == "running":
        return ""
    epoch = refit.get("epoch") or (best or {}).get("epoch", "?")
    if refit.get("status") == "completed" and refit.get("runs", 1) > 1 and refit.get("averaged") is False:
        return tr(" Then it trained {runs} more times from the same start on all {images} images, the validation ones "
                  "too, up to the same epoch, {epoch}, but the average of their weights got only {averaged} of those "
                  "images right, where each alone got at least {alone}: the trainings went too far apart, as a high "
                  "learning rate makes them (a lower one lets them average). So the saved model is the first of them. "
                  "The validation accuracy above was measured before this; no image is left to check it on, so it "
                  "likely understates the model a little.", runs=refit["runs"], images=refit.get("images", "?"),
                  epoch=epoch, averaged=f"{refit.get('accuracy_averaged') or 0.0:.0%}",
                  alone=f"{min(refit.get('accuracy_alone') or [0.0]):.0%}")
    if refit.get("status") == "completed" and refit.get("runs", 1) > 1:
        return tr(" Then it trained {runs} more times from the same start on all {images} images, the validation ones "
                  "too, each with its own order of images, up to the same epoch, {epoch}, and averaged their weights: "
                  "that is the saved model. The validation accuracy above was measured before this; no image is left "
                  "to check it on, so it likely understates the model a little.", runs=refit["runs"],
                  images=refit.get("images", "?"), epoch=epoch)
    if refit.get("status") == "completed":
        return tr(" Then it trained once more from the same start on all {images} images, the validation ones too, "
                  "up to the same epoch, {epoch}: that is the saved model. The validation accuracy above was measured "
                  "before this; no image is left to check it on, so it likely understates the model a little.",
                  images=refit.get("images", "?"), epoch=epoch)
    if refit.get("status") == "failed":
        error = refit.get("error")
        return (tr(" Training once more on all images failed ({error}), so the saved model is the one from epoch "
                   "{epoch}, trained without the validation images: the accuracy above is its own.", error=error,
                   epoch=epoch)
                if error else
                tr(" Training once more on all images failed (see the log), so the saved model is the one from epoch "
                   "{epoch}, trained without the validation images: the accuracy above is its own.", epoch=epoch))
    return tr(" Training once more on all images was stopped, so the saved model is the one from epoch {epoch}, "
              "trained without the validation images: the accuracy above is its own.", epoch=epoch)


def chosen_hints(status: dict | None) -> tuple:
    """The placeholders of the Epochs, Batch size, Warm-up and Trainings on all images controls:
    "auto", and once the job has chosen their values, what it chose (an explicit value hides them)."""
    chosen = (status or {}).get("chosen") or {}
    return tuple(gr.update(placeholder=tr(CHOSEN, value=chosen[name]) if name in chosen else tr(AUTO_PLACEHOLDER))
                 for name in CHOSEN_IF_EMPTY)


def poll(ctx: AppContext, seen: Any, request: gr.Request | None = None) -> tuple:
    """Everything the job shows, for the timer: (status, progress, loss curves, accuracy
    curves, log, start button, stop button, seen, notice, live preview). Curves and log are only sent when
    an event arrived since ``seen`` (per page), so a quiet tick sends almost nothing; then
    the notice under Start is cleared, so a job has one status line. Another visitor's job
    (shared app) shows without its log and error, and cannot be stopped. A page opened after
    the last job ended (see :func:`poll_fresh`) keeps its empty view until a new job starts."""
    job = ctx.jobs.current
    if job is not None and not job.alive and seen == ("detached", job.id):
        return (*[gr.skip()] * 7, seen, gr.skip(), gr.skip(), *[gr.skip()] * len(CHOSEN_IF_EMPTY))
    status = job.status() if job else None
    mine = job is None or ctx.visitor(request).owns(job.owner)
    if status is not None and not mine:
        refit = status.get("refit")
        status = {**status, "log": [], "run_dir": None,
                  "error": status["error"] and tr("the error is shown to whoever started it"),
                  "refit": {**refit, "error": None} if refit else refit}
    if status is not None:
        status["trains_all"] = trains_all(ctx, status["strategy"])
        status["log"] = [_without_uploads(ctx, line) for line in status["log"]]
    key = (status["id"], status["n_events"]) if status else None
    alive = bool(job and job.alive)
    sent: Any = key
    if key == seen and key is not None:
        curves = (gr.skip(), gr.skip(), gr.skip())
        notice: Any = gr.skip()
        offer: Any = gr.skip()
        hints: tuple = (gr.skip(),) * len(CHOSEN_IF_EMPTY)
        sent = gr.skip()  # not rewritten: a Start may have marked it meanwhile (see restarted)
    else:
        curves = job_curves(status, replaces=follows_another_job(seen, status))
        notice = "" if status else gr.skip()
        offer = preview.offer(ctx, request)
        hints = chosen_hints(status)
    return (describe_job(status), charts.progress_html(status), *curves,
            gr.update(interactive=not alive), gr.update(interactive=alive and mine), sent, notice, offer, *hints)


def _without_uploads(ctx: AppContext, line: str) -> str:
    """A log line with the folder where uploads are kept left out: ``.../uploads/57d7.../shapes.zip``
    reads ``shapes.zip``."""
    return re.sub(re.escape(str(ctx.runs_root / UPLOADS)) + r"/[^/\s]+/", "", line)


def restarted(seen: Any) -> tuple:
    """``seen`` once this page's Start has answered: the next poll sends the job's whole view
    again, and so clears the notice under Start. A poll runs alongside the Start (the timer does
    not wait for it) and may see the new job, send its view and clear the notice before the
    Start's answer writes "Started ...": that notice stayed until the job's next event, for good
    if it had none left. What the page was shown before is kept (see :func:`shown_job`)."""
    return ("restarted", seen)


def shown_job(seen: Any) -> Any:
    """The id of the job whose view the page was last sent, from ``seen``; None when none was
    or only an ended job's empty view (``detached``, see :func:`poll_fresh`)."""
    while isinstance(seen, tuple) and len(seen) == 2 and seen[0] == "restarted":
        seen = seen[1]
    return seen[0] if isinstance(seen, tuple) and len(seen) == 2 and seen[0] != "detached" else None


def follows_another_job(seen: Any, status: dict | None) -> bool:
    """Whether the page was last sent another job's view: its plots may still draw that job's
    curves (see ``charts.epoch_plot``)."""
    return status is not None and shown_job(seen) not in (None, status["id"])


def job_curves(status: dict | None, replaces: bool = False) -> tuple:
    """(loss plot update, accuracy plot update, log text) for a job's status; ``replaces``: the
    page may still draw another job's curves (:func:`follows_another_job`)."""
    metrics = status["metrics"] if status else []
    log = "\n".join(status["log"][-LOG_LINES:]) if status else ""
    epochs = status["epochs"] if status else 1
    classes = status.get("classes") if status else None
    return (charts.epoch_plot(charts.curves(metrics, "loss", classes, epochs), tr("Loss"), tr(LOSS_EMPTY), replaces),
            charts.epoch_plot(charts.curves(metrics, "acc", classes, epochs), tr("Accuracy"), tr(ACC_EMPTY), replaces),
            log)


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
            gr.update(visible=False), *chosen_hints(None))
