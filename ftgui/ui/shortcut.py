"""``ftgui shortcut``: ftgui in the desktop's application menu, with its icon, opening
``ftgui --window`` on one runs folder (``--remove`` takes it away).

- Linux (and other freedesktop.org desktops): ``ftgui.desktop`` in ``$XDG_DATA_HOME/applications``
  (default ``~/.local/share/applications``), its icon in the hicolor theme beside it
  (``icons/hicolor/256x256/apps/ftgui.png``).
- Windows: ``ftgui.lnk`` in the Start Menu's Programs folder, made by PowerShell through the
  WScript.Shell COM object, with ``ftgui.ico`` in ``%LOCALAPPDATA%\\ftgui``; where PowerShell
  fails, ``ftgui.bat`` instead (no icon).
- macOS: ``~/Applications/ftgui.app``, a small bundle whose executable is a shell script.

Every function takes the platform, home folder and environment, so the tests write the real
files into a fake home on any system. The entry runs this Python (``python -m ftgui``), so it
works from a virtual environment that is not on PATH.
"""
from __future__ import annotations

import importlib.util
import os
import plistlib
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from PIL import Image

from .window import ICON, TITLE

BUNDLE_ID = "io.github.ftgui"
Runner = Callable[[Sequence[str]], int]


def launch_command(runs_dir: str | Path, python: str | None = None) -> list[str]:
    """What the shortcut runs: ftgui's window on ``runs_dir`` (made absolute)."""
    return [python or sys.executable, "-m", "ftgui", "--window", "--runs-dir",
            str(Path(runs_dir).expanduser().resolve())]


def kind_of(platform: str = sys.platform) -> str:
    if platform.startswith("win"):
        return "windows"
    if platform == "darwin":
        return "macos"
    return "linux"


# -- Linux ------------------------------------------------------------------------------------
def linux_paths(home: Path, env: Mapping[str, str]) -> tuple[Path, Path]:
    """(the desktop entry, the icon) under $XDG_DATA_HOME, or ~/.local/share when it is unset
    or not absolute (as the XDG Base Directory spec says)."""
    data = env.get("XDG_DATA_HOME", "")
    base = Path(data) if data and os.path.isabs(data) else home / ".local" / "share"
    return (base / "applications" / f"{TITLE}.desktop",
            base / "icons" / "hicolor" / "256x256" / "apps" / f"{TITLE}.png")


def exec_field(command: Sequence[str]) -> str:
    """``command`` as a desktop entry's Exec value: arguments with reserved characters quoted
    and escaped, ``%`` doubled, then the string value's own backslash escaping (Desktop Entry spec)."""
    parts = []
    for arg in command:
        if not re.fullmatch(r"[\w@%+=:,./-]+", arg):
            arg = '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'
        parts.append(arg.replace("%", "%%"))
    return " ".join(parts).replace("\\", "\\\\")


def desktop_entry(command: Sequence[str], icon: Path) -> str:
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.0",
        f"Name={TITLE}",
        "GenericName=Image classifier trainer",
        "Comment=Fine-tune timm image classifiers on your own images",
        f"Exec={exec_field(command)}",
        f"Icon={icon}",
        "Terminal=false",
        "Categories=Science;ArtificialIntelligence;",
        "Keywords=timm;pytorch;image;classifier;fine-tune;train;",
        f"StartupWMClass={TITLE}",
        "StartupNotify=true",
        "",
    ])


def _install_linux(command: Sequence[str], home: Path, env: Mapping[str, str]) -> list[Path]:
    entry, icon = linux_paths(home, env)
    icon.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ICON, icon)
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text(desktop_entry(command, icon), encoding="utf-8")
    entry.chmod(0o755)  # some desktops only trust an executable entry
    return [entry, icon]


# -- Windows ----------------------------------------------------------------------------------
def windows_paths(home: Path, env: Mapping[str, str]) -> tuple[Path, Path, Path]:
    """(the .lnk, the .bat fallback, the .ico) for this user."""
    roaming = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
    local = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
    programs = roaming / "Microsoft" / "Windows" / "Start Menu" / "Programs"
    return programs / f"{TITLE}.lnk", programs / f"{TITLE}.bat", local / TITLE / f"{TITLE}.ico"


def windowless_python(python: str) -> str:
    """pythonw.exe beside python.exe, when there is one: the shortcut opens no console window."""
    candidate = Path(python).with_name("pythonw.exe")
    return str(candidate) if candidate.name != Path(python).name and candidate.exists() else python


