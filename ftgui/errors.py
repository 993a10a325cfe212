"""The exception types whose message is meant for the person using ftgui."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .i18n import translate


class FtguiError(Exception):
    """A problem the user can fix; its message is one line that says what to do.

    The CLI prints it as ``ftgui: error: <message>`` without a traceback, the GUI shows it
    in place. Anything else escaping the engine is a bug.
    """

    def worded(self, name_of: Callable[[str], str]) -> str:
        """The message with each setting named by ``name_of(field)`` (see SettingError)."""
        return str(self)


class _Names:
    """``{setting[weights]}`` in a template: the setting's name as one front end words it;
    ``{setting}`` alone: the setting the error's ``field`` value names."""

    def __init__(self, name_of: Callable[[str], str], field: str | None = None) -> None:
        self.name_of, self.field = name_of, field

    def __getitem__(self, field: str) -> str:
        return self.name_of(field)

    def __format__(self, spec: str) -> str:
        return format(self.name_of(self.field or ""), spec)


class SettingError(FtguiError):
    """An error about training settings that names them by field, not by flag.

    The template writes a setting as ``{setting[weights]}`` (or ``{setting}`` with the field
    given as ``field=``); the CLI words it as a flag (``--weights``, the default ``str()``, in
    English), the GUI as its control ("Start from weights") through :meth:`worded`, in the
    reader's language (a template marked ``N_`` has a translation, see :mod:`ftgui.i18n`).
    Other ``{name}`` fields are filled from ``values``.
    """

    def __init__(self, template: str, **values: Any) -> None:
        self.template, self.values = template, values
        super().__init__(self.fill(template, _flag))

    def worded(self, name_of: Callable[[str], str]) -> str:
        return self.fill(translate(self.template), name_of)

    def fill(self, template: str, name_of: Callable[[str], str]) -> str:
        """``template`` (this error's, perhaps translated) with its settings named by ``name_of``."""
        return template.format(setting=_Names(name_of, self.values.get("field")), **self.values)


def _flag(field: str) -> str:
    from .config import flag_of

    return flag_of(field)
