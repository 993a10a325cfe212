"""Turning the tabs' plain handler functions into Gradio event handlers."""
from __future__ import annotations

import functools
import inspect
import logging
import typing
from collections.abc import Callable, Mapping
from typing import Any

import gradio as gr

from .. import i18n
from ..errors import FtguiError
from .language import language_of
from .words import error_text

log = logging.getLogger(__name__)
ERROR_SECONDS = 12
"""An error notice closes by itself after this long (it covers controls while it shows)."""


def bind(fn: Callable[..., Any], *args: Any) -> Callable[..., Any]:
    """``fn`` with its first arguments fixed (usually the AppContext), as an event handler.

    An FtguiError is shown to the user as it is (a red notice; an API client gets it as the
    error message); any other exception is logged and shown as an internal error.
    The signature of the result is ``fn``'s without the fixed arguments, so Gradio names
    the API parameters after ``fn``'s own; so are its type hints, so a parameter annotated
    ``gr.Request`` gets the visitor's request (it is not an API parameter). Every handler
    also gets the request (an extra last parameter unless ``fn`` takes one): ``fn`` runs in
    the visitor's language (:func:`ftgui.ui.language.language_of`), so ``tr()`` speaks it.
    """
    bound = functools.partial(fn, *args)
    hints = _hints(bound)
    parameters = list(inspect.signature(bound).parameters.values())
    at = next((i for i, p in enumerate(parameters) if hints.get(p.name) in (gr.Request, gr.Request | None)), None)
    added = at is None
    if at is None:
        at = len(parameters)
        parameters.append(inspect.Parameter("ftgui_request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                            annotation=gr.Request))
        hints = {**hints, "ftgui_request": gr.Request}

    @functools.wraps(bound)
    def handler(*values: Any) -> Any:
        request = values[at] if at < len(values) else None
        if added:
            values = values[:at] + values[at + 1:]
        with i18n.speaking(language_of(request)):  # errors are worded in it too
            try:
                return bound(*values)
            except gr.Error:
                raise
            except Exception as exc:  # noqa: BLE001
                if not isinstance(exc, FtguiError):
                    log.exception("handler %s failed", getattr(fn, "__name__", fn))
                raise gr.Error(error_text(exc), duration=ERROR_SECONDS, title="ftgui") from None

    handler.__name__ = getattr(fn, "__name__", "handler")
    handler.__annotations__ = hints
    handler.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return handler


def _hints(bound: functools.partial) -> dict[str, Any]:
    """The resolved type hints of the parameters ``bound`` still takes."""
    try:
        hints = typing.get_type_hints(bound.func)
        names = inspect.signature(bound).parameters
    except (NameError, TypeError, ValueError):
        return {}
    return {name: hint for name, hint in hints.items() if name in names}


def show_only(sections: Mapping[str, Any]) -> Callable[[str], Any]:
    """A handler for a choice that shows the section named by the chosen value and hides the
    others (outputs: ``sections.values()``)."""

    def show(chosen: str) -> Any:
        updates = [gr.update(visible=name == chosen) for name in sections]
        return updates[0] if len(updates) == 1 else updates  # one output takes a bare update

    return show


def show_chosen(sections: Mapping[str, Any]) -> Callable[[list[str] | None], Any]:
    """A handler for a multiple choice that shows the section of each chosen value and hides
    the others (outputs: ``sections.values()``)."""

    def show(chosen: list[str] | None) -> Any:
        updates = [gr.update(visible=name in (chosen or [])) for name in sections]
        return updates[0] if len(updates) == 1 else updates

    return show
