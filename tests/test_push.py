"""ftgui push, offline up to the upload call: the folder it uploads loads with
timm.create_model("local-dir:...") and predicts as the run does; the hub is mocked."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import timm
import torch
from huggingface_hub import HfApi

from ftgui import FtguiError, models
from ftgui.cli import main
from ftgui.predict import Predictor
from ftgui.push import check_repo_id, model_card, prepare_upload, push_run
from ftgui.runs import load_run


def test_the_upload_folder_loads_with_timm_and_predicts_as_the_run(pretrained_run, tmp_path):
    folder = prepare_upload(pretrained_run, tmp_path / "upload", "someone/shapes")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    model = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    run = Predictor.from_run(pretrained_run, "cpu")
    assert model.pretrained_cfg["label_names"] == run.label_names
    config = timm.data.resolve_model_data_config(model)
    assert config == run.data_config
    batch = torch.randn(4, *config["input_size"], generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        assert torch.equal(model(batch), run.model(batch))


def test_the_model_card_describes_the_run(pretrained_run, tmp_path):
    readme = (prepare_upload(pretrained_run, tmp_path / "up", "someone/shapes") / "README.md").read_text()
    record = load_run(pretrained_run).record
    report = json.loads((pretrained_run / "data_report.json").read_text())
    for label, count in report["images_per_class"].items():
        assert f"  - {label}: {count}\n" in readme
    assert f"- **Strategy:** {record['strategy']['name']}" in readme
    assert f"- **Initialiser:** {record['initializer']['name']}" in readme
    assert f"- **Seed:** {record['config']['seed']}" in readme
    assert f"  - val_acc: {round(record['best']['val_acc'], 4)}" in readme
    assert record["refit"]["status"] == "completed"  # the fixture's few images: trained again on all of them
    assert (f"- **Trained again on all images:** yes: once the validation chose epoch {record['best']['epoch']}, "
            f"the model trained again from the same start on all {record['refit']['images']} images") in readme
    assert 'timm.create_model("hf-hub:someone/shapes", pretrained=True)' in readme
    assert readme.startswith("---\ntags:\n- image-classification\n")
    card = model_card(pretrained_run)
    assert card["details"]["Classes"].startswith(f"{len(report['images_per_class'])}: ")


def test_push_uploads_that_folder_through_timm(pretrained_run, tmp_path, monkeypatch, capsys):
    """timm's push_to_hf_hub runs for real; only HfApi's network calls are replaced."""
    uploaded: dict = {}

    def create_repo(self, repo_id, private=False, exist_ok=False, **kwargs):
        uploaded["private"] = private

        class Url:
            pass

        url = Url()
        url.repo_id = repo_id  # type: ignore[attr-defined]
        return url

    def upload_folder(self, repo_id, folder_path, **kwargs):
        uploaded["repo_id"] = repo_id
        shutil.copytree(folder_path, tmp_path / "sent")
        return f"https://huggingface.co/{repo_id}/commit/0"

    monkeypatch.setattr(models, "hub_reachable", lambda *a, **k: True)
    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "file_exists", lambda self, **kwargs: False)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    assert main(["push", str(pretrained_run), "--repo", "someone/shapes", "--private"]) == 0
    assert json.loads(capsys.readouterr().out) == {"repo": "someone/shapes",
                                                   "url": "https://huggingface.co/someone/shapes"}
    assert uploaded == {"private": True, "repo_id": "someone/shapes"}
    expected = prepare_upload(pretrained_run, tmp_path / "expected", "someone/shapes")
    for name in ("README.md", "config.json", "model.safetensors"):
        assert (tmp_path / "sent" / name).read_bytes() == (expected / name).read_bytes(), name
    assert sorted(p.name for p in (tmp_path / "sent").iterdir()) == ["README.md", "config.json", "model.safetensors"]


def test_push_fails_fast_in_one_line_offline(pretrained_run, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(HfApi, "create_repo", lambda *a, **k: pytest.fail("no network call offline"))
    assert main(["push", str(pretrained_run), "--repo", "someone/shapes"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("ftgui: error: cannot push: the Hugging Face hub")


def test_push_refuses_bad_ids_and_folders(tmp_path, capsys):
    with pytest.raises(FtguiError, match="not a hub repository id"):
        check_repo_id("two words")
    with pytest.raises(FtguiError, match="not an ftgui run folder"):
        push_run(Path(tmp_path), "someone/x")
    with pytest.raises(SystemExit) as exited:  # --repo is required: a usage error
        main(["push", str(tmp_path)])
    assert exited.value.code == 2
    assert "--repo" in capsys.readouterr().err
