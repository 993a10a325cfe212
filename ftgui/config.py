"""TrainConfig: the one description of a training run.

The GUI form, the CLI flags and ``--config FILE`` all produce a TrainConfig; the engine
never sees Gradio or argparse objects. It round-trips through the ``config`` entry of a
run's ``ftgui.json``. Each user-facing field carries its CLI flag and help as metadata
(:func:`setting`), so the CLI's flags, the GUI's copyable command and error messages all
read one table.
"""
from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import FtguiError, SettingError
from .i18n import N_
from .record import REFIT_RULES, SELECT_RULES

AUGMENTATIONS = ("none", "light", "strong")
DEFAULT_MODEL = "resnet18"
MAX_SEED = 2**32 - 1
MAX_LR = 10.0
MAX_REFIT_RUNS = 10
WORKER_MEMORY = 512 * 2**20
"""What one data-loading process may take (a copy of the decoded-image cache's pages)."""


AUTO = "auto"


def learning_rate(text: str | float) -> float | str:
    """A learning rate as given on the command line or in a file: a number, or ``auto``."""
    if isinstance(text, str) and text.strip().lower() == AUTO:
        return AUTO
    return float(text)


def number_or_auto(text: str | int) -> int | str:
    """A whole number as given on the command line or in a file, or ``auto`` (chosen from the
    data, see ftgui.training.auto_settings)."""
    if isinstance(text, str) and text.strip().lower() == AUTO:
        return AUTO
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise TypeError(text)
    return int(text)


def _within(value: int | str, low: int, high: int) -> bool:
    return value == AUTO or isinstance(value, int) and low <= value <= high


