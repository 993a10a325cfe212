"""What the Data, Predict and Plugins tabs say, without a browser (issue 10): the model line
matches what training will do, tiny validation sets are warned about, plain words, no raw
identifiers or upload paths, GUI errors name controls."""
from __future__ import annotations

import shutil
from types import SimpleNamespace

import gradio
import pytest

from ftgui import models
from ftgui.errors import FtguiError
from ftgui.record import PluginUse, RunRecord
from ftgui.ui import catalog, data_tab, predict_tab, words

from conftest import THREE, make_dataset


def test_the_model_line_says_what_will_happen():
    # the offline demo: the bundled backbone at 32 px; not timm's 160 px default, not the hub
    line = catalog.model_summary("test_resnet", "demo", 32, "full")
    assert "32×32" in line and "demo backbone" in line
    assert "160" not in line and "hub" not in line
    scratch = catalog.model_summary("test_resnet", "hub", 0, "scratch")
    assert "random weights" in scratch and "hub" not in scratch and "160×160" in scratch
    assert "no pretrained weights" in catalog.model_summary("legacy_seresnet18", "hub", 0, "full")
    assert "your weights file" in catalog.model_summary("test_resnet", "upload", 48, "head-only")


def test_gui_messages_about_hub_weights_name_controls_not_flags():
    from ftgui.models import check_hub_weights
    from ftgui.ui.words import control_name

    with pytest.raises(FtguiError) as caught:
        check_hub_weights("legacy_seresnet18")
    gui = caught.value.worded(control_name)
    assert "--" not in gui and '"Start from weights"' in gui and '"What to train"' in gui
    assert "--weights PATH" in str(caught.value)  # the CLI's message is unchanged
    offline = models._offline_error("resnet18")
    assert "HF_HOME" in str(offline) and "--strategy scratch" in str(offline)
    gui = offline.worded(control_name)
    assert "HF_HOME" not in gui and "--" not in gui and '"Start from weights"' in gui


def test_data_sets_are_shown_by_a_friendly_name(tmp_path):
    assert words.data_name("sample:digits") == "the sample digits"
    assert words.data_name("/x/runs/uploads/57d7a1b2c3d4e5f6/shapes.zip") == "shapes.zip"
    assert words.data_name("/x/runs/uploads/classes-dbcd9fa84728") == "the classes you built here"
    shapes = make_dataset(tmp_path / "shapes", THREE, per_class=12)
    workspace = tmp_path / "runs" / "uploads" / "classes-dbcd9fa84728"
    shutil.copytree(shapes, workspace)
    summary, _, _ = data_tab.summarize(str(workspace), 0.2)
    assert "classes-" not in summary and "uploads" not in summary and "the classes you built here" in summary


def test_tiny_validation_sets_are_warned_about_in_the_data_tab(tmp_path):
    tiny = make_dataset(tmp_path / "tiny", THREE, per_class=5)
    summary, table, _ = data_tab.summarize(str(tiny), 0.2)
    assert list(table["validation"]) == [1, 1, 1]
    assert "no problems found" not in summary
    assert "few validation images" in summary and "3 image(s)" in summary and "±50%" in summary
    enough = make_dataset(tmp_path / "enough", THREE, per_class=50)
    summary, _, _ = data_tab.summarize(str(enough), 0.2)
    assert "few validation images" not in summary and "no problems found" in summary


def test_hidden_files_that_were_ignored_are_listed_on_the_page(tmp_path):
    shapes = make_dataset(tmp_path / "shapes", THREE, per_class=12)
    (shapes / ".DS_Store").write_bytes(b"junk")
    (shapes / "circle" / "._0.png").write_bytes(b"junk")
    summary, _, _ = data_tab.summarize(str(shapes), 0.2)
    assert "hidden or system file(s) ignored" in summary and ".DS_Store" in summary


class _Run(SimpleNamespace):
    pass


def test_predict_defaults_to_the_best_run_and_formats_scores_one_way(tmp_path, monkeypatch):
    ctx = SimpleNamespace(runs_root=tmp_path, visitor=lambda request: None)
    made = []
    for name, acc in (("newest", 0.41), ("best", 0.517942), ("old", 0.2)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(b"")
        info = RunRecord(status="completed", config={}, architecture="test_resnet", created="2026-11-29T13:24:00",
                         strategy=PluginUse(name), best={"val_acc": acc})
        made.append(_Run(path=tmp_path / name, best={"val_acc": acc}, info=info))
    monkeypatch.setattr(predict_tab.runs, "list_runs", lambda root: made)
    monkeypatch.setattr(predict_tab.owners, "may_see_all", lambda ctx, visitor, path: True)
    assert predict_tab.best_source(ctx) == "best"
    labels = [label for label, _ in predict_tab.source_choices(ctx)]
    assert "test_resnet · best · 13:24 · validation accuracy 51.8%" in labels
    assert predict_tab.score(0.517942) == "51.8%"


def test_predict_offers_only_pretrained_models_that_can_work(monkeypatch):
    names = [name for _, name in catalog.predict_model_choices(True)]
    assert "legacy_seresnet18.in1k" not in names and names[0] == catalog.DEFAULT_PRETRAINED
    monkeypatch.setattr(catalog, "cached_models", lambda: ["resnet18.a1_in1k"])
    offline = predict_tab.pretrained_picker(None, online=False)
    assert offline["choices"] == [("resnet18.a1_in1k (on this computer)", "resnet18.a1_in1k")]
    assert offline["value"] == "resnet18.a1_in1k" and "on this computer" in offline["info"]
    monkeypatch.setattr(catalog, "cached_models", lambda: [])
    nothing = predict_tab.pretrained_picker(None, online=False)
    assert nothing["choices"] == [] and "one of your runs" in nothing["info"]


def test_offline_predict_lists_the_models_in_the_local_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    snapshot = tmp_path / "models--timm--resnet18.a1_in1k" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").write_bytes(b"")
    (tmp_path / "models--timm--resnet34.a1_in1k" / "snapshots").mkdir(parents=True)  # a download that never finished
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    assert catalog.cached_models() == ["resnet18.a1_in1k"]
    assert catalog.predict_model_choices(False) == [("resnet18.a1_in1k (on this computer)", "resnet18.a1_in1k")]


def test_gui_errors_never_name_training_flags():
    from ftgui.ui.handlers import bind

    def fails():
        raise FtguiError("weights 'x.pth' not found: give --weights hub, none, or a file; or --strategy scratch")

    with pytest.raises(gradio.Error) as caught:
        bind(fails)()
    assert "--" not in caught.value.message and '"Start from weights"' in caught.value.message
    assert '"What to train"' in caught.value.message
    assert caught.value.duration is not None and caught.value.duration > 0  # the notice closes by itself
    assert words.unflag("see --plugins-dir DIR") == "see --plugins-dir DIR"  # not a control: left as it is


def test_the_plugins_tab_speaks_plain_words(tmp_path):
    from ftgui.ui import plugins_tab
    from ftgui.ui.context import AppContext, AppOptions

    text = plugins_tab.plugins_markdown(AppContext(AppOptions(runs_dir=tmp_path / "runs")).registry.describe())
    assert "the seed" not in text and "fan-in (a unit's number of inputs)" in text
    assert "**train only the last layer (state 2)**<br>`head-only`" in text
    assert "**Words used here:**" in text
