"""Bad inputs to the image intake, one test each, beyond what test_data.py already proves.

Each test checks the three promises: a clear one-line message naming the problem, the
usable rest of the data used, and nothing written anywhere (the tmp tree is unchanged and
no file is opened for writing, see intake_checks.no_writes). The last test feeds
``ftgui train`` one zip holding every trap at once.
"""
from __future__ import annotations

import io
import json
import os
import stat
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ftgui import FtguiError, archive
from ftgui.data import iter_prediction_inputs, load_images
from ftgui.decode import MAX_PIXELS

from intake_checks import (
    FORMATS,
    ZipEntry,
    check_collection,
    check_error,
    image_bytes,
    no_writes,
    snapshot,
    write_zip_entries,
)

# --- helpers -------------------------------------------------------------------------------


def good(n: int = 3, classes=("cat", "dog"), prefix: str = "") -> dict[str, bytes]:
    return {f"{prefix}{c}/{i}.png": image_bytes(seed=1000 + 10 * k + i)
            for k, c in enumerate(classes) for i in range(n)}


def folder(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return root


def zipped(path: Path, files: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> Path:
    return write_zip_entries(path, [ZipEntry(n, b, method) for n, b in files.items()])


def guarded(source: Path, watch: Path):
    """load_images(source), proving nothing under ``watch`` changed and nothing was written."""
    before = snapshot(watch)
    with no_writes() as writes:
        c = load_images(source)
        check_collection(c)
    assert writes == [], writes
    assert snapshot(watch) == before
    return c


def guarded_error(source: Path, watch: Path, match: str) -> str:
    before = snapshot(watch)
    with no_writes() as writes, pytest.raises(FtguiError, match=match) as info:
        load_images(source)
    assert writes == [], writes
    assert snapshot(watch) == before
    check_error(info.value)
    return str(info.value)


def reasons(c) -> dict[str, str]:
    return {s.path: s.reason for s in c.skipped}


def one_line(text: str) -> bool:
    return bool(text.strip()) and "\n" not in text and "\r" not in text


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height over 64 bytes of pixel data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def claiming(fmt: str, width: int, height: int) -> bytes:
    """A valid 16x16 ``fmt`` image whose header is edited to claim width x height."""
    if fmt == "PNG":
        return png_claiming(width, height)
    raw = bytearray(image_bytes(fmt, "P" if fmt == "GIF" else "RGB", size=(16, 16)))
    if fmt == "JPEG":
        at = raw.index(b"\xff\xc0") + 5
        raw[at:at + 4] = struct.pack(">HH", height, width)
    elif fmt == "GIF":
        raw[6:10] = struct.pack("<HH", width, height)
        at = raw.index(b"\x2c") + 5
        raw[at:at + 4] = struct.pack("<HH", width, height)
    elif fmt == "BMP":
        raw[18:26] = struct.pack("<ii", width, height)
    elif fmt == "WEBP":
        at = raw.index(b"\x9d\x01\x2a") + 3
        raw[at:at + 4] = struct.pack("<HH", width, height)
    elif fmt == "TIFF":
        ifd = struct.unpack("<I", raw[4:8])[0]
        for i in range(struct.unpack("<H", raw[ifd:ifd + 2])[0]):
            at = ifd + 2 + 12 * i
            tag, kind = struct.unpack("<HH", raw[at:at + 4])
            if tag in (256, 257):
                value = width if tag == 256 else height
                raw[at + 8:at + 12] = struct.pack("<HH", value, 0) if kind == 3 else \
                    struct.pack("<I", value)
    return bytes(raw)


def patch_entry(path: Path, name: str, *, size: int | None = None, crc: int | None = None) -> None:
    """Edit the sizes (and CRC) that the local header and the central directory of entry
    ``name`` declare, so zipfile's own cross-checks see nothing wrong."""
    raw = bytearray(path.read_bytes())
    encoded = name.encode()
    central = raw.index(b"PK\x01\x02")  # the first central directory record
    while raw[central + 46:central + 46 + len(encoded)] != encoded:
        central = raw.index(b"PK\x01\x02", central + 4)
    local = struct.unpack("<I", raw[central + 42:central + 46])[0]
    if size is not None:
        raw[local + 22:local + 26] = struct.pack("<I", size)
        raw[central + 24:central + 28] = struct.pack("<I", size)
    if crc is not None:
        raw[local + 14:local + 18] = struct.pack("<I", crc)
        raw[central + 16:central + 20] = struct.pack("<I", crc)
    path.write_bytes(bytes(raw))


EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n%%EndComments\n"
       b"/Times-Roman findfont 12 scalefont setfont 0 0 moveto (hi) show showpage\n%%EOF\n")


# --- zip entry names -----------------------------------------------------------------------


def test_windows_style_escapes_from_a_zip_are_refused(tmp_path):
    """test_data covers '../x', '/x' and 'C:/x'; these use backslashes, drives and UNC paths,
    and a '../' directory entry. Nothing is extracted, the rest is used, predict agrees."""
    traps = {
        "..\\evil.png": image_bytes(),
        "cat\\..\\..\\evil2.png": image_bytes(),
        "\\rooted.png": image_bytes(),
        "C:\\Windows\\evil3.png": image_bytes(),
        "D:relative.png": image_bytes(),
        "\\\\server\\share\\evil4.png": image_bytes(),
        "../outside/": b"",
        "../outside/evil5.png": image_bytes(),
    }
    path = write_zip_entries(tmp_path / "data.zip", [ZipEntry(n, b) for n, b in
                                                     {**good(), **traps}.items()])
    c = guarded(path, tmp_path)
    assert c.classes == ["cat", "dog"] and len(c.paths) == 6
    got = reasons(c)
    assert set(got) == set(traps)
    for name in traps:
        assert got[name].startswith("unsafe path in zip ("), (name, got)
        assert one_line(got[name])
    loaders = dict(iter_prediction_inputs([str(path)]))
    unsafe = [shown for shown in loaders if "evil" in shown or "rooted" in shown
              or "relative" in shown]
    assert len(unsafe) == 7 and len(loaders) == 13
    for shown in unsafe:
        with pytest.raises(FtguiError, match="unsafe path in zip"):
            loaders[shown]()
    assert set(snapshot(tmp_path)) == {"data.zip"}


# --- zip bombs -----------------------------------------------------------------------------


def test_zip_bomb_entry_declaring_more_than_the_file_cap(tmp_path, monkeypatch):
    """Each entry may unpack to at most MAX_FILE_BYTES (256 MB), judged from its header before
    any byte is inflated; random bytes make no ratio bomb, so this is the size cap alone."""
    monkeypatch.setattr(archive, "MAX_FILE_BYTES", 4096)
    noise = np.random.default_rng(0).bytes(10_000)
    path = zipped(tmp_path / "data.zip", {**good(), "cat/big.png": noise})
    c = guarded(path, tmp_path)
    assert reasons(c) == {"cat/big.png": "looks like a zip bomb: unpacks to 10000 bytes "
                                         "(limit 4096 bytes)"}
    assert len(c.paths) == 6


def test_zip_bomb_total_size_is_refused_before_any_entry_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "MAX_ZIP_TOTAL_BYTES", 1000)
    path = zipped(tmp_path / "data.zip", {**good(), "cat/zeros.bin": bytes(5000)})
    monkeypatch.setattr(archive.ZipSource, "read", lambda *a: pytest.fail("an entry was read"))
    message = guarded_error(path, tmp_path, r"data\.zip unpacks to \d+ bytes, more than the "
                                            r"1000 bytes ftgui reads from a zip")
    assert message.endswith("unzip it and give the folder")


