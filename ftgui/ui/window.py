"""The native window (``ftgui --window``): the app in a desktop window, in a child process.

The window runs in its own process, ``python -m ftgui.ui.window URL``, so that nothing that
goes wrong there can take the server down: a missing pywebview or GUI backend, a missing
system library, no display, or Qt aborting the whole process (exit 134). The child checks
what it can before it creates the window and reports on its stdout, one line each:

    ftgui-window: ready              the window is on the screen
    ftgui-window: closed             the person closed it (ftgui then shuts down)
    ftgui-window: problem TEXT       it cannot open; TEXT says what is missing and how to get it

:func:`show_window` (called by :func:`ftgui.ui.launch.run`) starts the child and waits. When
the window is closed it returns True and ftgui ends cleanly. Whenever the window cannot open
or dies, it prints one line, ``ftgui: no native window: WHAT; opening the browser instead``,
opens the browser and returns False: the app keeps being served. The child's own output (Qt
and Chromium are chatty) goes to a log file, named in that line only when its cause is unknown.

Linux uses Qt (``pip install 'ftgui[window]'`` brings ``pywebview[qt]``), or GTK when only that
is installed; Windows and macOS use pywebview's native backends (WebView2, WebKit).

As root, QtWebEngine refuses to start with Chromium's sandbox on. ftgui does not switch the
sandbox off by itself: it says so and opens the browser, unless the person has set Qt's own
documented variable, ``QTWEBENGINE_CHROMIUM_FLAGS=--no-sandbox`` (or
``QTWEBENGINE_DISABLE_SANDBOX=1``), which the child inherits.
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import webbrowser
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

TITLE = "ftgui"
WIDTH, HEIGHT = 1280, 900
ICON = Path(__file__).resolve().parent / "assets" / "icon.png"
MARK = "ftgui-window:"
READY_TIMEOUT = 60.0
PROBLEM_EXIT = 3

# What Qt's X11 (xcb) plugin loads, by soname -> the Debian/Ubuntu package that has it. A
# missing one makes Qt abort the process (exit 134) with a message that often blames another.
XCB_LIBRARIES = {
    "libX11.so.6": "libx11-6", "libX11-xcb.so.1": "libx11-xcb1", "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0", "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1", "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1", "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6", "libglib-2.0.so.0": "libglib2.0-0", "libdbus-1.so.3": "libdbus-1-3",
}
# ... and what QtWebEngine (Chromium) adds; a missing one fails the import of QtWebEngineWidgets.
WEBENGINE_LIBRARIES = {
    "libnss3.so": "libnss3", "libnssutil3.so": "libnss3", "libsmime3.so": "libnss3", "libnspr4.so": "libnspr4",
    "libasound.so.2": "libasound2", "libXcomposite.so.1": "libxcomposite1", "libXdamage.so.1": "libxdamage1",
    "libXrandr.so.2": "libxrandr2", "libXtst.so.6": "libxtst6", "libXext.so.6": "libxext6",
    "libXfixes.so.3": "libxfixes3", "libXrender.so.1": "libxrender1", "libxkbfile.so.1": "libxkbfile1",
    "libgbm.so.1": "libgbm1", "libdrm.so.2": "libdrm2", "libxcb-dri3.so.0": "libxcb-dri3-0",
}
# The README's list: every package above that a minimal Debian or Ubuntu may lack.
LINUX_PACKAGES = ("libegl1 libgl1 libfontconfig1 libglib2.0-0 libdbus-1-3 libxkbcommon-x11-0 libx11-xcb1 "
                  "libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 "
                  "libxcb-shape0 libxcb-xkb1 libnss3 libasound2 libxcomposite1 libxdamage1 libxrandr2 libxtst6 "
                  "libxkbfile1 libgbm1")

NOT_INSTALLED = "pywebview is not installed (pip install 'ftgui[window]')"
NO_BACKEND = ("pywebview has no GUI backend here (pip install 'ftgui[window]' brings Qt; "
              "or pip install 'pywebview[gtk]')")
NO_DISPLAY = ("no display (DISPLAY and WAYLAND_DISPLAY are unset: start ftgui --window from a desktop session, "
              "or use the browser)")
AS_ROOT = ("QtWebEngine does not run as root with Chromium's sandbox on: run ftgui as a normal user, or set "
           "QTWEBENGINE_CHROMIUM_FLAGS=--no-sandbox to open the window without the sandbox")

NO_SANDBOX = ("Chromium's sandbox cannot start here (a container without user namespaces, say): set "
              "QTWEBENGINE_CHROMIUM_FLAGS=--no-sandbox to open the window without it")


class WindowProblem(Exception):
    """Why the window cannot open, in words for the person (what is missing, how to get it)."""


# -- the checks the child makes before it creates a window ------------------------------------
def missing_libraries(names: Mapping[str, str] = XCB_LIBRARIES,
                      loadable: Callable[[str], bool] | None = None) -> list[str]:
    """The sonames in ``names`` that this process cannot load."""
    loadable = loadable or _loadable
    return [soname for soname in names if not loadable(soname)]


def _loadable(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def libraries_problem(sonames: Sequence[str]) -> str:
    known = {**XCB_LIBRARIES, **WEBENGINE_LIBRARIES}
    packages = list(dict.fromkeys(known[s] for s in sonames if s in known))
    how = (f"Debian/Ubuntu: sudo apt-get install {' '.join(packages)}" if packages
           else "install the package that provides it")
    return f"Qt needs system libraries that are missing here ({', '.join(sonames)}; {how})"


def sandbox_off(env: Mapping[str, str]) -> bool:
    """Whether the person switched QtWebEngine's sandbox off with Qt's documented variables."""
    return "--no-sandbox" in env.get("QTWEBENGINE_CHROMIUM_FLAGS", "").split() or bool(
        env.get("QTWEBENGINE_DISABLE_SANDBOX"))


def uses_x11(env: Mapping[str, str]) -> bool:
    """Whether Qt would use its X11 (xcb) plugin rather than Wayland's."""
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.startswith("xcb")
    return not env.get("WAYLAND_DISPLAY")


