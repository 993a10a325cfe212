"""The ``ftgui train ...`` command that does what the Train tab's form does."""
from __future__ import annotations

import shlex

from ..config import TrainConfig, user_settings

ALWAYS = ("data", "model", "strategy")


def train_command(config: TrainConfig) -> str:
    """A copyable command line: the data, model and mode always, other settings where they
    differ from the CLI's defaults."""
    defaults = TrainConfig().to_dict()
    parts = ["ftgui", "train"]
    for setting in user_settings():
        name, flag, switch = setting.name, setting.metadata["flag"], setting.metadata["switch"]
        value = getattr(config, name)
        if value is None or (name not in ALWAYS and value == defaults[name]):
            continue
        if switch is None:
            parts += [flag, str(value)]
        elif value == switch:
            parts.append(flag)
    for flag, params in (("--strategy-arg", config.strategy_params), ("--init-arg", config.init_params)):
        for key, value in params.items():
            parts += [flag, f"{key}={value}"]
    for name, params in config.callbacks.items():
        parts += ["--callback", name + (":" + ",".join(f"{k}={v}" for k, v in params.items()) if params else "")]
    for directory in config.plugins_dirs:
        parts += ["--plugins-dir", directory]
    return shlex.join(parts)
