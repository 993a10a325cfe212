"""The ``ftgui shortcut`` command (issue 14: ftgui on the desktop).

:mod:`ftgui.cli` adds this parser and dispatches to :func:`cmd_shortcut`; the files are written
by :mod:`ftgui.ui.shortcut`, imported only when the command runs.
"""
from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from typing import Any

COMMANDS = ("shortcut",)


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``shortcut`` to ``sub``."""
    shortcut = sub.add_parser(
        "shortcut", parents=[common], help="put ftgui in the desktop's application menu",
        description="Install a menu entry with ftgui's icon that opens ftgui --window on a runs folder: on "
                    "Linux ftgui.desktop in ~/.local/share/applications (or $XDG_DATA_HOME/applications), on "
                    "Windows a Start Menu shortcut, on macOS ~/Applications/ftgui.app. --remove takes it away.")
    shortcut.add_argument("--remove", action="store_true", help="remove the entry (and its icon)")
    shortcut.add_argument("--runs-dir", default="runs", metavar="DIR",
                          help="the runs folder the entry opens (default ./runs, made absolute)")


def cmd_shortcut(args: argparse.Namespace) -> int:
    from .ui import shortcut

    if args.remove:
        removed = shortcut.remove()
        for path in removed:
            print(f"ftgui: removed {path}")
        if not removed:
            print("ftgui: there was no ftgui shortcut to remove")
        return 0
    for path in shortcut.install(args.runs_dir):
        print(f"ftgui: wrote {path}")
    print(f"ftgui: the entry runs: {shlex.join(shortcut.launch_command(args.runs_dir))}")
    if not shortcut.window_installed():
        print("ftgui: note: the native window needs pip install 'ftgui[window]'; until then it opens the browser")
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"shortcut": cmd_shortcut}
