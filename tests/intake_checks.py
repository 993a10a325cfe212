"""Shared by test_fuzz.py and test_traps.py: tiny images in every format, zips with any entry
names, a snapshot of a folder tree and a guard that records every write the process makes.

Not a test module (pytest collects only test_*.py); the tests import it by name.
"""
from __future__ import annotations

import io
import os
import sys
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ftgui import FtguiError

Image.init()  # register every plugin now, so no import (and no .pyc write) happens under guard

# format -> file extension; the formats the brief names, then a few more Pillow reads
FORMATS = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp",
           "TIFF": ".tif"}


def image_bytes(fmt: str = "PNG", mode: str = "RGB", size: tuple[int, int] = (8, 8),
                seed: int = 0, **save) -> bytes:
    """A small noisy image (so that cutting it leaves real pixel data) saved as ``fmt``."""
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    image = rgb.convert(mode) if mode not in ("I;16", "I", "F") else \
        rgb.convert("L").convert(mode if mode != "I;16" else "I").convert(mode)
    buf = io.BytesIO()
    image.save(buf, fmt, **save)
    return buf.getvalue()


def good_images() -> list[tuple[str, bytes]]:
    """(extension, bytes) of valid tiny images: every FORMATS entry in a few modes and sizes."""
    out = []
    for seed, (fmt, ext) in enumerate(FORMATS.items()):
        modes = {"PNG": ["RGB", "RGBA", "P", "L", "LA", "1", "I;16"], "JPEG": ["RGB", "L", "CMYK"],
                 "GIF": ["P", "L"], "BMP": ["RGB", "P", "1"], "WEBP": ["RGB", "RGBA"],
                 "TIFF": ["RGB", "CMYK", "I;16", "F", "LA", "P"]}[fmt]
        for i, mode in enumerate(modes):
            size = ((5, 7), (16, 16), (33, 9))[i % 3]
            out.append((ext, image_bytes(fmt, mode, size, seed=seed * 10 + i)))
    return out


# --- zips with whatever entry names -------------------------------------------------------


@dataclass
class ZipEntry:
    name: str
    data: bytes = b""
    method: int = zipfile.ZIP_DEFLATED
    is_dir: bool = False
    symlink: bool = False
    encrypted: bool = False  # only the flag bit: the bytes are not really encrypted


def write_zip_entries(path: Path, entries: list[ZipEntry]) -> Path:
    """Write ``entries`` as they are: empty names, '..', backslashes and duplicates included
    (``ZipFile.writestr`` cannot write an empty name, ``ZipFile.open(..., 'w')`` can)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name"
        with zipfile.ZipFile(path, "w") as zf:
            for entry in entries:
                info = zipfile.ZipInfo(entry.name, date_time=(2024, 1, 1, 0, 0, 0))
                info.compress_type = entry.method
                if entry.is_dir:
                    info.external_attr = (0o40755 << 16) | 0x10
                elif entry.symlink:
                    info.external_attr = 0o120777 << 16
                else:
                    info.external_attr = 0o100644 << 16
                with zf.open(info, "w") as f:
                    f.write(entry.data)
                if entry.encrypted:
                    info.flag_bits |= 0x1  # written into the central directory on close
    return path


def entry_fate(name: str) -> str:
    """What the intake must do with a zip file entry called ``name``, worked out here
    independently of ftgui.archive: 'unsafe' (reported under its raw name), 'quiet'
    (clutter, skipped silently) or the posix name it is listed under."""
    from ftgui.archive import is_ignored

    plain = name.replace("\\", "/")
    if plain.startswith("/") or (len(plain) > 1 and plain[0].isalpha() and plain[1] == ":"):
        return "unsafe"
    parts = [p for p in plain.split("/") if p not in ("", ".")]
    if ".." in parts:
        return "unsafe"
    if not parts or is_ignored("/".join(parts)):
        return "quiet"
    return "/".join(parts)


# --- what the intake may and may not do ----------------------------------------------------


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every path under ``folder`` with its type, size and modification time."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[os.path.relpath(path, folder)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_CHANGE_EVENTS = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.link", "os.symlink",
                  "os.truncate", "os.chmod", "os.chown", "os.utime", "shutil.rmtree",
                  "shutil.move", "shutil.copyfile", "subprocess.Popen", "os.system", "os.exec",
                  "os.posix_spawn", "os.spawn", "os.fork", "os.startfile", "tempfile.mkstemp",
                  "tempfile.mkdtemp"}
_watching = False
_bystanders: set[int] = set()  # threads that were running before the block (another test's)
_writes: list[str] = []


def _audit(event: str, args: tuple) -> None:
    if not _watching or threading.get_ident() in _bystanders:
        return
    if event == "open":
        path, mode, flags = (tuple(args) + (None, None, 0))[:3]
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
            (isinstance(flags, int) and flags & _WRITE_FLAGS)
        if writes:
            _writes.append(f"open {path!r} mode={mode!r} flags={flags!r}")
    elif event in _CHANGE_EVENTS:
        _writes.append(f"{event} {args!r}"[:300])


sys.addaudithook(_audit)  # audit hooks cannot be removed; it does nothing unless watching


@contextmanager
def no_writes() -> Iterator[list[str]]:
    """Record every file opened for writing, file changed or program started while the block
    runs, by this thread or one started meanwhile (the intake's decoding threads); the caller
    asserts the list is empty afterwards."""
    global _watching
    _writes.clear()
    _bystanders.clear()
    me = threading.current_thread()
    _bystanders.update(t.ident for t in threading.enumerate() if t is not me)
    _watching = True
    try:
        yield _writes
    finally:
        _watching = False


def check_collection(c) -> None:
    """The properties every result of load_images has."""
    assert len(c.paths) == len(c.labels) and len(c.classes) >= 2
    for i in range(len(c.paths)):
        image = c.open_image(i)
        assert image.mode == "RGB" and image.width > 0 and image.height > 0
    for s in c.skipped:
        assert isinstance(s.reason, str) and s.reason.strip(), s
        assert "\n" not in s.reason and "\r" not in s.reason, s
    for w in c.warnings:
        assert w.strip() and "\n" not in w
    report = c.report()
    import json

    json.dumps(report, ensure_ascii=False).encode("utf-8")  # what the engine writes


def check_error(exc: FtguiError) -> None:
    text = str(exc)
    assert text.strip() and "\n" not in text and "\r" not in text, text
