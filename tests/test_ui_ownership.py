"""Who may see, stop, resume, delete and predict with which run (issue 9, item 7).

Two visitors of one app, driven through the tab handlers with their own requests (as Gradio
passes them), then through the served app's HTTP API with two logged-in clients. On a shared
app a visitor sees everything of the runs the app started for them and only model, mode,
initialiser, epochs and accuracy of any other run (another visitor's, or one from the command
line); on a local app everyone is the trusted person at the computer."""
from __future__ import annotations

import http.client
import random
import re
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import gradio as gr
import pytest
from gradio_client import Client, handle_file

from ftgui import FtguiError, engine
from ftgui.record import Epoch
from ftgui.runs import load_run
from ftgui.training import writer
from ftgui.ui import data_tab, job_view, owners, predict_tab, run_files, runs_tab, train_form, train_tab
from ftgui.ui.context import AppContext, AppOptions
from ftgui.ui.jobs import JobManager
from ftgui.ui.launch import Login, serve

from conftest import COLOURS, PRETRAIN, THREE, draw_shape, make_dataset, zip_folder

TINY = {"model": "test_resnet", "strategy": "scratch", "init": "kaiming", "epochs": 1, "img_size": 32,
        "batch_size": 8, "aug": "none"}
CLASSES = set(THREE)
NOT_YOURS = "was not started by you"


def login(page: str, token: str, user: str = "ftgui") -> gr.Request:
    """A request from a browser logged in with the login cookie ``token``, on page load ``page``
    (what Gradio passes a handler; the two cookies are the ones Gradio sets at login)."""
    return gr.Request(username=user, session_hash=page,
                      cookies={"access-token-app1": token, "access-token-unsecure-app1": token})


ALICE, BOB = login("alice-page-1", "alice-token"), login("bob-page-1", "bob-token")


def form(ctx: AppContext, **changes) -> dict:
    return {**train_form.initial_form(ctx), **TINY, **changes}


@pytest.fixture
def shared(tmp_path) -> AppContext:
    """An app served beyond this computer (its login is checked by Gradio, not here)."""
    ctx = AppContext(AppOptions(runs_dir=tmp_path / "runs", host="0.0.0.0"))
    assert not ctx.options.local_only
    yield ctx
    ctx.jobs.shutdown()


def upload(ctx: AppContext, tmp_path: Path) -> str:
    """A zip of THREE uploaded through the Data tab; the kept upload's path."""
    data = zip_folder(make_dataset(tmp_path / "mine", THREE, per_class=8), tmp_path / "my-shapes.zip")
    return data_tab.use_zip(ctx, str(data), 0.25)[0]


def train(ctx: AppContext, source: str, request, **changes) -> Path:
    train_tab.start_training(ctx, source, 0.25, form(ctx, **changes), request)
    job = ctx.jobs.current
    assert job.join(300) and job.status()["state"] == "completed", job.status()["error"]
    return Path(job.status()["run_dir"])


def shown(details: tuple) -> str:
    """Everything run_details returns, as text."""
    summary, confusion, per_class, pairs, mistakes = details
    return " ".join([summary, confusion, per_class.to_string(), pairs.to_string(), str(mistakes)])


# -- who a visitor is ---------------------------------------------------------------------------
def test_a_visitor_is_a_browsers_login_or_else_a_page():
    assert owners.visitor_id(login("page-1", "t1")) == owners.visitor_id(login("page-2", "t1"))  # a reload
    assert owners.visitor_id(login("page-1", "t1")) != owners.visitor_id(login("page-1", "t2"))  # another login
    assert "t1" not in owners.visitor_id(login("page-1", "t1"))  # the login token is never written anywhere
    assert owners.visitor_id(gr.Request(session_hash="p1")) != owners.visitor_id(gr.Request(session_hash="p2"))
    assert owners.visitor_id(None) is None
    alice = owners.visitor_id(ALICE)
    assert owners.Visitor(alice).owns(alice) and not owners.Visitor(alice).owns(owners.visitor_id(BOB))
    assert not owners.Visitor(alice).owns(None) and not owners.Visitor(None).owns(None)
    assert owners.Visitor(alice, trusted=True).owns(None)  # the person at the computer


