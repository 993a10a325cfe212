"""The Init Lab's Compare section (issue 11, item 6's button): several training
configurations on the same images and the same split, each over a few seeds, with
:func:`ftgui.compare.compare`; the page shows the mean ± standard deviation of the best
validation accuracy per configuration, the mean validation curve of each, and one sentence
per pair saying whether the difference is larger than the seed-to-seed noise.

The runs are small (the bundled pretrained backbone's architecture at 32 pixels, a few
epochs) and go to ``<runs>/lab-compare-<time>/`` with ``compare.json``; they are not in the
Runs tab's list, which shows the runs directly under the runs folder. One comparison at a
time, and no training while it runs, nor it while one trains (they would share the same CPU
cores: JobManager.comparison). Stop ends it after the current run (the run cut short is left
out: it would compare fewer epochs); the table and sentences then show the runs that finished.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from ..errors import FtguiError
from ..i18n import N_, tr
from . import charts, heavy
from .context import AppContext, demo_backbone, demo_settings
from .handlers import bind

PROGRESS = gr.Progress()
"""Gradio finds a handler's progress bar by this default value (a no-op outside an event)."""
SAMPLE = "sample:digits"
VARY = "init=zeros,lecun,kaiming"
TABLE = [N_("configuration"), N_("best val acc (mean ± std)"), N_("seeds"), N_("time per run"),
         N_("trainable parameters")]
EXPLAIN = (
    "Trains a small model on the chosen images once per value and seed, all on the same training/validation "
    "split, from scratch when the setting is the initialiser (3 values x 3 random seeds x 3 epochs take a "
    "minute or two on a laptop). The seed says fine-tuning \"is continued training; the only difference from training "
    "directly is the initialisation\" - this measures how much that start is worth on your images, and the "
    "sentences below say whether a difference is larger than what changing only the random seed does (on a "
    "few images one configuration's accuracy moves by ±0.15 between random seeds: a single run proves nothing)."
)


def base_settings(ctx: AppContext, data: str, vary: dict[str, list[Any]], epochs: int) -> dict[str, Any]:
    """The fixed settings of every run: the Lab's quick model (the bundled backbone at 32 px),
    from scratch when the initialiser varies (it only matters there), else fine-tuned."""
    values = demo_settings(False, demo_backbone())
    values.pop("batch_size", None)
    values.update(data=data, epochs=epochs, aug="none", batch_size=32,
                  callbacks={"grad-norms": {}})  # the Lab measures gradient diffusion in every run
    if "init" in vary and "strategy" not in vary:
        values["strategy"] = "scratch"
    return values


def check_data(ctx: AppContext, data: str | None) -> str:
    """The sample digits anywhere; a folder or zip of this computer only on a local app."""
    data = (data or "").strip()
    if not data:
        raise FtguiError(tr("choose the images to compare on (sample:digits, or a folder or .zip on this computer)"))
    if data != SAMPLE and not data.startswith("sample:") and not ctx.options.local_only:
        raise FtguiError(tr("a shared app compares on the sample digits only: it does not read its server's folders"))
    if not data.startswith("sample:") and not Path(data).expanduser().exists():
        raise FtguiError(tr("no folder or .zip at {path}", path=data))
    return data


def run_compare(ctx: AppContext, data: str, vary_text: str, seeds: float, epochs: float,
                request: gr.Request | None = None, progress: gr.Progress = PROGRESS) -> tuple[pd.DataFrame, str, dict]:
    """The handler of "Compare": (table, verdicts, curves)."""
    data = check_data(ctx, data)
    ctx.jobs.ensure_idle()  # before the heavy imports; again, atomically, as the comparison starts
    heavy.load()
    from .. import compare
    from ..config import TrainConfig
    from ..runs import read_metrics

    vary = compare.parse_vary([part for part in (vary_text or "").split(";") if part.strip()])
    if not vary:
        raise FtguiError(tr("say what to vary, e.g. {example}", example=VARY))
    values = base_settings(ctx, data, vary, int(epochs))
    root = ctx.runs_root / f"lab-compare-{time.strftime('%Y%m%d-%H%M%S')}"
    config = TrainConfig.from_dict(values)

    def on_run(name: str, seed: int, index: int, total: int) -> None:
        progress(index / total, desc=tr("{run}, seed {seed} ({number} of {total} runs)", run=name, seed=seed,
                                        number=index + 1, total=total))

    with ctx.jobs.comparison(ctx.visitor(request).id) as comparing:
        result = compare.compare(config, vary, seeds=int(seeds), root=root, registry=ctx.registry, on_run=on_run,
                                 listener=lambda event: None, stop=comparing.stop)
    table = pd.DataFrame([[r.config.name, f"{r.mean:.3f} ± {r.std:.3f}", len(r.runs), f"{r.seconds:.1f} s",
                           f"{r.trainable:,}" if r.trainable is not None else "-"] for r in result.results],
                         columns=empty_table().columns)
    verdicts = "\n".join(f"- {line}" for line in result.verdicts() or [tr("one configuration: nothing to compare")])
    if result.stopped:
        done = sum(len(r.runs) for r in result.results)
        verdicts = tr("**Stopped** after {done} of {total} runs: the table and the sentences below use only the runs "
                      "that finished.", done=done, total=len(compare.configurations(vary)) * int(seeds)) + "\n\n" + (
            verdicts if result.results else tr("No run finished: nothing to compare."))
    rows = []
    for r in result.results:
        per_epoch: dict[int, list[float]] = {}
        for run in r.runs:
            for row in read_metrics(Path(run.run_dir)):
                if row.get("val_acc") is not None and not row.get("stopped"):
                    per_epoch.setdefault(row["epoch"], []).append(row["val_acc"])
        for epoch, v in sorted(per_epoch.items()):
            mean = sum(v) / len(v)
            spread = (sum((x - mean) ** 2 for x in v) / (len(v) - 1)) ** 0.5 if len(v) > 1 else 0.0
            rows += [{"epoch": epoch, "value": mean, "configuration": r.config.name},
                     {"epoch": epoch, "value": mean - spread,
                      "configuration": tr("{configuration} − 1 std", configuration=r.config.name)},
                     {"epoch": epoch, "value": mean + spread,
                      "configuration": tr("{configuration} + 1 std", configuration=r.config.name)}]
    curves = pd.DataFrame(rows, columns=["epoch", "value", "configuration"]).astype(
        {"epoch": "int64", "value": "float64"})
    plot, note = chart(curves)
    saved = tr("Saved in `{folder}` (with compare.json).", folder=root.name)
    return table, f"{saved}\n\n{verdicts}{note}", plot