def check(gui: str | None, env: Mapping[str, str], platform: str = sys.platform, is_root: bool | None = None,
          loadable: Callable[[str], bool] | None = None, display_opens: Callable[[], bool] | None = None) -> None:
    """Raise :class:`WindowProblem` when the window cannot open with backend ``gui`` (pywebview's
    name: ``qt``, ``gtk``; None on Windows and macOS, where pywebview's native backend is used)."""
    if not platform.startswith(("linux", "freebsd", "openbsd")):
        return
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        raise WindowProblem(NO_DISPLAY)
    if gui != "qt":
        return
    if uses_x11(env):
        missing = missing_libraries(XCB_LIBRARIES, loadable)
        if missing:
            raise WindowProblem(libraries_problem(missing))
        if not (display_opens or _display_opens)():
            raise WindowProblem(f"cannot open the display {env.get('DISPLAY', '')!r} (is the X server running, "
                                "and may this user use it?)")
    if is_root is None:
        is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if is_root and not sandbox_off(env):
        raise WindowProblem(AS_ROOT)


def _display_opens() -> bool:
    """Whether Xlib can connect to $DISPLAY (Qt aborts the process when it cannot)."""
    try:
        xlib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    except OSError:
        return True  # not ours to judge: missing_libraries() names it
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    display = xlib.XOpenDisplay(None)
    if not display:
        return False
    xlib.XCloseDisplay(display)
    return True