def powershell_script(link: Path, command: Sequence[str], icon: Path, workdir: Path) -> str:
    def quoted(text: object) -> str:
        return "'" + str(text).replace("'", "''") + "'"

    return "; ".join([
        f"$s = (New-Object -ComObject WScript.Shell).CreateShortcut({quoted(link)})",
        f"$s.TargetPath = {quoted(command[0])}",
        f"$s.Arguments = {quoted(subprocess.list2cmdline(list(command[1:])))}",
        f"$s.WorkingDirectory = {quoted(workdir)}",
        f"$s.IconLocation = {quoted(icon)}",
        "$s.Description = 'ftgui: fine-tune image classifiers'",
        "$s.Save()",
    ])


def _install_windows(command: Sequence[str], home: Path, env: Mapping[str, str], runner: Runner) -> list[Path]:
    link, bat, icon = windows_paths(home, env)
    command = [windowless_python(command[0]), *command[1:]]
    icon.parent.mkdir(parents=True, exist_ok=True)
    Image.open(ICON).save(icon, sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (256, 256)])
    link.parent.mkdir(parents=True, exist_ok=True)
    script = powershell_script(link, command, icon, Path(command[-1]).parent)
    try:
        code = runner(["powershell", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
                       "-Command", script])
    except OSError:
        code = -1
    if code == 0 and link.exists():
        bat.unlink(missing_ok=True)
        return [link, icon]
    bat.write_text(f'@echo off\r\nstart "" {subprocess.list2cmdline(list(command))}\r\n', encoding="utf-8")
    return [bat, icon]


def _run(args: Sequence[str]) -> int:
    return subprocess.run(list(args), capture_output=True, timeout=60).returncode


# -- macOS ------------------------------------------------------------------------------------
def macos_bundle(home: Path) -> Path:
    return home / "Applications" / f"{TITLE}.app"


def _install_macos(command: Sequence[str], home: Path) -> list[Path]:
    bundle = macos_bundle(home)
    contents = bundle / "Contents"
    (contents / "MacOS").mkdir(parents=True, exist_ok=True)
    (contents / "Resources").mkdir(parents=True, exist_ok=True)
    Image.open(ICON).save(contents / "Resources" / f"{TITLE}.icns")
    script = contents / "MacOS" / TITLE
    script.write_text(f"#!/bin/sh\nexec {shlex.join(command)}\n", encoding="utf-8")
    script.chmod(0o755)
    with open(contents / "Info.plist", "wb") as handle:
        plistlib.dump({"CFBundleName": TITLE, "CFBundleDisplayName": TITLE, "CFBundleIdentifier": BUNDLE_ID,
                       "CFBundleExecutable": TITLE, "CFBundleIconFile": f"{TITLE}.icns",
                       "CFBundlePackageType": "APPL", "CFBundleShortVersionString": _version(),
                       "NSHighResolutionCapable": True}, handle)
    return [bundle]


def _version() -> str:
    from .. import __version__

    return __version__


# -- both ways --------------------------------------------------------------------------------
def install(runs_dir: str | Path = "runs", *, platform: str = sys.platform, home: Path | None = None,
            env: Mapping[str, str] | None = None, python: str | None = None,
            runner: Runner = _run) -> list[Path]:
    """Install the shortcut; returns what was written."""
    home = home or Path.home()
    env = os.environ if env is None else env
    command = launch_command(runs_dir, python)
    kind = kind_of(platform)
    if kind == "windows":
        return _install_windows(command, home, env, runner)
    if kind == "macos":
        return _install_macos(command, home)
    return _install_linux(command, home, env)


def remove(*, platform: str = sys.platform, home: Path | None = None,
           env: Mapping[str, str] | None = None) -> list[Path]:
    """Remove the shortcut; returns what was removed (nothing, when there was none)."""
    home = home or Path.home()
    env = os.environ if env is None else env
    kind = kind_of(platform)
    if kind == "macos":
        bundle = macos_bundle(home)
        plist = bundle / "Contents" / "Info.plist"
        if not plist.is_file():
            return []
        with open(plist, "rb") as handle:
            if plistlib.load(handle).get("CFBundleIdentifier") != BUNDLE_ID:
                return []  # an ftgui.app that is not ours: leave it
        shutil.rmtree(bundle)
        return [bundle]
    paths = list(windows_paths(home, env) if kind == "windows" else linux_paths(home, env))
    removed = [path for path in paths if path.is_file()]
    for path in removed:
        path.unlink()
    return removed


def window_installed() -> bool:
    """Whether pywebview is here (without it the shortcut's ftgui opens the browser)."""
    return importlib.util.find_spec("webview") is not None
