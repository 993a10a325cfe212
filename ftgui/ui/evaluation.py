"""What a run's validation predictions say: confusion matrix, per-class accuracy, the most
confused pairs. Input: the rows of ``val_predictions.json`` (path, true, pred, score).

They are the validated model's predictions. When the run then trained once more on all images,
the validation ones too (``--refit``, :func:`learned_from_validation`), the saved model is another
one that has seen those images: the rows still say how the validated epoch did, not how the saved
model does, and nothing here predicts the validation images again with the saved model (they are
training images of it now)."""
from __future__ import annotations

from collections import Counter
from typing import Any


def learned_from_validation(refit: Any) -> bool:
    """Whether a run's saved model also learned from its validation images: its record's ``refit``
    (RunRecord.refit) completed. Its validation accuracy and predictions were then measured before."""
    return isinstance(refit, dict) and refit.get("status") == "completed"


def class_order(rows: list[dict], labels: list[str]) -> list[str]:
    """The classes to show: the run's labels that occur in ``rows`` (true or predicted), in
    label order, then any others (a predict-only model's labels are many; only those that
    occur are shown)."""
    seen = {r["true"] for r in rows} | {r["pred"] for r in rows}
    ordered = [name for name in labels if name in seen]
    return ordered + sorted(seen - set(ordered))


def confusion(rows: list[dict], labels: list[str]) -> tuple[list[str], list[list[int]]]:
    """(classes, matrix) with ``matrix[i][j]`` = images of class i predicted as class j."""
    names = class_order(rows, labels)
    index = {name: i for i, name in enumerate(names)}
    matrix = [[0] * len(names) for _ in names]
    for row in rows:
        matrix[index[row["true"]]][index[row["pred"]]] += 1
    return names, matrix


def per_class(rows: list[dict], labels: list[str]) -> list[dict]:
    """Validation images, correct predictions and accuracy for each true class."""
    totals = Counter(r["true"] for r in rows)
    correct = Counter(r["true"] for r in rows if r["true"] == r["pred"])
    return [{"class": name, "images": totals[name], "correct": correct[name],
             "accuracy": round(correct[name] / totals[name], 4)}
            for name in class_order(rows, labels) if totals[name]]


def confused_pairs(rows: list[dict], top: int = 10) -> list[dict]:
    """The ``top`` most frequent (true, predicted) mistakes."""
    pairs = Counter((r["true"], r["pred"]) for r in rows if r["true"] != r["pred"])
    return [{"true": t, "predicted": p, "images": n} for (t, p), n in pairs.most_common(top)]


def mistakes(rows: list[dict]) -> list[dict]:
    """Misclassified rows, the most confidently wrong first."""
    return sorted((r for r in rows if r["true"] != r["pred"]), key=lambda r: -r["score"])


def one_answer(rows: list[dict], labels: list[str]) -> str | None:
    """The class a model predicts for every validation image, when it predicts only one
    (and the images are of more than one class): it has learned nothing about them."""
    predicted = {r["pred"] for r in rows}
    truths = {r["true"] for r in rows}
    if len(predicted) == 1 and len(truths) > 1 and len(labels) > 1:
        return next(iter(predicted))
    return None
