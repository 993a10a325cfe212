"""The served app end to end through gradio_client: upload a zip, train, predict."""
from __future__ import annotations

import contextlib
import random
import re
import shutil
import socket
import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from ftgui.runs import list_runs
from ftgui.ui.context import AppOptions
from ftgui.ui.launch import serve
from ftgui.ui.run_names import display_names

from conftest import COLOURS, THREE, draw_shape, make_dataset, zip_folder

pytestmark = pytest.mark.slow  # a served app and a real training: about 10 s on 2 cores


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(runs: Path, **options):
    """The app served on 127.0.0.1 by this process; afterwards its training is stopped and
    the server closed."""
    demo = serve(AppOptions(runs_dir=runs, **options), port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield demo
    finally:
        demo.ftgui_context.jobs.shutdown()
        demo.close()


def runs_with_base(root: Path, pretrained_run: Path) -> Path:
    """A runs folder holding the run 'base': "pretrained" weights the app can offer, and a
    model to predict with (labels: conftest.PRETRAIN)."""
    runs = root / "runs"
    runs.mkdir()
    shutil.copytree(pretrained_run, runs / "base")
    return runs


@pytest.fixture(scope="module")
def app(tmp_path_factory, pretrained_run):
    with running_app(runs_with_base(tmp_path_factory.mktemp("e2e"), pretrained_run)) as demo:
        yield demo


def wait_for_job(client: Client, timeout: float = 300) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = client.predict(api_name="/poll")[0]
        if not status.startswith(("…", "▶", "■ Stopping")):
            return status
        time.sleep(0.5)
    raise AssertionError("training did not finish")


def start(client: Client, **settings) -> str:
    notice, command = client.predict(**settings, api_name="/start_training")
    assert command.startswith("ftgui train --data ")
    return re.search(r"\*\*(.+?)\*\*", notice).group(1)


def test_upload_train_predict(app, tmp_path):
    client = Client(app.local_url, verbose=False)
    data = zip_folder(make_dataset(tmp_path / "shapes", THREE, per_class=10), tmp_path / "shapes.zip")
    summary = client.predict(handle_file(str(data)), 0.2, api_name="/use_zip")[0]
    assert "**30 images in 3 classes** from **shapes.zip**" in summary

    name = start(client, model="test_resnet", strategy="scratch", init="kaiming", epochs=1, img_size=32,
                 batch_size=8, aug="none")
    status = wait_for_job(client)
    assert status.startswith("✓ Finished") and name in status
    run_dir = Path(app.ftgui_context.runs_root) / name
    assert (run_dir / "ftgui.json").is_file() and (run_dir / "model.safetensors").is_file()

    picture = tmp_path / "circle.png"
    draw_shape("circle", COLOURS["red"], 32, random.Random(7)).save(picture)
    label = client.predict(name, None, handle_file(str(picture)), 3, api_name="/predict_image")
    assert {c["label"] for c in label["confidences"]} == {"circle", "square", "triangle"}
    assert label["label"] in {"circle", "square", "triangle"}

    table, csv_file = client.predict(name, None, [handle_file(str(data))], 2, api_name="/predict_batch")
    assert len(table["data"]) == 30 and Path(csv_file).read_text().startswith("file,label,score")

    # fine-tune the 'pretrained' run kept in the runs folder: head-only, then busy while it runs
    name = start(client, model="test_resnet", strategy="head-only", weights="run:base", epochs=30,
                 img_size=32, batch_size=8, aug="none")
    with pytest.raises(Exception, match="busy: .* is training"):
        start(client, model="test_resnet", strategy="scratch", epochs=1, img_size=32)
    client.predict(api_name="/stop_training")
    assert wait_for_job(client).startswith("■ Stopped")
    details = client.predict(name, api_name="/run_details")
    assert name in details[0] and "head-only" in details[0]
    curves = client.predict([name, "base"], "val_loss", api_name="/compare_runs")
    shown = display_names(list_runs(app.ftgui_context.runs_root))  # legends name runs as people tell them apart
    assert {row[2] for row in curves["value"]["data"]} == {shown[name], shown["base"]}
