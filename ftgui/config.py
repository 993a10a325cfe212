"""TrainConfig: the one description of a training run.

The GUI form, the CLI flags and ``--config FILE`` all produce a TrainConfig; the engine
never sees Gradio or argparse objects. It round-trips through the ``config`` entry of a
run's ``ftgui.json``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .errors import FtguiError

AUGMENTATIONS = ("none", "light", "strong")
DEFAULT_MODEL = "resnet18"


@dataclass
class TrainConfig:
    data: str | None = None
    """Folder of class sub-folders, a .zip of one, or ``sample:digits``."""
    model: str | None = None
    """timm architecture; None: the run's own when ``weights`` is a run, else resnet18."""
    strategy: str = "head-only"
    strategy_params: dict[str, Any] = field(default_factory=dict)
    init: str = "lecun"
    """Initialiser of the new head (fine-tuning) or of every layer (from scratch)."""
    init_params: dict[str, Any] = field(default_factory=dict)
    bias_init: str = "zero"
    """``zero`` or a number (e.g. ``0.01``) for the biases of initialised layers."""
    weights: str | None = None
    """``hub``, ``none`` or a path (.safetensors, .pth/.pt, run folder); None: hub when the
    strategy needs pretrained weights, none for training from scratch."""
    epochs: int = 5
    lr: float | None = None
    """None: the strategy's default (1e-2 for head-only, 1e-3 for the others)."""
    batch_size: int = 32
    img_size: int | None = None
    aug: str = "light"
    val_split: float = 0.2
    val_data: str | None = None
    seed: int = 0
    device: str = "auto"
    out: str | None = None
    label_smoothing: float = 0.0
    weight_decay: float = 0.01
    warmup_epochs: int = 1
    """Linear warm-up, capped at a quarter of the epochs so short runs are not mostly warm-up."""
    num_workers: int | None = None
    feature_cache: bool = True
    """While only the head learns, run the frozen backbone once per image, not per epoch."""
    feature_views: int = 0
    """With the feature cache: 0 trains the head on un-augmented images; K > 0 caches K
    augmented views per image and cycles through them, one per epoch."""
    compile: bool = False
    """torch.compile the model (worth it on a GPU for longer runs)."""
    plugins_dirs: list[str] = field(default_factory=list)

    def validate(self) -> None:
        """Raise FtguiError for values no run can use."""
        checks = [
            (self.epochs >= 1, f"--epochs must be at least 1, not {self.epochs}"),
            (self.lr is None or self.lr > 0, f"--lr must be positive, not {self.lr}"),
            (self.batch_size >= 1, f"--batch-size must be at least 1, not {self.batch_size}"),
            (self.img_size is None or 16 <= self.img_size <= 2048,
             f"--img-size must be between 16 and 2048, not {self.img_size}"),
            (self.aug in AUGMENTATIONS,
             f"--aug must be one of {', '.join(AUGMENTATIONS)}, not {self.aug!r}"),
            (0 <= self.val_split < 1, f"--val-split must be in [0, 1), not {self.val_split}"),
            (0 <= self.label_smoothing < 1,
             f"--label-smoothing must be in [0, 1), not {self.label_smoothing}"),
            (self.warmup_epochs >= 0, "--warmup-epochs must not be negative"),
            (self.feature_views >= 0, "--feature-views must not be negative"),
        ]
        for ok, message in checks:
            if not ok:
                raise FtguiError(message)
        self.bias_value()

    def bias_value(self) -> float:
        """The bias policy as a number: ``zero`` is 0.0."""
        if str(self.bias_init).strip().lower() in ("zero", "0", "zeros"):
            return 0.0
        try:
            return float(self.bias_init)
        except ValueError:
            raise FtguiError(
                f"--bias-init takes 'zero' or a number such as 0.01, not {self.bias_init!r}"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise FtguiError(f"unknown training setting(s): {', '.join(unknown)}")
        return cls(**values)
