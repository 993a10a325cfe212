"""Launching the GUI: flags, login rules, what a shared app hides, analytics, what --help imports."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import gradio
import pytest
from gradio_client import Client

from ftgui import FtguiError
from ftgui.cli import _with_default_command, build_parser
from ftgui.ui import launch
from ftgui.ui.app import build_app, launch_kwargs
from ftgui.ui.context import AppOptions

from test_ui_e2e import free_port


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_bare_ftgui_is_launch_and_help_imports_no_gradio():
    assert _with_default_command([]) == ["launch"]
    assert _with_default_command(["--demo", "--port", "8000"]) == ["launch", "--demo", "--port", "8000"]
    assert _with_default_command(["train", "--data", "x"])[0] == "train"
    args = build_parser().parse_args(_with_default_command(["--share", "--runs-dir", "r"]))
    assert (args.command, args.share, args.runs_dir, args.host) == ("launch", True, "r", "127.0.0.1")
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "ftgui", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "ftgui launch" in result.stdout
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
    assert "gradio" not in imported and "torch" not in imported


def test_login_rules():
    local = AppOptions()
    assert launch.resolve_login(None, local) is None
    login = launch.resolve_login("me:secret:with:colons", local)
    assert (login.user, login.password, login.generated) == ("me", "secret:with:colons", False)
    for served_beyond in (AppOptions(share=True), AppOptions(host="0.0.0.0")):
        generated = launch.resolve_login(None, served_beyond)
        assert generated.generated and generated.user == "ftgui" and len(generated.password) >= 20
    os.environ[launch.AUTH_ENV] = "env:pass"
    try:
        assert launch.resolve_login(None, AppOptions(share=True)).password == "pass"
    finally:
        del os.environ[launch.AUTH_ENV]
    for bad in ("nopassword", ":x", "x:"):
        with pytest.raises(FtguiError, match="USER:PASS"):
            launch.parse_auth(bad)


def test_safety_settings_and_no_server_folders_when_shared(tmp_path):
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    options = AppOptions(runs_dir=tmp_path / "runs", share=True)
    settings = launch_kwargs(options)
    assert settings["enable_monitoring"] is False and settings["max_file_size"] == "1gb"
    assert settings["allowed_paths"] == []  # a shared app serves nothing from the runs folder over HTTP
    assert settings["blocked_paths"] == [str((tmp_path / "runs").resolve())]
    shared = build_app(options)
    labels = {getattr(block, "label", None) for block in shared.blocks.values()}
    assert "Folder" not in labels
    assert "use_folder" not in {fn.api_name for fn in shared.fns.values()}
    local = build_app(AppOptions(runs_dir=tmp_path / "runs"))
    assert "Folder" in {getattr(block, "label", None) for block in local.blocks.values()}
    assert not shared.analytics_enabled


def test_share_without_auth_gets_a_password_and_offline_share_keeps_the_local_app(tmp_path, monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise ConnectionError("no internet")

    checked = {}

    def instead_of_blocking(self):
        checked["anonymous"] = status_of(self.local_url + "gradio_api/info")
        user, password = checked["login"]
        client = Client(self.local_url, auth=(user, password), verbose=False)
        checked["api"] = "/start_training" in client.view_api(return_format="dict", print_info=False)["named_endpoints"]

    original = launch.resolve_login

    def remember(auth, options):
        login = original(auth, options)
        checked["login"] = (login.user, login.password)
        return login

    monkeypatch.setattr(gradio.networking, "setup_tunnel", offline)
    monkeypatch.setattr(gradio.Blocks, "block_thread", instead_of_blocking)
    monkeypatch.setattr(launch, "resolve_login", remember)
    assert launch.run(runs_dir=str(tmp_path / "runs"), share=True, port=free_port(), open_browser=False) == 0
    out, err = capsys.readouterr()
    user, password = checked["login"]
    assert out.count(password) == 1 and f"user {user}" in out
    assert "could not create a share link" in err and "keeps running on this computer" in err
    assert checked["anonymous"] == 401 and checked["api"]


@pytest.mark.slow
def test_first_page_is_served_and_ctrl_c_shuts_down(tmp_path, spawn):
    # how fast the first page comes is measured in benchmarks/latency.py, not asserted here
    port = free_port()
    process = spawn([sys.executable, "-m", "ftgui", "--no-browser", "--port", str(port),
                     "--runs-dir", str(tmp_path / "runs")],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if status_of(f"http://127.0.0.1:{port}/") == 200:
                break
        except OSError:
            pass  # not listening yet
        time.sleep(0.2)
    assert process.poll() is None, process.communicate()[1]
    assert status_of(f"http://127.0.0.1:{port}/") == 200
    time.sleep(1)  # let launch() finish what it does after the server answers
    process.send_signal(signal.SIGINT)  # Ctrl-C: spawn gave the child SIGINT's default action
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert f"http://127.0.0.1:{port}" in out and "shutting down" in err
