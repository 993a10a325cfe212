"""``build_app``: the Gradio Blocks with one tab per module, and how it is served.

Gradio 6 takes the theme and CSS in ``launch()``, not in ``Blocks()``; :func:`launch_kwargs`
returns them with the safety settings (upload cap, served paths, no monitoring), so every
way of launching the app serves it the same way.

Served paths: besides Gradio's own cache (uploads in flight, thumbnails, results), only the
runs folder, so that a run's model files can be downloaded; never ``<runs>/uploads``, where
everyone's uploaded data is kept (a run's record names it, but no one can fetch it). A shared
app serves no part of the runs folder: every run's record names its data and classes, and a
visitor may read only their own runs' (see :mod:`.owners`); their model files are handed out
as copies.

Every event costs the page: Gradio 6.31's page, on each status message of any event (about
three per event), looks up in the whole tree of the app's ~490 components each component that
any event so far has named as an output. On a 2-core machine a fresh page could not be clicked
for 20-25 s, and 30-45 s while a training ran: its load events had named the 225 components
with a text (the page's texts in the visitor's language), the Runs tab's refresh chain ran on
every tab click, and the form's 50 controls were refilled on every change of the notice under
Start. So the texts go out only to a visitor who reads another language than
the page was served in (:mod:`.language`), a tab refreshes what it shows when it is selected,
and the form is refilled only when a job started elsewhere: 4-5 s, 9-10 s while training.
"""
from __future__ import annotations

from typing import Any

import gradio as gr

from .. import i18n
from ..i18n import tr
from . import data_tab, lab_tab, language, plugins_tab, predict_tab, runs_tab, train_tab
from .context import UPLOADS, AppContext, AppOptions
from .handlers import bind

__all__ = ["AppOptions", "build_app", "launch_kwargs"]

CSS = """
.gradio-container { width: 100% !important; max-width: 1240px !important; margin: 0 auto; }
.ftgui-help, .ftgui-help p { font-size: var(--text-sm); }
.ftgui-pad { padding: 0 var(--block-padding); }
.ftgui-progress { height: 14px; border-radius: 7px; overflow: hidden;
  background: var(--neutral-200); }
.dark .ftgui-progress { background: var(--neutral-700); }
.ftgui-progress-fill { height: 100%; background: var(--color-accent); transition: width .4s; }
.ftgui-progress-text { margin-top: 4px; font-size: var(--text-sm); font-variant-numeric: tabular-nums; }
.ftgui-confusion { overflow-x: auto; max-width: 100%; }
.ftgui-confusion table { border-collapse: collapse; font-size: var(--text-sm);
  font-variant-numeric: tabular-nums; }
.ftgui-confusion th, .ftgui-confusion td { padding: 3px 7px; text-align: center;
  border: 1px solid var(--border-color-primary); }
.ftgui-confusion td.hit { background: rgba(34, 160, 90, calc(var(--share) * 0.85)); }
.ftgui-confusion td.miss { background: rgba(220, 60, 60, calc(var(--share) * 0.85)); }
.ftgui-plot { overflow: visible !important; padding-bottom: 28px !important; }
#language [data-testid=block-info] { display: none; }  /* its options name the languages themselves */
#plugins-list table { font-size: var(--text-sm); }
#plugins-list th { white-space: nowrap; }
#plugins-list td:first-child { min-width: 10em; }
#plugins-list td:last-child { min-width: 6em; overflow-wrap: anywhere; }
.ftgui-class-card { margin-bottom: var(--spacing-lg); }
.ftgui-class-thumbs .grid-container { grid-template-columns: repeat(auto-fill, minmax(56px, 1fr)) !important;
  grid-auto-rows: minmax(56px, auto) !important; grid-template-rows: none !important; }
#predict-image img { width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated; }
@media (max-width: 640px) {
  .tab-container button[role=tab] { padding: 0 6px; font-size: var(--text-sm); }
  .block:has(input[type=checkbox]):not(:has(input[type=checkbox] ~ input)) { min-width: max-content !important; }
}
"""

HEAD = """<script>
/* Gradio's line plots hand a Vega-Lite v5.17 spec to the Vega-Lite v6 they bundle, which warns
   about it each time a plot is drawn (dozens of times a training); the plots are right. Only that
   one warning is dropped: every other console message goes through. */
(() => {
  const warn = console.warn.bind(console);
  console.warn = (...args) => {
    if (args.map(String).join(" ").includes("The input spec uses Vega-Lite v5")) return;
    warn(...args);
  };
})();
</script>"""

INTRO = ("# ftgui\nFine-tune an image classifier on your own images: **1** choose images, "
         "**2** train, **3** try the model, **4** compare runs; **6** see why the starting weights matter.")


def build_app(options: AppOptions | None = None, context: AppContext | None = None) -> gr.Blocks:
    """The whole app; ``context`` (made from ``options`` when not given) is what its
    handlers share."""
    ctx = context or AppContext(options or AppOptions())
    language.chosen = i18n.normalise(ctx.options.language)
    with gr.Blocks(title="ftgui", analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs(overflow_behavior="wrap") as tabs:
            data = data_tab.layout(ctx, demo)
            train_notice = train_tab.layout(ctx, demo, data)
            predict_tab.layout(ctx, demo)
            runs_tab.layout(ctx, demo, tabs, train_notice)
            plugins_tab.layout(ctx)
            lab_tab.layout(ctx, demo)
        with gr.Row(elem_classes="ftgui-footer"):  # below the tabs: it costs no height above Start on a phone
            language_switch = language.switch()
            if ctx.options.local_only:  # the person at this computer may put ftgui on its desktop
                shortcut_button = gr.Button("Put ftgui in this computer's applications menu", size="sm",
                                            elem_id="add-shortcut")
                shortcut_notice = gr.Markdown(elem_id="shortcut-notice")
                shortcut_button.click(bind(add_shortcut, ctx), None, [shortcut_notice], api_visibility="private")
        texts = language.PageTexts(demo)  # every fixed text, once every event is wired
        texts.wire(demo, language_switch)
    if language.chosen:
        texts.apply(language.chosen)
    demo.ftgui_context = ctx  # launch() and tests reach the job manager through it
    demo.ftgui_texts = texts  # and the page's fixed texts (the catalogue test)
    return demo


def add_shortcut(ctx: AppContext) -> str:
    """``ftgui shortcut`` from the footer: a menu entry with ftgui's icon that opens it in its
    own window on this runs folder."""
    from .shortcut import install

    written = install(ctx.runs_root)
    return tr("Done: **ftgui** is in your applications menu ({entry}); it opens in its own window. "
              "`ftgui shortcut --remove` takes it away.", entry=written[0])


def launch_kwargs(options: AppOptions) -> dict[str, Any]:
    """The ``Blocks.launch`` settings every ftgui app is served with."""
    runs_root = options.runs_dir.expanduser().resolve()
    local = options.local_only
    return {
        "theme": gr.themes.Default(primary_hue="indigo", secondary_hue="slate"),
        "css": CSS,
        "head": HEAD,
        "max_file_size": options.max_file_size,
        # a local app serves run outputs (model files) but no one's uploaded data; a shared app
        # nothing of the runs folder (records name data and classes; model files are copied out)
        "allowed_paths": [str(runs_root)] if local else [],
        "blocked_paths": [str(runs_root / UPLOADS)] if local else [str(runs_root)],
        "enable_monitoring": False,
        "ssr_mode": False,
        "server_name": options.host,
        "share": options.share,
    }
