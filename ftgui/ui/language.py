"""The page in the visitor's language: who reads which language, and the page's fixed texts in it.

A visitor's language is, in this order: the page's own switch (a cookie, so that it holds for
every request and after a reload), ``ftgui --lang`` (:data:`chosen`), the browser's preferred
language (``Accept-Language``), English. Handlers run in it (``bind`` sets
:data:`ftgui.i18n.current`), so the texts they make speak it.

The fixed texts (labels, help, choices, headings) are written in English in the layout code.
:class:`PageTexts` records them once the page is built, and gives every component its texts
in a language: in the page as first served (English, or ``--lang``) and, for a visitor who
reads another, on page load (an event).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr

from .. import i18n

COOKIE = "ftgui_lang"

chosen: str | None = None
"""``ftgui --lang``: the language every visitor gets unless they switch (None: their browser's)."""

SWITCH_JS = f"""(language) => {{
  document.cookie = "{COOKIE}=" + language + "; path=/; max-age=31536000; SameSite=Lax";
  location.reload();
}}"""
"""The page's switch: remember the choice in a cookie and reload, so every text is in it."""

TEXT_PROPS = ("label", "info", "placeholder", "x_title", "y_title", "color_title")
"""Component properties that hold a text a person reads."""
BUTTONS = (gr.Button, gr.DownloadButton, gr.UploadButton)
"""Components whose value is their words: fixed (a handler that changes them words them)."""


def language_of(request: Any) -> str:
    """The language of the visitor who sent ``request`` (a ``gr.Request``, or None)."""
    cookies = getattr(request, "cookies", None) or {}
    headers = getattr(request, "headers", None) or {}
    return i18n.pick(cookies.get(COOKIE), chosen, i18n.from_accept_language(headers.get("accept-language")))


def switch() -> gr.Radio:
    """The page's language switch (wired by :meth:`PageTexts.wire`)."""
    return gr.Radio([(name, code) for code, name in i18n.LANGUAGES.items()], value=chosen or i18n.ENGLISH,
                    label="Language · 语言", show_label=False, container=False, elem_id="language", scale=0,
                    min_width=160)


class PageTexts:
    """Every fixed English text of a built page, by component, and the page in another language.

    A Markdown some event fills (its value is an output) keeps its value: its handler words it."""

    def __init__(self, demo: gr.Blocks) -> None:
        filled = {block._id for dependency in demo.fns.values() for block in dependency.outputs}
        self.texts: list[tuple[Any, dict[str, Any]]] = []
        for block in demo.blocks.values():
            if block.elem_id == "language":  # the switch names each language in itself
                continue
            texts: dict[str, Any] = {prop: value for prop in TEXT_PROPS
                                     if isinstance(value := getattr(block, prop, None), str) and value.strip()}
            fixed = isinstance(block, BUTTONS) or (isinstance(block, gr.Markdown) and block._id not in filled)
            value = getattr(block, "value", None)
            if fixed and isinstance(value, str) and value.strip():
                texts["value"] = value
            choices = getattr(block, "choices", None)
            if isinstance(block, (gr.Radio, gr.CheckboxGroup)) and choices:
                texts["choices"] = list(choices)
            if isinstance(block, (gr.Tab, gr.Accordion)) and isinstance(block.label, str):
                texts["label"] = block.label
            if texts:
                self.texts.append((block, texts))

    @property
    def components(self) -> list[Any]:
        return [block for block, _ in self.texts]

    def english(self) -> Iterator[str]:
        """Every fixed text of the page (the catalogue test checks each has a translation)."""
        for _, texts in self.texts:
            for prop, value in texts.items():
                if prop == "choices":
                    yield from (label for label, _ in value)
                else:
                    yield value

    def shown_in(self, language: str) -> list[dict[str, Any]]:
        """An update per component giving its texts in ``language``."""
        return [gr.update(**self._translated(texts, language)) for _, texts in self.texts]

    def apply(self, language: str) -> None:
        """Write the texts in ``language`` into the page itself (what is served before any event)."""
        for block, texts in self.texts:
            for prop, value in self._translated(texts, language).items():
                setattr(block, prop, value)

    @staticmethod
    def _translated(texts: dict[str, Any], language: str) -> dict[str, Any]:
        shown: dict[str, Any] = {}
        for prop, value in texts.items():
            if prop == "choices":
                shown[prop] = [(i18n.translate(label, language), key) for label, key in value]
            else:
                shown[prop] = i18n.translate(value, language)
        return shown

    def wire(self, demo: gr.Blocks, language_switch: gr.Radio) -> None:
        """On each page load the visitor's language and, only when the page was not served in it
        (English, or ``--lang``), the texts (and the switch) in it; the switch remembers a choice
        and reloads the page. The texts come in an event whose outputs are every component with
        a text, and once an event has named a component as an output, every later event of the
        page costs more (see :mod:`.app`): a page already in its visitor's language never runs it."""
        served = chosen or i18n.ENGLISH
        shown = gr.State(served)

        def visitor_language(request: gr.Request) -> str:
            return language_of(request)

        def texts(language: str) -> list[Any]:
            return [gr.update(value=language), *self.shown_in(language)]

        demo.load(visitor_language, None, [shown], api_visibility="private", show_progress="hidden")
        shown.change(texts, [shown], [language_switch, *self.components], api_visibility="private",
                     show_progress="hidden")
        language_switch.input(None, [language_switch], None, js=SWITCH_JS)