# -- two visitors of a shared app ----------------------------------------------------------------
def test_another_visitors_run_shows_no_data_classes_paths_or_images(shared, tmp_path):
    source = upload(shared, tmp_path)
    run = train(shared, source, ALICE, epochs=2)
    assert owners.recorded_owner(run) == owners.visitor_id(ALICE)

    mine = shown(runs_tab.run_details(shared, run.name, ALICE))
    assert CLASSES <= set(re.findall(r"\w+", mine)) and "my-shapes.zip" in mine
    assert len(runs_tab.run_details(shared, run.name, ALICE)[4]["value"]) > 0  # misclassified images

    theirs = runs_tab.run_details(shared, run.name, BOB)
    text = shown(theirs)
    assert run.name in theirs[0] and "test_resnet" in theirs[0] and "scratch" in theirs[0] and "kaiming" in theirs[0]
    assert "2/2 epochs" in theirs[0] and "validation accuracy" in theirs[0]
    for secret in (*CLASSES, "my-shapes", "uploads", str(shared.runs_root), str(tmp_path)):
        assert secret not in text, secret
    assert theirs[4]["value"] == [] and theirs[2].empty and theirs[3].empty and theirs[1] == ""
    assert run.name in set(runs_tab.runs_table(shared)["run"])  # still listed

    with pytest.raises(FtguiError, match=f"{NOT_YOURS}.* may download its model"):
        run_files.model_files(shared, run.name, BOB)
    with pytest.raises(FtguiError, match=f"{NOT_YOURS}.* may delete it"):
        runs_tab.delete_run(shared, run.name, BOB)
    image = draw_shape("circle", COLOURS["red"], 32, random.Random(1))
    with pytest.raises(FtguiError, match=f"{NOT_YOURS}.* may predict with its model"):
        predict_tab.predict_image(shared, run.name, None, image, 3, BOB)
    assert run.name not in [v for _, v in predict_tab.source_choices(shared, BOB)]
    with pytest.raises(FtguiError, match=f"{NOT_YOURS}.* may train from its weights"):
        train_tab.start_training(shared, source, 0.25, form(shared, strategy="head-only", weights=f"run:{run.name}"),
                                 BOB)
    assert shared.jobs.running() is None and run.is_dir()

    # the owner, after reloading the page (a new session, the same login): everything
    again = login("alice-page-2", "alice-token")
    assert set(predict_tab.predict_image(shared, run.name, None, image, 3, again)) == CLASSES
    files = run_files.model_files(shared, run.name, again)
    assert [Path(f).name for f in files] == ["config.json", "model.safetensors"]
    assert Path(files[0]).parent != run  # a copy: a shared app serves nothing of the runs folder
    assert "Deleted" in runs_tab.delete_run(shared, run.name, again) and not run.exists()


def test_only_the_starter_stops_resumes_and_follows_a_training(shared, tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "SAVE_INTERVAL_S", 0.0)  # a checkpoint after every epoch
    source = upload(shared, tmp_path)
    train_tab.start_training(shared, source, 0.25, form(shared, epochs=300), ALICE)
    job = shared.jobs.current
    deadline = time.time() + 120
    while not job.status()["metrics"] and time.time() < deadline:  # a first epoch, so a checkpoint
        time.sleep(0.2)

    with pytest.raises(FtguiError, match="started by another visitor: only they may stop it"):
        train_tab.stop_training(shared, BOB)
    assert job.alive and job.state == "running"
    theirs, mine = job_view.poll(shared, None, BOB), job_view.poll(shared, None, ALICE)
    assert "Training" in theirs[0] and theirs[6]["interactive"] is False and theirs[4] == ""  # no log, no Stop
    assert mine[6]["interactive"] is True and "reading images from" in mine[4]
    names = ["strategy", "epochs"]
    assert train_tab.reattach(shared, names, BOB) == [gr.skip()] * 3  # the form's values and the data
    assert train_tab.reattach(shared, names, ALICE)[:2] == ["scratch", 300]

    assert "Stopping" in train_tab.stop_training(shared, login("alice-page-2", "alice-token"))
    assert job.join(120) and load_run(job.run_dir).status == "stopped"
    name = job.run_dir.name
    assert runs_tab.resume_offer(shared, name, BOB)["visible"] is False
    assert runs_tab.resume_offer(shared, name, ALICE)["visible"] is True
    with pytest.raises(FtguiError, match=f"{NOT_YOURS}.* may resume it"):
        runs_tab.resume_run(shared, name, BOB)
    assert shared.jobs.running() is None

    runs_tab.resume_run(shared, name, ALICE)
    resumed = shared.jobs.current
    assert resumed is not job and resumed.owner == owners.visitor_id(ALICE)
    with pytest.raises(FtguiError, match="only they may stop it"):
        train_tab.stop_training(shared, BOB)
    assert "Stopping" in train_tab.stop_training(shared, ALICE)
    assert resumed.join(120)
    assert owners.recorded_owner(job.run_dir) == owners.visitor_id(ALICE)  # a resume keeps the owner