def choose_backend(env: Mapping[str, str], platform: str = sys.platform) -> str | None:
    """pywebview's GUI for this computer: PYWEBVIEW_GUI if set; on Linux Qt (what the window extra
    installs), else GTK; None (pywebview's native one) on Windows and macOS."""
    if env.get("PYWEBVIEW_GUI"):
        return env["PYWEBVIEW_GUI"].lower()
    if not platform.startswith(("linux", "freebsd", "openbsd")):
        return None
    try:
        from qtpy import QtWebEngineWidgets  # noqa: F401  (fails when Qt or one of its libraries is missing)
    except Exception as exc:  # qtpy raises its own errors (ImportError and RuntimeError subclasses)
        missing = re.search(r"(lib[\w.+-]+\.so[\w.]*): cannot open shared object file", str(exc))
        if missing:
            raise WindowProblem(libraries_problem([missing.group(1)])) from exc
        try:
            import gi  # noqa: F401
        except ImportError:
            raise WindowProblem(NO_BACKEND) from exc
        return "gtk"
    return "qt"


# -- the child: python -m ftgui.ui.window URL ---------------------------------------------------
def _say(kind: str, text: str = "") -> None:
    print(f"{MARK} {kind} {text}".rstrip(), flush=True)


def _end_with_parent() -> None:
    """Close the window when the ftgui that started it has gone (killed, say)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="ftgui-window-parent", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftgui.ui.window",
                                     description="Show URL in a native window (ftgui --window runs this).")
    parser.add_argument("url")
    parser.add_argument("--title", default=TITLE)
    parser.add_argument("--width", type=int, default=WIDTH)
    parser.add_argument("--height", type=int, default=HEIGHT)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the ftgui that started us; it closes us
    _end_with_parent()
    try:
        try:
            import webview
        except ImportError as exc:
            raise WindowProblem(NOT_INSTALLED) from exc
        gui = choose_backend(os.environ)
        check(gui, os.environ)
        sys.argv[0] = TITLE  # Qt names the application (X11's WM_CLASS) after it: the shortcut's StartupWMClass
        if gui == "qt":
            from qtpy.QtGui import QGuiApplication

            QGuiApplication.setDesktopFileName(TITLE)  # Wayland's app id: ftgui.desktop, so its icon shows
        window = webview.create_window(args.title, args.url, width=args.width, height=args.height)
        if window is not None:  # pywebview types it Optional
            window.events.shown += lambda: _say("ready")
        start: Any = webview.start  # pywebview types gui as a Literal; ours is checked above
        start(gui=gui, icon=str(ICON))
    except WindowProblem as exc:
        _say("problem", str(exc))
        return PROBLEM_EXIT
    except Exception as exc:
        if "must have either QT or GTK" in str(exc):
            _say("problem", NO_BACKEND)
        else:
            _say("problem", f"pywebview failed: {type(exc).__name__}: {' '.join(str(exc).split())}")
        return PROBLEM_EXIT
    _say("closed")
    sys.stderr.flush()
    os._exit(0)  # past here Qt and Chromium tear down, and sometimes crash doing it: the window is closed


# -- the parent: ftgui --window ------------------------------------------------------------------
def child_command(url: str) -> list[str]:
    return [sys.executable, "-m", "ftgui.ui.window", url]


def explain(returncode: int, output: str) -> tuple[str, bool]:
    """What a window process that ended without saying why ran into, from its exit and output:
    (the reason, whether it is known; when it is not, the line names the log)."""
    if "Running as root without --no-sandbox" in output:
        return AS_ROOT, True
    if "No usable sandbox" in output:
        return NO_SANDBOX, True
    if re.search(r"could not connect to display|cannot open display", output, re.IGNORECASE):
        return "cannot open the display (is the X server running, and may this user use it?)", True
    missing = re.findall(r"(lib[\w.+-]+\.so[\w.]*): cannot open shared object file", output)
    if missing:
        return libraries_problem(list(dict.fromkeys(missing))), True
    unknown = re.search(r'Could not find the Qt platform plugin "([^"]*)"', output)
    if unknown:
        return f"Qt has no display plugin {unknown.group(1)!r} (is QT_QPA_PLATFORM set to it?)", True
    if "Qt platform plugin" in output:
        lacking = missing_libraries()
        return (libraries_problem(lacking) if lacking else "Qt could not load its display plugin (Debian/Ubuntu: "
                f"sudo apt-get install {LINUX_PACKAGES})"), True
    if "must have either QT or GTK" in output:
        return NO_BACKEND, True
    code = "aborted (exit 134)" if returncode in (134, -signal.SIGABRT) else f"ended with exit {returncode}"
    return f"the window process {code}", False


def show_window(url: str, *, open_browser: bool = True, out: TextIO | None = None,
                command: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
                ready_timeout: float = READY_TIMEOUT, browser: Callable[[str], object] | None = None) -> bool:
    """Show ``url`` in a native window until it is closed: True. When the window cannot open,
    or dies, say why in one line, open the browser (if ``open_browser``) and return False."""
    out = out or sys.stderr
    log = Path(tempfile.gettempdir()) / f"ftgui-window-{os.getpid()}.log"
    reason, keep_log = None, False
    try:
        reason, keep_log = _run_child(list(command or child_command(url)), env, log, ready_timeout)
    finally:  # Ctrl-C included: the log stays only when the line below names it
        if not keep_log:
            log.unlink(missing_ok=True)
    if reason is None:
        return True
    if keep_log:
        reason += f" (its output: {log})"
    where = "opening the browser instead" if open_browser else f"the app is at {url}"
    print(f"ftgui: no native window: {reason}; {where}", file=out, flush=True)
    if open_browser:
        (browser or webbrowser.open)(url)
    return False


def _run_child(command: list[str], env: Mapping[str, str] | None, log: Path,
               ready_timeout: float) -> tuple[str | None, bool]:
    """Run the window process: (None, _) when the person closed the window, else (why, keep the log)."""
    marks: queue.Queue[str | None] = queue.Queue()
    said: dict[str, str] = {}

    def take(line: str) -> None:
        kind, _, text = line.partition(" ")
        said[kind] = text

    with open(log, "wb") as sink:
        try:
            child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=sink,
                                     env=dict(env) if env is not None else None, text=True, errors="replace")
        except OSError as exc:
            return f"could not start the window process ({exc})", False
        try:
            threading.Thread(target=_read_marks, args=(child.stdout, marks), daemon=True).start()
            deadline, ended, finished = time.monotonic() + ready_timeout, 0.0, False
            while "ready" not in said and "problem" not in said:
                try:
                    line = marks.get(timeout=0.2)
                except queue.Empty:
                    if child.poll() is not None:  # ended: a moment for its last words, then no more
                        ended = ended or time.monotonic()
                        if time.monotonic() - ended > 2:
                            break
                    elif time.monotonic() >= deadline:
                        return f"the window did not appear within {ready_timeout:.0f} s", True
                    continue
                if line is None:  # it closed its stdout: it has ended
                    finished = True
                    break
                take(line)
            returncode = child.wait()  # the window is up: until the person closes it
            while not finished and "problem" not in said:  # what it said after "ready"
                try:
                    line = marks.get(timeout=2)
                except queue.Empty:
                    break
                if line is None:
                    break
                take(line)
        finally:
            if child.poll() is None:  # Ctrl-C, a time-out or an error in ftgui: the window goes with it
                child.kill()
                child.wait()
    if "closed" in said or ("problem" not in said and returncode == 0):
        return None, False
    if "problem" in said:
        return said["problem"], False
    reason, known = explain(returncode, log.read_text(errors="replace"))
    return (f"the window stopped: {reason}" if "ready" in said else reason), not known


def _read_marks(stream: TextIO | None, marks: queue.Queue[str | None]) -> None:
    if stream is not None:
        for line in stream:
            if line.startswith(MARK):
                marks.put(line[len(MARK):].strip())
    marks.put(None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
