"""What a result means: chance level, how uncertain an accuracy is, and a plain warning when a
model learned nothing. Plain numbers in, plain text out (no Gradio, no torch), in the reader's
language (:func:`ftgui.i18n.tr`).

Uncertainty: an accuracy measured on ``n`` validation images is a binomial proportion. The
margin shown as ``±`` is the 95% normal-approximation margin, 1.96 binomial standard errors
(1.96 * sqrt(p (1 - p) / n)); at 0% or 100%, where that margin is 0, the 95% Wilson score
interval is shown instead (``100% on 12 images (95%: 76%–100%)``).
"""
from __future__ import annotations

import math

from ..i18n import N_, tr

Z95 = 1.96
SYMMETRIC_INITS = ("zeros", "constant")
"""Initialisers that start every weight at the same value: the symmetry trap."""


def chance(classes: int) -> float:
    """What guessing scores: 1 / number of classes."""
    return 1.0 / max(classes, 1)


def chance_loss(classes: int) -> float:
    """The cross-entropy of guessing uniformly: ln(number of classes)."""
    return math.log(max(classes, 1))


def margin(p: float, n: int) -> float:
    """The 95% margin of an accuracy ``p`` measured on ``n`` images (1.96 binomial standard errors)."""
    return Z95 * math.sqrt(p * (1 - p) / n) if n > 0 else 1.0


def wilson(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion ``p`` observed on ``n`` trials."""
    if n <= 0:
        return 0.0, 1.0
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_text(p: float, n: int | None) -> str:
    """``50% ± 28% on 12 images``; without a count, just ``50%``."""
    if not n:
        return f"{p:.0%}"
    if 0 < p < 1:  # so n >= 2
        return tr("{p} ± {margin} on {n} images", p=f"{p:.0%}", margin=f"{margin(p, n):.0%}", n=n)
    low, high = wilson(p, n)
    template = N_("{p} on {n} image (95%: {low}–{high})") if n == 1 else N_("{p} on {n} images (95%: {low}–{high})")
    return tr(template, p=f"{p:.0%}", n=n, low=f"{low:.0%}", high=f"{high:.0%}")


def chance_text(classes: int) -> str:
    return tr("chance is {chance}", chance=f"{chance(classes):.0%}")


def at_chance(p: float, classes: int, n: int | None) -> bool:
    """Not distinguishable from guessing: within the 95% margin of chance on ``n`` images
    (or within 2 points of it when the count is unknown)."""
    level = chance(classes)
    if classes < 2:
        return False
    room = margin(level, n) if n else 0.02
    return p <= level + max(room, 0.02)


def symmetry_trap(init: str | None) -> str:
    """The one-sentence explanation of the symmetry trap, for the zeros/constant initialisers."""
    what = tr("all zeros") if init == "zeros" else tr("all the same value")
    return tr("every weight started at {what}, so every unit computes and learns the same thing (the symmetry "
              "trap); pick kaiming or lecun (small random numbers scaled to each layer's inputs) instead.", what=what)


def trap_applies(strategy_trains_all: bool, init: str | None) -> bool:
    """zeros/constant for every layer (training from scratch): the network cannot learn."""
    return strategy_trains_all and init in SYMMETRIC_INITS


def start_warning(strategy_trains_all: bool, init: str | None) -> str:
    """What the Train tab says before Start when the choice cannot learn ('' when fine)."""
    if not trap_applies(strategy_trains_all, init):
        return ""
    return tr("⚠ This will not learn: {why}", why=symmetry_trap(init))


def verdict(p: float | None, classes: int, n: int | None, init: str | None = None,
            strategy_trains_all: bool = False) -> str:
    """A plain warning when accuracy ``p`` is no better than guessing ('' otherwise), with the
    likely cause."""
    if p is None or not at_chance(p, classes, n):
        return ""
    trap = trap_applies(strategy_trains_all, init)
    if p > chance(classes) + 0.02 and n and not trap:  # above chance, but within luck's margin
        return tr("⚠ Not clearly better than guessing ({chance}): on {n} validation images, {p} can happen by "
                  "luck. Add validation images (or train longer) to know.", chance=chance_text(classes), n=n,
                  p=f"{p:.0%}")
    why = (tr("Why: {trap}", trap=symmetry_trap(init)) if trap else
           tr("Likely causes: too few epochs, a learning rate far too high or too low, too few images, or classes "
              "whose pictures do not differ."))
    return tr("⚠ No better than guessing ({chance}): the model has not learned to tell the classes apart. {why}",
              chance=chance_text(classes), why=why)
