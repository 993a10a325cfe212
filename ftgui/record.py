"""What a run reports: the progress events a listener receives, the run record
(``ftgui.json``), and the rules for which epoch is best.

The engine, the CLI and the GUI all read these types; none of them re-derives a field
from a dict with fallbacks.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .i18n import N_

Row = dict[str, Any]
"""One epoch's metrics, as in metrics.jsonl: epoch (1-based), train_loss, train_acc, val_loss,
val_acc, lr, seconds, ... and whatever callbacks add."""


ACCURACY, LOSS = "accuracy", "loss"
SELECT_RULES = ("auto", ACCURACY, LOSS)
"""``--select``: auto, the highest validation accuracy, or the lowest smoothed validation loss."""
REFIT_RULES = ("auto", "yes", "no")
"""``--refit``: after the validation chose the epoch, train again on all images to that epoch."""
WINDOW_SHARE, MIN_WINDOW = 0.2, 3
"""The validation loss is averaged over a fifth of the run's epochs, at least 3: epoch e's
smoothed loss is the mean over epochs e-w+1..e (fewer at the start). Measured on the few-shot
digits (benchmarks/defaults.py; seeds 0-5 of full fine-tuning at 5 and 20 images per class,
test accuracy of the epoch each rule picks): a window of 3 epochs still picked lucky early
epochs on one validation image per class (2 points below the window of a fifth, spread up to
+-9 points), a fifth of the run was as good as always keeping the last epoch or better, and
unlike the last epoch it still notices a run that gets worse."""
SMALL_VALIDATION = 200
"""Below this many validation images ``auto`` selects on the smoothed loss. One image is then
more than half a point of accuracy, so the "best" epochs by accuracy differ by an image or two,
that is by luck (issue 15: with one validation image per class the chosen epoch moved the
result by +-15 points between seeds); the loss weighs how sure the model is of every image,
and averaging it over epochs evens out one lucky epoch."""
SMOOTHED = "val_loss_smoothed"
"""The row key a run that selects on the smoothed loss writes into each epoch's metrics."""
SELECTED_BY = {
    (ACCURACY, False): N_("validation accuracy"),
    (LOSS, False): N_("validation loss averaged over the last few epochs (a fifth of the run, at least 3)"),
    (ACCURACY, True): N_("validation accuracy of the averaged (EMA) weights, which the run saves"),
    (LOSS, True): N_("validation loss averaged over the last few epochs (a fifth of the run, at least 3), of the "
                     "averaged (EMA) weights, which the run saves"),
}
"""The run record's ``selected_by`` for (rule, whether the ema callback's weights are saved)."""
OLD_SELECTED_BY = (N_("validation loss averaged over a fifth of the epochs"),
                   N_("validation loss averaged over a fifth of the epochs, of the averaged (EMA) weights, which "
                      "the run saves"))
"""``selected_by`` of runs saved before the window was worded per run (still shown translated)."""
AUTO_SELECT = N_("{images} validation images: fewer than {limit}")
AUTO_SELECT_MANY = N_("{images} validation images: {limit} or more")
"""Why ``auto`` chose the rule (``RunRecord.select_auto``)."""


def saved_epoch_words(best: Mapping[str, Any]) -> str:
    """The console's name for a run's saved epoch ``best`` (a metrics row): "best epoch N" only when
    the validation accuracy chose it; a row the smoothed loss chose may be beaten by another
    epoch's accuracy."""
    if best.get(SMOOTHED) is not None:
        return f"saved epoch {best.get('epoch')} (lowest smoothed validation loss)"
    return f"best epoch {best.get('epoch')}"


def refit_words(refit: Mapping[str, Any] | None) -> str:
    """The console's account of a run's training again on all images (RunRecord.refit); empty
    when there was none."""
    if not refit:
        return ""
    status = refit.get("status")
    if status == "completed" and refit.get("runs", 1) > 1 and refit.get("averaged") is False:
        return (f"then trained again on all {refit.get('images')} images to epoch {refit.get('epoch')}, "
                f"{refit['runs']} times; their average scored lower on those images than each alone (the trainings "
                "went too far apart, as a high learning rate makes them), so the first of them is the model saved "
                "(its validation accuracy was measured before it learned from those images)")
    if status == "completed" and refit.get("runs", 1) > 1:
        return (f"then trained again on all {refit.get('images')} images to epoch {refit.get('epoch')}, "
                f"{refit['runs']} times, and averaged their weights into the model saved (its validation accuracy "
                "was measured before it learned from those images)")
    if status == "completed":
        return (f"then trained again on all {refit.get('images')} images to epoch {refit.get('epoch')}, which is "
                "the model saved (its validation accuracy was measured before it learned from those images)")
    if status == "failed":
        return f"training again on all images failed ({refit.get('error')}); the validated model is saved"
    return f"training again on all images was {'stopped' if status == 'stopped' else 'cut off'}; " \
           "the validated model is saved"


