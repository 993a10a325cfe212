"""How the GUI names training settings in messages: by the control a person sees, never by
the CLI flag (the engine's SettingError names settings by field; see ftgui.errors).

The tables' texts are English, marked ``N_``; the functions give them in the reader's language
(:func:`ftgui.i18n.tr`)."""
from __future__ import annotations

import re

from ..errors import FtguiError
from ..i18n import N_, tr

CONTROLS = {
    "data": N_("your images (Data tab)"), "val_data": N_("validation images (Data tab)"),
    "val_split": N_("Validation share (Data tab)"), "model": N_("Model"), "strategy": N_("What to train"),
    "init": N_("Initialiser"), "bias_init": N_("Bias start value"), "weights": N_("Start from weights"),
    "epochs": N_("Epochs"), "lr": N_("Learning rate"), "batch_size": N_("Batch size"), "img_size": N_("Image size"),
    "aug": N_("Augmentation"), "seed": N_("Seed"), "device": N_("Device"), "weight_decay": N_("Weight decay"),
    "warmup_epochs": N_("Warm-up epochs"), "label_smoothing": N_("Label smoothing"),
    "num_workers": N_("data-loading processes"), "feature_views": N_("augmented feature views"),
    "out": N_("the run folder"), "select": N_("How to pick the best epoch"),
    "refit": N_("After picking the best epoch"), "refit_runs": N_("Trainings on all images"),
}
"""TrainConfig field -> the control's label in the Train and Data tabs."""


def control_name(field: str) -> str:
    """``weights`` -> ``"Start from weights"``: the control as a message names it."""
    return tr('"{control}"', control=tr(CONTROLS[field])) if field in CONTROLS else field.replace("_", " ")


def error_text(exc: Exception) -> str:
    """An error as the page shows it, in the reader's language: an FtguiError's message with
    settings named by their controls; anything else as an internal error (a bug)."""
    if isinstance(exc, FtguiError):
        return unflag(exc.worded(control_name))
    return tr("internal error: {kind}: {message}", kind=type(exc).__name__, message=exc)


def data_name(source: str | None) -> str:
    """A data set as the page names it: ``shapes.zip``, "the sample digits", "the classes you
    built here", a folder's name; never an upload's path under the runs folder or an internal
    id such as ``classes-dbcd9fa84728``."""
    if not source:
        return ""
    if source.startswith("sample:"):
        return tr("the sample {name}", name=source[len("sample:"):])
    name = source.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    if re.fullmatch(r"classes-[0-9a-f]{6,}", name):
        return tr("the classes you built here")
    return name


PLAIN_NAMES = {
    "predict-only": N_("use the model as it is, no training (state 1)"),
    "head-only": N_("train only the last layer (state 2)"),
    "full": N_("train everything (state 3)"),
    "scratch": N_("start from random weights (from scratch)"),
    "zeros": N_("all zeros (a trap for hidden layers; a new last layer learns from it)"),
    "constant": N_("all the same value (the same trap)"),
    "small-random": N_("small random numbers"),
    "lecun": N_("scaled to the number of inputs (LeCun, 1/sqrt(n))"),
    "xavier": N_("scaled to inputs and outputs (Glorot/Xavier)"),
    "kaiming": N_("scaled for ReLU networks (He/Kaiming)"),
    "sparse": N_("only ~10 connections per unit (sparse)"),
    "greedy-layerwise": N_("pre-train one layer at a time, without labels (greedy layer-wise)"),
}
"""Plugin names in beginners' words (see GLOSSARY.md); the name itself follows them."""

TERMS = (
    (N_("the tutorial"), N_("the text on fine-tuning and weight initialisation that ftgui follows; its terms "
                            "follow the plain words")),
    (N_("fan-in / fan-out"), N_("the number of inputs / outputs of one unit (the n in 1/sqrt(n))")),
    (N_("symmetry trap"), N_("units that start equal get equal updates and stay copies of each other")),
    (N_("head / backbone"), N_("the last layer (the classifier) / the layers before it")),
)
"""Words the plugins' descriptions use, explained once in the Plugins tab (translated there)."""


def plain_name(name: str) -> str:
    """``head-only`` -> "train only the last layer (state 2)"; a name without plain words as it is."""
    return tr(PLAIN_NAMES[name]) if name in PLAIN_NAMES else name


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


MODE_WORDS = {"predict-only": N_("Use the model as it is, no training (state 1)"),
              "head-only": N_("Train only the last layer (state 2)"),
              "full": N_("Train everything (state 3)"),
              "scratch": N_("Start from random weights (train from scratch)")}
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
    """``head-only`` -> "Train only the last layer (state 2)"; other modes in words (their
    plugin may translate those, see :func:`ftgui.i18n.plugin_text`)."""
    return tr(MODE_WORDS[name]) if name in MODE_WORDS else name.replace("-", " ").replace("_", " ")


def param_label(param) -> str:
    """A plugin parameter's label in words: its own ``label`` if it has one, else its name
    with the abbreviations spelt out (``backbone_lr_scale`` -> "backbone learning-rate factor")."""
    own = getattr(param, "label", None)
    if own:
        return str(own)
    return " ".join(PARAM_WORDS.get(word, word) for word in param.name.replace("-", "_").split("_") if word)
