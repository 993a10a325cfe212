"""The app's words in English and Simplified Chinese: one message catalogue, English as the key.

A text the app shows is written in English where it is made, and translated where it is shown:
``tr("Epochs")`` or ``tr("{n} images in {k} classes", n=90, k=3)`` gives the text in the
language of the visitor being served (:data:`current`, set per request by the GUI's handlers).
Texts written in a table first and translated later are marked ``N_("...")`` so that the
catalogue test finds them. The Chinese texts live in ``ftgui/locales/zh/*.json`` (one file per
part of the app, merged), mapping each English text to its translation; a text without one is
shown in English. The seed's concepts use the seed's own Chinese terms (see GLOSSARY.md).

Plugins may carry their own translations (``Plugin.translations``, see docs/plugins.md); this
module reads them with :func:`plugin_text`. Nothing here imports gradio or torch.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ENGLISH = "en"
CHINESE = "zh"
LANGUAGES = {ENGLISH: "English", CHINESE: "中文"}
"""Language code -> its own name (what the page's switch shows)."""

LOCALES = Path(__file__).with_name("locales")

current: contextvars.ContextVar[str] = contextvars.ContextVar("ftgui_language", default=ENGLISH)
"""The language of the visitor being served now (set by the GUI for each request)."""


def N_(text: str) -> str:  # noqa: N802 - gettext's name for "translated later"
    """Mark ``text`` as a catalogue entry translated where it is shown (with :func:`tr`)."""
    return text


@functools.cache
def catalogue(language: str) -> dict[str, str]:
    """English text -> its translation in ``language`` (empty for English), from every file
    in ``locales/<language>/``. A text two files translate differently is an error."""
    merged: dict[str, str] = {}
    for path in sorted((LOCALES / language).glob("*.json")):
        for english, translated in json.loads(path.read_text(encoding="utf-8")).items():
            if merged.get(english, translated) != translated:
                raise ValueError(f"{path.name} translates {english!r} differently from another file")
            merged[english] = translated
    return merged


_learned: dict[str, dict[str, str]] = {}
"""Language -> English -> translation, for texts made at run time that carry their own
translations (a plugin's words, see :func:`plugin_text`)."""


def translate(text: str, language: str | None = None) -> str:
    """``text`` in ``language`` (default: :data:`current`); English when it has no translation."""
    language = language or current.get()
    if language == ENGLISH or not text:
        return text
    return catalogue(language).get(text) or _learned.get(language, {}).get(text, text)


def tr(text: str, /, **values: Any) -> str:
    """``text`` in the current visitor's language, with ``{name}`` fields filled from ``values``."""
    shown = translate(text)
    return shown.format(**values) if values else shown


def fields(text: str) -> set[str]:
    """The ``{name}`` fields of a catalogue text (a translation must keep exactly these)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@contextlib.contextmanager
def speaking(language: str) -> Iterator[None]:
    """Run a block as if serving a visitor who reads ``language``."""
    token = current.set(language if language in LANGUAGES else ENGLISH)
    try:
        yield
    finally:
        current.reset(token)


def pick(*choices: str | None) -> str:
    """The first of ``choices`` that names a language ftgui speaks (``zh-CN`` -> ``zh``), else English."""
    for choice in choices:
        code = normalise(choice)
        if code:
            return code
    return ENGLISH


def normalise(code: str | None) -> str | None:
    """``zh-CN``, ``zh_Hans``, ``ZH`` -> ``zh``; ``en-US`` -> ``en``; anything else None."""
    if not code:
        return None
    primary = re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]
    return primary if primary in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The language ftgui speaks that a browser's ``Accept-Language`` header prefers most
    (``zh-CN,zh;q=0.9,en;q=0.8`` -> ``zh``), or None when it names neither."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, quality = part.strip().partition(";q=")
        code = normalise(tag)
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            weight = 0.0
        if code and weight > 0:
            ranked.append((-weight, position, code))
    return min(ranked)[2] if ranked else None


def plugin_text(plugin: Any, key: str, english: str) -> str:
    """A plugin's text as the page shows it, in the current language.

    ``key`` names the text in the plugin's ``translations`` (``{"zh": {"description": ...,
    "label": ..., "param.<name>": ...}}``; see docs/plugins.md) and ``english`` is the English
    text the page shows for it (perhaps reworded from the plugin's own). Each translation the
    plugin gives is remembered for ``english``, so a page built in English can be shown in
    another language later (:func:`translate`); without one, the catalogue's or the English."""
    for language, texts in (getattr(plugin, "translations", None) or {}).items():
        if key in texts and normalise(language):
            _learned.setdefault(normalise(language) or language, {})[english] = texts[key]
    return translate(english)
