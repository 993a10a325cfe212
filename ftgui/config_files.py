"""Training settings as a file: ``ftgui train --config FILE.yaml|FILE.json``.

A config file holds an object of TrainConfig settings (``model: resnet18``, ``epochs: 5``,
...), or a run's whole ``ftgui.json`` (its ``config`` entry is used), so any run replays.
:func:`save_config_file` writes a TrainConfig as such a file (what the GUI's "save settings"
calls); :func:`read_config_file` reads one back.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import FtguiError

YAML_SUFFIXES = (".yaml", ".yml")


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in YAML_SUFFIXES


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The settings in ``path`` (YAML for .yaml/.yml, JSON otherwise) as a dict for
    ``TrainConfig.from_dict``: a run's ``ftgui.json`` gives its ``config``; ``out`` is
    dropped (a new run gets a new folder). FtguiError, in one line, for anything else."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FtguiError(f"cannot read --config {path}: {exc}") from None
    kind = "YAML" if _is_yaml(file) else "JSON"
    try:
        if kind == "YAML":
            import yaml

            loaded = yaml.safe_load(text)
        else:
            loaded = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - ValueError, RecursionError, yaml.YAMLError and its subclasses
        raise FtguiError(f"cannot read --config {path}: not valid {kind} ({_first_line(exc)})") from None
    if not isinstance(loaded, dict):
        raise FtguiError(f"--config {path} holds a {kind} {type(loaded).__name__}, not an object of settings; "
                         "give a run's ftgui.json or a file like it")
    values = loaded.get("config", loaded)
    if not isinstance(values, dict):
        raise FtguiError(f"--config {path}: its 'config' entry is not an object of settings")
    values = dict(values)
    values.pop("out", None)
    return values


def save_config_file(config: Any, path: str | os.PathLike, keep_out: bool = False) -> Path:
    """Write ``config`` (a TrainConfig or a dict of its settings) to ``path``: YAML when the
    name ends in .yaml/.yml, JSON otherwise. ``out`` is left out unless ``keep_out`` (a
    replay gets a new folder). Reading the file back with ``--config`` gives the same run."""
    from .config import TrainConfig

    values = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
    TrainConfig.from_dict(values)  # refuse what could not be read back
    if not keep_out:
        values.pop("out", None)
    target = Path(path)
    if _is_yaml(target):
        import yaml

        text = "# ftgui training settings: ftgui train --config " + target.name + "\n"
        text += yaml.safe_dump(values, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(values, indent=2, ensure_ascii=False) + "\n"
    from .runs import atomic_write_bytes

    atomic_write_bytes(target, text.encode("utf-8"))
    return target


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return " ".join(text.splitlines()[:1]) if text else type(exc).__name__
