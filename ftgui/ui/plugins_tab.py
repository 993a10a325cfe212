"""The Plugins tab: every strategy, initialiser and callback with its description, parameters
and source, and the plugins that failed to load with their errors.

The listing is written for each visitor when the page loads, in their language: ftgui's own
words from the catalogue, each plugin's words from its own translations (:func:`plugin_text`),
in English where it has none."""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import gradio as gr

from ..i18n import N_, plugin_text, tr
from ..registry import BUNDLED, Registry
from .context import AppContext
from .handlers import bind
from .words import TERMS, plain_name, plain_words

KINDS = (("strategies", N_("Modes (strategies)")), ("initializers", N_("Initialisers")),
         ("callbacks", N_("Extras while training (callbacks)")))
HEADERS = (N_("name"), N_("what it does"), N_("parameters"), N_("source"))
BROKEN_HEADERS = (N_("plugin"), N_("source"), N_("error"))


def _plain(text: object) -> str:
    """A plugin text in plain words (as the Train tab shows them), on one line."""
    text = re.sub(r"\bthe seed\b(?=[:'’])", "the tutorial", plain_words(str(text)))  # "the seed: as few as 10"
    return text.replace("\n", " ")


def _cell(text: str) -> str:
    """A table cell: no ``|`` or line break ends it early."""
    return text.replace("|", "\\|").replace("\n", " ")


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def plugins_markdown(listing: dict, registry: Registry | None = None) -> str:
    """Markdown for ``Registry.describe()`` in the current language; the plugins' own
    translations come from ``registry`` (without it, their English)."""
    terms = " · ".join(f"*{tr(term)}*: {tr(meaning)}" for term, meaning in TERMS)
    parts = [f"{tr('**Words used here:**')} {terms}", ""]
    for key, title in KINDS:
        parts += [f"### {tr(title)}", "", _row(tr(header) for header in HEADERS), _row("---" for _ in HEADERS)]
        for entry in listing[key]:
            item = getattr(registry, key)[entry["name"]].item if registry else None
            parts.append(_row(_plugin_cells(entry, item)))
        parts.append("")
    if listing["broken"]:
        parts += [f"### ✗ {tr('Plugins that failed to load')}", "",
                  _row(tr(header) for header in BROKEN_HEADERS), _row("---" for _ in BROKEN_HEADERS)]
        parts += [_row(_cell(str(b[field])) for field in ("plugin", "source", "error")) for b in listing["broken"]]
    else:
        parts.append(tr("All plugins loaded."))
    parts.append("\n" + tr("Add your own with `ftgui --plugins-dir DIR` (a folder of .py files) or an installed "
                           "package's `ftgui` entry point."))
    return "\n".join(parts)


def _plugin_cells(entry: dict, item: Any) -> list[str]:
    """One plugin's row: its name (in plain words first where it has them), what it does, its
    parameters with their help, its source. ``item`` is the plugin (its own translations)."""
    params = "<br>".join(
        f"`{p['name']}` = `{p['default']!r}`: {_cell(plugin_text(item, 'param.' + p['name'], _plain(p['help'])))}"
        + (f" ({', '.join(map(str, p['choices']))})" if p["choices"] else "")
        for p in entry["params"]) or "-"
    name = entry["name"]
    label = plugin_text(item, "label", plain_name(name))
    shown = f"**{name}**" if label == name else f"**{_cell(label)}**<br>`{name}`"
    source = tr("bundled") if entry["source"] == BUNDLED else entry["source"]
    return [shown, _cell(plugin_text(item, "description", _plain(entry["description"]))), params, _cell(source)]


def tab_text(ctx: AppContext) -> str:
    """The tab's text for the visitor being served."""
    return plugins_markdown(ctx.registry.describe(), ctx.registry)


def layout(ctx: AppContext) -> None:
    """Build the Plugins tab; the listing is written on each page load, in the visitor's language."""
    with gr.Tab("5 · Plugins", id="plugins"):
        shown = gr.Markdown(tab_text(ctx), elem_id="plugins-list")
    gr.on(None, bind(tab_text, ctx), None, [shown], api_visibility="private", show_progress="hidden")