def setting(default: Any, flag: str, help: str, *, kind: Callable[[Any], Any] | None = None, switch: Any = None,
            factory: Any = None) -> Any:
    """A TrainConfig field that is a user setting: ``flag`` takes a value of ``kind``, or,
    with ``switch``, is a flag without a value that sets the field to ``switch``."""
    metadata = {"flag": flag, "help": help, "kind": kind, "switch": switch}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    data: str | None = setting(None, "--data", "folder of class sub-folders, a .zip of one, or sample:digits",
                               kind=str)
    model: str | None = setting(None, "--model", "timm architecture (default resnet18, or the run's own "
                                "with --weights RUN)", kind=str)
    strategy: str = setting("head-only", "--strategy", "predict-only, head-only (default), full, scratch, "
                            "or a plugin's", kind=str)
    strategy_params: dict[str, Any] = field(default_factory=dict)
    init: str | None = setting(None, "--init", "initialiser of the new head, or of every layer with scratch "
                               "(default: the mode's own, zeros for a new head, lecun from scratch)", kind=str)
    """None: the strategy's ``default_init``."""
    init_params: dict[str, Any] = field(default_factory=dict)
    bias_init: str = setting("zero", "--bias-init", "biases of initialised layers: zero (default) or a "
                             "number such as 0.01", kind=str)
    weights: str | None = setting(None, "--weights", "hub, none, or PATH (.safetensors, .pth/.pt, or a run "
                                  "folder)", kind=str)
    """None: hub when the strategy needs pretrained weights, none for training from scratch."""
    epochs: int | str = setting(AUTO, "--epochs", "training epochs, or auto (default): enough for about 300 "
                                "steps (head-only), 500 (fine-tuning) or 3000 (scratch), 5 to 100; 0 saves the "
                                "initialised model without training", kind=number_or_auto)
    lr: float | str | None = setting(None, "--lr", "learning rate (default: 1e-2 for head-only, else 1e-3), or "
                                     "auto: find one first (a range test); AdamW, cosine schedule",
                                     kind=learning_rate)
    batch_size: int | str = setting(AUTO, "--batch-size", "images per step, or auto (default): 32, smaller "
                                    "(down to 8) so that small data has about 8 steps an epoch", kind=number_or_auto)
    img_size: int | None = setting(None, "--img-size", "input size in pixels (default: the model's own)",
                                   kind=int)
    aug: str = setting("light", "--aug", "augmentation: none, light (default), strong", kind=str)
    val_split: float = setting(0.2, "--val-split", "fraction of each class held out for validation "
                               "(default 0.2)", kind=float)
    val_data: str | None = setting(None, "--val-data", "a separate validation folder or zip instead of a "
                                   "split", kind=str)
    seed: int = setting(0, "--seed", "random seed; the same seed repeats a CPU run (default 0)", kind=int)
    split_seed: int | None = setting(None, "--split-seed", "seed of the train/validation split (default: "
                                     "--seed); fix it to compare seeds on the same split", kind=int)
    """None: the split follows ``seed``. ``ftgui compare`` fixes it so every run of a comparison
    validates on the same images while the training seed varies."""
    device: str = setting("auto", "--device", "auto (default: cuda, then mps, then cpu), cpu, cuda, "
                          "cuda:N, mps", kind=str)
    out: str | None = setting(None, "--out", "run folder (default runs/<time>-<model>-<strategy>)", kind=str)
    label_smoothing: float = setting(0.0, "--label-smoothing", "label smoothing (default 0)", kind=float)
    weight_decay: float = setting(0.01, "--weight-decay", "AdamW weight decay (default 0.01)", kind=float)
    warmup_epochs: int | str = setting(AUTO, "--warmup-epochs", "linear warm-up epochs, at most a quarter of "
                                       "the epochs, or auto (default): a tenth of the epochs when pretrained "
                                       "weights learn or from scratch, 0 for head-only", kind=number_or_auto)
    select: str = setting("auto", "--select", "which epoch the run keeps: accuracy (the highest validation "
                          "accuracy), loss (the lowest validation loss averaged over the last few epochs: a "
                          "fifth of the run, at least 3), or auto (default): loss below 200 validation images, "
                          "else accuracy", kind=str)
    refit: str = setting("auto", "--refit", "after the validation chose the epoch, train again from the same "
                         "start on all images, the validation ones too, to that epoch and save that model: yes, "
                         "no, or auto (default): yes below 200 validation images split off the data", kind=str)
    refit_runs: int | str = setting(AUTO, "--refit-runs", "when the run trains again on all images: how many "
                                    "times, each from the same start with its own order of images and "
                                    "augmentation, their weights averaged into the model saved (1 to 10), or auto "
                                    "(default): 3 when pretrained weights learn, else 1", kind=number_or_auto)
    num_workers: int | None = setting(None, "--num-workers", "data loading processes (default: automatic)",
                                      kind=int)
    feature_views: int = setting(0, "--feature-views", "head-only: cache K augmented views per image "
                                 "(default 0: un-augmented features)", kind=int)
    feature_cache: bool = setting(True, "--no-feature-cache", "head-only: run the frozen backbone every "
                                  "epoch instead of caching its features", switch=False)
    """While only the head learns, run the frozen backbone once per image, not per epoch."""
    compile: bool = setting(False, "--compile", "torch.compile the model (worth it on a GPU)", switch=True)
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Callback plugins to use, by name, with their parameters (``--callback NAME:K=V``)."""
    plugins_dirs: list[str] = field(default_factory=list)

    def validate(self) -> None:
        """Raise SettingError for values no run can use (before any image is read)."""
        def finite(value: float | None) -> bool:
            return value is None or math.isfinite(value)

        checks = [
            (_within(self.epochs, 0, 100_000),
             N_("{setting[epochs]} must be auto or between 0 and 100000, not {epochs}")),
            (self.lr is None or self.lr == AUTO or (isinstance(self.lr, float) and finite(self.lr)
                                                     and 0 < self.lr <= MAX_LR),
             N_("{setting[lr]} must be a number above 0 and at most 10 (typical: 1e-4 to 1e-2), not {lr}")),
            (_within(self.batch_size, 1, 65_536),
             N_("{setting[batch_size]} must be auto or between 1 and 65536, not {batch_size}")),
            (self.img_size is None or 16 <= self.img_size <= 2048,
             N_("{setting[img_size]} must be between 16 and 2048, not {img_size}")),
            (self.aug in AUGMENTATIONS, N_("{setting[aug]} must be one of none, light, strong, not {aug!r}")),
            (finite(self.val_split) and 0 <= self.val_split < 1,
             N_("{setting[val_split]} must be at least 0 and below 1, not {val_split}")),
            (finite(self.label_smoothing) and 0 <= self.label_smoothing < 1,
             N_("{setting[label_smoothing]} must be at least 0 and below 1, not {label_smoothing}")),
            (finite(self.weight_decay) and 0 <= self.weight_decay <= 10,
             N_("{setting[weight_decay]} must be between 0 and 10 (typical: 0.01 to 0.1), not {weight_decay}")),
            (_within(self.warmup_epochs, 0, 100_000),
             N_("{setting[warmup_epochs]} must be auto or a number of epochs, not {warmup_epochs}")),
            (self.select in SELECT_RULES,
             N_("{setting[select]} must be one of auto, accuracy, loss, not {select!r}")),
            (self.refit in REFIT_RULES, N_("{setting[refit]} must be one of auto, yes, no, not {refit!r}")),
            (_within(self.refit_runs, 1, MAX_REFIT_RUNS),
             N_("{setting[refit_runs]} must be auto or between 1 and 10, not {refit_runs}")),
            (0 <= self.feature_views <= 1000, N_("{setting[feature_views]} must be between 0 and 1000")),
            (0 <= self.seed <= MAX_SEED, N_("{setting[seed]} must be between 0 and 4294967295, not {seed}")),
            (self.split_seed is None or 0 <= self.split_seed <= MAX_SEED,
             N_("{setting[split_seed]} must be between 0 and 4294967295, not {split_seed}")),
            (self.out is None or bool(self.out.strip()),
             N_("{setting[out]} is empty: give a folder name, or leave it out for runs/<time>-<model>-<strategy>")),
            (self.data is None or bool(self.data.strip()),
             N_("{setting[data]} is empty: give a folder of class sub-folders or a .zip")),
        ]
        for ok, template in checks:
            if not ok:
                raise SettingError(template, **self.to_dict())
        self.check_workers()
        self.bias_value()

    def check_workers(self) -> None:
        if self.num_workers is None:
            return
        limit = max_workers()
        if not 0 <= self.num_workers <= limit:
            raise SettingError(N_("{setting[num_workers]} must be between 0 and {limit} on this computer "
                                  "({cpus} CPUs, each process needs about 512 MB), not {workers}; leave it "
                                  "out for an automatic choice"), limit=limit, cpus=os.cpu_count() or 1,
                               workers=self.num_workers)

    def split_seed_value(self) -> int:
        """The seed the train/validation split uses: ``split_seed``, else ``seed``."""
        return self.seed if self.split_seed is None else self.split_seed

    def bias_value(self) -> float:
        """The bias policy as a number: ``zero`` is 0.0."""
        if str(self.bias_init).strip().lower() in ("zero", "0", "zeros"):
            return 0.0
        try:
            value = float(self.bias_init)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or abs(value) > 100:
            raise SettingError(N_("{setting[bias_init]} takes 'zero' or a number such as 0.01, not {bias!r}"),
                               bias=self.bias_init)
        return value

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Any) -> TrainConfig:
        if not isinstance(values, dict):
            raise FtguiError(f"training settings must be a JSON object of setting: value, not a "
                             f"{type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise FtguiError(f"unknown training setting(s): {', '.join(unknown)}")
        config = cls(**values)
        config.check_types()
        return config

    def check_types(self) -> None:
        """A value read from a file has the field's type (a JSON list where a number belongs
        fails here, in one line, not deep inside training)."""
        for f in dataclasses.fields(self):
            value, kind = getattr(self, f.name), f.metadata.get("kind")
            if value is None or kind is None:
                continue
            if kind is learning_rate:
                try:
                    setattr(self, f.name, learning_rate(value))
                except (TypeError, ValueError):
                    raise SettingError(N_("{setting[lr]} takes a number or auto, not {value!r}"), value=value) from None
                continue
            if kind is number_or_auto:
                try:
                    setattr(self, f.name, number_or_auto(value))
                except (TypeError, ValueError):
                    raise SettingError(N_("{setting} takes a whole number or auto, not {value!r}"), field=f.name,
                                       value=value) from None
                continue
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                continue
            if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
                raise SettingError(N_("{setting} takes a {kind}, not {value!r}"), field=f.name,
                                   kind=kind.__name__, value=value)


def user_settings() -> list[dataclasses.Field]:
    """The TrainConfig fields a person sets by flag, in the CLI's order."""
    return [f for f in dataclasses.fields(TrainConfig) if "flag" in f.metadata]


def flag_of(name: str) -> str:
    """The CLI flag of a TrainConfig field (``weights`` -> ``--weights``)."""
    for f in user_settings():
        if f.name == name:
            return f.metadata["flag"]
    return f"--{name.replace('_', '-')}"


def max_workers() -> int:
    """The most data-loading processes this computer can hold: one per CPU, and no more
    than the available memory allows."""
    cpus = os.cpu_count() or 1
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on every platform
        return cpus
    return max(0, min(cpus, available // WORKER_MEMORY))
