"""The GUI's tab handlers called directly, without a browser or a server."""
from __future__ import annotations

import csv
import json
import math
import random
import shutil
import threading
import time
from pathlib import Path

import gradio as gr
import pytest

from ftgui import FtguiError, engine
from ftgui.checkpoint import CHECKPOINT_FILE
from ftgui.config import TrainConfig
from ftgui.record import Epoch, Start, Step
from ftgui.runs import RUN_FILE, atomic_write_json, list_runs, load_run, read_metrics
from ftgui.training import writer
from ftgui.ui import (
    charts,
    data_tab,
    evaluation,
    job_view,
    plugins_tab,
    predict_tab,
    run_files,
    runs_tab,
    train_form,
    train_layout,
    train_tab,
)
from ftgui.ui.command import train_command
from ftgui.ui.context import AppContext, AppOptions, demo_settings
from ftgui.ui.jobs import Busy, JobManager
from ftgui.ui.run_names import display_names
from ftgui.ui.words import control_name

from conftest import COLOURS, THREE, draw_shape, make_dataset, zip_folder
from test_resume import Crash, crash_after_epoch

TINY = {"model": "test_resnet", "strategy": "scratch", "init": "kaiming", "epochs": 1, "img_size": 32,
        "batch_size": 8, "aug": "none"}


@pytest.fixture
def ctx(tmp_path) -> AppContext:
    return AppContext(AppOptions(runs_dir=tmp_path / "runs"))


def form(ctx: AppContext, **changes) -> dict:
    return {**train_form.initial_form(ctx), **TINY, **changes}


def train_now(ctx: AppContext, data: str, **changes) -> Path:
    """Start a training through the handler and wait for it; returns the run folder."""
    train_tab.start_training(ctx, data, 0.25, form(ctx, **changes))
    job = ctx.jobs.current
    assert job.join(300)
    status = job.status()
    assert status["state"] in ("completed", "evaluated"), status["error"]
    return Path(status["run_dir"])


@pytest.fixture
def trained(ctx, three_classes) -> Path:
    return train_now(ctx, str(three_classes), epochs=2)


# -- data -----------------------------------------------------------------------------------
def test_zip_upload_is_kept_under_the_runs_root_and_summarised(ctx, tmp_path):
    folder = make_dataset(tmp_path / "photos", THREE, per_class=4)
    (folder / "circle" / "broken.png").write_bytes(b"not a png")
    upload = zip_folder(folder, tmp_path / "my photos.zip", wrapper="photos")
    source, summary, table, gallery = data_tab.use_zip(ctx, str(upload), 0.5)
    assert Path(source).parent.parent == ctx.uploads and Path(source).name == "my_photos.zip"
    assert data_tab.use_zip(ctx, str(upload), 0.5)[0] == source  # stored once
    assert "**12 images in 3 classes** from **my_photos.zip**" in summary
    assert "6 for training, 6 for validation" in summary
    assert "1 file(s) skipped" in summary and "broken.png" in summary
    assert "only 4 images" in summary  # the few-images warning
    assert table.to_dict("list") == {"class": ["circle", "square", "triangle"], "images": [4, 4, 4],
                                     "training": [2, 2, 2], "validation": [2, 2, 2]}
    assert len(gallery) == 12 and {caption for _, caption in gallery} == {"circle", "square", "triangle"}
    with pytest.raises(FtguiError, match="choose a .zip"):
        data_tab.use_zip(ctx, None, 0.2)


def test_sample_and_nothing_chosen(ctx):
    source, summary, table, gallery = data_tab.use_sample(0.2)
    assert source == "sample:digits" and "400 images in 10 classes" in summary
    assert len(gallery) == 60 and table["validation"].sum() == 80
    summary, table, gallery = data_tab.summarize(None, 0.2)
    assert "No images chosen yet" in summary and gallery == []


def test_folder_on_this_computer(ctx, three_classes):
    source, summary, _, _ = data_tab.use_folder(f"  {three_classes}  ", 0.25)
    assert source == str(three_classes) and "36 images in 3 classes" in summary
    with pytest.raises(FtguiError, match="type the path"):
        data_tab.use_folder(" ", 0.2)
    with pytest.raises(FtguiError, match="does not exist"):
        data_tab.use_folder(str(three_classes / "nope"), 0.2)


