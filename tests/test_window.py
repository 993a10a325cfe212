"""The native window (issue 14): ``ftgui --window`` never takes the server down, and ``ftgui shortcut``.

Every way the window can fail (pywebview or its backend missing, a system library missing,
no display, Qt aborting the process, running as root) ends with one line saying what is
missing and the browser path; the window runs in a child process, simulated here by small
scripts and stand-in modules. Where Xvfb and Qt are installed, a slow test opens the REAL
window, finds it by its title, takes a screenshot (``test-artifacts/window-xvfb.png``), closes
it as a window manager would, and checks that ftgui ended with exit 0.
"""
from __future__ import annotations

import ctypes
import io
import os
import plistlib
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from ftgui.cli import _with_default_command, main
from ftgui.ui import shortcut, window
from ftgui.ui.window import AS_ROOT, NO_BACKEND, NO_DISPLAY, NOT_INSTALLED, WindowProblem, check, show_window

from test_ui_e2e import free_port

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
URL = "http://127.0.0.1:7860/"


# -- the checks the window process makes --------------------------------------------------------
X11 = {"DISPLAY": ":0"}


def test_no_display_is_said_before_anything_else():
    for gui in ("qt", "gtk", None):
        with pytest.raises(WindowProblem, match="no display"):
            check(gui, {}, platform="linux")
    check(None, {}, platform="win32")  # Windows and macOS: pywebview's native backend, no checks here
    check(None, {}, platform="darwin")


def test_a_missing_library_is_named_with_its_package():
    with pytest.raises(WindowProblem) as caught:
        check("qt", X11, platform="linux", is_root=False, display_opens=lambda: True,
              loadable=lambda soname: soname not in ("libxcb-icccm.so.4", "libxcb-keysyms.so.1"))
    text = str(caught.value)
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in text
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in text
    # Wayland: Qt does not load its X11 plugin, so its libraries do not matter
    check("qt", {"WAYLAND_DISPLAY": "wayland-0"}, platform="linux", is_root=False, loadable=lambda s: False)


def test_an_unreachable_display_is_said():
    with pytest.raises(WindowProblem, match="cannot open the display ':0'"):
        check("qt", X11, platform="linux", is_root=False, loadable=lambda s: True, display_opens=lambda: False)


def test_as_root_qt_needs_the_documented_variable():
    ok = {"platform": "linux", "loadable": lambda s: True, "display_opens": lambda: True}
    with pytest.raises(WindowProblem) as caught:
        check("qt", X11, is_root=True, **ok)
    assert str(caught.value) == AS_ROOT and "QTWEBENGINE_CHROMIUM_FLAGS=--no-sandbox" in AS_ROOT
    check("qt", {**X11, "QTWEBENGINE_CHROMIUM_FLAGS": "--disable-gpu --no-sandbox"}, is_root=True, **ok)
    check("qt", {**X11, "QTWEBENGINE_DISABLE_SANDBOX": "1"}, is_root=True, **ok)
    check("qt", X11, is_root=False, **ok)
    check("gtk", X11, is_root=True, **ok)  # WebKitGTK runs as root


def test_what_an_aborted_window_process_said_is_explained():
    qt_abort = ("qt.qpa.plugin: From 6.5.0, xcb-cursor0 or libxcb-cursor0 is needed to load the Qt xcb platform "
                "plugin.\nqt.qpa.plugin: Could not load the Qt platform plugin \"xcb\" in \"\" even though it was "
                "found.\nThis application failed to start because no Qt platform plugin could be initialized.\n")
    reason, known = window.explain(134, qt_abort)
    assert known and ("apt-get install" in reason)
    assert window.explain(-6, "[1:1:ERROR:zygote_host_impl_linux.cc(100)] Running as root without --no-sandbox "
                              "is not supported.") == (AS_ROOT, True)
    assert window.explain(-5, "FATAL:zygote_host_impl_linux.cc(127)] No usable sandbox! Update your kernel or "
                              "see ...") == (window.NO_SANDBOX, True)
    reason, known = window.explain(1, "ImportError: libnss3.so: cannot open shared object file: No such file")
    assert known and "sudo apt-get install libnss3" in reason
    assert window.explain(-6, "something else") == ("the window process aborted (exit 134)", False)
    assert window.explain(7, "") == ("the window process ended with exit 7", False)