def test_zip_bomb_file_count_is_refused_before_the_directory_is_parsed(tmp_path, monkeypatch):
    """The entry count comes from the zip's end record: a million-entry zip is refused
    without building a million ZipInfo objects first."""
    monkeypatch.setattr(archive, "MAX_ZIP_ENTRIES", 5)
    path = zipped(tmp_path / "data.zip", good())
    monkeypatch.setattr(zipfile, "ZipFile", lambda *a, **k: pytest.fail("the zip was parsed"))
    guarded_error(path, tmp_path, r"has 6 entries, more than the 5 ftgui reads from a zip: split")


def test_zip_bomb_whose_end_record_lies_about_the_count(tmp_path, monkeypatch):
    """A zip claiming 1 entry while its table of contents holds 60: the table's size is
    capped before parsing, and the real count after."""
    files = {**good(), **{f"cat/x{i}.png": b"" for i in range(54)}}
    path = zipped(tmp_path / "data.zip", files, zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    end = raw.rindex(b"PK\x05\x06")
    raw[end + 8:end + 12] = struct.pack("<HH", 1, 1)  # entries on this disk, entries in all
    path.write_bytes(bytes(raw))
    monkeypatch.setattr(archive, "MAX_ZIP_DIRECTORY_BYTES", 2000)
    guarded_error(path, tmp_path, r"has a \d+ bytes table of contents, more than the 2000 bytes")
    monkeypatch.setattr(archive, "MAX_ZIP_DIRECTORY_BYTES", 10**6)
    monkeypatch.setattr(archive, "MAX_ZIP_ENTRIES", 50)
    guarded_error(path, tmp_path, "has 60 entries, more than the 50")


def test_zip_within_a_zip_is_not_opened(tmp_path):
    inner = zipped(tmp_path / "inner.zip", good(5))
    path = zipped(tmp_path / "data.zip", {**good(), "cat/inner.zip": inner.read_bytes(),
                                          "dog/inner.png": inner.read_bytes()})
    inner.unlink()
    c = guarded(path, tmp_path)
    assert reasons(c) == {"cat/inner.zip": "not an image (cannot identify image file)",
                          "dog/inner.png": "not an image (cannot identify image file)"}
    assert len(c.paths) == 6


@pytest.mark.parametrize("size, crc, reason", [
    (10, None, "damaged zip entry: Bad CRC-32"),  # headers claim 10 bytes, the data holds 1000s
    (10, "match", ("not an image", "truncated or corrupt image")),  # ...and a CRC of those 10
    (100_000, None, None),  # headers claim more than the data holds: it is whole, so it is used
], ids=["claims-less", "claims-less-with-matching-crc", "claims-more"])
def test_zip_entry_whose_headers_lie_about_its_size(tmp_path, size, crc, reason):
    """test_data edits the central directory only; here the local header says the same, so
    zipfile has no mismatch to notice. No more than the declared size is ever inflated (and
    the declared size counts against the caps)."""
    liar = image_bytes(size=(64, 64))
    path = zipped(tmp_path / "data.zip", {**good(), "cat/liar.png": liar})
    patch_entry(path, "cat/liar.png", size=size,
                crc=zlib.crc32(liar[:size]) if crc == "match" else None)
    assert zipfile.ZipFile(path).getinfo("cat/liar.png").file_size == size
    c = guarded(path, tmp_path)
    if reason is None:
        assert c.skipped == [] and len(c.paths) == 7
        return
    assert reasons(c)["cat/liar.png"].startswith(reason)
    assert one_line(reasons(c)["cat/liar.png"]) and len(c.paths) == 6


# --- images that lie -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_image_header_claiming_more_pixels_than_the_cap(tmp_path, fmt):
    """A few hundred bytes whose header claims billions of pixels: refused from the header,
    nothing allocated, in load_images and in prediction alike. test_data covers PNG only."""
    width, height = (16383, 16383) if fmt == "WEBP" else (60000, 60000)
    bomb = claiming(fmt, width, height)
    assert len(bomb) < 5000
    name = f"dog/bomb{FORMATS[fmt]}"
    root = folder(tmp_path / "data", {**good(), name: bomb})
    c = guarded(root, tmp_path)
    assert reasons(c) == {name: f"image too large: {width * height} pixels (limit {MAX_PIXELS})"}
    assert len(c.paths) == 6
    with pytest.raises(FtguiError, match=r"bomb\.\w+: image too large"):
        dict(iter_prediction_inputs([str(root / name)]))[str(root / name)]()


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "GIF", "WEBP"])
def test_image_header_claiming_more_pixels_than_its_data_holds(tmp_path, fmt):
    """Under the cap but far more pixels than the bytes hold: the decoder runs out of data
    and the file is reported, it is not padded out. (A JPEG that ends early with a proper
    end marker is the exception: libjpeg fills it in gray and only warns.)"""
    liar = claiming(fmt, 3000, 3000)
    name = f"cat/liar{FORMATS[fmt]}"
    c = guarded(folder(tmp_path / "data", {**good(), name: liar}), tmp_path)
    assert reasons(c)[name].startswith("truncated or corrupt image: ")
    assert len(c.paths) == 6