def test_classes_built_one_at_a_time_from_files_and_webcam_shots(ctx, tmp_path):
    rng = random.Random(0)
    files = []
    for i in range(3):
        path = tmp_path / f"red{i}.png"
        draw_shape("circle", COLOURS["red"], 32, rng).save(path)
        files.append(str(path))
    workspace, listing = data_tab.add_images(ctx, None, "red things", files, None)
    for _ in range(2):
        shot = draw_shape("square", COLOURS["blue"], 32, rng)
        workspace, listing = data_tab.add_images(ctx, workspace, "blue", None, shot)
    assert listing == "**blue**: 2 image(s) · **red things**: 3 image(s)"
    assert Path(workspace).parent == ctx.uploads
    source, summary, _, _ = data_tab.use_classes(workspace, 0.2)
    assert source == workspace and "5 images in 2 classes" in summary
    for bad in ("", "../x", ".hidden", "a/b"):
        with pytest.raises(FtguiError, match="give the class a name"):
            data_tab.add_images(ctx, workspace, bad, files, None)
    with pytest.raises(FtguiError, match="drop some images"):
        data_tab.add_images(ctx, workspace, "blue", None, None)
    assert data_tab.clear_classes(ctx, workspace) == (None, "No classes yet.")
    assert not Path(workspace).exists()


# -- train ----------------------------------------------------------------------------------
def test_form_becomes_a_config_and_a_command(ctx, three_classes, pretrained_run):
    config = train_form.config_from_form(ctx, str(three_classes), 0.3, form(ctx, lr=None, init_kaiming_mode="fan_out"))
    assert (config.model, config.strategy, config.weights, config.lr) == ("test_resnet", "scratch", None, None)
    assert config.init_params == {"mode": "fan_out"} and config.val_split == 0.3
    command = train_command(config)
    assert command.startswith(f"ftgui train --data {three_classes} --model test_resnet --strategy scratch")
    assert "--init kaiming" in command and "--init-arg mode=fan_out" in command and "--lr" not in command
    shutil.copytree(pretrained_run, ctx.runs_root / "base")
    labels = {value: label for label, value in train_form.weights_choices(ctx)}
    assert labels["run:base"].startswith("run test_resnet · scratch · ")  # a name people tell apart (issue 10)
    config = train_form.config_from_form(ctx, "sample:digits", 0.2,
                                        form(ctx, strategy="head-only", weights="run:base", lr=0.05))
    assert config.weights == str(ctx.runs_root / "base") and config.lr == 0.05
    assert train_form.weights_architecture(ctx, "run:base") == "test_resnet"
    fresh = train_form.initial_form(ctx)
    assert (fresh["strategy"], fresh["init"]) == ("head-only", "zeros")  # the form shows the mode's own
    config = train_form.config_from_form(ctx, "sample:digits", 0.2, form(ctx, strategy="full", init="zeros"))
    assert config.init is None and "--init" not in train_command(config)  # the mode's own: left to the engine
    assert train_form.form_from_config(ctx, config)["init"] == "zeros"
    config = train_form.config_from_form(ctx, "sample:digits", 0.2, form(ctx, strategy="full", init="lecun"))
    assert config.init == "lecun" and "--init lecun" in train_command(config)
    for changes, message in [({"weights": "run:../etc"}, "no run named"),
                             ({"epochs": -1}, '"Epochs" must be auto or between 0 and'),
                             ({"model": " "}, "choose a backbone"),
                             ({"lr": float("inf")}, '"Learning rate" must be a number above 0')]:
        with pytest.raises(FtguiError) as info:
            train_form.config_from_form(ctx, "sample:digits", 0.2, form(ctx, strategy="full", **changes))
        shown = info.value.worded(control_name)  # what the GUI shows: its controls, never CLI flags
        assert message in shown and "--" not in shown
    with pytest.raises(FtguiError, match="choose your images in the Data tab"):
        train_form.config_from_form(ctx, None, 0.2, form(ctx))
    assert train_tab.preview_command(ctx, None, 0.2, form(ctx)).startswith("# choose your images")


