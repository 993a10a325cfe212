"""From ``ftgui launch`` flags to a served app.

Safety rules: the app listens on 127.0.0.1 unless ``--host`` says otherwise. An app served
beyond this computer (``--share``, or a host other than loopback) always asks for a login:
``--auth USER:PASS`` or ``FTGUI_AUTH``, else a strong password is generated and printed
once. Such an app hides every input that names a folder on the server.
"""
from __future__ import annotations

import os
import secrets
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ..errors import FtguiError
from ..record import refit_words, saved_epoch_words
from .context import AppOptions, demo_backbone, demo_settings

AUTH_ENV = "FTGUI_AUTH"
GENERATED_USER = "ftgui"


def parse_auth(text: str) -> tuple[str, str]:
    """``USER:PASS`` -> (user, password)."""
    user, sep, password = (text or "").partition(":")
    if not sep or not user or not password:
        raise FtguiError(f"--auth (or {AUTH_ENV}) takes USER:PASS, e.g. --auth me:long-secret")
    return user, password


@dataclass
class Login:
    user: str
    password: str
    generated: bool = False


def resolve_login(auth: str | None, options: AppOptions) -> Login | None:
    """The login the app asks for: ``--auth``, then FTGUI_AUTH, then, when the app is served
    beyond this computer, a generated password (never an open public app)."""
    given = auth or os.environ.get(AUTH_ENV)
    if given:
        return Login(*parse_auth(given))
    if options.local_only:
        return None
    return Login(GENERATED_USER, secrets.token_urlsafe(18), generated=True)


def make_options(runs_dir: str, plugins_dirs: list[str], host: str, share: bool, demo: bool,
                 max_file_size: str, language: str | None = None) -> AppOptions:
    defaults: dict[str, Any] = {}
    if demo:
        from ..models import hub_reachable

        defaults = demo_settings(hub_reachable(), demo_backbone())
    return AppOptions(runs_dir=Path(runs_dir), plugins_dirs=list(plugins_dirs), host=host, share=share,
                      defaults=defaults, max_file_size=max_file_size, language=language)


def _warm_up() -> None:
    """Import torch and timm and list timm's models in the background, so that the first
    Start or model search does not wait for them."""
    from . import catalog

    catalog.model_names(True)


def announce(app: Any, options: AppOptions, out: TextIO | None = None) -> None:
    """Where the app is, in ftgui's words (Gradio's own lines, which name ``launch()``'s
    arguments, are silenced)."""
    out = out or sys.stdout
    where = "this computer only" if options.local_only else f"listening on {options.host}, with a login"
    print(f"ftgui: the app is at {app.local_url} ({where})", file=out, flush=True)
    if app.share_url:
        print(f"ftgui: public link, for up to a week: {app.share_url}", file=out, flush=True)
    elif not options.share:
        print("ftgui: to reach it from other computers through a temporary public link, start it with "
              "ftgui --share", file=out, flush=True)
    print("ftgui: Ctrl-C ends the app", file=out, flush=True)


class ConsoleReport:
    """Says on the console what the app is doing: which training started, one line per
    epoch (as ``ftgui train`` prints), and how it ended. Watches the app's job manager from
    a daemon thread."""

    def __init__(self, jobs: Any, out: TextIO | None = None, interval: float = 1.0) -> None:
        self.jobs, self.out, self.interval = jobs, out, interval
        self._job: Any = None
        self._seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="ftgui-console", daemon=True)

    def start(self) -> ConsoleReport:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.poll()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def _say(self, text: str) -> None:
        print(f"ftgui: {text}", file=self.out or sys.stderr, flush=True)

    def poll(self) -> None:
        """Print what the current job reported since the last call."""
        from ..cli_train import epoch_line
        from ..record import End, Epoch, Log, Start

        job = self.jobs.current
        if job is None:
            return
        if job is not self._job:
            self._job, self._seen = job, 0
            self._say(f"training {job.config.model or 'a model'} ({job.config.strategy}) started from the app")
        events = job.events_since(self._seen)
        self._seen += len(events)
        for event in events:
            if isinstance(event, Start):
                self._say(f"run folder {event.run_dir}: {event.epochs} epoch(s), {event.train_images} training "
                          f"and {event.val_images} validation images")
            elif isinstance(event, Epoch):
                self._say(epoch_line(event.row))
            elif isinstance(event, Log):
                self._say(event.message)
            elif isinstance(event, End):
                best = event.best or {}
                acc = best.get("val_acc")
                refit = refit_words(event.refit)
                self._say(f"training {event.status}" + (f"; {saved_epoch_words(best)}: validation accuracy {acc:.1%}"
                                                         if acc is not None else "")
                          + (f" ({event.reason})" if event.reason else "") + (f"; {refit}" if refit else ""))