def test_a_command_line_run_on_a_shared_app_shows_only_its_outline(shared, pretrained_run, tmp_path):
    shutil.copytree(pretrained_run, shared.runs_root / "base")  # trained by `ftgui train` from a server folder
    record = load_run(shared.runs_root / "base").info
    folder = record.data["source"]
    assert Path(folder).is_dir()
    for visitor in (ALICE, BOB, None):
        text = shown(runs_tab.run_details(shared, "base", visitor))
        assert "base" in text and "test_resnet" in text
        for secret in (*PRETRAIN, folder, str(Path(folder).parent)):
            assert secret not in text, secret
        for action in (run_files.model_files, runs_tab.delete_run, runs_tab.resume_run):
            with pytest.raises(FtguiError, match=NOT_YOURS):
                action(shared, "base", visitor)
        assert "base" not in [v for _, v in predict_tab.source_choices(shared, visitor)]
    with pytest.raises(FtguiError, match=NOT_YOURS):
        train_tab.start_training(shared, upload(shared, tmp_path), 0.25,
                                 form(shared, strategy="head-only", weights="run:base"), ALICE)
    assert owners.run_holding(shared, str(shared.runs_root / "base" / "model.safetensors")) == shared.runs_root / "base"
    assert owners.run_holding(shared, "hub") is None and owners.run_holding(shared, str(tmp_path)) is None
    weights = train_tab.load_choices(shared, True, "test_resnet", ALICE)[1]["choices"]
    assert "run:base" not in [value for _, value in weights] and "hub" in [value for _, value in weights]
    assert (shared.runs_root / "base").is_dir()


def test_the_owner_is_known_before_the_engine_has_written_the_record(shared, tmp_path):
    """The engine wants an empty run folder, so the owner file comes later: meanwhile the
    app's job says whose the run is."""
    gate, began = threading.Event(), threading.Event()

    def held(config, listener, stop):
        def watch(event):
            listener(event)
            if isinstance(event, Epoch) and not began.is_set():
                began.set()
                gate.wait(60)
        return engine.train(config, listener=watch, stop=stop)

    shared.jobs = JobManager(train_fn=held)
    train_tab.start_training(shared, upload(shared, tmp_path), 0.25, form(shared, epochs=2), ALICE)
    job = shared.jobs.current
    assert began.wait(120)
    (job.run_dir / owners.OWNER_FILE).unlink()  # as it is before the engine's first event
    try:
        assert owners.owner_of(shared, job.run_dir) == owners.visitor_id(ALICE)
        assert "my-shapes.zip" in runs_tab.run_details(shared, job.run_dir.name, ALICE)[0]
        assert "my-shapes.zip" not in shown(runs_tab.run_details(shared, job.run_dir.name, BOB))
    finally:
        gate.set()
    assert job.join(120) and owners.recorded_owner(job.run_dir) == owners.visitor_id(ALICE)  # written at the end


def test_on_a_local_app_every_visitor_is_the_person_at_the_computer(tmp_path, three_classes):
    ctx = AppContext(AppOptions(runs_dir=tmp_path / "runs"))
    run = train(ctx, str(three_classes), ALICE)
    assert CLASSES <= set(re.findall(r"\w+", shown(runs_tab.run_details(ctx, run.name, BOB))))
    assert run_files.model_files(ctx, run.name, BOB)[0] == str(run / "config.json")  # served from the run itself
    train_tab.start_training(ctx, str(three_classes), 0.25, form(ctx, epochs=300), ALICE)
    assert "Stopping" in train_tab.stop_training(ctx, BOB)
    assert ctx.jobs.current.join(120)
    assert "Deleted" in runs_tab.delete_run(ctx, run.name, BOB)


