"""Who started which run in the app, and what another visitor may do with it.

The policy (docs/RELIABILITY.md, "Who may see what (threat model)"):

- **A local app** (``AppOptions.local_only``: loopback, no ``--share``) is used by the person at
  the computer only: every visitor is trusted and may see, stop, resume, delete and predict
  with every run, as before.
- **A shared app** (``--share`` or a host beyond loopback, always with a login): a visitor owns
  the runs the app started (or resumed) for them; an owner sees everything of them and may
  stop, resume, delete them, download and predict with their model and train from their
  weights. Every other run (another visitor's, or one from ``ftgui train`` or from before the
  app was shared) is listed with its model, mode, initialiser, epochs and accuracy only: no
  class names, data or weights paths, images or model, and it cannot be stopped, resumed or
  deleted from the app.

Who a visitor is (:func:`visitor_id`): on an app with a login, that browser's login (Gradio's
``access-token`` cookie, issued by the server at login, stable across page reloads); without a
login, the page's session hash (new at every page load, chosen by the browser: only a local app
and tests have no login, and on a local app every visitor is trusted anyway). Logging in again,
in another browser, or after the app restarted makes another visitor: a run stays its first
owner's, and the person at the computer reaches every run with ``ftgui`` commands or a local app.

The owner of a run is recorded in ``<run>/app_owner.json`` (:data:`OWNER_FILE`) as a hash of the
visitor id, never the login token itself. The engine wants an empty run folder, so the job
writes it once the engine has written its record (:class:`~.jobs.Job`); until then, the app's
job says who started the run (:func:`owner_of`). A run without that file has no owner in the
app. Nothing here imports gradio: a request is anything with ``username``, ``session_hash`` and
``cookies`` (tests pass ``gr.Request(username=..., session_hash=..., cookies=...)``).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import runs
from ..errors import FtguiError
from ..i18n import tr, translate

if TYPE_CHECKING:
    from .context import AppContext

OWNER_FILE = "app_owner.json"
LOGIN_COOKIE = "access-token"
"""Gradio's login cookies are ``access-token-<app>`` and ``access-token-unsecure-<app>``."""


@dataclass(frozen=True)
class Visitor:
    """One visitor of the app: ``id`` (opaque, None when unknown) and whether the visitor is
    the person at the computer (every visitor of a local app)."""

    id: str | None
    trusted: bool = False

    def owns(self, owner: str | None) -> bool:
        """May act on what ``owner`` started: trusted, or the same known visitor."""
        return self.trusted or (self.id is not None and owner == self.id)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _cookies(request: Any) -> dict[str, str]:
    try:
        return {str(k): str(v) for k, v in dict(request.cookies).items()}
    except (AttributeError, TypeError, ValueError):
        return {}


def _login_token(request: Any) -> str | None:
    """The login cookie's value: this app's own cookie when the request says which app it
    came to, else the one value every ``access-token`` cookie holds."""
    cookies = {k: v for k, v in _cookies(request).items() if k.startswith(LOGIN_COOKIE) and v}
    app = getattr(getattr(request, "request", None), "app", None)
    cookie_id = getattr(app, "cookie_id", None)
    if cookie_id:
        token = cookies.get(f"{LOGIN_COOKIE}-{cookie_id}") or cookies.get(f"{LOGIN_COOKIE}-unsecure-{cookie_id}")
        tokens = getattr(app, "tokens", None)
        if token and isinstance(tokens, dict) and tokens.get(token) != getattr(request, "username", None):
            return None  # not a login of this app for this user
        return token
    values = set(cookies.values())
    return values.pop() if len(values) == 1 else None


def visitor_id(request: Any) -> str | None:
    """An opaque id of the visitor who sent ``request`` (see the module docstring), or None."""
    if request is None:
        return None
    username = getattr(request, "username", None)
    token = _login_token(request) if username else None
    if username and token:
        return "login:" + _digest(str(username), token)
    session = getattr(request, "session_hash", None)
    if session:
        return "session:" + _digest(str(session))
    return None


def recorded_owner(run_dir: str | Path) -> str | None:
    """The owner written in the run folder, or None (a run from the CLI, or damaged file)."""
    try:
        owner = json.loads((Path(run_dir) / OWNER_FILE).read_text(encoding="utf-8")).get("owner")
    except (OSError, ValueError, AttributeError):
        return None
    return owner if isinstance(owner, str) and owner else None


def record_owner(run_dir: str | Path, owner: str | None) -> None:
    """Write ``owner`` into the run folder, unless the run already has an owner (a run keeps
    its first owner; a resume does not change it)."""
    path = Path(run_dir)
    if not owner or not path.is_dir() or (path / OWNER_FILE).is_file():
        return
    runs.atomic_write_json(path / OWNER_FILE, {"owner": owner})


def owner_of(ctx: AppContext, run_dir: str | Path) -> str | None:
    """Who started the run in this app: its ``app_owner.json``, else the app's job training
    it (the file is written once the engine has filled the folder)."""
    owner = recorded_owner(run_dir)
    if owner is not None:
        return owner
    job = ctx.jobs.current
    if job is not None and job.run_dir is not None and Path(job.run_dir).resolve() == Path(run_dir).resolve():
        return job.owner
    return None


def may_see_all(ctx: AppContext, visitor: Visitor, run_dir: str | Path) -> bool:
    """Whether ``visitor`` may see the run's data, images and model and act on it."""
    return visitor.trusted or visitor.owns(owner_of(ctx, run_dir))


def run_holding(ctx: AppContext, path: str | None) -> Path | None:
    """The run folder of the app's runs root that ``path`` (weights) is or lies in, if any."""
    if not path or path in ("hub", "none"):
        return None
    try:
        parts = Path(path).expanduser().resolve().relative_to(ctx.runs_root).parts
    except (OSError, ValueError):
        return None
    return ctx.runs_root / parts[0] if parts and (ctx.runs_root / parts[0] / runs.RUN_FILE).is_file() else None


def check(ctx: AppContext, visitor: Visitor, run_dir: str | Path, action: str) -> None:
    """Raise a one-line FtguiError when ``visitor`` may not ``action`` the run (``action`` in
    English, marked ``N_`` where it is written: the message is in the visitor's language)."""
    if not may_see_all(ctx, visitor, run_dir):
        raise FtguiError(tr("{run} was not started by you (another visitor's run, or one from the command line): "
                            "on a shared app only whoever started a run may {action}",
                            run=Path(run_dir).name, action=translate(action)))