class _UntrackedUploadProgress:
    """Gradio's file input asks ``/gradio_api/upload_progress?upload_id=`` with an empty id when
    several files are dropped at once; Gradio waits 3 s and answers 404, which the page logs as
    an error. An empty id tracks nothing: this answers at once that there is nothing more to
    wait for. Every other request goes to the app as it is (wraps its ASGI stack)."""

    PATH = "/gradio_api/upload_progress"

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from urllib.parse import parse_qs

        if scope.get("type") != "http" or scope.get("path") != self.PATH or \
                (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("upload_id") or [""])[0]:
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        await send({"type": "http.response.body", "body": b'data: {"msg": "done"}\n\n'})


def _patch_upload_progress(app: Any) -> None:
    stack = app.middleware_stack or app.build_middleware_stack()
    app.middleware_stack = _UntrackedUploadProgress(stack)


def serve(options: AppOptions, login: Login | None = None, port: int | None = None,
          open_browser: bool = False, prevent_thread_lock: bool = False, quiet: bool = False):
    """Build and launch the app; returns the Blocks (``.local_url``, ``.share_url``).

    An app served beyond this computer without a ``login`` is refused here too, whoever
    calls this (see :func:`resolve_login`)."""
    if login is None and not options.local_only:
        raise FtguiError("an app served beyond this computer (--share, or --host other than loopback) "
                         "needs a login: give --auth USER:PASS")
    from .app import build_app, launch_kwargs

    demo = build_app(options)
    demo.launch(server_port=port, inbrowser=open_browser, prevent_thread_lock=prevent_thread_lock,
                auth=(login.user, login.password) if login else None,
                auth_message="Log in to ftgui" if login else None, quiet=quiet, **launch_kwargs(options))
    _patch_upload_progress(demo.server_app)
    return demo


def run(runs_dir: str = "runs", plugins_dirs: list[str] | None = None, host: str = "127.0.0.1",
        port: int | None = None, share: bool = False, auth: str | None = None, demo: bool = False,
        open_browser: bool = True, window: bool = False, max_file_size: str = "1gb",
        language: str | None = None) -> int:
    """``ftgui launch``: serve until Ctrl-C (or until the native window closes)."""
    options = make_options(runs_dir, plugins_dirs or [], host, share, demo, max_file_size, language)
    login = resolve_login(auth, options)
    if login and login.generated:
        print(f"ftgui: this app is reachable beyond this computer, so it asks for a login:\n"
              f"       user {login.user}  password {login.password}\n"
              f"       (shown only now; choose your own with --auth USER:PASS or {AUTH_ENV})", flush=True)
    app = None
    report: ConsoleReport | None = None
    try:  # Ctrl-C, at any moment, is how a person ends the app
        app = serve(options, login, port, open_browser=open_browser and not window,
                    prevent_thread_lock=True, quiet=True)
        announce(app, options)
        report = ConsoleReport(app.ftgui_context.jobs).start()
        threading.Thread(target=_warm_up, name="ftgui-warm-up", daemon=True).start()
        if share and not app.share_url:
            print("ftgui: could not create a share link (no internet, or the share server is down); "
                  f"the app keeps running on this computer at {app.local_url}", file=sys.stderr, flush=True)
        if not (window and _window(app.local_url, open_browser)):  # else the person closed the window
            app.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        if app is not None:
            print("ftgui: shutting down; a running training stops after its current step and is saved",
                  file=sys.stderr, flush=True)
            app.ftgui_context.jobs.shutdown()
            if report is not None:
                report.stop()
            app.close()
    return 0


def _window(url: str, open_browser: bool) -> bool:
    """The app in a native window, in a child process (:mod:`ftgui.ui.window`): True once the person
    closes it; False, with one line saying why and the browser opened, when it cannot open."""
    from .window import show_window

    return show_window(url, open_browser=open_browser)
