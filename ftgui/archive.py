"""Where image bytes come from: a folder or a zip archive, read safely.

Both sources list their files as relative posix names and hand out bytes by name, so
:mod:`ftgui.data` does not care which one it has. Zips are read in place, never extracted, so
no entry name can write anywhere; names that would escape the archive, symlinks, encrypted
entries and likely zip bombs are listed as skipped instead. Sources pickle without open file
handles: a DataLoader worker process reopens the zip on first use.
"""
from __future__ import annotations

import os
import stat
import threading
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from .errors import FtguiError

MAX_ZIP_ENTRIES = 100_000
MAX_ZIP_TOTAL_BYTES = 4 * 1024**3  # sum of the sizes the entries declare
MAX_FILE_BYTES = 256 * 1024**2  # per file or zip entry
MAX_COMPRESSION_RATIO = 200  # checked for entries over RATIO_CHECK_MIN_BYTES
RATIO_CHECK_MIN_BYTES = 1024**2

_IGNORED_NAMES = {"__macosx", "thumbs.db", "desktop.ini"}


class Unusable(Exception):
    """A file cannot be used; ``str(exc)`` is the reason shown to the user."""


@dataclass(frozen=True)
class Entry:
    name: str  # relative posix path inside the source
    size: int  # bytes (as declared, for zip entries)


def is_ignored(name: str) -> bool:
    """Hidden and system clutter (``.DS_Store``, ``__MACOSX/``...) that is skipped silently."""
    return any(part.startswith(".") or part.lower() in _IGNORED_NAMES for part in name.split("/"))


def _mb(size: int) -> str:
    return f"{size / 1024**2:.0f} MB"


class FolderSource:
    """Files under a folder, symlinks followed (with a guard against link loops)."""

    def __init__(self, root: Path):
        self.root = root

    def list(self) -> tuple[list[Entry], set[str], list[tuple[str, str]]]:
        """Return (files, folders, skipped (name, reason)); ignored names are left out."""
        files: list[Entry] = []
        dirs: set[str] = set()
        skipped: list[tuple[str, str]] = []
        seen: set[tuple[int, int]] = set()
        stack = [(self.root, "")]
        while stack:
            folder, prefix = stack.pop()
            info = folder.stat()
            if (info.st_dev, info.st_ino) in seen:
                continue  # a symlink loop, or the same folder linked twice
            seen.add((info.st_dev, info.st_ino))
            try:
                children = list(os.scandir(folder))
            except OSError as exc:
                if not prefix:
                    raise FtguiError(
                        f"cannot open {folder} ({exc.strerror}): check its permissions"
                    ) from None
                skipped.append((prefix.rstrip("/"), f"cannot open folder: {exc.strerror}"))
                continue
            for child in children:
                name = prefix + child.name
                if is_ignored(child.name):
                    continue
                try:
                    st = os.stat(child.path)  # follows symlinks
                except OSError as exc:
                    skipped.append((name, f"cannot read: {exc.strerror or exc}"))
                    continue
                if stat.S_ISDIR(st.st_mode):
                    dirs.add(name)
                    stack.append((Path(child.path), name + "/"))
                elif stat.S_ISREG(st.st_mode):
                    files.append(Entry(name, st.st_size))
                else:
                    skipped.append((name, "not a regular file"))
        return files, dirs, skipped

    def read(self, name: str) -> bytes:
        path = self.root.joinpath(*name.split("/"))
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise Unusable(f"cannot read: {exc.strerror or exc}") from None
        if len(data) > MAX_FILE_BYTES:
            raise Unusable(f"file too large (over {_mb(MAX_FILE_BYTES)})")
        return data


def _split_zip_name(name: str) -> tuple[list[str], str | None]:
    """Return (path components, reason to skip or None) for a zip entry name."""
    name = name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[0].isalpha() and name[1] == ":"):
        return [], "unsafe path in zip (absolute path)"
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return [], "unsafe path in zip ('..' leads outside the archive)"
    return parts, None