# -- the parent: one line, the browser, never the server ------------------------------------------
def fake_child(body: str) -> list[str]:
    """A stand-in window process: ``python -c BODY``."""
    return [sys.executable, "-c", textwrap.dedent(body)]


def show(command: list[str], open_browser: bool = True, **kwargs) -> tuple[bool, list[str], list[str]]:
    out, opened = io.StringIO(), []
    closed = show_window(URL, open_browser=open_browser, out=out, command=command, browser=opened.append, **kwargs)
    return closed, out.getvalue().splitlines(), opened


def assert_fell_back(lines: list[str], opened: list[str], *words: str) -> None:
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("ftgui: no native window: ") and line.endswith("; opening the browser instead"), line
    assert "Traceback" not in line and "internal error" not in line
    for word in words:
        assert word in line, line
    assert opened == [URL]


def logs_named(line: str) -> list[Path]:
    return [Path(p) for p in re.findall(r"its output: (\S+\.log)\)", line)]


def test_a_window_closed_by_the_person_is_a_clean_end():
    closed, lines, opened = show(fake_child("""
        print("ftgui-window: ready", flush=True)
        print("ftgui-window: closed", flush=True)
    """))
    assert closed and lines == [] and opened == []


def test_a_qt_abort_with_a_missing_library_ends_in_the_browser():
    # what Qt prints before it aborts (exit 134 from a shell; SIGABRT here)
    closed, lines, opened = show(fake_child("""
        import os, sys
        sys.stderr.write('qt.qpa.plugin: Could not load the Qt platform plugin "xcb" in "" even though it was found.'
                         '\\nThis application failed to start because no Qt platform plugin could be initialized.\\n')
        sys.stderr.flush()
        os.abort()
    """))
    assert not closed
    assert_fell_back(lines, opened, "apt-get install")
    assert not logs_named(lines[0])


def test_an_unexplained_exit_134_names_its_log():
    closed, lines, opened = show(fake_child("import sys; print('something Qt said', file=sys.stderr); sys.exit(134)"))
    assert not closed
    assert_fell_back(lines, opened, "the window process aborted (exit 134)")
    (log,) = logs_named(lines[0])
    assert "something Qt said" in log.read_text()
    log.unlink()


def test_what_the_window_process_says_is_the_line():
    closed, lines, opened = show(fake_child(f"print({'ftgui-window: problem ' + NO_BACKEND!r}); raise SystemExit(3)"))
    assert not closed
    assert_fell_back(lines, opened, NO_BACKEND)


def test_a_window_that_dies_later_leaves_the_app_in_the_browser():
    closed, lines, opened = show(fake_child("""
        import os
        print("ftgui-window: ready", flush=True)
        os.kill(os.getpid(), 9)
    """))
    assert not closed
    assert_fell_back(lines, opened, "the window stopped: the window process ended with exit -9")
    for log in logs_named(lines[0]):
        log.unlink()


def test_a_window_that_never_appears_is_given_up():
    closed, lines, opened = show(fake_child("import time; time.sleep(60)"), ready_timeout=1)
    assert not closed
    assert_fell_back(lines, opened, "the window did not appear within 1 s")
    for log in logs_named(lines[0]):
        log.unlink()


def test_without_the_browser_the_line_gives_the_address():
    closed, lines, opened = show(fake_child("raise SystemExit(1)"), open_browser=False)
    assert not closed and opened == []
    assert len(lines) == 1 and lines[0].endswith(f"; the app is at {URL}")
    for log in logs_named(lines[0]):
        log.unlink()


def test_a_window_process_that_cannot_start_is_one_line():
    closed, lines, opened = show(["/nonexistent/python"])
    assert not closed
    assert_fell_back(lines, opened, "could not start the window process")


# -- the real window process, python -m ftgui.ui.window, with pieces missing ----------------------
def stand_ins(tmp_path: Path, **modules: str) -> dict[str, str]:
    """An environment whose imports find these modules first (name -> source)."""
    folder = tmp_path / "stand-ins"
    for name, source in modules.items():
        path = folder / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "PYWEBVIEW_GUI")}
    env["PYTHONPATH"] = os.pathsep.join([str(folder), str(ROOT)])
    return env