def stop_compare(ctx: AppContext, request: gr.Request | None = None) -> str:
    """The handler of "Stop": end the comparison after its current run, when this visitor
    started it (on a local app anyone may)."""
    comparing = ctx.jobs.comparing
    if comparing is None:
        return tr("Nothing is being compared.")
    if not ctx.visitor(request).owns(comparing.owner):
        raise FtguiError(tr("this comparison was started by another visitor: only they may stop it"))
    comparing.stop.set()
    return tr("Stopping the comparison: the run in progress is left out; the page that started it shows the runs "
              "that finished.")


def chart(curves: pd.DataFrame) -> tuple[dict, str]:
    """The curves plot's update, and a note for the verdicts: with one epoch, no chart (one point
    a line draws dots on an x axis running from 1 to 1) and a note saying why."""
    label = tr("Validation accuracy per epoch: the mean over seeds, with the band of ± 1 standard deviation")
    if curves["epoch"].nunique() == 1:
        note = "\n\n" + tr("One epoch draws no curve (its numbers are in the table): compare over two epochs or "
                            "more to see the curves.")
        return charts.epoch_plot(curves.iloc[:0], label, "", replaces=True), note
    return charts.epoch_plot(curves, label, "", replaces=True), ""


def empty_table() -> pd.DataFrame:
    """The results table before a comparison, its headers in the visitor's language."""
    return pd.DataFrame(columns=[tr(column) for column in TABLE])


def layout(ctx: AppContext) -> None:
    """The Compare section (inside the Lab tab)."""
    with gr.Accordion("Compare on real images: is one choice really better? (trains models: a minute or two)",
                      open=False, elem_id="lab-compare"):
        gr.Markdown(EXPLAIN, elem_classes="ftgui-help")
        with gr.Row():
            data = gr.Dropdown([SAMPLE], value=SAMPLE, allow_custom_value=ctx.options.local_only,
                               label=N_("Images (or a folder / .zip on this computer)") if ctx.options.local_only
                               else N_("Images"), scale=2, elem_id="lab-compare-data")
            vary = gr.Textbox(VARY, label="What to vary (SETTING=A,B,...; several joined with ;)", scale=3,
                              info="e.g. init=zeros,lecun,kaiming or strategy=head-only,full,scratch",
                              elem_id="lab-compare-vary")
        with gr.Row():
            seeds = gr.Slider(2, 5, value=3, step=1, label="Random seeds", elem_id="lab-compare-seeds")
            epochs = gr.Slider(1, 10, value=3, step=1, label="Epochs", elem_id="lab-compare-epochs")
            button = gr.Button("Compare", variant="primary", elem_id="lab-compare-run")
            stop = gr.Button("Stop", elem_id="lab-compare-stop")  # always on: after a reload it still stops
        notice = gr.Markdown(elem_id="lab-compare-notice")
        table = gr.Dataframe(headers=TABLE, interactive=False, label="Best validation accuracy over seeds",
                             elem_id="lab-compare-table")
        verdicts = gr.Markdown(elem_id="lab-compare-verdicts")
        curves = gr.LinePlot(x="epoch", y="value", color="configuration", color_title="", x_title="epoch",
                             y_title="validation accuracy", height=260, elem_classes="ftgui-plot",
                             label="Validation accuracy per epoch: press Compare", elem_id="lab-compare-plot")
    gr.on(None, bind(empty_table), None, [table], api_visibility="private", show_progress="hidden")  # on page load
    compared = button.click(bind(run_compare, ctx), [data, vary, seeds, epochs], [table, verdicts, curves],
                            api_name="lab_compare", concurrency_limit=1)
    charts.keep_series_coloured(compared, [curves])
    compared.then(lambda: "", None, [notice], api_visibility="private", show_progress="hidden")
    stop.click(bind(stop_compare, ctx), None, [notice], api_name="lab_compare_stop", concurrency_limit=None,
               show_progress="hidden")
