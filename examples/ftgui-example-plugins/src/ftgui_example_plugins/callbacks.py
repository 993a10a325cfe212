"""A callback: ``--callback example-best-so-far[:metric=val_loss]``."""
from __future__ import annotations

import ftgui


class BestSoFar(ftgui.Callback):
    name = "example-best-so-far"
    description = "adds the best value so far of a metric to every epoch's row, and says when it improves"
    params = (ftgui.Param("metric", "val_acc", "the metric to follow", ("val_acc", "val_loss")),)

    def on_epoch_end(self, state, metric: str = "val_acc", **params):
        value = state.metrics.get(metric)
        if value is None:  # no validation images
            return
        memory = state.store[self.name]  # per-run memory (one instance serves every run); saved in checkpoints
        best = memory.get("best")
        better = best is None or (value > best if metric == "val_acc" else value < best)
        if better:
            memory["best"] = value
            state.log(f"example-best-so-far: {metric} improved to {value:.4f} in epoch {state.metrics['epoch']}")
        state.metrics[f"best_{metric}"] = memory["best"]  # lands in metrics.jsonl


@ftgui.hookimpl
def ftgui_register_callbacks(register):
    register(BestSoFar())
