"""What a running app serves over HTTP: run outputs, and nothing else on the server (not even
the uploaded data kept beside the runs), whatever the path looks like; and an app reachable
beyond this computer always asks for a login and offers no input that names a server folder."""
from __future__ import annotations

import http.client
import json
import re
import secrets
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit

import gradio
import pytest
from gradio_client import Client

from ftgui import FtguiError
from ftgui.ui import launch
from ftgui.ui.context import UPLOADS, AppOptions

from conftest import THREE, make_dataset, zip_folder
from test_ui_e2e import free_port, running_app, runs_with_base
from test_ui_launch import status_of

REPO = Path(__file__).resolve().parents[1]
SECRET = f"ftgui-secret-{secrets.token_hex(8)}"
PREFIXES = ("/gradio_api/file=", "/file=", "/gradio_api/file/", "/file/")
ENCODINGS = (lambda p: p, lambda p: quote(p, safe=""), lambda p: quote(quote(p, safe=""), safe=""))


@pytest.fixture(scope="module")
def server(tmp_path_factory, pretrained_run):
    """A served app whose runs folder sits beside files it must never serve."""
    root = tmp_path_factory.mktemp("security")
    runs = runs_with_base(root, pretrained_run)
    (root / "secret.txt").write_text(SECRET)
    (root / "runs-old").mkdir()  # a neighbour whose name starts like the runs folder's
    (root / "runs-old" / "secret.txt").write_text(SECRET)
    (runs / "base" / "link.txt").symlink_to(root / "secret.txt")
    (runs / "outside").symlink_to(root)
    zip_folder(make_dataset(root / "stolen", THREE, per_class=4), root / "stolen.zip")
    with running_app(runs) as demo:
        demo.ftgui_context.keep_upload(str(root / "secret.txt"))  # someone's upload: <runs>/uploads/<hash>/
        yield demo, root, runs


def get(url: str, path: str) -> tuple[int, str]:
    """GET ``path`` exactly as written (no client-side clean-up of '..' or '%2e')."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def traversal_attempts(root: Path, runs: Path, port: int) -> list[str]:
    targets = ["/etc/passwd", str(REPO / "pyproject.toml"), "pyproject.toml", str(root / "secret.txt"),
               str(root / "runs-old" / "secret.txt"), f"{runs}/../secret.txt", f"{runs}/base/../../secret.txt",
               f"{runs}/base/link.txt", f"{runs}/outside/secret.txt", "../" * 12 + "etc/passwd",
               "//etc/passwd", "file:///etc/passwd", f"http://127.0.0.1:{port}/gradio_api/file=/etc/passwd",
               *[str(upload) for upload in (runs / UPLOADS).rglob("*.txt")]]
    paths = [prefix + encode(target) for prefix in PREFIXES for encode in ENCODINGS for target in targets]
    return paths + [
        "/gradio_api/file=" + "%2e%2e%2f" * 12 + "etc/passwd",
        "/gradio_api/file=" + "%252e%252e%252f" * 12 + "etc/passwd",
        "/gradio_api/file=" + "..%2f" * 12 + "etc/passwd",
        "/gradio_api/file=" + "..\\" * 12 + "etc\\passwd",
        f"/gradio_api/file={runs}/base/%2e%2e/%2e%2e/secret.txt",
        "/gradio_api/file=/etc/passwd%00.png",
        "/static/" + "../" * 12 + "etc/passwd", "/assets/" + "..%2f" * 12 + "etc/passwd",
        "/gradio_api/static/" + "%2e%2e%2f" * 12 + "etc/passwd", "/favicon.ico/" + "../" * 12 + "etc/passwd",
        "/" + "..%2f" * 12 + "etc/passwd", "/gradio_api/" + "../" * 12 + "etc/passwd",
    ]


def test_nothing_but_run_outputs_is_served_however_the_path_is_written(server):
    demo, root, runs = server
    port = urlsplit(demo.local_url).port
    secrets_shown = {"/etc/passwd": Path("/etc/passwd").read_text().splitlines()[0],
                     "pyproject.toml": (REPO / "pyproject.toml").read_text().strip().splitlines()[0], "ours": SECRET}
    attempts = traversal_attempts(root, runs, port)
    assert len(attempts) > 150 and any("/uploads/" in path for path in attempts)
    for path in attempts:
        status, body = get(demo.local_url, path)
        for name, marker in secrets_shown.items():
            assert marker not in body, f"{path} served {name} (HTTP {status})"
    config = runs / "base" / "config.json"  # run outputs are what the app serves
    status, body = get(demo.local_url, f"/gradio_api/file={config}")
    assert status == 200 and json.loads(body) == json.loads(config.read_text())


def call(url: str, api_name: str, data: list) -> str:
    """An API call as any HTTP client can make it; the event stream's text."""
    request = urllib.request.Request(f"{url}gradio_api/call/{api_name}", json.dumps({"data": data}).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        event = json.load(response)["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/{api_name}/{event}", timeout=60) as response:
        return response.read().decode()


def test_api_calls_cannot_name_server_files_as_uploads(server):
    demo, root, runs = server

    def file(path) -> dict:
        return {"path": str(path), "meta": {"_type": "gradio.FileData"}}

    stolen = call(demo.local_url, "use_zip", [file(root / "stolen.zip"), 0.2])
    assert "event: error" in stolen and "circle" not in stolen
    assert not (runs / UPLOADS).exists() or not list((runs / UPLOADS).rglob("stolen.zip"))
    for path in ("/etc/passwd", root / "secret.txt"):
        answer = call(demo.local_url, "predict_batch", ["base", None, [file(path)], 3])
        assert "event: error" in answer and SECRET not in answer and "root:" not in answer


def test_serving_beyond_this_computer_without_a_login_is_refused(tmp_path):
    for options in (AppOptions(runs_dir=tmp_path / "runs", share=True), AppOptions(runs_dir=tmp_path, host="0.0.0.0")):
        with pytest.raises(FtguiError, match="needs a login"):
            launch.serve(options, login=None, port=free_port(), prevent_thread_lock=True, quiet=True)


def test_an_app_on_all_interfaces_asks_for_a_login_and_offers_no_server_folders(tmp_path, pretrained_run,
                                                                                monkeypatch, capsys):
    runs = runs_with_base(tmp_path, pretrained_run)
    config = runs / "base" / "config.json"
    checked = {}

    def instead_of_blocking(self):
        user, password = re.search(r"user (\S+)\s+password (\S+)", capsys.readouterr().out).groups()
        for path in ("gradio_api/info", "config", f"gradio_api/file={config}"):
            checked[path] = status_of(self.local_url + path)
        client = Client(self.local_url, auth=(user, password), verbose=False)
        checked["endpoints"] = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
        checked["components"] = client.config["components"]

    monkeypatch.setattr(gradio.Blocks, "block_thread", instead_of_blocking)
    assert launch.run(runs_dir=str(runs), host="0.0.0.0", port=free_port(), open_browser=False) == 0
    assert checked.pop("gradio_api/info") == checked.pop("config") == checked.pop(f"gradio_api/file={config}") == 401
    assert "/predict_image" in checked["endpoints"] and "/use_folder" not in checked["endpoints"]
    labels = {c.get("props", {}).get("label") for c in checked["components"]}
    assert "Weights file" in labels and not labels & {"Folder", "Weights path"}
    weights = next(c["props"] for c in checked["components"] if c.get("props", {}).get("label") == "Start from weights")
    assert "path" not in [value for _, value in weights["choices"]]