def test_form_round_trip_and_a_reloaded_page_shows_the_running_settings(ctx, three_classes, pretrained_run):
    shutil.copytree(pretrained_run, ctx.runs_root / "base")
    values = form(ctx, strategy="full", weights="run:base", strategy_full_backbone_lr_scale=0.1, lr=0.02,
                  init="sparse", init_sparse_k=3, bias_init="0.01")
    config = train_form.config_from_form(ctx, str(three_classes), 0.2, values)
    again = train_form.form_from_config(ctx, config)
    assert train_form.config_from_form(ctx, str(three_classes), 0.2, again) == config
    names = ["strategy", "epochs", "init_sparse_k"]
    assert train_tab.reattach(ctx, names) == [gr.skip()] * 4  # the form's values, then the data
    train_tab.start_training(ctx, str(three_classes), 0.2, {**values, "epochs": 100})
    try:
        assert train_tab.reattach(ctx, names) == ["full", 100, 3, str(three_classes)]
    finally:
        ctx.jobs.shutdown()


def test_shared_app_refuses_server_paths(tmp_path):
    shared = AppContext(AppOptions(runs_dir=tmp_path / "runs", share=True))
    assert not shared.options.local_only
    assert "path" not in [value for _, value in train_form.weights_choices(shared)]
    with pytest.raises(FtguiError, match="unknown weights source"):
        train_form.config_from_form(shared, "sample:digits", 0.2,
                                   form(shared, strategy="full", weights="path", weights_path="/etc"))
    with pytest.raises(FtguiError, match="only available when the app is not shared"):
        train_form.config_from_form(shared, "sample:digits", 0.2, form(shared, model="local-dir:/etc"))
    assert not AppOptions(host="0.0.0.0").local_only and AppOptions().local_only


def test_start_busy_stop_and_the_job_display(ctx, three_classes):
    notice, command = train_tab.start_training(ctx, str(three_classes), 0.25, form(ctx, epochs=200))
    job = ctx.jobs.current
    assert job.name in notice and f"--out {job.run_dir}" in command
    assert job.run_dir.parent == ctx.runs_root
    with pytest.raises(Busy, match=f"busy: {job.name} is training"):
        train_tab.start_training(ctx, str(three_classes), 0.25, form(ctx))
    deadline = time.time() + 120
    while not job.status()["metrics"] and time.time() < deadline:
        time.sleep(0.2)
    shown = job_view.poll(ctx, None)
    assert "Training" in shown[0] and "epoch" in shown[1]
    loss = shown[2]["value"]
    assert set(loss["curve"]) == {"training", "validation", charts.CHANCE}  # loss curves, and guessing's
    guessing = loss[loss["curve"] == charts.CHANCE]  # the loss of guessing 3 classes spans the run
    assert list(guessing["epoch"]) == [0, 200] and list(guessing["value"]) == pytest.approx([math.log(3)] * 2)
    assert "x_lim" not in shown[2] and "y_title" not in shown[2]  # see charts.epoch_plot
    assert shown[5]["interactive"] is False and shown[6]["interactive"] is True  # start off, stop on
    assert "Stopping" in train_tab.stop_training(ctx)
    assert job.join(120)
    status = job.status()
    assert status["state"] == "stopped"
    assert "Stopped" in job_view.describe_job(status)
    final = job_view.poll(ctx, shown[7])
    assert final[5]["interactive"] is True and final[6]["interactive"] is False
    quiet = job_view.poll(ctx, final[7])  # nothing new: curves and log are not sent again
    assert quiet[2] == quiet[3] == quiet[4] == gr.skip()
    assert load_run(job.run_dir).status == "stopped"
    assert train_tab.stop_training(ctx) == "Nothing is training."


def test_fine_tuning_modes_from_a_run(ctx, three_classes, pretrained_run):
    shutil.copytree(pretrained_run, ctx.runs_root / "base")
    for strategy in ("head-only", "full"):
        run = train_now(ctx, str(three_classes), strategy=strategy, weights="run:base", init="zeros")
        record = load_run(run).record
        assert record["strategy"]["name"] == strategy and record["weights_source"].endswith("base")
    run = train_now(ctx, str(three_classes), strategy="predict-only", weights="run:base")
    assert load_run(run).status == "evaluated"


