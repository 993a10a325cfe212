"""Where image bytes come from: a folder or a zip archive, read safely.

Both sources list their files as relative posix names and hand out bytes by name, so
:mod:`ftgui.data` does not care which one it has. Zips are read in place, never extracted, so
no entry name can write anywhere; names that would escape the archive, symlinks, encrypted
entries, repeated names and likely zip bombs are listed as skipped instead. Names are listed
as :func:`shown_name` gives them: one printable line, whatever bytes the name holds. Sources
pickle without open file handles: a DataLoader worker process reopens the zip on first use.
"""
from __future__ import annotations

import os
import re
import stat
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import FtguiError
from .i18n import tr

MAX_ZIP_ENTRIES = 100_000
MAX_ZIP_DIRECTORY_BYTES = 32 * 1024**2  # the zip's table of contents, checked before parsing it
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


def _size(size: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2)):
        if size >= scale:
            return f"{size / scale:.{1 if size < 10 * scale else 0}f} {unit}"
    return f"{size} bytes"


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_UNSHOWN = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # a byte that is not UTF-8 (os's surrogateescape)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown_name(name: str) -> str:
    """``name`` as one printable line: control characters, bidi overrides and bytes that are not
    UTF-8 become ``\\xNN`` or ``\\uNNNN``, so a file name can go into JSON, a log line or a
    terminal without breaking it (or rewriting the screen)."""
    return _UNSHOWN.sub(_escape, name)


class FolderSource:
    """Files under a folder, symlinks followed (with a guard against link loops).

    Names are listed as :func:`shown_name` gives them (a name with a byte that is not UTF-8, or
    a control character, is escaped) and mapped back to the name on disk when read.
    """

    def __init__(self, root: Path):
        self.root = root
        self._real: dict[str, str] = {}  # shown name -> name on disk, where they differ

    def list(self) -> tuple[list[Entry], set[str], list[tuple[str, str]]]:
        """Return (files, folders, skipped (name, reason)); ignored names are left out (and
        kept in ``self.ignored``)."""
        files: list[Entry] = []
        dirs: set[str] = set()
        skipped: list[tuple[str, str]] = []
        seen: set[tuple[int, int]] = set()
        self._real = {}
        self.ignored: list[str] = []
        stack = [(self.root, "", "")]  # (folder, its shown name + "/", its name on disk + "/")
        while stack:
            folder, prefix, real_prefix = stack.pop()
            try:
                info = folder.stat()
                if (info.st_dev, info.st_ino) in seen:
                    continue  # a symlink loop, or the same folder linked twice
                seen.add((info.st_dev, info.st_ino))
                children = list(os.scandir(folder))
            except OSError as exc:
                if not prefix:
                    raise FtguiError(tr("cannot open {folder} ({why}): check its permissions",
                                        folder=shown_name(str(folder)), why=exc.strerror)) from None
                skipped.append((prefix.rstrip("/"), tr("cannot open folder: {why}", why=exc.strerror)))
                continue
            for child in children:
                if is_ignored(child.name):
                    self.ignored.append(prefix + shown_name(child.name))
                    continue
                shown = shown_name(child.name)
                name, real = prefix + shown, real_prefix + child.name
                if shown != child.name and os.path.lexists(os.path.join(folder, shown)):
                    skipped.append((name, tr("its name, escaped as shown, is another file's name")))
                    continue
                try:
                    st = os.stat(child.path)  # follows symlinks
                except OSError as exc:
                    skipped.append((name, tr("cannot read: {why}", why=exc.strerror or exc)))
                    continue
                if stat.S_ISDIR(st.st_mode):
                    dirs.add(name)
                    stack.append((Path(child.path), name + "/", real + "/"))
                elif stat.S_ISREG(st.st_mode):
                    files.append(Entry(name, st.st_size))
                    if real != name:
                        self._real[name] = real
                else:
                    skipped.append((name, "not a regular file"))
        return files, dirs, skipped

    def read(self, name: str) -> bytes:
        path = self.root.joinpath(*self._real.get(name, name).split("/"))
        try:
            with open(path, "rb") as f:
                # read the size the file has, not the cap: read(n) reserves n bytes up front,
                # 256 MB a file (and a thread) that Windows counts against its memory
                size = os.fstat(f.fileno()).st_size
                data = f.read(size + 1) if size <= MAX_FILE_BYTES else None
                if data is not None and len(data) > size:  # it grew since: on, up to the cap
                    data += f.read(MAX_FILE_BYTES + 1 - len(data))
        except OSError as exc:
            raise Unusable(tr("cannot read: {why}", why=exc.strerror or exc)) from None
        if data is None or len(data) > MAX_FILE_BYTES:
            raise Unusable(tr("file too large (over {limit})", limit=_size(MAX_FILE_BYTES)))
        return data