def rule_of(record: RunRecord) -> str:
    """``accuracy`` or ``loss``: the rule that chose the saved epoch (older records: from ``selected_by``)."""
    select = record.config.get("select")
    if select in (ACCURACY, LOSS):
        return select
    return LOSS if record.selected_by.startswith("validation loss") else ACCURACY


def auto_select_why(record: RunRecord) -> tuple[str, dict[str, Any]] | None:
    """Why ``auto`` chose the rule (a text to translate and its values); None: the rule was given."""
    auto = record.select_auto
    if not auto:
        return None
    images, limit = auto.get("val_images", "?"), auto.get("limit", SMALL_VALIDATION)
    return (AUTO_SELECT if rule_of(record) == LOSS else AUTO_SELECT_MANY), {"images": images, "limit": limit}


def selection_rule(select: str, val_images: int) -> str:
    """``accuracy`` or ``loss``: ``select`` as given, or for ``auto`` by the validation set's size."""
    if select != "auto":
        return select
    return LOSS if 0 < val_images < SMALL_VALIDATION else ACCURACY


def refit_decision(refit: str, val_images: int, split_off: bool) -> bool:
    """Whether the run trains again on all its images once the validation chose the epoch:
    ``refit`` as given, or for ``auto`` when fewer than SMALL_VALIDATION validation images were
    split off the data. Chosen on the few-shot digits of benchmarks/defaults.py (seeds 20-35: 1.5
    to 4 points higher on images no run saw), then measured there on fresh seeds (40-48,
    benchmarks/RESULTS.md): test accuracy +1.3, +2.9, -0.4 and +0.5 points (5 per class full and
    head-only, 20 per class full and head-only), the spread over seeds 4.4 -> 2.7, 6.0 -> 3.9,
    4.2 -> 4.7 and 2.0 -> 1.0 points, for about twice the training time (head-only: the features
    are computed once). With a separate validation folder (``split_off`` False) there is nothing
    held back to add."""
    if refit == "yes":
        return True
    return refit == "auto" and split_off and 0 < val_images < SMALL_VALIDATION


def loss_window(epochs: int) -> int:
    """How many epochs the smoothed validation loss of a run of ``epochs`` averages over."""
    return max(MIN_WINDOW, round(WINDOW_SHARE * epochs))


def smoothed_loss(rows: list[Row], window: int) -> float | None:
    """The last row's validation loss averaged with that of the ``window - 1`` rows before it."""
    if not rows or rows[-1].get("val_loss") is None:
        return None
    losses = [r["val_loss"] for r in rows[-window:] if r.get("val_loss") is not None]
    return sum(losses) / len(losses)


def is_better(row: Row, best: Row | None) -> bool:
    """Whether ``row`` beats ``best``. Rows that carry the smoothed validation loss (a run that
    selects on it writes it into every row, so its rows say how they rank) rank by it, lower
    first, then by accuracy. Others rank by validation accuracy, then the lower validation loss
    (a missing loss ranks last). Without validation the newest epoch wins."""
    if best is None or row.get("val_acc") is None:
        return True
    if best.get("val_acc") is None:
        return True
    if row.get(SMOOTHED) is not None and best.get(SMOOTHED) is not None:
        return (-row[SMOOTHED], row["val_acc"]) > (-best[SMOOTHED], best["val_acc"])

    def key(r: Row) -> tuple[float, float]:
        loss = r.get("val_loss")
        return r["val_acc"], -(loss if loss is not None else math.inf)

    return key(row) > key(best)


def best_row(rows: list[Row]) -> Row | None:
    """The best of ``rows`` by :func:`is_better` (the earliest of equals)."""
    best: Row | None = None
    for row in rows:
        if is_better(row, best):
            best = row
    return best


# -- progress events ---------------------------------------------------------------------
@dataclass(frozen=True)
class Log:
    message: str


@dataclass(frozen=True)
class Start:
    run_dir: str
    epochs: int
    steps_per_epoch: int
    train_images: int
    val_images: int
    earlier_epochs: list[Row] = field(default_factory=list)
    """A resumed run's epochs before this start (their rows), so a view can draw them."""
    chosen: dict[str, int] = field(default_factory=dict)
    """The settings chosen by the run (``auto``), by field: epochs, batch_size, warmup_epochs (from
    the data), refit_runs (from what learns, when it trains again on all images)."""
    refit: bool = False
    """Whether the run will train again on all images once the validation chose its epoch (``--refit``)."""
    refit_runs: int = 1
    """How many times it will (``--refit-runs``), their weights averaged into the model saved."""