def test_strategy_choice_shows_what_matters(ctx):
    assert train_layout.strategy_order(ctx)[:4] == ["predict-only", "head-only", "full", "scratch"]
    mode, weights, init, settings, init_label, lr = train_tab.on_strategy(ctx, "scratch")
    assert "initialiser" in mode["info"] and "suits this mode" in lr["info"]
    assert train_tab.mode_defaults(ctx, "head-only") == (1e-2, "zeros")  # a new last layer starts at zeros
    assert train_tab.mode_defaults(ctx, "full") == (1e-3, "zeros")
    assert train_tab.mode_defaults(ctx, "scratch") == (1e-3, "lecun")  # zeros would trap every hidden layer
    assert weights["visible"] is False and init["visible"] is True
    assert init_label["label"] == "Initialiser of every layer"
    _, weights, init, settings, _, _ = train_tab.on_strategy(ctx, "predict-only")
    assert weights["visible"] is True and init["visible"] is False and settings["visible"] is False


# -- predict --------------------------------------------------------------------------------
def test_predict_one_image_and_a_batch_with_the_model_kept_loaded(ctx, trained, tmp_path):
    name = trained.name
    assert predict_tab.source_choices(ctx)[0][1] == name
    image = draw_shape("circle", COLOURS["red"], 32, random.Random(3))
    scores = predict_tab.predict_image(ctx, name, None, image, 2)
    assert len(scores) == 2 and set(scores) <= {"circle", "square", "triangle"}
    every = predict_tab.predict_image(ctx, name, None, image, 3)  # top-k = all the classes
    assert set(every) == {"circle", "square", "triangle"}
    assert sum(every.values()) == pytest.approx(1, abs=1e-5)  # probabilities, not logits
    assert list(every.values()) == sorted(every.values(), reverse=True)  # best first
    assert all(0 <= p <= 1 for p in every.values())
    assert scores == pytest.approx(dict(list(every.items())[:2]), abs=1e-6)  # top-2 is the head of top-3
    first = ctx.predictors.for_run(trained)
    assert ctx.predictors.for_run(trained) is first  # reused, not reloaded

    batch = make_dataset(tmp_path / "batch", {"circle": ("circle", "red")}, per_class=3)
    zipped = zip_folder(batch, tmp_path / "more.zip")
    (tmp_path / "junk.png").write_bytes(b"junk")
    single = tmp_path / "one.png"
    image.save(single)
    given = [str(single), str(zipped), str(tmp_path / "junk.png")]
    table, csv_path = predict_tab.predict_batch(ctx, name, None, given, 3)
    assert list(table["file"]) == ["one.png", "more.zip/circle/000.png", "more.zip/circle/001.png",
                                   "more.zip/circle/002.png", "junk.png"]
    assert table["label"].iloc[0] in {"circle", "square", "triangle"} and table["error"].iloc[-1]
    with open(csv_path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == predict_tab.BATCH_COLUMNS and len(rows) == 6
    with pytest.raises(FtguiError, match="drop an image"):
        predict_tab.predict_image(ctx, name, None, None, 3)
    with pytest.raises(FtguiError, match="choose a pretrained model"):
        predict_tab.predict_image(ctx, predict_tab.PRETRAINED, "", image, 3)
    with pytest.raises(FtguiError, match="no run named"):
        predict_tab.predict_image(ctx, "../../etc", None, image, 3)


# -- runs -----------------------------------------------------------------------------------
def test_runs_table_comparison_details_files_and_delete(ctx, trained, three_classes):
    other = train_now(ctx, str(three_classes), init="xavier")
    table = runs_tab.runs_table(ctx)
    assert set(table["run"]) == {trained.name, other.name}
    assert list(table.columns) == runs_tab.TABLE_COLUMNS
    curves = runs_tab.compare(ctx, [trained.name, other.name], "val_acc")["value"]
    labels = display_names(list_runs(ctx.runs_root))  # what people tell runs apart by (issue 10, item 10)
    assert set(curves["run"]) == {labels[trained.name], labels[other.name]} and len(curves) == 3
    assert list(curves["epoch"]) == [1, 2, 1]
    summary, confusion, per_class, pairs, mistakes = runs_tab.run_details(ctx, trained.name)
    assert trained.name in summary and "kaiming" in summary
    assert "<table>" in confusion and "circle" in confusion
    assert set(per_class["class"]) == {"circle", "square", "triangle"} and per_class["images"].sum() == 9
    assert pairs["images"].sum() == 9 - per_class["correct"].sum()
    assert len(mistakes["value"]) == pairs["images"].sum()
    files = run_files.model_files(ctx, trained.name)
    assert [Path(f).name for f in files] == ["config.json", "model.safetensors"]
    assert "Deleted" in runs_tab.delete_run(ctx, other.name)
    assert not other.exists()
    with pytest.raises(FtguiError, match="no run named"):
        runs_tab.delete_run(ctx, "uploads")
    refreshed = runs_tab.refresh(ctx, [other.name, trained.name], other.name)
    assert refreshed[1]["value"] == [trained.name] and refreshed[2]["value"] == trained.name
    assert runs_tab.refresh(ctx, [], None)[1]["value"] == [trained.name]  # nothing chosen: the newest


def stopping_after_epoch(n: int):
    """engine.train whose job's Stop is pressed as soon as epoch ``n`` ends."""
    def train(config, listener, stop):
        def watch(event):
            listener(event)
            if isinstance(event, Epoch) and event.row["epoch"] == n:
                stop.set()
        return engine.train(config, listener=watch, stop=stop)
    return train


def held_before_the_last_epoch(fn, gate: threading.Event):
    """``fn`` (engine.train or engine.resume) that trains for real but waits for ``gate``
    before its last epoch: it is still running whatever the test does meanwhile, and then
    ends normally."""
    def run(target, listener, stop):
        last = {}

        def watch(event):
            if isinstance(event, Start):
                last["epoch"] = event.epochs
            if isinstance(event, Step) and event.epoch == last["epoch"]:
                gate.wait(120)
            listener(event)
        return fn(target, listener=watch, stop=stop)
    return run


def resume_in_the_app(ctx: AppContext, name: str, gate: threading.Event) -> dict:
    """Resume ``name`` through the Runs tab's handler (its job held by ``gate`` until checked),
    wait for it; the job's final status."""
    assert runs_tab.resume_offer(ctx, name)["visible"] is True
    gate.clear()
    notice, button = runs_tab.resume_run(ctx, name)
    assert f"Resumed **{name}**" in notice and button["visible"] is False
    job = ctx.jobs.current
    assert job.name == name and runs_tab.resume_offer(ctx, name)["visible"] is False  # training it now
    with pytest.raises(Busy, match=f"busy: {name} is training"):
        runs_tab.resume_run(ctx, name)
    gate.set()
    assert job.join(300)
    return job.status()


def test_a_stopped_or_killed_run_is_resumed_from_the_runs_tab(ctx, three_classes, monkeypatch):
    monkeypatch.setattr(writer, "SAVE_INTERVAL_S", 0.0)  # a checkpoint after every epoch
    gate = threading.Event()
    ctx.jobs = JobManager(train_fn=stopping_after_epoch(1), resume_fn=held_before_the_last_epoch(engine.resume, gate))
    train_tab.start_training(ctx, str(three_classes), 0.25, form(ctx, epochs=3))
    assert ctx.jobs.current.join(300)
    stopped = ctx.jobs.current.name
    assert load_run(ctx.runs_root / stopped).status == "stopped"
    status = resume_in_the_app(ctx, stopped, gate)
    assert status["state"] == "completed", status["error"]
    assert [m["epoch"] for m in status["metrics"]] == [1, 2, 3]  # the curves start at epoch 1 again
    assert "Finished" in job_view.poll(ctx, None)[0]
    assert [m["epoch"] for m in read_metrics(ctx.runs_root / stopped)] == [1, 2, 3]
    assert load_run(ctx.runs_root / stopped).status == "completed"
    assert runs_tab.resume_offer(ctx, stopped)["visible"] is False
    with pytest.raises(FtguiError, match="cannot be resumed: it is completed"):
        runs_tab.resume_run(ctx, stopped)

    # killed mid-run (SIGKILL leaves status 'running'); one copy has no checkpoint yet
    killed = ctx.runs_root / "killed"
    with pytest.raises(Crash):
        engine.train(TrainConfig(data=str(three_classes), out=str(killed), model="test_resnet", strategy="scratch",
                                 epochs=3, img_size=32, batch_size=8, aug="none", val_split=0.25),
                     crash_after_epoch(2))
    record = load_run(killed).record
    assert record["status"] == "failed" and runs_tab.resume_offer(ctx, "killed")["visible"] is True
    atomic_write_json(killed / RUN_FILE, {**record, "status": "running"})
    shutil.copytree(killed, ctx.runs_root / "early")
    (ctx.runs_root / "early" / CHECKPOINT_FILE).unlink()
    table = runs_tab.runs_table(ctx).set_index("run")["status"]
    assert table["killed"] == table["early"] == "interrupted"
    assert runs_tab.resume_offer(ctx, "early")["visible"] is False
    with pytest.raises(FtguiError, match="has no checkpoint"):
        runs_tab.resume_run(ctx, "early")
    status = resume_in_the_app(ctx, "killed", gate)
    assert status["state"] == "completed", status["error"]
    assert [m["epoch"] for m in status["metrics"]] == [1, 2, 3]
    assert [m["epoch"] for m in read_metrics(killed)] == [1, 2, 3] and load_run(killed).status == "completed"


def test_evaluation_of_predictions():
    rows = [{"path": "a", "true": "cat", "pred": "cat", "score": 0.9},
            {"path": "b", "true": "cat", "pred": "dog", "score": 0.8},
            {"path": "c", "true": "dog", "pred": "dog", "score": 0.7},
            {"path": "d", "true": "dog", "pred": "cat", "score": 0.95}]
    assert evaluation.confusion(rows, ["cat", "dog", "bird"]) == (["cat", "dog"], [[1, 1], [1, 1]])
    assert evaluation.per_class(rows, ["cat", "dog"])[0] == {"class": "cat", "images": 2, "correct": 1, "accuracy": 0.5}
    assert [r["path"] for r in evaluation.mistakes(rows)] == ["d", "b"]
    assert evaluation.confused_pairs(rows)[0]["images"] == 1
    assert "--share:0.500" in charts.confusion_html(["cat", "dog"], [[1, 1], [1, 1]])


# -- plugins --------------------------------------------------------------------------------
def test_plugins_listing_shows_broken_plugins(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken_one.py").write_text("raise ImportError('needs a missing package')\n")
    (plugins / "halving.py").write_text(
        "import ftgui\nfrom ftgui import Initializer, Param\n\n"
        "class Halving(Initializer):\n    name = 'halving'\n    description = 'half of lecun'\n"
        "    params = (Param('factor', 0.5, 'scale'),)\n"
        "    def init_weight(self, weight, factor=0.5):\n        weight.mul_(factor)\n\n"
        "@ftgui.hookimpl\ndef ftgui_register_initializers(register):\n    register(Halving())\n")
    ctx = AppContext(AppOptions(runs_dir=tmp_path / "runs", plugins_dirs=[str(plugins)]))
    text = plugins_tab.plugins_markdown(ctx.registry.describe())
    assert "**halving**" in text and "`factor` = `0.5`" in text and str(plugins / "halving.py") in text
    assert "Plugins that failed to load" in text and "broken_one" in text and "needs a missing package" in text
    assert "**train only the last layer (state 2)**<br>`head-only`" in text and "`lecun`" in text
    assert "init_halving_factor" in train_form.initial_form(ctx)


def test_demo_settings():
    assert demo_settings(False, None)["strategy"] == "scratch"
    assert demo_settings(True, None)["weights"] == "hub"
    from ftgui.ui.context import demo_backbone

    backbone = demo_backbone()
    if backbone is not None:
        settings = demo_settings(False, backbone)
        assert settings["weights"] == str(backbone) and settings["model"] == "test_resnet"


def test_the_runs_tab_exports_a_run_as_onnx_with_its_labels_and_preprocessing(ctx, trained):
    files = run_files.export_files(ctx, trained.name)
    onnx_file, sidecar = (Path(f) for f in files)
    assert onnx_file.suffix == ".onnx" and onnx_file.stat().st_size > 0
    described = json.loads(sidecar.read_text())
    assert described["label_names"] == load_run(trained).label_names
