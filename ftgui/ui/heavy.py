"""torch, timm and the ftgui modules built on them, imported once and by one thread.

The app starts without them (the first page is served within seconds) and imports them on
first use. Gradio runs handlers in a thread pool, and two threads importing torch for the
first time at once can fail with a partially initialised module, so every handler that
needs them calls :func:`load` first.
"""
from __future__ import annotations

import threading

_lock = threading.Lock()


def load() -> None:
    """Import torch, timm and ftgui's engine (a no-op once done)."""
    with _lock:
        import ftgui.engine  # noqa: F401 - imports torch, timm, ftgui.data, models, runs
