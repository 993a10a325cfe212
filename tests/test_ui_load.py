"""The served app under load, through gradio_client: predictions while a training runs, a
second user's Start, and two users' uploads kept apart."""
from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client, handle_file

from ftgui import engine
from ftgui.runs import RUN_FILE, load_run, read_metrics
from ftgui.ui import predict_tab
from ftgui.ui.jobs import JobManager

from conftest import COLOURS, PRETRAIN, THREE, draw_shape, make_dataset, zip_folder
from test_ui_e2e import running_app, runs_with_base, start, wait_for_job
from test_ui_handlers import held_before_the_last_epoch

pytestmark = pytest.mark.slow  # a served app, 20 clients and a 30-epoch training: about 10 s

USERS = 20
EPOCHS = 30
TINY = dict(model="test_resnet", strategy="scratch", init="kaiming", img_size=32, batch_size=8, aug="none")


@pytest.fixture(scope="module")
def app(tmp_path_factory, pretrained_run):
    with running_app(runs_with_base(tmp_path_factory.mktemp("load"), pretrained_run)) as demo:
        yield demo


def source_of(app, client: Client):
    """The data a client's session has chosen: the Data tab's per-session gr.State."""
    state = next(fn for fn in app.fns.values() if fn.api_name == "use_zip").outputs[0]
    return app.state_holder[client.session_hash][state._id]


def upload(client: Client, folder, name: str) -> tuple[str, set[str]]:
    """Upload ``folder`` zipped as ``name`` through /use_zip: (summary, gallery captions)."""
    summary, _, gallery = client.predict(handle_file(str(zip_folder(folder, folder.parent / name))), 0.2,
                                         api_name="/use_zip")
    return summary, {item["caption"] for item in gallery}


def test_predictions_a_second_start_and_two_users_uploads_while_a_training_runs(app, tmp_path):
    ctx = app.ftgui_context
    fns = {fn.api_name: fn for fn in app.fns.values()}
    assert fns["predict_image"].concurrency_limit == predict_tab.CONCURRENCY  # not one at a time
    assert fns["poll"].concurrency_limit is None
    gate = threading.Event()
    ctx.jobs = JobManager(train_fn=held_before_the_last_epoch(engine.train, gate))
    try:
        alice, bob, carol = (Client(app.local_url, verbose=False) for _ in range(3))
        summary, captions = upload(alice, make_dataset(tmp_path / "alice", THREE, per_class=10), "alice.zip")
        assert "from **alice.zip**" in summary and captions == set(THREE)
        name = start(alice, epochs=EPOCHS, **TINY)
        job = ctx.jobs.current
        run_dir = ctx.runs_root / name
        while not job.status()["metrics"]:  # training for real
            assert job.alive
            time.sleep(0.1)

        # 20 people label an image at once while it trains
        picture = tmp_path / "cross.png"
        draw_shape("cross", COLOURS["yellow"], 32, random.Random(5)).save(picture)

        def predict(_):
            return Client(app.local_url, verbose=False).predict("base", None, handle_file(str(picture)), 4,
                                                                api_name="/predict_image")

        with ThreadPoolExecutor(USERS) as pool:
            answers = list(pool.map(predict, range(USERS)))
        assert len(answers) == USERS
        for label in answers:
            assert label["label"] in PRETRAIN and {c["label"] for c in label["confidences"]} == set(PRETRAIN)
        assert job.alive and ctx.jobs.current is job

        # Bob uploads his own data and presses Start: refused, Alice's run untouched
        summary, captions = upload(bob, make_dataset(tmp_path / "bob", {"cross": ("cross", "red"),
                                                                        "bar": ("bar", "green")}, per_class=6),
                                   "bob.zip")
        assert "from **bob.zip**" in summary and captions == {"cross", "bar"}
        folders = sorted(p.name for p in ctx.runs_root.iterdir())
        record = json.loads((run_dir / RUN_FILE).read_text())
        with pytest.raises(Exception, match=f"busy: {name} is training"):
            start(bob, epochs=1, **TINY)
        assert sorted(p.name for p in ctx.runs_root.iterdir()) == folders
        assert json.loads((run_dir / RUN_FILE).read_text())["config"] == record["config"]
        assert ctx.jobs.current is job and job.alive

        # each session has its own data; Carol, who uploaded nothing, has none
        alice_data, bob_data = source_of(app, alice), source_of(app, bob)
        assert alice_data.endswith("alice.zip") and bob_data.endswith("bob.zip") and source_of(app, carol) is None
        assert job.config.data == alice_data
    finally:
        gate.set()
    assert wait_for_job(alice).startswith(f"✓ Finished **{name}**")
    assert [m["epoch"] for m in read_metrics(run_dir)] == list(range(1, EPOCHS + 1))
    assert load_run(run_dir).status == "completed"