# -- the same through the served app's HTTP API --------------------------------------------------
def cookie_header(cookies: dict) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def get(url: str, path: str, cookies: dict) -> tuple[int, str]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", path, headers={"Cookie": cookie_header(cookies)})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def wait_until(client: Client, prefixes: tuple[str, ...], timeout: float = 300) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = client.predict(api_name="/poll")[0]
        if status.startswith(prefixes):
            return status
        time.sleep(0.3)
    raise AssertionError(f"never {prefixes}")


@pytest.mark.slow  # a served app and a real training: about 15 s on 2 cores
def test_two_logged_in_clients_of_a_shared_app(tmp_path, pretrained_run):
    from test_ui_e2e import free_port

    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(pretrained_run, runs / "base")
    port = free_port()
    demo = serve(AppOptions(runs_dir=runs, host="0.0.0.0"), Login("ftgui", "pass-word"), port=port,
                 prevent_thread_lock=True, quiet=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        alice = Client(url, auth=("ftgui", "pass-word"), verbose=False)
        bob = Client(url, auth=("ftgui", "pass-word"), verbose=False)  # the same login, another browser
        data = zip_folder(make_dataset(tmp_path / "mine", THREE, per_class=8), tmp_path / "my-shapes.zip")
        alice.predict(handle_file(str(data)), 0.25, api_name="/use_zip")
        notice, command = alice.predict(**{**TINY, "epochs": 300}, api_name="/start_training")
        name = re.search(r"\*\*(.+?)\*\*", notice).group(1)
        assert name in wait_until(bob, ("▶",))  # bob sees that something trains...
        with pytest.raises(Exception, match="only they may stop it"):
            bob.predict(api_name="/stop_training")  # ...but cannot stop it
        with pytest.raises(Exception, match=NOT_YOURS):
            bob.predict(name, api_name="/delete_run")

        # bob: the outline only, also of the command-line run 'base'; nothing through the file route
        for run, secrets in ((name, CLASSES | {"my-shapes"}), ("base", set(PRETRAIN))):
            details = bob.predict(run, api_name="/run_details")
            assert run in details[0] and "test_resnet" in details[0]
            assert not secrets & set(re.findall(r"[\w-]+", str(details))), details
        with pytest.raises(Exception, match=NOT_YOURS):
            bob.predict(name, api_name="/model_files")
        picture = tmp_path / "circle.png"
        draw_shape("circle", COLOURS["red"], 32, random.Random(7)).save(picture)
        with pytest.raises(Exception, match=NOT_YOURS):
            bob.predict("base", None, handle_file(str(picture)), 2, api_name="/predict_image")
        for record in ("ftgui.json", "config.json", "val_predictions.json", owners.OWNER_FILE):
            for target in (runs / name / record, runs / "base" / record):
                status, body = get(url, "/gradio_api/file=" + quote(str(target)), bob.cookies)
                assert status != 200 and not any(word in body for word in CLASSES | set(PRETRAIN)), target

        # alice reloads the page: a new session with the same login cookie, still the owner
        assert demo.ftgui_context.jobs.current.owner.startswith("login:")
        reloaded = Client(url, headers={"Cookie": cookie_header(alice.cookies)}, verbose=False)
        assert "Stopping" in reloaded.predict(api_name="/stop_training")
        assert wait_until(alice, ("■ Stopped",))
        mine = alice.predict(name, api_name="/run_details")
        assert all(c in str(mine) for c in CLASSES) and "my-shapes" in mine[0]
        files = alice.predict(name, api_name="/model_files")
        assert sorted(Path(f).name for f in files) == ["config.json", "model.safetensors"]
        with pytest.raises(Exception, match=NOT_YOURS):
            bob.predict(name, api_name="/delete_run")
        assert "Deleted" in alice.predict(name, api_name="/delete_run")
    finally:
        demo.ftgui_context.jobs.shutdown()
        demo.close()
