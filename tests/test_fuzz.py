"""Property-based fuzzing of the image intake (ftgui.data, ftgui.archive) with hypothesis.

Zips built from hostile entry names and contents, folder trees with odd names, and valid
images with flipped bytes or cut short go through ``load_images`` and the
``iter_prediction_inputs`` loaders. Whatever the input:

* nothing escapes but :class:`ftgui.FtguiError`, and its message is one line;
* when ``load_images`` returns, every usable image opens as RGB, every skipped file has a
  one-line reason, every file is either used or reported (clutter such as ``.DS_Store``
  aside), and the report is writable as JSON;
* nothing is written anywhere: the tmp tree is unchanged (zips are read, never extracted)
  and no file is opened for writing and no program started, by the intake or its threads.

The runs are derandomized so CI sees the same examples every time; set
``FTGUI_FUZZ_EXAMPLES=2000`` (say) for a longer local hunt.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ftgui import FtguiError, decode
from ftgui.archive import shown_name
from ftgui.data import iter_prediction_inputs, load_images

from intake_checks import (
    FORMATS,
    ZipEntry,
    check_collection,
    check_error,
    entry_fate,
    good_images,
    image_bytes,
    no_writes,
    snapshot,
    write_zip_entries,
)

EXAMPLES = int(os.environ.get("FTGUI_FUZZ_EXAMPLES", "0"))
# Pillow warns about some broken files (corrupt EXIF, truncated TIFF) before they fail
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def fuzz(default: int):
    return settings(max_examples=EXAMPLES or default, deadline=None, derandomize=True,
                    database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture
def small_pixel_cap(monkeypatch):
    """A mutated header can claim up to the real cap (89 M pixels, ~350 MB); 1 M keeps the
    fuzzing fast and makes the cap itself come up more often."""
    monkeypatch.setattr(decode, "MAX_PIXELS", 1 << 20)


GOOD = good_images()
GOOD_BYTES = [b for _, b in GOOD]
EXTENSIONS = sorted({*FORMATS.values(), ".jpeg", ".txt", ".zip", ".eps", ""})


def two_good_classes(prefix: str = "") -> list[tuple[str, bytes]]:
    return [(f"{prefix}{c}/{i}.png", image_bytes(seed=100 + n * 3 + i))
            for n, c in enumerate(("good_a", "good_b")) for i in range(2)]


# --- strategies ----------------------------------------------------------------------------

name_part = st.one_of(
    st.sampled_from(["cat", "dog", "a b", "猫", "🐶 dogs", "Ünïcödé", "e\u0301", "\u00e9",
                     "..", ".", "", ".hidden", "__MACOSX", "Thumbs.db", "desktop.ini", "C:", "c:x",
                     "x\\..\\y", " ", "con", "a" * 60]),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00/"), max_size=6),
)


CLASS_DIRS = ["good_a/", "good_b/", "wrap/good_a/", "cat/", "猫/", "../good_a/", "/good_b/",
              "good_a\\", "good_a/../../", "C:\\good_a\\", "./good_b/", "good_a//"]


@st.composite
def zip_names(draw) -> str:
    parts = draw(st.lists(name_part, min_size=1, max_size=3))
    sep = draw(st.sampled_from(["/", "/", "\\"]))
    name = sep.join(parts)
    if draw(st.integers(0, 2)):  # mostly inside a class folder, so that it gets decoded
        name = draw(st.sampled_from(CLASS_DIRS)) + name
    else:
        name = draw(st.sampled_from(["", "/", "\\", "./", "../", "C:/", "//server/"])) + name
    return name + draw(st.sampled_from(EXTENSIONS))


@st.composite
def mutated(draw, base: bytes) -> bytes:
    """``base`` with a few bytes flipped, set or inserted, and maybe cut short."""
    out = bytearray(base)
    for _ in range(draw(st.integers(0, 4))):
        if not out:
            break
        at = draw(st.integers(0, len(out) - 1))
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        if kind == "flip":
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            out[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80]))
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del out[at:at + draw(st.integers(1, 16))]
    if draw(st.booleans()):
        out = out[: draw(st.integers(0, len(out)))]
    return bytes(out)


contents = st.one_of(
    st.just(b""),
    st.binary(max_size=64),
    st.sampled_from(GOOD_BYTES),
    st.sampled_from(GOOD_BYTES).flatmap(mutated),
    st.sampled_from(GOOD_BYTES).map(lambda b: b[: len(b) // 2]),
    st.sampled_from([b"PK\x03\x04", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM",
                     b"RIFF\x00\x00\x00\x00WEBP", b"II*\x00", b"%!PS-Adobe-3.0 EPSF-3.0\n"]),
)


@st.composite
def zip_entry(draw) -> ZipEntry:
    kind = draw(st.sampled_from(["file"] * 12 + ["dir", "symlink", "encrypted"]))
    name = draw(zip_names())
    return ZipEntry(
        name + "/" if kind == "dir" else name,
        b"" if kind == "dir" else draw(contents),
        draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                              zipfile.ZIP_LZMA])),
        is_dir=kind == "dir", symlink=kind == "symlink", encrypted=kind == "encrypted",
    )



@st.composite
def zip_entries(draw) -> list[ZipEntry]:
    entries = []
    if draw(st.integers(0, 3)):
        wrapper = draw(st.sampled_from(["", "", "", "wrap/", "a b/🐶/"]))
        entries += [ZipEntry(n, d) for n, d in two_good_classes(wrapper)]
    entries += draw(st.lists(zip_entry(), max_size=8))
    if entries and draw(st.booleans()):  # a duplicate of an entry already there
        twin = draw(st.sampled_from(entries))
        entries.append(ZipEntry(twin.name, draw(contents)))
    return draw(st.permutations(entries))


# --- the checks -----------------------------------------------------------------------------


def intake(source: Path, watch: Path):
    """load_images(source) under guard: returns the collection, or None after an FtguiError."""
    before = snapshot(watch)
    with no_writes() as writes:
        try:
            c = load_images(source)
            check_collection(c)
        except FtguiError as exc:
            check_error(exc)
            event(f"load_images: FtguiError {str(exc).split(' ')[0][:12]}...")
            c = None
        else:  # see them with pytest --hypothesis-show-statistics
            event(f"load_images: {len(c.paths)} used")
            for s in c.skipped:
                event(f"skipped: {s.reason[:28]}")
    assert writes == [], writes
    assert snapshot(watch) == before
    return c


def predict_inputs(paths: list[Path], watch: Path) -> int:
    """Every loader of iter_prediction_inputs gives an RGB image or an FtguiError."""
    before = snapshot(watch)
    opened = 0
    with no_writes() as writes:
        try:
            inputs = list(iter_prediction_inputs([str(p) for p in paths]))
        except FtguiError as exc:
            check_error(exc)
            inputs = []
        for display, load in inputs:
            assert isinstance(display, str)
            try:
                image = load()
            except FtguiError as exc:
                check_error(exc)
                continue
            assert image.mode == "RGB"
            opened += 1
    assert writes == [], writes
    assert snapshot(watch) == before
    return opened


def accounted(c) -> set[str]:
    return {c._root + p for p in c.paths} | {s.path for s in c.skipped}


# --- zip intake -----------------------------------------------------------------------------


@pytest.mark.slow
@fuzz(700)
@given(entries=zip_entries())
def test_fuzz_zip_intake(tmp_path, small_pixel_cap, entries):
    with tempfile.TemporaryDirectory(dir=tmp_path) as work:
        work = Path(work)
        path = write_zip_entries(work / "data.zip", entries)
        c = intake(path, tmp_path)
        if c is not None:
            seen = accounted(c)
            first: dict[str, bytes] = {}
            for entry in entries:  # every file entry is used or reported by name
                fate = entry_fate(entry.name)
                if entry.name.endswith(("/", "\\")) or fate == "quiet":
                    continue  # a folder, or clutter
                expected = shown_name(entry.name) if fate == "unsafe" else shown_name(fate)
                assert expected in seen, (expected, c.report())
                first.setdefault(expected, entry.data)
            for p in c.paths:  # a name given twice: the first entry is the one used
                assert c._files.read(c._root + p) == first[c._root + p], p
        predict_inputs([path], tmp_path)


@pytest.mark.slow
@fuzz(450)
@given(entries=zip_entries(), damage=st.data())
def test_fuzz_damaged_zip_file(tmp_path, small_pixel_cap, entries, damage):
    """The zip file itself damaged: its headers and table of contents get the byte flips."""
    with tempfile.TemporaryDirectory(dir=tmp_path) as work:
        work = Path(work)
        entries = [ZipEntry(n, d) for n, d in two_good_classes()] + entries
        path = write_zip_entries(work / "data.zip", entries)
        raw = path.read_bytes()
        # aim at the table of contents (the end of the file) as often as anywhere else
        tail = max(0, len(raw) - 22 - 46 * len(entries) - 64)
        out = bytearray(raw)
        for _ in range(damage.draw(st.integers(1, 6))):
            at = damage.draw(st.one_of(st.integers(0, len(out) - 1),
                                       st.integers(min(tail, len(out) - 1), len(out) - 1)))
            out[at] = damage.draw(st.integers(0, 255))
        if damage.draw(st.booleans()):
            out = out[: damage.draw(st.integers(len(out) // 2, len(out)))]
        path.write_bytes(bytes(out))
        if not zipfile.is_zipfile(path):
            event("no longer a zip")
        intake(path, tmp_path)
        predict_inputs([path], tmp_path)


# --- folder intake --------------------------------------------------------------------------

folder_part = st.one_of(
    st.sampled_from(["cat", "dog", "a b", "猫", "🐶", "e\u0301", "\u00e9", ".hidden", "__MACOSX",
                     "Thumbs.db", " x ", "-", "back\\slash", "new\nline"]),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00/"),
            min_size=1, max_size=6).filter(lambda s: s not in (".", "..")),
    st.lists(st.integers(1, 255).filter(lambda x: x != 0x2F), min_size=1, max_size=6)
    .map(bytes).filter(lambda b: b not in (b".", b"..")).map(os.fsdecode),  # not always UTF-8
)


@st.composite
def folder_trees(draw) -> list[tuple[str, bytes]]:
    files = []
    wrapper = draw(st.sampled_from(["", "", "photos/"]))
    if draw(st.integers(0, 3)):
        files += two_good_classes(wrapper)
    for _ in range(draw(st.integers(0, 8))):
        parts = draw(st.lists(folder_part, min_size=1, max_size=3))
        if draw(st.integers(0, 2)):
            parts.insert(0, wrapper + draw(st.sampled_from(["good_a", "good_b", "cat"])))
        files.append(("/".join(parts) + draw(st.sampled_from(EXTENSIONS)), draw(contents)))
    return files


def _fits(name: str) -> bool:
    return all(len(os.fsencode(part)) < 200 for part in name.split("/"))


@pytest.mark.slow
@fuzz(450)
@given(files=folder_trees(),
       links=st.lists(st.sampled_from(["loop", "dangling", "file", "fifo"]), unique=True,
                      max_size=2))
def test_fuzz_folder_intake(tmp_path, small_pixel_cap, files, links):
    with tempfile.TemporaryDirectory(dir=tmp_path) as work:
        root = Path(work) / "data"
        root.mkdir()
        written = {}
        for name, content in files:
            target = root.joinpath(*name.split("/"))
            if not _fits(name):
                continue
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                continue  # a file where a folder is wanted, or the other way round
            written[name] = content
        extra = root / "good_a" if (root / "good_a").is_dir() else root
        for kind in links:
            if kind == "loop":
                os.symlink("..", extra / "loop", target_is_directory=True)
            elif kind == "dangling":
                os.symlink("missing.png", extra / "dangling.png")
            elif kind == "file":
                os.symlink(os.path.abspath(root / next(iter(written))) if written else "x",
                           extra / "link.png")
            else:
                os.mkfifo(extra / "pipe.png")
        c = intake(root, tmp_path)
        if c is not None:
            seen = accounted(c)
            for name in written:
                parts = name.split("/")
                if any(p.startswith(".") or p.lower() in ("__macosx", "thumbs.db", "desktop.ini")
                       for p in parts):
                    continue
                if (root.joinpath(*parts)).is_file():
                    assert shown_name(name) in seen, (name, c.report())
            shown = {shown_name(name): content for name, content in written.items()}
            for p in c.paths:  # the bytes behind each listed name are that file's
                if c._root + p in shown:
                    assert c._files.read(c._root + p) == shown[c._root + p], p
        predict_inputs([root], tmp_path)


# --- image decoding -------------------------------------------------------------------------

seed_images = st.sampled_from(GOOD)


@pytest.mark.slow
@fuzz(700)
@given(broken=st.lists(seed_images.flatmap(lambda item: mutated(item[1]).map(
    lambda b: (item[0], b))), min_size=1, max_size=5), zipped=st.booleans())
def test_fuzz_image_decoding(tmp_path, small_pixel_cap, broken, zipped):
    """Valid PNG/JPEG/GIF/BMP/WEBP/TIFF files with bytes flipped or cut, beside two good classes,
    through load_images and through the prediction loaders (file by file and as a folder)."""
    with tempfile.TemporaryDirectory(dir=tmp_path) as work:
        work = Path(work)
        files = dict(two_good_classes())
        files.update({f"good_a/broken{i}{ext}": b for i, (ext, b) in enumerate(broken)})
        root = work / "data"
        for name, content in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(content)
        source = root
        if zipped:
            source = write_zip_entries(work / "data.zip",
                                       [ZipEntry(n, b) for n, b in files.items()])
        c = intake(source, tmp_path)
        assert c is not None, "two good classes are always there"
        assert accounted(c) >= set(files)
        for name in files:
            if name.startswith("good_b/") or "/broken" not in name:
                assert name in c.paths
        singles = sorted((root / "good_a").glob("broken*"))
        assert predict_inputs(singles + [source], tmp_path) >= 4


def test_the_write_guard_sees_writes_in_any_thread(tmp_path):
    """The guard the properties above rely on: a write from a thread the block starts, a new
    folder and a started program are all recorded."""
    from concurrent.futures import ThreadPoolExecutor

    with no_writes() as writes, ThreadPoolExecutor(2) as pool:
        pool.submit((tmp_path / "a.txt").write_bytes, b"x").result()
        (tmp_path / "b").mkdir()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert [w.split(" ")[0] for w in writes] == ["open", "os.mkdir", "subprocess.Popen"]