MISSING = """raise ModuleNotFoundError("No module named '{}'")"""
FAKE_WEBVIEW = """
    def create_window(*args, **kwargs):
        return None
    def start(*args, **kwargs):
        {start}
"""


def test_without_pywebview(tmp_path):
    env = stand_ins(tmp_path, webview=MISSING.format("webview"))
    closed, lines, opened = show(window.child_command(URL), env={**env, "DISPLAY": ":0"})
    assert not closed
    assert_fell_back(lines, opened, NOT_INSTALLED, "pip install 'ftgui[window]'")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the GUI backend is chosen on Linux")
def test_pywebview_without_a_backend(tmp_path):
    env = stand_ins(tmp_path, webview=FAKE_WEBVIEW.format(start="pass"), qtpy=MISSING.format("qtpy"),
                    gi=MISSING.format("gi"))
    closed, lines, opened = show(window.child_command(URL), env={**env, "DISPLAY": ":0"})
    assert not closed
    assert_fell_back(lines, opened, NO_BACKEND)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a display is a Linux question here")
def test_no_display(tmp_path):
    env = stand_ins(tmp_path, webview=FAKE_WEBVIEW.format(start="pass"))
    closed, lines, opened = show(window.child_command(URL), env={**env, "PYWEBVIEW_GUI": "qt"})
    assert not closed
    assert_fell_back(lines, opened, NO_DISPLAY)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="simulates Qt on Linux")
def test_a_backend_that_aborts_the_window_process(tmp_path):
    start = ("import os, sys; sys.stderr.write('qt.qpa.xcb: could not connect to display :0\\n'); "
             "sys.stderr.flush(); os.abort()")
    env = stand_ins(tmp_path, webview=FAKE_WEBVIEW.format(start=start))
    closed, lines, opened = show(window.child_command(URL), env={**env, "DISPLAY": ":0", "PYWEBVIEW_GUI": "gtk"})
    assert not closed
    assert_fell_back(lines, opened, "cannot open the display")


def qt_backend_works() -> bool:
    probe = subprocess.run([sys.executable, "-c", "from qtpy import QtWebEngineWidgets"], capture_output=True,
                           timeout=120)
    return probe.returncode == 0 and not window.missing_libraries()


needs_qt = pytest.mark.skipif(not sys.platform.startswith("linux") or not qt_backend_works(),
                              reason="needs the Qt backend: pip install 'ftgui[window]' and the README's libraries")


@needs_qt
def test_real_qt_and_a_display_that_is_not_there():
    env = {**window_env(":987"), "QTWEBENGINE_CHROMIUM_FLAGS": "--no-sandbox"}
    closed, lines, opened = show(window.child_command(URL), env=env)
    assert not closed
    assert_fell_back(lines, opened, "cannot open the display ':987'")


@needs_qt
def test_real_qt_with_a_library_that_does_not_load(tmp_path):
    """Qt would abort (exit 134, blaming libxcb-cursor0); the window process names the library first."""
    broken = tmp_path / "lib"
    broken.mkdir()
    (broken / "libxcb-icccm.so.4").write_bytes(b"")  # found first, and not a library
    env = {**window_env(":0"), "LD_LIBRARY_PATH": str(broken), "QTWEBENGINE_CHROMIUM_FLAGS": "--no-sandbox"}
    closed, lines, opened = show(window.child_command(URL), env=env)
    assert not closed
    assert_fell_back(lines, opened, "(libxcb-icccm.so.4; Debian/Ubuntu: sudo apt-get install libxcb-icccm4)")


@needs_qt
def test_real_qt_aborting_the_window_process():
    """No check can see this one coming: Qt itself aborts (exit 134), the server does not."""
    env = {**window_env(":0"), "QT_QPA_PLATFORM": "bogus", "QTWEBENGINE_CHROMIUM_FLAGS": "--no-sandbox"}
    closed, lines, opened = show(window.child_command(URL), env=env)
    assert not closed
    assert_fell_back(lines, opened, "Qt has no display plugin 'bogus' (is QT_QPA_PLATFORM set to it?)")


