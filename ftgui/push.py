"""Publishing a run on the Hugging Face hub through timm's ``push_to_hf_hub``, with a model
card written from the run (its data, strategy, initialiser, seed and metrics).

:func:`prepare_upload` builds the folder that :func:`push_run` uploads (timm's ``save_for_hf``
layout plus README.md), so what would be published can be looked at - and loaded with
``timm.create_model("local-dir:FOLDER", pretrained=True)`` - without a network.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import FtguiError
from .runs import REPORT_FILE, load_run


def model_card(run_dir: str | os.PathLike, repo_id: str | None = None) -> dict[str, Any]:
    """The model card of a run, as the dict timm's ``generate_readme`` turns into README.md."""
    run = load_run(run_dir)
    info, record = run.info, run.record
    config = record.get("config") or {}
    report = _data_report(Path(run_dir))
    counts = report.get("images_per_class") or {}
    labels = info.label_names or list(counts)
    best = run.best or {}
    strategy = record.get("strategy") or {}
    initializer = record.get("initializer") or {}
    name = repo_id or f"your-name/{Path(run_dir).resolve().name}"
    details: dict[str, Any] = {
        "Model type": "Image classification (fine-tuned with ftgui)",
        "Architecture": f"{info.architecture} (timm)",
        "Started from": record.get("weights_source") or "-",
        "Classes": f"{len(labels)}: {', '.join(labels)}",
        "Images per class": {label: counts.get(label, "-") for label in labels} if counts else "-",
        "Training / validation images": _split(report),
        "Strategy": _with_params(strategy),
        "Initialiser": _with_params(initializer) + (f", bias {initializer['bias']}" if "bias" in initializer else ""),
        "Seed": config.get("seed", "-"),
        "Epochs": f"{record.get('epochs_done', len(run.metrics))} of {config.get('epochs', '-')}",
        "Input size": str(config.get("img_size") or "the architecture's own"),
        "Learning rate": config.get("lr", "-"),
        "Augmentation": config.get("aug", "-"),
    }
    if record.get("callbacks"):
        details["Callbacks"] = [_with_params(callback) for callback in record["callbacks"]
                                if isinstance(callback, dict)]
    refit = record.get("refit") or {}
    if refit.get("status") == "completed":
        details["Trained again on all images"] = (
            f"yes: once the validation chose epoch {refit.get('epoch')}, the model trained again from the same start "
            f"on all {refit.get('images')} images (the validation ones too) to that epoch; the best epoch's "
            "metrics below were measured before, on validation images it had not learned from")
    metrics = {key: _number(best.get(key)) for key in ("epoch", "val_acc", "val_loss", "train_acc", "train_loss")
               if best.get(key) is not None}
    details["Best epoch's metrics"] = metrics or "no validation"
    usage = (
        "```python\n"
        "import timm, torch\n"
        "from PIL import Image\n\n"
        f'model = timm.create_model("hf-hub:{name}", pretrained=True).eval()\n'
        "config = timm.data.resolve_model_data_config(model)\n"
        "transform = timm.data.create_transform(**config, is_training=False)\n"
        'image = Image.open("picture.jpg").convert("RGB")\n'
        "with torch.inference_mode():\n"
        "    probabilities = model(transform(image).unsqueeze(0)).softmax(dim=1)[0]\n"
        "labels = model.pretrained_cfg.get(\"label_names\")\n"
        "print(labels[int(probabilities.argmax())], float(probabilities.max()))\n"
        "```\n"
    )
    return {
        "description": (f"A {info.architecture} image classifier for {len(labels)} classes, fine-tuned with "
                        f"ftgui {record.get('ftgui_version', '')} and published with "
                        "`ftgui push`. The label names are in config.json (`label_names`)."),
        "details": details,
        "usage": usage,
        "tags": ["image-classification", "timm", "ftgui"],
        "license": "apache-2.0",
    }


