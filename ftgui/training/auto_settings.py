"""Epochs, batch size and warm-up chosen from the data when the user gives none (``auto``).

What a run learns depends on how many optimiser steps it takes far more than on how many times
it sees each image, so the rules aim at a number of steps for the kind of training and derive
the rest from the number of training images:

- **Batch size**: 32 (fits most models in memory, and is what a large data set gets), but a
  small data set gets smaller batches so that an epoch still has about 8 steps: the largest
  power of two at most ``images / 8``, never below 8 (the BatchNorm statistics of fewer images
  are noise). 80 training images -> 8, 320 -> 32.
- **Epochs**: enough for about :data:`TARGET_STEPS` steps - 300 when only a new head learns on
  a frozen backbone (a linear layer on fixed features settles quickly), 500 when pretrained
  weights are fine-tuned, 3000 from scratch (every layer learns from nothing). At least 5 (the
  cosine schedule and the choice of the best epoch need a few epochs) and at most 100 (on a
  handful of images more passes only fit those images harder; each epoch also validates).
- **Warm-up**: a tenth of the epochs (at least 1) when pretrained weights learn - the new head
  starts random, and its large first gradients would otherwise disturb the pretrained features
  (Kumar et al. 2022, "Fine-tuning can distort pretrained features") - and from scratch (Adam's
  first steps rest on poor estimates of the gradients' scale; Liu et al. 2020). None when only
  the head learns: there is nothing pretrained to protect and a linear layer needs no warm-up.

An explicit value always wins; the others are then derived from it (epochs from a given batch
size, warm-up from given epochs).

**Several processes** (``torchrun``, see :mod:`.distributed`): ``--batch-size`` is per process,
and N processes with batch B take the steps one process takes with batch N x B. So the rules
count the whole batch, over every process: the batch above is the *total*, and each process
gets that divided by the number of processes, rounded to the nearest whole number (32 over 2
processes: 16 each; over 3: 11 each, 33 in all). An epoch then has the ~8 optimiser steps in all
that one process would take, and an auto run under torchrun is the run one process would train,
only faster (exactly the same run when the number of processes divides the batch). Epochs come
from the real steps: ``images // processes // per-process batch``.

A process may then get fewer than 8 images a step (8 over 4 processes: 2 each): the floor of 8
is kept for the *total*, which is what GPUs' SyncBatchNorm normalises over (the total is rounded
up to stay at 8 or more: 8 over 3 processes gives 3 each, 9 in all, not 2 and 6) and never below
one image per process. So with more processes than the rule's batch (16 processes, batch 8) each
process takes 1 image, the total is the number of processes, and a small data set gets fewer
than 8 steps an epoch; the epochs rise to match, up to 100. Fill bigger GPUs by giving
``--batch-size`` (per process), and the epochs follow from it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..i18n import N_

HEAD, FINE_TUNE, SCRATCH = "head", "fine-tune", "scratch"
"""Kinds of training: a new head on a frozen pretrained backbone; pretrained weights that learn;
every layer from an initialiser."""
KINDS = {HEAD: N_("only the new head learns"), FINE_TUNE: N_("fine-tuning pretrained weights"),
         SCRATCH: N_("training from scratch")}
TARGET_STEPS = {HEAD: 300, FINE_TUNE: 500, SCRATCH: 3000}
MAX_BATCH, MIN_BATCH, STEPS_PER_EPOCH = 32, 8, 8
MIN_EPOCHS, MAX_EPOCHS = 5, 100
WARMUP_SHARE = 0.1


@dataclass(frozen=True)
class Sizes:
    """The epochs, batch size and warm-up a run trains with, and why for those chosen here."""

    epochs: int
    batch_size: int
    """Per process (with one process, the batch)."""
    warmup_epochs: int
    reasons: dict[str, str] = field(default_factory=dict)
    """Setting -> why this value, for each setting chosen automatically."""
    why: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    """Setting -> the reason as a text to translate and its values (``reasons`` filled in, in English)."""
    processes: int = 1
    """How many processes train together (torchrun's world size)."""

    def record(self, train_images: int, kind: str) -> dict[str, object] | None:
        """What the run record keeps of the automatic choices (None: the user gave every value)."""
        if not self.reasons:
            return None
        many = {"processes": self.processes} if self.processes > 1 else {}
        return {"train_images": train_images, "kind": kind, **many,
                **{name: {"value": getattr(self, name), "why": why, **_template(self.why.get(name))}
                   for name, why in self.reasons.items()}}

    def summary(self) -> str:
        """One log line: the chosen values and why."""
        batch = "batch size per process" if self.processes > 1 else "batch size"
        words = {"epochs": "epochs", "batch_size": batch, "warmup_epochs": "warm-up epochs"}
        return "; ".join(f"{words[name]} {getattr(self, name)} ({why})" for name, why in self.reasons.items())


def _template(why: tuple[str, dict[str, Any]] | None) -> dict[str, Any]:
    """The record's ``why_text`` and ``why_values``: the reason, to show in the reader's language."""
    return {"why_text": why[0], "why_values": why[1]} if why else {}


BATCH_WHY = N_("{images} training images: batches of {batch} give {steps} steps an epoch")
BATCH_WHY_MANY = N_("{images} training images over {processes} processes: batches of {batch} per process "
                    "({total} in all) give {steps} steps an epoch")
EPOCHS_WHY = N_("{kind}: about {target} steps wanted, {steps} an epoch; between {low} and {high} epochs")
EPOCHS_WHY_MANY = N_("{kind}: about {target} steps wanted, {steps} an epoch ({processes} processes, {batch} images "
                     "each per step); between {low} and {high} epochs")
WARMUP_WHY_HEAD = N_("only the new head learns: nothing pretrained to protect")
WARMUP_WHY = N_("{kind}: a tenth of the epochs")
"""The reasons, as the record keeps them (``why_text``) to be shown translated; ``kind`` is one of :data:`KINDS`."""


def auto_batch_size(train_images: int, processes: int = 1) -> int:
    """The largest power of two at most ``train_images / STEPS_PER_EPOCH``, within [8, 32]: the
    whole batch; with several processes each one's share of it (see the module's docstring)."""
    fits = max(train_images // STEPS_PER_EPOCH, 1)
    total = max(MIN_BATCH, min(MAX_BATCH, 2 ** int(math.log2(fits))))
    if processes <= 1:
        return total
    return max(1, math.floor(total / processes + 0.5), math.ceil(MIN_BATCH / processes))


def steps_per_epoch(train_images: int, batch_size: int, processes: int = 1) -> int:
    """Optimiser steps in an epoch (the last partial batch is dropped when there is more than
    one): each of ``processes`` takes an equal share of the images, ``batch_size`` at a time."""
    return max(train_images // processes // batch_size, 1)


def auto_epochs(train_images: int, batch_size: int, kind: str, processes: int = 1) -> int:
    steps = steps_per_epoch(train_images, batch_size, processes)
    return max(MIN_EPOCHS, min(MAX_EPOCHS, math.ceil(TARGET_STEPS[kind] / steps)))


def auto_warmup(epochs: int, kind: str) -> int:
    return 0 if kind == HEAD else max(1, round(WARMUP_SHARE * epochs))


def choose(train_images: int, kind: str, epochs: int | None = None, batch_size: int | None = None,
           warmup_epochs: int | None = None, processes: int = 1) -> Sizes:
    """The run's sizes: the values given, and the rules' for those that are None. ``processes``:
    how many train together (torchrun's world size); ``batch_size`` is per process."""
    processes = max(processes, 1)
    many = processes > 1
    why: dict[str, tuple[str, dict[str, Any]]] = {}
    if batch_size is None:
        batch_size = auto_batch_size(train_images, processes)
        steps = steps_per_epoch(train_images, batch_size, processes)
        why["batch_size"] = (BATCH_WHY_MANY if many else BATCH_WHY,
                             {"images": train_images, "processes": processes, "batch": batch_size,
                              "total": batch_size * processes, "steps": steps})
    if epochs is None:
        epochs = auto_epochs(train_images, batch_size, kind, processes)
        steps = steps_per_epoch(train_images, batch_size, processes)
        why["epochs"] = (EPOCHS_WHY_MANY if many else EPOCHS_WHY,
                         {"kind": KINDS[kind], "target": TARGET_STEPS[kind], "steps": steps, "processes": processes,
                          "batch": batch_size, "low": MIN_EPOCHS, "high": MAX_EPOCHS})
    if warmup_epochs is None:
        warmup_epochs = auto_warmup(epochs, kind)
        why["warmup_epochs"] = (WARMUP_WHY_HEAD, {}) if kind == HEAD else (WARMUP_WHY, {"kind": KINDS[kind]})
    reasons = {name: text.format(**values) for name, (text, values) in why.items()}
    return Sizes(epochs, batch_size, warmup_epochs, reasons, why=why, processes=processes)


REFIT_RUNS = {FINE_TUNE: 3}
"""How many times a run trains again on all images (``--refit-runs auto``), by kind of training;
1 for the others. Each of them starts from the same weights with its own order of images and
augmentation, and their weights are averaged (a "model soup", Wortsman et al. 2022): the luck of
one training's order and augmentation averages out. That needs runs that stay close to their
common start, as fine-tuned pretrained weights do; networks trained from scratch drift into
different solutions, whose average is no solution. A head on a frozen backbone trains on cached
features and varies little from run to run. Tried first on the few-shot digits
(benchmarks/defaults.py, full fine-tuning, seeds 105-116, 3 whole runs per seed on the seed's
split): the average of the 3 runs' weights against one run, test accuracy (mean +- spread over
seeds) 85.1 +- 1.9 against 82.6 +- 3.2 at 5 images per class, and 93.2 +- 1.8 against
93.6 +- 2.9 at 20 (no better on average, but less luck). At a high learning rate the
trainings part ways and their average fails, so it is checked (refit.AVERAGE_TOLERANCE).
benchmarks/RESULTS.md has the built version against the defaults before it, on fresh seeds."""


def refit_runs(given: int | str, kind: str) -> int:
    """How many trainings on all images: ``given``, or for ``auto`` the rule of :data:`REFIT_RUNS`."""
    return REFIT_RUNS.get(kind, 1) if given == "auto" else int(given)