@pytest.mark.slow
def test_the_server_outlives_a_window_that_cannot_open(tmp_path, spawn):
    """ftgui --window with no display: one line, and the app goes on being served; Ctrl-C ends it (exit 0)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    process = spawn([sys.executable, "-m", "ftgui", "--window", "--no-browser", "--port", port,
                     "--runs-dir", tmp_path / "runs"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    time.sleep(3)  # the window process has had its chance (it fails at once without a display)
    assert process.poll() is None
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        assert response.status == 200
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    said = [line for line in err.splitlines() if "native window" in line]
    assert said == [f"ftgui: no native window: {NO_DISPLAY}; the app is at http://127.0.0.1:{port}/"], err
    assert "Traceback" not in err and "internal error" not in err


# -- the real window, under Xvfb -------------------------------------------------------------------
@pytest.fixture(scope="module")
def xvfb():
    """A virtual X display, ':N' (skips the test where Xvfb, xwininfo, ImageMagick or Qt is missing)."""
    tools = [tool for tool in ("Xvfb", "xvfb-run", "xwininfo", "import") if not shutil.which(tool)]
    if tools:
        pytest.skip(f"needs {', '.join(tools)} (apt-get install xvfb x11-utils imagemagick)")
    if not sys.platform.startswith("linux") or not qt_backend_works():
        pytest.skip("needs the Qt backend: pip install 'ftgui[window]' and the README's system libraries")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1400x1000x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as numbers:
        number = numbers.readline().strip()
    if not number:
        server.kill()
        pytest.skip("Xvfb did not start")
    yield f":{number}"
    server.terminate()
    server.wait(30)


def windows_titled(display: str, title: str) -> list[tuple[int, str]]:
    """Top-level windows with this title and a WM_CLASS (Qt's 1x1 client-leader window has none)."""
    tree = subprocess.run(["xwininfo", "-root", "-tree"], env={**os.environ, "DISPLAY": display},
                          capture_output=True, text=True, timeout=30).stdout
    return [(int(line.split()[0], 16), line.strip()) for line in tree.splitlines()
            if re.match(rf'\s*0x[0-9a-f]+ "{re.escape(title)}": \("', line)]


def screenshot(display: str, path: Path) -> Image.Image:
    subprocess.run(["import", "-window", "root", str(path)], env={**os.environ, "DISPLAY": display}, check=True,
                   timeout=60, capture_output=True)
    return Image.open(path).convert("RGB")


def busy(image: Image.Image) -> bool:
    """Whether an image shows something: many colours, not one flat fill."""
    colours = image.getcolors(maxcolors=1 << 16)
    return colours is None or len(colours) > 50


class _ClientMessage(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]


class _XEvent(ctypes.Union):
    _fields_ = [("xclient", _ClientMessage), ("pad", ctypes.c_long * 24)]


def close_like_a_window_manager(display: str, window_id: int) -> None:
    """Send WM_DELETE_WINDOW, what a window manager sends when the person clicks the close button."""
    x = ctypes.CDLL("libX11.so.6")
    x.XOpenDisplay.restype = ctypes.c_void_p
    x.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x.XInternAtom.restype = ctypes.c_ulong
    x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.POINTER(_XEvent)]
    x.XFlush.argtypes = x.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = x.XOpenDisplay(display.encode())
    assert connection, f"cannot open {display}"
    try:
        event = _XEvent()
        event.xclient.type = 33  # ClientMessage
        event.xclient.window = window_id
        event.xclient.message_type = x.XInternAtom(connection, b"WM_PROTOCOLS", 0)
        event.xclient.format = 32
        event.xclient.data[0] = x.XInternAtom(connection, b"WM_DELETE_WINDOW", 0)
        assert x.XSendEvent(connection, window_id, 0, 0, ctypes.byref(event))
        x.XFlush(connection)
    finally:
        x.XCloseDisplay(connection)


def window_env(display: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "PYWEBVIEW_GUI",
                                                            "QTWEBENGINE_CHROMIUM_FLAGS",
                                                            "QTWEBENGINE_DISABLE_SANDBOX")}
    return {**env, "DISPLAY": display}


