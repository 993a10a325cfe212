"""How the GUI names training settings in messages: by the control a person sees, never by
the CLI flag (the engine's SettingError names settings by field; see ftgui.errors)."""
from __future__ import annotations

import re

CONTROLS = {
    "data": "your images (Data tab)", "val_data": "validation images (Data tab)",
    "val_split": "Validation share (Data tab)", "model": "Model", "strategy": "What to train",
    "init": "Initialiser", "bias_init": "Bias start value", "weights": "Start from weights",
    "epochs": "Epochs", "lr": "Learning rate", "batch_size": "Batch size", "img_size": "Image size",
    "aug": "Augmentation", "seed": "Seed", "device": "Device", "weight_decay": "Weight decay",
    "warmup_epochs": "Warm-up epochs", "label_smoothing": "Label smoothing",
    "num_workers": "data-loading processes", "feature_views": "augmented feature views",
    "out": "the run folder",
}
"""TrainConfig field -> the control's label in the Train and Data tabs."""


def control_name(field: str) -> str:
    """``weights`` -> ``"Start from weights"``: the control as a message names it."""
    return f'"{CONTROLS[field]}"' if field in CONTROLS else field.replace("_", " ")


def data_name(source: str | None) -> str:
    """A data set as the page names it: ``shapes.zip``, "the sample digits", "the classes you
    built here", a folder's name; never an upload's path under the runs folder or an internal
    id such as ``classes-dbcd9fa84728``."""
    if not source:
        return ""
    if source.startswith("sample:"):
        return f"the sample {source[len('sample:'):]}"
    name = source.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    if re.fullmatch(r"classes-[0-9a-f]{6,}", name):
        return "the classes you built here"
    return name


PLAIN_NAMES = {
    "predict-only": "use the model as it is, no training (state 1)",
    "head-only": "train only the last layer (state 2)",
    "full": "train everything (state 3)",
    "scratch": "start from random weights (from scratch)",
    "zeros": "all zeros (a trap: every unit learns the same thing)",
    "constant": "all the same value (the same trap)",
    "small-random": "small random numbers",
    "lecun": "scaled to the number of inputs (LeCun, 1/sqrt(n))",
    "xavier": "scaled to inputs and outputs (Glorot/Xavier)",
    "kaiming": "scaled for ReLU networks (He/Kaiming)",
    "sparse": "only ~10 connections per unit (sparse)",
    "greedy-layerwise": "pre-train one layer at a time, without labels (greedy layer-wise)",
}
"""Plugin names in beginners' words (see GLOSSARY.md); the name itself follows them."""

TERMS = (
    ("the tutorial", "the text on fine-tuning and weight initialisation that ftgui follows; its terms "
                     "follow the plain words"),
    ("fan-in / fan-out", "the number of inputs / outputs of one unit (the n in 1/sqrt(n))"),
    ("symmetry trap", "units that start equal get equal updates and stay copies of each other"),
    ("head / backbone", "the last layer (the classifier) / the layers before it"),
)
"""Words the plugins' descriptions use, explained once in the Plugins tab."""


def plain_name(name: str) -> str:
    """``head-only`` -> "train only the last layer (state 2)"; a name without plain words as it is."""
    return PLAIN_NAMES.get(name, name)


def unflag(message: str) -> str:
    """An engine message as the GUI shows it: any training flag it still names (``--weights``)
    becomes the control a person sees ("Start from weights"). Messages are best worded at
    their source (SettingError); this catches what is left."""
    from ..config import user_settings

    flags = {setting.metadata["flag"]: setting.name for setting in user_settings()}
    flags.setdefault("--val-split", "val_split")

    def control(match: re.Match) -> str:
        field = flags.get(match.group(0))
        return control_name(field) if field else match.group(0)

    return re.sub(r"--[a-z][a-z0-9-]*", control, message)


MODE_WORDS = {"predict-only": "Use the model as it is, no training (state 1)",
              "head-only": "Train only the last layer (state 2)",
              "full": "Train everything (state 3)",
              "scratch": "Start from random weights (train from scratch)"}
"""Beginners' words first, the seed's terms second; other modes show their name in words."""


PARAM_WORDS = {"lr": "learning-rate", "scale": "factor", "max": "largest", "norm": "norm", "min": "smallest",
               "k": "non-zero weights per unit (k)", "tol": "tolerance", "iters": "rescaling passes",
               "std": "standard deviation"}


PLAIN = ((re.compile(r"\bthe seed's trap\b"), "the symmetry trap"),
         (re.compile(r"\bfan_in\b"), "fan-in (a unit's number of inputs)"),
         (re.compile(r"\bfan_out\b"), "fan-out (a unit's number of outputs)"),
         (re.compile(r"\bthe seed's\b"), "the tutorial's"))
"""Plugin texts in plain words: the tutorial's terms explained where the page shows them."""


def plain_words(text: str) -> str:
    """A plugin's description or help as the page shows it: ``fan_in`` explained (once),
    "the seed's trap" named."""
    for pattern, plain in PLAIN:
        text = pattern.sub(plain, text, count=1) if "fan" in plain else pattern.sub(plain, text)
    return text


def mode_label(name: str) -> str:
    """``head-only`` -> "Train only the last layer (state 2)"; other modes in words."""
    return MODE_WORDS.get(name, name.replace("-", " ").replace("_", " "))


def param_label(param) -> str:
    """A plugin parameter's label in words: its own ``label`` if it has one, else its name
    with the abbreviations spelt out (``backbone_lr_scale`` -> "backbone learning-rate factor")."""
    own = getattr(param, "label", None)
    if own:
        return str(own)
    return " ".join(PARAM_WORDS.get(word, word) for word in param.name.replace("-", "_").split("_") if word)
