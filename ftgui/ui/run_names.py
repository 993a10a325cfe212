"""Names people can tell runs apart by: ``test_resnet · head-only · lecun · 13:24`` (model,
mode, initialiser, the time it was created). The folder name stays what it is; these are
for legends, menus and tables. Two runs that would read the same get ``#2``, ``#3``."""
from __future__ import annotations

from collections import Counter

from .. import runs

NO_INIT = ("predict-only",)
"""Modes whose initialiser does nothing (the pretrained head is kept)."""


def display_name(run: runs.Run) -> str:
    info = run.info
    strategy = info.strategy.name if info.strategy else str(info.config.get("strategy") or "")
    init = info.initializer.name if info.initializer else str(info.config.get("init") or "")
    created = info.created or ""
    clock = created[11:16] if len(created) >= 16 else ""
    parts = [info.architecture or str(info.config.get("model") or "model"), strategy]
    if init and strategy not in NO_INIT:
        parts.append(init)
    if clock:
        parts.append(clock)
    return " · ".join(p for p in parts if p)


def display_names(listed: list[runs.Run]) -> dict[str, str]:
    """Folder name -> a display name unique among ``listed`` (newest first: the oldest of
    equal names keeps the plain one)."""
    plain = {run.path.name: display_name(run) for run in listed}
    counts = Counter(plain.values())
    seen: Counter[str] = Counter()
    names = {}
    for run in reversed(listed):
        name = plain[run.path.name]
        seen[name] += 1
        names[run.path.name] = name if counts[name] == 1 or seen[name] == 1 else f"{name} #{seen[name]}"
    return {run.path.name: names[run.path.name] for run in listed}