@pytest.mark.slow
def test_the_real_window_opens_shows_the_app_and_closing_it_ends_ftgui(tmp_path, spawn, xvfb):
    env = window_env(xvfb)
    if os.geteuid() == 0:  # QtWebEngine as root: the documented opt-in the README gives
        env["QTWEBENGINE_CHROMIUM_FLAGS"] = "--no-sandbox"
    port = free_port()
    err_file = tmp_path / "stderr.txt"
    with open(err_file, "w") as sink:
        process = spawn([sys.executable, "-m", "ftgui", "--demo", "--window", "--no-browser", "--port", port,
                         "--runs-dir", tmp_path / "runs"], env=env, stdout=subprocess.DEVNULL, stderr=sink)
    deadline = time.monotonic() + 180
    found: list[tuple[int, str]] = []
    while time.monotonic() < deadline and process.poll() is None and not found:
        time.sleep(1)
        found = windows_titled(xvfb, "ftgui")
        fell_back = [line for line in err_file.read_text().splitlines() if "no native window" in line]
        if fell_back and window.NO_SANDBOX in fell_back[0]:  # this machine, not ftgui: the line says what to set
            pytest.skip(f"Chromium's sandbox cannot run here: {fell_back[0]}")
        assert not fell_back, err_file.read_text()
    assert process.poll() is None, err_file.read_text()
    assert found, "no window titled ftgui"
    (window_id, line), = found
    assert '("ftgui" "ftgui")' in line, line  # WM_CLASS: the shortcut's StartupWMClass
    assert re.search(r"\b1280x900\+", line), line
    if shutil.which("xprop"):  # the window carries ftgui's icon (Qt sets _NET_WM_ICON: width, height, pixels)
        icon = ""
        for _ in range(20):
            icon = subprocess.run(["xprop", "-id", str(window_id), "-notype", "32c", "_NET_WM_ICON"], text=True,
                                  env={**os.environ, "DISPLAY": xvfb}, capture_output=True, timeout=30).stdout
            if icon.startswith("_NET_WM_ICON = 256, 256, "):
                break
            time.sleep(0.5)
        assert icon.startswith("_NET_WM_ICON = 256, 256, "), icon[:200]
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "window-xvfb.png"
    image = screenshot(xvfb, shot)
    while not busy(image) and time.monotonic() < deadline:  # the page draws a moment after the window maps
        time.sleep(1)
        image = screenshot(xvfb, shot)
    assert busy(image), f"the screenshot {shot} is blank"
    settle = time.monotonic() + 30  # for the person who looks at it: the page as it stays, not half loaded
    while time.monotonic() < settle:
        time.sleep(1.5)
        before, image = image, screenshot(xvfb, shot)
        if ImageChops.difference(before, image).getbbox() is None:
            break
    close_like_a_window_manager(xvfb, window_id)
    process.wait(timeout=120)
    err = err_file.read_text()
    assert process.returncode == 0, err
    assert "no native window" not in err and "shutting down" in err, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert not windows_titled(xvfb, "ftgui")


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_as_root_the_window_says_what_to_set(xvfb):
    closed, lines, opened = show(window.child_command(URL), env=window_env(xvfb))
    assert not closed
    assert_fell_back(lines, opened, "QTWEBENGINE_CHROMIUM_FLAGS=--no-sandbox")


# -- the window extra and the icon --------------------------------------------------------------------
def test_the_window_extra_brings_a_backend_everywhere():
    tomllib = pytest.importorskip("tomllib")
    from packaging.requirements import Requirement

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["window"]
    for platform, extras in (("linux", {"qt"}), ("win32", set()), ("darwin", set())):
        got = [Requirement(r) for r in extra]
        got = [r for r in got if r.marker is None or r.marker.evaluate({"sys_platform": platform})]
        assert {r.name for r in got} == {"pywebview"}, platform
        assert set().union(*(r.extras for r in got)) == extras, platform  # Windows, macOS: pywebview's own


def test_readme_and_ci_install_the_libraries_the_window_names():
    assert f"sudo apt-get install {window.LINUX_PACKAGES}\n" in (ROOT / "README.md").read_text()
    assert f'WINDOW_PACKAGES="xvfb x11-utils imagemagick {window.LINUX_PACKAGES}"' in (ROOT / ".ci" / "run").read_text()
    assert set(window.LINUX_PACKAGES.split()) <= {*window.XCB_LIBRARIES.values(), *window.WEBENGINE_LIBRARIES.values()}