def _data_report(run_dir: Path) -> dict:
    try:
        report = json.loads((run_dir / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}


def _split(report: dict) -> str:
    split = report.get("split") or {}
    if isinstance(split, dict) and "train" in split:
        return f"{split.get('train')} / {split.get('val', 0)}"
    return "-"


def _with_params(entry: dict) -> str:
    params = entry.get("params") or {}
    text = ", ".join(f"{key}={value}" for key, value in params.items()) if isinstance(params, dict) else ""
    return f"{entry.get('name', '-')}" + (f" ({text})" if text else "")


def _number(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def _model_and_configs(run_dir: str | os.PathLike):
    """The run's model (CPU) and what timm's save_for_hf needs beside it."""
    from .predict import Predictor

    predictor = Predictor.from_run(run_dir, "cpu")
    return predictor.model, {"label_names": list(predictor.label_names)}, dict(predictor.data_config)


def prepare_upload(run_dir: str | os.PathLike, folder: str | os.PathLike, repo_id: str | None = None) -> Path:
    """Write into ``folder`` what ``ftgui push`` uploads: config.json and model.safetensors
    (timm's ``save_for_hf``) and README.md (the model card); return the folder."""
    from timm.models._hub import generate_readme, save_for_hf

    model, model_config, data_config = _model_and_configs(run_dir)
    target = Path(folder)
    save_for_hf(model, str(target), model_config=model_config, data_config=data_config, safe_serialization=True)
    name = (repo_id or Path(run_dir).resolve().name).split("/")[-1]
    readme = generate_readme(model_card(run_dir, repo_id), name, task_name="image-classification")
    (target / "README.md").write_text(readme, encoding="utf-8")
    return target


def check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise FtguiError(f"--repo {repo_id!r} is not a hub repository id such as your-name/my-model "
                         f"({str(exc).splitlines()[0]})") from None


def push_run(run_dir: str | os.PathLike, repo_id: str, private: bool = False, token: str | None = None,
             log: Callable[[str], None] | None = None) -> str:
    """Publish the run's model on the hub as ``repo_id`` (created when missing, ``private``
    if asked) with timm's ``push_to_hf_hub``; return the repository's address. The token is
    ``token``, else the one ``huggingface-cli login`` or ``HF_TOKEN`` gave."""
    from .models import hub_reachable

    check_repo_id(repo_id)
    load_run(run_dir)  # a damaged or foreign folder fails here, in one line
    if not hub_reachable():
        raise FtguiError("cannot push: the Hugging Face hub (huggingface.co) cannot be reached from this computer "
                         "(offline, or HF_HUB_OFFLINE is set); `ftgui export` works offline")
    from huggingface_hub.errors import HfHubHTTPError
    from timm.models import push_to_hf_hub

    model, model_config, data_config = _model_and_configs(run_dir)
    if log:
        log(f"uploading {Path(run_dir).name} to {repo_id}{' (private)' if private else ''}")
    try:
        info = push_to_hf_hub(model, repo_id, commit_message=f"ftgui push of {Path(run_dir).resolve().name}",
                              token=token, private=private, model_config=model_config, data_config=data_config,
                              model_card=model_card(run_dir, repo_id), safe_serialization=True)
    except HfHubHTTPError as exc:
        raise FtguiError(f"the hub refused the upload to {repo_id}: {str(exc).splitlines()[0]} (log in with "
                         "`hf auth login` or set HF_TOKEN to a token that may write)") from None
    except OSError as exc:
        raise FtguiError(f"cannot push to {repo_id}: {type(exc).__name__}: {exc}") from None
    # the repository's address as the hub gives it (an id without an owner gets the user's name)
    url = str(getattr(info, "repo_url", "") or f"https://huggingface.co/{repo_id}")
    if log:
        log(f"published: {url}; load it with timm.create_model(\"hf-hub:{repo_id}\", pretrained=True)")
    return url