def test_a_small_file_that_unpacks_to_a_big_32_bit_image(tmp_path):
    """A 23 kB TIFF of 2000x2000 float pixels is a usable image, under the cap; turning it into
    8-bit RGB works in bands of rows, so it does not take 26 bytes of numpy memory a pixel
    (several float64 copies: 2.5 GB for one such file near the cap) but under 12."""
    import tracemalloc

    values = np.zeros((2000, 2000), np.float32)
    values[0, :5] = 3.0
    buf = io.BytesIO()
    Image.fromarray(values).save(buf, "TIFF", compression="tiff_adobe_deflate")
    assert len(buf.getvalue()) < 30_000
    root = folder(tmp_path / "data", {**good(), "cat/float.tif": buf.getvalue()})
    tracemalloc.start()
    try:
        c = guarded(root, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert c.skipped == [] and len(c.paths) == 7
    assert peak < 12 * 2000 * 2000, peak / 2000 / 2000
    image = c.open_image(c.paths.index("cat/float.tif"))
    assert image.getpixel((0, 0)) == (255, 255, 255) and image.getpixel((9, 9)) == (0, 0, 0)


def test_folder_file_size_cap(tmp_path, monkeypatch):
    """A file over MAX_FILE_BYTES (256 MB) is refused from its size, without reading it; one
    under the cap is read at its own size: nothing reserves the 256 MB cap for each file."""
    import tracemalloc

    monkeypatch.setattr(archive, "MAX_FILE_BYTES", 50_000)
    big = image_bytes(size=(200, 200))
    assert len(big) > 50_000
    root = folder(tmp_path / "data", {**good(), "cat/big.png": big})
    c = guarded(root, tmp_path)
    assert reasons(c) == {"cat/big.png": "file too large (over 50000 bytes)"}
    assert len(c.paths) == 6
    monkeypatch.setattr(archive, "MAX_FILE_BYTES", 256 * 1024**2)
    tracemalloc.start()
    try:
        guarded(root, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024**2, peak


# --- broken files --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_truncated_corrupt_and_empty_files_in_a_zip(tmp_path, fmt):
    """test_data covers a cut PNG and JPEG in a folder; this is every format, in a zip."""
    ext = FORMATS[fmt]
    whole = image_bytes(fmt, "P" if fmt == "GIF" else "RGB", size=(64, 64))
    garbage_head = b"\x00" * 16 + whole[16:]
    traps = {f"cat/cut{ext}": whole[: len(whole) // 2], f"cat/empty{ext}": b"",
             f"dog/garbage{ext}": garbage_head}
    expected = {f"cat/cut{ext}": "truncated or corrupt image: ",
                f"cat/empty{ext}": "empty file (0 bytes)",
                f"dog/garbage{ext}": "not an image (cannot identify image file)"}
    if fmt in ("PNG", "GIF"):  # checksummed or LZW data: a flipped run of bytes is noticed
        corrupt = bytearray(whole)
        for i in range(len(whole) // 2, len(whole) // 2 + 32):
            corrupt[i] ^= 0xFF
        traps[f"dog/corrupt{ext}"] = bytes(corrupt)
        expected[f"dog/corrupt{ext}"] = "truncated or corrupt image: "
    c = guarded(zipped(tmp_path / "data.zip", {**good(), **traps}), tmp_path)
    got = reasons(c)
    assert set(got) == set(expected)
    for name, start in expected.items():
        assert got[name].startswith(start) and one_line(got[name]), (name, got[name])
    assert len(c.paths) == 6


def test_non_images_with_image_extensions(tmp_path):
    traps = {
        "cat/notes.jpg": b"hello, I am a shopping list\n",
        "cat/page.png": b"<!doctype html><html><body>hi</body></html>",
        "cat/paper.webp": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        "dog/program.gif": b"\x7fELF\x02\x01\x01" + bytes(57),
        "dog/data.tif": json.dumps({"a": 1}).encode(),
        "dog/drawing.png": b'<svg xmlns="http://www.w3.org/2000/svg"/>',
        "dog/archive.bmp": zipped(tmp_path / "tmp.zip", good(1)).read_bytes(),
        "dog/vector.eps": EPS,  # Pillow would hand this to Ghostscript, a program
        "cat/vector.png": EPS,
    }
    (tmp_path / "tmp.zip").unlink()
    root = folder(tmp_path / "data", {**good(), **traps})
    c = guarded(root, tmp_path)  # no_writes also proves no program was started
    got = reasons(c)
    assert set(got) == set(traps)
    for name in traps:
        if traps[name] is EPS:
            assert got[name] == "a PostScript (EPS) file is not read: it would run Ghostscript"
        else:
            assert got[name] == "not an image (cannot identify image file)", name
    assert len(c.paths) == 6
    with no_writes() as writes, pytest.raises(FtguiError, match="Ghostscript"):
        dict(iter_prediction_inputs([str(root / "dog/vector.eps")]))[str(root / "dog/vector.eps")]()
    assert writes == []


def _mode_image(mode: str) -> tuple[str, bytes, tuple]:
    """(extension, bytes of a 6x4 file that decodes in ``mode``, the RGB it should give)."""
    fmt, ext = {"PA": ("TIFF", ".tif"), "CMYK": ("TIFF", ".tif"), "YCbCr": ("IM", ".im"),
                "I": ("TIFF", ".tif"), "F": ("TIFF", ".tif")}.get(mode, ("PNG", ".png"))
    value, rgb = {
        "1": (1, (255, 255, 255)), "L": (100, (100, 100, 100)), "LA": ((100, 255), (100, 100, 100)),
        "P": (1, (0, 255, 0)), "PA": ((1, 255), (0, 255, 0)), "RGB": ((10, 20, 30), (10, 20, 30)),
        "RGBA": ((10, 20, 30, 0), (255, 255, 255)), "CMYK": ((0, 0, 0, 255), (0, 0, 0)),
        "YCbCr": ((128, 128, 128), (128, 128, 128)), "I;16": (257 * 100, (100, 100, 100)),
        "I": (100, (100, 100, 100)), "F": (100.0, (100, 100, 100)),
    }[mode]
    image = Image.new(mode, (6, 4), value)
    if mode in ("P", "PA"):
        image.putpalette([255, 0, 0, 0, 255, 0])
    buf = io.BytesIO()
    image.save(buf, fmt)
    return ext, buf.getvalue(), rgb


MODES = ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "I;16", "I", "F"]


def test_every_common_image_mode_as_a_file(tmp_path):
    """test_data converts in-memory images; these are files, each decoding in its own mode."""
    files = good()
    expected = {}
    for mode in MODES:
        ext, content, rgb = _mode_image(mode)
        assert Image.open(io.BytesIO(content)).mode == mode  # the file really is in that mode
        name = f"modes/{mode.replace(';', '_')}{ext}"
        files[name] = content
        expected[name] = rgb
    c = guarded(zipped(tmp_path / "data.zip", files), tmp_path)
    assert c.skipped == []
    assert c.report()["images_per_class"] == {"cat": 3, "dog": 3, "modes": len(MODES)}
    for name, rgb in expected.items():
        image = c.open_image(c.paths.index(name))
        assert image.mode == "RGB" and image.size == (6, 4)
        assert image.getpixel((0, 0)) == pytest.approx(rgb, abs=2), name


# --- classes -------------------------------------------------------------------------------


def test_one_class_in_a_zip_behind_a_wrapper_folder(tmp_path):
    """test_data covers a folder; a zip whose only class sits in a wrapper folder, and a zip
    whose second class has only broken files, are errors that name the class."""
    one = zipped(tmp_path / "one.zip", good(3, classes=("cats",), prefix="my photos/"))
    guarded_error(one, tmp_path, r"found only one class 'cats' in .*one\.zip; a classifier "
                                 r"needs at least two class folders")
    broken = zipped(tmp_path / "broken.zip", {**good(3, classes=("cats",)),
                                              "dogs/0.png": b"x", "dogs/1.png": b""})
    guarded_error(broken, tmp_path, r"found only one class 'cats' .*left out .*'dogs'.*"
                                    r"2 files skipped, e\.g\. dogs/0\.png: not an image")


def test_a_class_with_fewer_than_2_images_is_reported_file_by_file(tmp_path):
    files = {**good(), "bird/0.png": image_bytes(seed=7), "fish/0.png": b"broken",
             "fish/1.png": b""}
    c = guarded(folder(tmp_path / "data", files), tmp_path)
    assert c.classes == ["cat", "dog"] and len(c.paths) == 6
    assert reasons(c) == {
        "bird/0.png": "its class 'bird' has only 1 usable image and was left out; "
                      "each class needs at least 2",
        "fish/0.png": "not an image (cannot identify image file)",
        "fish/1.png": "empty file (0 bytes)",
    }
    assert "class 'fish' has no usable image and was left out; each class needs at least 2" \
        in c.warnings


def test_empty_folders(tmp_path):
    root = folder(tmp_path / "data", good())
    (root / "empty").mkdir()
    (root / "cat" / "nested" / "deeper").mkdir(parents=True)
    c = guarded(root, tmp_path)
    assert c.classes == ["cat", "dog"] and len(c.paths) == 6 and c.skipped == []
    assert "class 'empty' has no usable image and was left out; each class needs at least 2" \
        in c.warnings
    (tmp_path / "nothing").mkdir()
    guarded_error(tmp_path / "nothing", tmp_path, "no class folders found in .*nothing: put "
                                                  "each class's images in a sub-folder")
    (tmp_path / "hollow" / "a" / "b").mkdir(parents=True)
    guarded_error(tmp_path / "hollow", tmp_path, "no class folders found|no class folder in")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w"):
        pass
    guarded_error(tmp_path / "empty.zip", tmp_path, "no class folders found in .*empty.zip")


def test_odd_class_and_file_names(tmp_path):
    """test_data covers spaces, CJK, emoji and accents. Here: the same class in NFC and NFD
    (macOS) is one class; a zip name in the old cp437 encoding; a folder name that is not
    UTF-8, a newline, a terminal escape and a right-to-left override are escaped, so the
    report is valid JSON and every message stays one line - and the images are still used."""
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    family = "👨‍👩‍👧 family"
    files = {f"{nfc}/0.png": image_bytes(seed=1), f"{nfd}/1.png": image_bytes(seed=2),
             f"{family}/0.png": image_bytes(seed=3), f"{family}/1.png": image_bytes(seed=4)}
    c = guarded(zipped(tmp_path / "data.zip", files), tmp_path)
    assert c.report()["images_per_class"] == {nfc: 2, family: 2}

    class Cp437Info(zipfile.ZipInfo):  # how old zip tools write names: no UTF-8 flag
        def _encodeFilenameFlags(self):
            return self.filename.encode("cp437"), self.flag_bits

    path = tmp_path / "old.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in {"Ä/0.png": image_bytes(seed=5), "Ä/1.png": image_bytes(seed=6),
                              **good(2)}.items():
            zf.writestr(Cp437Info(name), content)
    assert not zipfile.ZipFile(path).getinfo("Ä/0.png").flag_bits & 0x800
    assert guarded(path, tmp_path).classes == ["cat", "dog", "Ä"]

    root = tmp_path / "tree"
    names = {b"caf\xe9 latin-1": "caf\\xe9 latin-1", b"new\nline": "new\\x0aline",
             b"\x1b[31mred": "\\x1b[31mred", "evil\u202egnp".encode(): "evil\\u202egnp"}
    for k, raw in enumerate(names):
        os.makedirs(os.path.join(os.fsencode(root), raw))
        for i in range(2):
            Path(os.fsdecode(os.path.join(os.fsencode(root), raw, b"%d\xff.png" % i))).write_bytes(
                image_bytes(seed=700 + 10 * k + i))
    broken = os.path.join(os.fsencode(root), b"new\nline", b"bad\r.png")
    Path(os.fsdecode(broken)).write_bytes(b"not an image")
    # a file literally named as another's escaped name: the escaped one is left out
    (root / "new\nline" / "bad\\x0d.png").write_bytes(image_bytes(seed=799))
    c = guarded(root, tmp_path)
    assert c.classes == sorted(names.values())
    assert c.paths[0] == f"{sorted(names.values())[0]}/0\\xff.png"
    assert reasons(c) == {"new\\x0aline/bad\\x0d.png": "its name, escaped as shown, is another "
                                                        "file's name"}
    assert len(c.paths) == 9
    assert all(c.open_image(i).mode == "RGB" for i in range(len(c.paths)))
    json.dumps(c.report(), ensure_ascii=False).encode("utf-8")
    loaders = dict(iter_prediction_inputs([str(root)]))
    assert len(loaders) == 9 and all(one_line(shown) for shown in loaders)


def test_prediction_refuses_a_fifo_instead_of_hanging(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(FtguiError,
                       match=r"pipe.png is a named pipe \(FIFO\), not a file or a folder"):
        iter_prediction_inputs([str(fifo)])
    root = folder(tmp_path / "data", good())
    os.mkfifo(root / "cat" / "pipe.png")
    assert reasons(guarded(root, tmp_path)) == {"cat/pipe.png": "not a regular file"}


# --- everything at once, through the CLI ---------------------------------------------------


def _trap_zip(path: Path) -> tuple[dict[str, int], dict[str, str]]:
    """Write a zip with 3 good classes (odd names) and every trap above; return (the images
    per class it must train on, {unusable file as reported: start of its reason})."""
    usable = {"good cat 🐱": 4, "dog": 4, "Ünïcödé bird": 3, "modes": len(MODES)}
    entries = [ZipEntry(f"photos/{cls}/{i}.png", image_bytes(seed=500 + 10 * k + i))
               for k, cls in enumerate(usable) if cls != "modes" for i in range(usable[cls])]
    for mode in MODES:
        ext, content, _ = _mode_image(mode)
        entries.append(ZipEntry(f"photos/modes/{mode.replace(';', '_')}{ext}", content))
    noisy = image_bytes("JPEG", size=(64, 64))
    bad = {
        "../escape.png": ("unsafe path in zip ('..'", image_bytes()),
        "/etc/abs.png": ("unsafe path in zip (absolute", image_bytes()),
        "C:\\Windows\\win.png": ("unsafe path in zip (absolute", image_bytes()),
        "photos/dog\\..\\..\\..\\evil.png": ("unsafe path in zip ('..'", image_bytes()),
        "photos/dog/bomb.png": ("looks like a zip bomb: compressed", bytes(2 * 1024 * 1024)),
        "photos/dog/pixels.png": ("image too large: 400000000 pixels", png_claiming(20000, 20000)),
        "photos/dog/pixels.gif": ("image too large: 3600000000 pixels",
                                  claiming("GIF", 60000, 60000)),
        "photos/dog/hollow.png": ("truncated or corrupt image", png_claiming(3000, 3000)),
        "photos/good cat 🐱/cut.jpg": ("truncated or corrupt image", noisy[: len(noisy) // 2]),
        "photos/dog/empty.png": ("empty file (0 bytes)", b""),
        "photos/dog/notes.jpg": ("not an image", b"just text\n"),
        "photos/dog/vector.eps": ("a PostScript (EPS) file is not read", EPS),
        "photos/dog/inner.zip": ("not an image", b"PK\x05\x06" + bytes(18)),
        "photos/lonely/only.png": ("its class 'lonely' has only 1 usable image",
                                   image_bytes(seed=9)),
        "photos/broken/x.webp": ("truncated or corrupt image",
                                 image_bytes("WEBP", size=(32, 32))[:60]),
        "photos/README.txt": ("not inside a class folder", b"my photos\n"),
        "photos/dog/liar.png": ("damaged zip entry: Bad CRC-32", image_bytes(size=(48, 48))),
    }
    for name, (_, content) in bad.items():
        entries.append(ZipEntry(name, content))
    entries.append(ZipEntry("photos/dog/link.png", b"../../../etc/passwd", symlink=True))
    entries.append(ZipEntry("photos/dog/secret.png", image_bytes(), encrypted=True))
    entries.append(ZipEntry("photos/dog/0.png", b"a second entry of the same name"))
    entries.append(ZipEntry("photos/empty/", is_dir=True))
    entries += [ZipEntry("__MACOSX/photos/dog/._0.png", b"\x00\x05\x16\x07"),  # clutter: silent
                ZipEntry("photos/.DS_Store", b"junk")]
    write_zip_entries(path, entries)
    patch_entry(path, "photos/dog/liar.png", size=10)
    reported = {name: start for name, (start, _) in bad.items()}
    reported.update({"photos/dog/link.png": "symbolic link in zip",
                     "photos/dog/secret.png": "encrypted zip entry",
                     "photos/dog/0.png": "a second zip entry named photos/dog/0.png"})
    return usable, reported


@pytest.mark.slow
def test_train_on_a_zip_full_of_traps(tmp_path):
    """`ftgui train` on one zip holding every trap: exit 0, trained on exactly the usable
    images, every unusable file named in data_report.json and on stderr, nothing written
    outside the run folder (HOME, the temp dir and the working directory included)."""
    usable, reported = _trap_zip(tmp_path / "trap.zip")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    for var, sub in [("HOME", "home"), ("TMPDIR", "tmp"), ("XDG_CACHE_HOME", "home/.cache"),
                     ("TORCH_HOME", "home/.torch"), ("HF_HOME", "home/.hf"),
                     ("MPLCONFIGDIR", "home/.mpl")]:
        env[var] = str(tmp_path / sub)
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
    (tmp_path / "cwd").mkdir()
    before = snapshot(tmp_path)
    run = tmp_path / "RUN"
    proc = subprocess.run(
        [sys.executable, "-m", "ftgui", "train", "--data", str(tmp_path / "trap.zip"),
         "--model", "test_resnet", "--strategy", "scratch", "--epochs", "1", "--img-size", "32",
         "--out", str(run), "--quiet"],
        cwd=tmp_path / "cwd", env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = snapshot(tmp_path)
    # `import timm` makes torch create an empty cache folder in the temp dir; nothing else
    torch_cache = {p for p in after if p.startswith("tmp/torchinductor_")}
    assert all(stat.S_ISDIR(after[p][0]) and not os.listdir(tmp_path / p) for p in torch_cache)
    outside = {p for p in set(after) - set(before) - torch_cache if not p.startswith("RUN")}
    changed = {p for p in before if before[p] != after.get(p) and not stat.S_ISDIR(before[p][0])}
    assert not outside and not changed, (outside, changed)

    report = json.loads((run / "data_report.json").read_text(encoding="utf-8"))
    assert report["images_per_class"] == usable
    assert report["total"] == sum(usable.values())
    skipped = {s["path"]: s["reason"] for s in report["skipped"]}
    assert set(skipped) == set(reported), set(skipped) ^ set(reported)
    for name, start in reported.items():
        assert skipped[name].startswith(start), (name, skipped[name])
        assert one_line(skipped[name])
        assert f"skipped {name}: {skipped[name]}" in proc.stderr, name
    assert not any("MACOSX" in p or "DS_Store" in p for p in skipped)
    assert any("class 'empty' has no usable image" in w for w in report["warnings"])