def test_the_app_has_its_icon_in_the_package():
    image = Image.open(window.ICON)
    assert image.size == (256, 256) and image.mode == "RGBA"
    assert image.getpixel((0, 0))[3] == 0 and image.getpixel((128, 128))[3] == 255  # a rounded tile
    assert '"ftgui.ui" = ["assets/*.png"]' in (ROOT / "pyproject.toml").read_text()


# -- ftgui shortcut ------------------------------------------------------------------------------
def parse_exec(value: str) -> list[str]:
    """A desktop entry's Exec value back into arguments, as the Desktop Entry spec reads it."""
    value = re.sub(r"\\(.)", lambda m: {"s": " ", "n": "\n", "t": "\t", "r": "\r"}.get(m[1], m[1]), value)
    args, current, quoted, i, started = [], "", False, 0, False
    while i < len(value):
        ch = value[i]
        if quoted:
            if ch == "\\" and i + 1 < len(value) and value[i + 1] in '"`$\\':
                current, i = current + value[i + 1], i + 2
                continue
            if ch == '"':
                quoted = False
            else:
                current += ch
        elif ch == '"':
            quoted = started = True
        elif ch == " ":
            if started:
                args.append(current)
            current, started = "", False
        else:
            current, started = current + ch, True
        i += 1
    if started:
        args.append(current)
    return [arg.replace("%%", "%") for arg in args]


def test_linux_shortcut_in_a_fake_home(tmp_path):
    home, data = tmp_path / "home", tmp_path / "xdg-data"
    runs = tmp_path / 'my "runs" $HOME 100% \\ here'
    written = shortcut.install(runs, platform="linux", home=home, env={"XDG_DATA_HOME": str(data)},
                               python="/opt/py env/bin/python")
    entry, icon = data / "applications" / "ftgui.desktop", data / "icons" / "hicolor" / "256x256" / "apps" / "ftgui.png"
    assert written == [entry, icon]
    assert icon.read_bytes() == window.ICON.read_bytes()
    fields = dict(line.split("=", 1) for line in entry.read_text().splitlines()[1:] if line)
    assert entry.read_text().startswith("[Desktop Entry]\n")
    assert (fields["Type"], fields["Name"], fields["Icon"], fields["Terminal"], fields["StartupWMClass"]) == (
        "Application", "ftgui", str(icon), "false", "ftgui")
    assert parse_exec(fields["Exec"]) == ["/opt/py env/bin/python", "-m", "ftgui", "--window", "--runs-dir",
                                          str(runs.resolve())]
    if shutil.which("desktop-file-validate"):
        result = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and "error" not in result.stdout, result.stdout
    assert shortcut.remove(platform="linux", home=home, env={"XDG_DATA_HOME": str(data)}) == [entry, icon]
    assert not entry.exists() and not icon.exists()
    assert shortcut.remove(platform="linux", home=home, env={"XDG_DATA_HOME": str(data)}) == []
    # XDG_DATA_HOME unset, or relative (the spec says to ignore it): ~/.local/share
    for env in ({}, {"XDG_DATA_HOME": "relative/dir"}):
        entry, _ = shortcut.install("runs", platform="linux", home=home, env=env)
        assert entry == home / ".local" / "share" / "applications" / "ftgui.desktop"