def _split_zip_name(name: str) -> tuple[list[str], str | None]:
    """Return (path components, reason to skip or None) for a zip entry name."""
    name = shown_name(name.replace("\\", "/"))
    if name.startswith("/") or (len(name) > 1 and name[0].isalpha() and name[1] == ":"):
        return [], tr("unsafe path in zip (absolute path)")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return [], tr("unsafe path in zip ('..' leads outside the archive)")
    return parts, None


def _entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's name as its writer meant it. Without the UTF-8 flag (bit 11) the zip format
    says cp437, and zipfile decodes it so; but Linux `zip` 3.0 and macOS store UTF-8 names
    without the flag. A cp437 name with bytes over 127 is almost never valid UTF-8, so a name
    whose bytes are valid UTF-8 is read as UTF-8, any other as cp437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except UnicodeError:
        return info.filename


class ZipSource:
    """Entries of a zip archive, read in place with size limits."""

    def __init__(self, path: Path):
        self.path = path
        # our name -> (position, name) of the entry in the archive's table of contents: a
        # name can repeat there, and zipfile's getinfo() would hand out the last one
        self._names: dict[str, tuple[int, str]] = {}
        self._zip: zipfile.ZipFile | None = None
        self._pid = -1
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {"path": self.path, "_names": self._names}

    def __setstate__(self, state: dict) -> None:
        type(self).__init__(self, state["path"])
        self._names = state["_names"]

    def _open(self) -> zipfile.ZipFile:
        """The archive, opened once per process: a forked worker must not share a file offset."""
        if self._pid != os.getpid():
            self._zip, self._lock, self._pid = None, threading.Lock(), os.getpid()
        with self._lock:
            if self._zip is None:
                try:
                    self._zip = zipfile.ZipFile(self.path)
                except Exception as exc:  # noqa: BLE001 - a damaged table of contents raises
                    # BadZipFile, but also UnicodeDecodeError, ValueError, EOFError...
                    raise FtguiError(tr("cannot read the zip file {path} ({why}): check the file, or unzip it "
                                        "and give the folder", path=self.path, why=_why(exc))) from None
        return self._zip

    def _check_directory(self) -> None:
        """Refuse a zip whose table of contents is too big before parsing it: Python's zipfile
        keeps an object per entry, so a file-count bomb would fill memory before
        :meth:`list` could count the entries."""
        try:  # zipfile's own reader of the end record: private, so a future Python without
            # it only loses this early check (list() still counts the entries)
            with open(self.path, "rb") as f:
                end = zipfile._EndRecData(f)  # type: ignore[attr-defined]
            entries = int(end[zipfile._ECD_ENTRIES_TOTAL])  # type: ignore[attr-defined]
            size = int(end[zipfile._ECD_SIZE])  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - _open() reports a damaged zip
            return
        if entries > MAX_ZIP_ENTRIES:
            self._too_many(entries)
        if size > MAX_ZIP_DIRECTORY_BYTES:
            raise FtguiError(tr("{path} has a {size} table of contents, more than the {limit} ftgui reads from a "
                                "zip: split it or unzip it and give the folder", path=self.path, size=_size(size),
                                limit=_size(MAX_ZIP_DIRECTORY_BYTES)))

    def _too_many(self, entries: int) -> None:
        raise FtguiError(tr("{path} has {entries} entries, more than the {limit} ftgui reads from a zip: split it "
                            "or unzip it and give the folder", path=self.path, entries=entries, limit=MAX_ZIP_ENTRIES))

    def list(self) -> tuple[list[Entry], set[str], list[tuple[str, str]]]:
        """Return (files, folders, skipped (name, reason)); ignored names are left out.

        Raises FtguiError for archives too large to look at: too many entries, a table of
        contents over :data:`MAX_ZIP_DIRECTORY_BYTES`, or more declared bytes in all than
        :data:`MAX_ZIP_TOTAL_BYTES`. A second entry under a name already listed is skipped.
        """
        self._check_directory()
        infos = self._open().infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            self._too_many(len(infos))
        total = sum(info.file_size for info in infos)
        if total > MAX_ZIP_TOTAL_BYTES:
            raise FtguiError(tr("{path} unpacks to {size}, more than the {limit} ftgui reads from a zip: unzip it "
                                "and give the folder", path=self.path, size=_size(total),
                                limit=_size(MAX_ZIP_TOTAL_BYTES)))
        files: list[Entry] = []
        dirs: set[str] = set()
        skipped: list[tuple[str, str]] = []
        self._names = {}
        self.ignored = []
        for index, info in enumerate(infos):
            name = _entry_name(info)
            parts, unsafe = _split_zip_name(name)
            shown = "/".join(parts) or shown_name(name)
            if unsafe is None and (not parts or is_ignored(shown)):
                if parts and not name.endswith(("/", "\\")):
                    self.ignored.append(shown)  # clutter: noted, never read
                continue
            dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
            reason = unsafe or self._check(info)
            if reason is None and name.endswith(("/", "\\")):
                dirs.add(shown)
            elif reason is not None:
                skipped.append((shown_name(name) if unsafe else shown, reason))
            elif shown in self._names:
                skipped.append((shown_name(name),
                                tr("a second zip entry named {name} (the first one is used)", name=shown)))
            else:
                self._names[shown] = (index, info.filename)
                files.append(Entry(shown, info.file_size))
        return files, dirs, skipped

    @staticmethod
    def _check(info: zipfile.ZipInfo) -> str | None:
        if stat.S_ISLNK(info.external_attr >> 16):
            return tr("symbolic link in zip (not followed)")
        if info.flag_bits & 0x1:
            return tr("encrypted zip entry (password-protected)")
        if info.file_size > MAX_FILE_BYTES:
            return tr("looks like a zip bomb: unpacks to {size} (limit {limit})", size=_size(info.file_size),
                      limit=_size(MAX_FILE_BYTES))
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_CHECK_MIN_BYTES and ratio > MAX_COMPRESSION_RATIO:
            return tr("looks like a zip bomb: compressed {ratio}:1 (limit {limit}:1)", ratio=f"{ratio:.0f}",
                      limit=MAX_COMPRESSION_RATIO)
        return None

    def read(self, name: str) -> bytes:
        if name not in self._names:
            raise Unusable("not in the zip file")
        index, archive_name = self._names[name]
        zf = self._open()
        try:
            with self._lock:  # one reader at a time: the threads share the file offset
                info = zf.infolist()[index]
                if info.filename != archive_name:
                    raise Unusable("not in the zip file any more")
                limit = min(info.file_size, MAX_FILE_BYTES)
                # read one byte more than declared: a header that lies about the size
                # is caught here instead of filling memory
                with zf.open(info) as f:
                    data = f.read(limit + 1)
        except Unusable:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever a damaged entry raises
            # (BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError...)
            raise Unusable(tr("damaged zip entry: {why}", why=_why(exc))) from None
        if len(data) > limit:
            raise Unusable(tr("looks like a zip bomb: unpacks to more bytes than its header declares"))
        return data
