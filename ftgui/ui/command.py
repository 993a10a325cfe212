"""The ``ftgui train ...`` command that does what the Train tab's form does."""
from __future__ import annotations

import shlex

from ..cli import TRAIN_FLAGS
from ..config import TrainConfig

ALWAYS = ("data", "model", "strategy")


def train_command(config: TrainConfig) -> str:
    """A copyable command line: the data, model and mode always, other settings where they
    differ from the CLI's defaults."""
    defaults = TrainConfig().to_dict()
    parts = ["ftgui", "train"]
    for flag, name, _, _ in TRAIN_FLAGS:
        value = getattr(config, name)
        if value is not None and (name in ALWAYS or value != defaults[name]):
            parts += [flag, str(value)]
    for flag, params in (("--strategy-arg", config.strategy_params), ("--init-arg", config.init_params)):
        for key, value in params.items():
            parts += [flag, f"{key}={value}"]
    for directory in config.plugins_dirs:
        parts += ["--plugins-dir", directory]
    return shlex.join(parts)