def test_windows_shortcut_in_a_fake_home(tmp_path):
    home = tmp_path / "Users" / "me"
    env = {"APPDATA": str(home / "AppData" / "Roaming"), "LOCALAPPDATA": str(home / "AppData" / "Local")}
    programs = home / "AppData" / "Roaming" / "Microsoft" / "Windows" / "Start Menu" / "Programs"
    ran: list[list[str]] = []

    def powershell(args):  # what PowerShell's WScript.Shell would do: write the .lnk
        ran.append(list(args))
        (programs / "ftgui.lnk").write_bytes(b"L\0\0\0")
        return 0

    written = shortcut.install(tmp_path / "runs", platform="win32", home=home, env=env,
                               python=r"C:\Program Files\Python312\python.exe", runner=powershell)
    ico = home / "AppData" / "Local" / "ftgui" / "ftgui.ico"
    assert written == [programs / "ftgui.lnk", ico]
    (args,) = ran
    assert args[0] == "powershell" and args[-2] == "-Command"
    script = args[-1]
    assert f"CreateShortcut('{programs / 'ftgui.lnk'}')" in script
    assert r"$s.TargetPath = 'C:\Program Files\Python312\python.exe'" in script
    assert f"-m ftgui --window --runs-dir {tmp_path / 'runs'}" in script and f"IconLocation = '{ico}'" in script
    assert (48, 48) in Image.open(ico).info["sizes"]
    # no PowerShell: a .bat in the same place
    written = shortcut.install("runs", platform="win32", home=home, env=env, python="python.exe",
                               runner=lambda args: (_ for _ in ()).throw(FileNotFoundError("powershell")))
    bat = programs / "ftgui.bat"
    assert written == [bat, ico] and 'start "" python.exe -m ftgui --window' in bat.read_text()
    assert set(shortcut.remove(platform="win32", home=home, env=env)) == {programs / "ftgui.lnk", bat, ico}
    assert not any(programs.iterdir())


def test_macos_shortcut_in_a_fake_home(tmp_path):
    home = tmp_path / "home"
    (bundle,) = shortcut.install(tmp_path / "runs", platform="darwin", home=home, python="/usr/bin/python3")
    assert bundle == home / "Applications" / "ftgui.app"
    info = plistlib.loads((bundle / "Contents" / "Info.plist").read_bytes())
    assert (info["CFBundleExecutable"], info["CFBundleIconFile"], info["CFBundleName"]) == (
        "ftgui", "ftgui.icns", "ftgui")
    script = bundle / "Contents" / "MacOS" / "ftgui"
    assert os.access(script, os.X_OK)
    assert script.read_text() == f"#!/bin/sh\nexec /usr/bin/python3 -m ftgui --window --runs-dir {tmp_path / 'runs'}\n"
    assert Image.open(bundle / "Contents" / "Resources" / "ftgui.icns").size[0] >= 256
    assert shortcut.remove(platform="darwin", home=home) == [bundle] and not bundle.exists()
    # an ftgui.app that ftgui did not make stays
    (bundle / "Contents").mkdir(parents=True)
    (bundle / "Contents" / "Info.plist").write_bytes(plistlib.dumps({"CFBundleIdentifier": "com.example.other"}))
    assert shortcut.remove(platform="darwin", home=home) == [] and bundle.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux entry")
def test_ftgui_shortcut_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert _with_default_command(["shortcut"]) == ["shortcut"]
    assert main(["shortcut", "--runs-dir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    entry = tmp_path / "data" / "applications" / "ftgui.desktop"
    assert f"ftgui: wrote {entry}" in out and "--window --runs-dir" in out
    assert main(["shortcut", "--remove"]) == 0
    assert f"ftgui: removed {entry}" in capsys.readouterr().out and not entry.exists()
    assert main(["shortcut", "--remove"]) == 0
    assert "no ftgui shortcut to remove" in capsys.readouterr().out


def test_the_apps_footer_puts_ftgui_in_the_applications_menu_on_a_local_app_only(tmp_path, monkeypatch):
    from ftgui.ui.app import add_shortcut, build_app
    from ftgui.ui.context import AppContext, AppOptions

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setattr(sys, "platform", "linux")
    ctx = AppContext(AppOptions(runs_dir=tmp_path / "runs"))
    said = add_shortcut(ctx)
    entry = tmp_path / "data" / "applications" / "ftgui.desktop"
    assert entry.is_file() and str(entry) in said and str(ctx.runs_root) in entry.read_text()
    local = {getattr(b, "elem_id", None) for b in build_app(AppOptions(runs_dir=tmp_path / "runs")).blocks.values()}
    shared = build_app(AppOptions(runs_dir=tmp_path / "runs", share=True))
    assert "add-shortcut" in local
    assert "add-shortcut" not in {getattr(b, "elem_id", None) for b in shared.blocks.values()}
