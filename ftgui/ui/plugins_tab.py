"""The Plugins tab: every strategy, initialiser and callback with its description, parameters
and source, and the plugins that failed to load with their errors."""
from __future__ import annotations

import re

import gradio as gr

from .context import AppContext
from .words import TERMS, plain_name

KINDS = (("strategies", "Modes (strategies)"), ("initializers", "Initialisers"),
         ("callbacks", "Extras while training (callbacks)"))


def _cell(text: object) -> str:
    """A table cell: plugin texts in plain words (as the Train tab shows them), on one line."""
    from .words import plain_words

    text = re.sub(r"\bthe seed\b(?=[:'’])", "the tutorial", plain_words(str(text)))  # "the seed: as few as 10"
    return text.replace("|", "\\|").replace("\n", " ")


def one_liners(items) -> str:
    """``- **name**: description`` for each plugin (Strategy or Initializer objects)."""
    return "\n".join(f"- **{item.name}**: {item.description}" for item in items)


def plugins_markdown(listing: dict) -> str:
    """Markdown for ``Registry.describe()``."""
    parts = ["**Words used here:** " + " · ".join(f"*{term}*: {meaning}" for term, meaning in TERMS), ""]
    for key, title in KINDS:
        parts.append(f"### {title}\n\n| name | what it does | parameters | source |\n|---|---|---|---|")
        for item in listing[key]:
            params = "<br>".join(f"`{p['name']}` = `{p['default']!r}`: {_cell(p['help'])}"
                                 + (f" ({', '.join(map(str, p['choices']))})" if p["choices"] else "")
                                 for p in item["params"]) or "-"
            name = item["name"]
            shown = f"**{name}**" if plain_name(name) == name else f"**{plain_name(name)}**<br>`{name}`"
            parts.append(f"| {shown} | {_cell(item['description'])} | {params} | {_cell(item['source'])} |")
        parts.append("")
    if listing["broken"]:
        parts.append("### ✗ Plugins that failed to load\n\n| plugin | source | error |\n|---|---|---|")
        parts += [f"| {_cell(b['plugin'])} | {_cell(b['source'])} | {_cell(b['error'])} |" for b in listing["broken"]]
    else:
        parts.append("All plugins loaded.")
    parts.append("\nAdd your own with `ftgui --plugins-dir DIR` (a folder of .py files) or an installed "
                 "package's `ftgui` entry point.")
    return "\n".join(parts)


def layout(ctx: AppContext) -> None:
    """Build the Plugins tab."""
    with gr.Tab("5 · Plugins", id="plugins"):
        gr.Markdown(plugins_markdown(ctx.registry.describe()), elem_id="plugins-list")