REFIT_PHASE = "refit"
"""The Step phase of the training again on all images (``--refit``)."""


@dataclass(frozen=True)
class Step:
    phase: str
    """train, eval, features (computing the frozen backbone's cached features), or refit (the
    training again on all images, after the validation chose the epoch; see RunRecord.refit)."""
    epoch: int
    step: int
    steps: int
    loss: float | None = None
    epochs: int | None = None
    """With phase ``refit``: the epoch the training on all images ends with."""
    run: int = 1
    """With phase ``refit``: which of the trainings on all images this is (from 1) ..."""
    runs: int = 1
    """... of how many (``--refit-runs``)."""


@dataclass(frozen=True)
class Epoch:
    row: Row


@dataclass(frozen=True)
class End:
    status: str
    best: Row | None
    run_dir: str
    reason: str | None = None
    """Why a callback ended training early, if one did."""
    refit: dict[str, Any] | None = None
    """How the training again on all images went (RunRecord.refit), if the run did one."""


Event = Log | Start | Step | Epoch | End


# -- the run record ----------------------------------------------------------------------
@dataclass
class PluginUse:
    """A plugin a run used: its name, parameters and where it came from."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    source: str = ""


@dataclass
class InitializerUse(PluginUse):
    bias: float = 0.0
    """The bias value the initialised layers got."""
    applied_to: str = ""
    """every layer, new head, or nothing (pretrained head kept)."""


@dataclass
class RunRecord:
    """``ftgui.json``: what reproduces a run, and how it went."""

    status: str
    """running, completed, stopped, failed, evaluated (predict-only) or initialised (0 epochs)."""
    config: dict[str, Any]
    architecture: str
    created: str = ""
    ftgui_version: str = ""
    weights_source: str = ""
    label_names: list[str] = field(default_factory=list)
    new_head: bool = False
    strategy: PluginUse | None = None
    initializer: InitializerUse | None = None
    callbacks: list[PluginUse] = field(default_factory=list)
    data: dict[str, Any] | None = None
    data_config: dict[str, Any] = field(default_factory=dict)
    device: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    best: Row | None = None
    """The epoch whose weights model.safetensors holds."""
    epochs_done: int = 0
    lr_finder: dict[str, Any] | None = None
    """With ``--lr auto``: the range test's learning rates, smoothed losses and suggestion."""
    auto_settings: dict[str, Any] | None = None
    """The epochs, batch size and warm-up chosen automatically: each with its value and why,
    and the training images and kind of training they were chosen for (``config`` holds the
    values a resume reuses)."""
    batch_size_used: int | None = None
    """The batch size training ended with, when running out of memory made it smaller."""
    selected_by: str = SELECTED_BY[ACCURACY, False]
    """What chose the saved epoch (and on which weights: 'EMA' when the ema callback is on)."""
    select_auto: dict[str, Any] | None = None
    """When ``--select auto`` chose the rule (``config.select``): the validation images it was
    chosen for and the limit (``{"val_images": 80, "limit": 200}``); None when it was given."""
    refit: dict[str, Any] | None = None
    """The training again on all images after the validation chose the epoch (``--refit``):
    ``status`` (running, completed - model.safetensors then holds its weights -, stopped or
    failed - it then holds the validated epoch's), ``auto`` (``--refit auto`` chose it),
    ``epoch`` (the validated epoch it trained to, from the same start), ``images`` (all of
    them), ``seconds``, and its last ``train_loss`` and ``train_acc``. ``best`` stays the
    validated epoch: its validation accuracy is what the saved model is judged by, measured
    before it also learned from the validation images. None: no such training."""
    stop_reason: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunRecord:
        """Read a record; keys it does not know (a newer ftgui's) are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in values.items() if k in known}
        if isinstance(kept.get("strategy"), dict):
            kept["strategy"] = _plugin_use(kept["strategy"])
        if isinstance(kept.get("initializer"), dict):
            init = kept["initializer"]
            kept["initializer"] = InitializerUse(**vars(_plugin_use(init)), bias=float(init.get("bias") or 0.0),
                                                 applied_to=str(init.get("applied_to") or ""))
        kept["callbacks"] = [_plugin_use(c) for c in kept.get("callbacks") or [] if isinstance(c, dict)]
        kept.setdefault("status", "unknown")
        kept.setdefault("config", {})
        kept.setdefault("architecture", kept["config"].get("model") or "")
        return cls(**kept)


def _plugin_use(values: dict[str, Any]) -> PluginUse:
    return PluginUse(str(values.get("name", "")), dict(values.get("params") or {}), str(values.get("source", "")))