class ZipSource:
    """Entries of a zip archive, read in place with size limits."""

    def __init__(self, path: Path):
        self.path = path
        self._names: dict[str, str] = {}  # our name -> the entry's name in the archive
        self._zip: zipfile.ZipFile | None = None
        self._pid = -1
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {"path": self.path, "_names": self._names}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"])
        self._names = state["_names"]

    def _open(self) -> zipfile.ZipFile:
        """The archive, opened once per process: a forked worker must not share a file offset."""
        if self._pid != os.getpid():
            self._zip, self._lock, self._pid = None, threading.Lock(), os.getpid()
        with self._lock:
            if self._zip is None:
                try:
                    self._zip = zipfile.ZipFile(self.path)
                except (OSError, zipfile.BadZipFile) as exc:
                    raise FtguiError(
                        f"cannot read the zip file {self.path} ({exc}): check the file, or unzip "
                        "it and give the folder"
                    ) from None
        return self._zip

    def list(self) -> tuple[list[Entry], set[str], list[tuple[str, str]]]:
        """Return (files, folders, skipped (name, reason)); ignored names are left out.

        Raises FtguiError for archives too large to look at: too many entries, or more
        declared bytes in all than :data:`MAX_ZIP_TOTAL_BYTES`.
        """
        infos = self._open().infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            raise FtguiError(
                f"{self.path} has {len(infos)} entries, more than the {MAX_ZIP_ENTRIES} ftgui "
                "reads from a zip: split it or unzip it and give the folder"
            )
        total = sum(info.file_size for info in infos)
        if total > MAX_ZIP_TOTAL_BYTES:
            raise FtguiError(
                f"{self.path} unpacks to {total / 1024**3:.1f} GB, more than the "
                f"{MAX_ZIP_TOTAL_BYTES / 1024**3:.0f} GB ftgui reads from a zip: unzip it and "
                "give the folder"
            )
        files: list[Entry] = []
        dirs: set[str] = set()
        skipped: list[tuple[str, str]] = []
        for info in infos:
            parts, unsafe = _split_zip_name(info.filename)
            shown = "/".join(parts) or info.filename
            if unsafe is None and (not parts or is_ignored(shown) or shown in self._names):
                continue  # clutter, or a second entry under the same name
            dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
            reason = unsafe or self._check(info)
            if reason is None and info.filename.endswith(("/", "\\")):
                dirs.add(shown)
            elif reason is not None:
                skipped.append((info.filename if unsafe else shown, reason))
            else:
                self._names[shown] = info.filename
                files.append(Entry(shown, info.file_size))
        return files, dirs, skipped

    @staticmethod
    def _check(info: zipfile.ZipInfo) -> str | None:
        if stat.S_ISLNK(info.external_attr >> 16):
            return "symbolic link in zip (not followed)"
        if info.flag_bits & 0x1:
            return "encrypted zip entry (password-protected)"
        if info.file_size > MAX_FILE_BYTES:
            return (f"looks like a zip bomb: unpacks to {_mb(info.file_size)} "
                    f"(limit {_mb(MAX_FILE_BYTES)})")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_CHECK_MIN_BYTES and ratio > MAX_COMPRESSION_RATIO:
            return (f"looks like a zip bomb: compressed {ratio:.0f}:1 "
                    f"(limit {MAX_COMPRESSION_RATIO}:1)")
        return None

    def read(self, name: str) -> bytes:
        archive_name = self._names.get(name)
        if archive_name is None:
            raise Unusable("not in the zip file")
        zf = self._open()
        try:
            with self._lock:  # one reader at a time: the threads share the file offset
                info = zf.getinfo(archive_name)
                limit = min(info.file_size, MAX_FILE_BYTES)
                # read one byte more than declared: a header that lies about the size
                # is caught here instead of filling memory
                with zf.open(info) as f:
                    data = f.read(limit + 1)
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile, NotImplementedError,
                RuntimeError, ValueError, KeyError) as exc:
            raise Unusable(f"damaged zip entry: {exc}") from None
        if len(data) > limit:
            raise Unusable("looks like a zip bomb: unpacks to more bytes than its header declares")
        return data
