"""Hardening round two, intake (issue 9, items 1, 2 and part of 5): images of an extreme aspect
ratio, zip names from Linux `zip`, paths that are not files or folders, and formats Pillow
cannot read. Each test failed before its fix.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from ftgui import FtguiError
from ftgui.data import iter_prediction_inputs, load_images
from ftgui.decode import MAX_ASPECT_RATIO

from intake_checks import check_collection, check_error, image_bytes


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


def good(classes=("cat", "dog"), n: int = 3) -> dict[str, bytes]:
    return {f"{c}/{i}.png": image_bytes(seed=50 + 10 * k + i)
            for k, c in enumerate(classes) for i in range(n)}


def plain_png(width: int, height: int) -> bytes:
    """A few hundred bytes at most: a flat image compresses to almost nothing."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def skipped(c) -> dict[str, str]:
    return {s.path: s.reason for s in c.skipped}


# --- item 1: extreme aspect ratios ----------------------------------------------------------


def test_an_extreme_aspect_ratio_is_skipped_with_a_reason_and_the_rest_kept(tmp_path):
    limit = plain_png(MAX_ASPECT_RATIO * 2, 2)  # exactly at the limit: used
    root = tree(tmp_path / "data", {**good(), "cat/strip.png": plain_png(1, 100_000),
                                    "dog/bar.png": plain_png(30_000, 1), "dog/wide.png": limit})
    assert len((root / "cat/strip.png").read_bytes()) < 1000
    c = load_images(root)
    check_collection(c)
    assert len(c.paths) == 7 and "dog/wide.png" in c.paths
    assert skipped(c) == {
        "cat/strip.png": f"aspect ratio too extreme: 1x100000 pixels, more than "
                         f"{MAX_ASPECT_RATIO}:1; crop it nearer to square",
        "dog/bar.png": f"aspect ratio too extreme: 30000x1 pixels, more than "
                       f"{MAX_ASPECT_RATIO}:1; crop it nearer to square",
    }
    loaders = dict(iter_prediction_inputs([str(root)]))
    assert loaders[str(root / "dog/wide.png")]().size == (2 * MAX_ASPECT_RATIO, 2)
    with pytest.raises(FtguiError, match=r"strip.png: aspect ratio too extreme: 1x100000") as info:
        loaders[str(root / "cat/strip.png")]()
    check_error(info.value)


_PEAK = r"""
import json, resource, sys
import timm
from PIL import Image
from ftgui import FtguiError
from ftgui.data import load_images
from ftgui.pipeline import DecodedImages, build_transforms
from ftgui.predict import Predictor

path, good, bad, limit = sys.argv[1:5]
model = timm.create_model("test_resnet", pretrained=False, num_classes=2)


def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def intake(folder):
    c = load_images(folder)
    resize = build_transforms(model, 224, "light").cache_resize
    images = DecodedImages(c, list(range(len(c.paths))), resize)
    return {"used": len(images), "skipped": {s.path: s.reason for s in c.skipped}}


def predict(files):
    rows = list(predictor.predict_paths(files))
    return {"labelled": sum("label" in r for r in rows), "errors": [r.get("error") for r in rows]}


def app(image_paths):
    out = {"labelled": 0, "errors": []}
    for image_path in image_paths:  # one image a request, as the app's Predict tab sends it
        try:
            out["labelled"] += len(predictor.predict_images([Image.open(image_path)]))
        except FtguiError as exc:
            out["errors"].append(str(exc))
    return out


predictor = Predictor(model, ["a", "b"], "cpu")
run = {"intake": intake, "predict": predict, "app": app}[path]
run(good.rsplit("/", 2)[0] if path == "intake" else [good])  # warm up on valid images
before = peak()
result = run(bad if path == "intake" else [good, bad, limit, good])
result["peak_mb"] = peak() - before
print(json.dumps(result))
"""


@pytest.mark.parametrize("path", ["intake", "predict", "app"])
def test_peak_memory_of_a_tiny_extreme_image_stays_small(tmp_path, path):
    """A 1x4000 PNG (a few hundred bytes) resizes to 256x1024000 pixels at img-size 224 (about
    168x672000 in prediction, for test_resnet's own size): peak memory grew by about 2 GB in
    training intake, 0.46 GB in `ftgui predict` and in the app's predict path before the fix.
    Measured as the growth of the peak RSS (ru_maxrss) of a fresh process after the same path
    ran once on valid images, with an image exactly at the aspect-ratio limit (used) beside
    the one beyond it (skipped): it must stay under 100 MB, and the valid images of the same
    call must still be labelled or used."""
    clean = tree(tmp_path / "clean", good())
    limit = plain_png(MAX_ASPECT_RATIO, 1)
    trap = tree(tmp_path / "trap", {**good(), "cat/strip.png": plain_png(1, 4000),
                                    "dog/limit.png": limit})
    bad = str(trap) if path == "intake" else str(trap / "cat/strip.png")
    proc = subprocess.run([sys.executable, "-c", _PEAK, path, str(clean / "cat/0.png"), bad,
                           str(trap / "dog/limit.png")],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["peak_mb"] < 100, result
    reason = f"aspect ratio too extreme: 1x4000 pixels, more than {MAX_ASPECT_RATIO}:1"
    if path == "intake":
        assert result["used"] == 7 and list(result["skipped"]) == ["cat/strip.png"], result
    elif path == "predict":  # one row per file, in order; the error row is the strip's
        assert result["labelled"] == 3, result
        assert [e is None for e in result["errors"]] == [True, False, True, True], result
        assert result["errors"][1] == f"cannot read {bad}: {reason}; crop it nearer to square"
    else:
        assert result["labelled"] == 3, result
        assert result["errors"] == [f"cannot label this image: {reason}; crop it nearer to "
                                    "square"], result


# --- item 2: UTF-8 zip names without the UTF-8 flag ------------------------------------------


def zip_with_raw_names(path: Path, files: dict[bytes, bytes]) -> Path:
    """A zip whose entry names are these exact bytes with the UTF-8 flag (bit 11) clear, as
    Linux `zip` 3.0 writes them: each entry is written under an ASCII placeholder of the same
    length, then the name bytes are replaced in its local header and central record."""
    placeholders = {}
    with zipfile.ZipFile(path, "w") as zf:
        for i, (raw, data) in enumerate(files.items()):
            placeholder = f"{i:0{len(raw)}d}".encode()
            placeholders[placeholder] = raw
            zf.writestr(placeholder.decode(), data)
    blob = bytearray(path.read_bytes())
    for placeholder, raw in placeholders.items():
        for header in (b"PK\x03\x04", b"PK\x01\x02"):
            start = blob.index(header)
            offset = 30 if header == b"PK\x03\x04" else 46
            while blob[start + offset:start + offset + len(raw)] != placeholder:
                start = blob.index(header, start + 4)
            blob[start + offset:start + offset + len(raw)] = raw
    path.write_bytes(bytes(blob))
    return path


def test_utf8_zip_names_without_the_utf8_flag_are_read_as_utf8(tmp_path):
    """`école` and `🐱 cat` as Linux `zip` stores them (UTF-8 bytes, flag clear) came out as
    `├⌐cole` and `≡ƒÉ▒ cat`; a name that is not valid UTF-8 is still cp437 (0x82 is é)."""
    files = {}
    for k, folder in enumerate(["école".encode(), "🐱 cat".encode(), b"caf\x82"]):
        for i in range(2):
            files[folder + f"/{i}.png".encode()] = image_bytes(seed=10 * k + i)
    path = zip_with_raw_names(tmp_path / "linux.zip", files)
    with zipfile.ZipFile(path) as zf:
        assert all(not info.flag_bits & 0x800 for info in zf.infolist())
    c = load_images(path)
    check_collection(c)
    assert c.classes == ["café", "école", "🐱 cat"] and c.skipped == []
    assert c.paths == ["café/0.png", "café/1.png", "école/0.png", "école/1.png",
                       "🐱 cat/0.png", "🐱 cat/1.png"]
    loaders = dict(iter_prediction_inputs([str(path)]))
    assert sorted(loaders) == sorted(str(path / p) for p in c.paths)
    assert all(load().size == (8, 8) for load in loaders.values())


# --- item 5: paths that are not files or folders, formats Pillow cannot read -----------------


def test_a_device_or_pipe_as_data_says_what_it_is(tmp_path, capsys):
    from ftgui.cli import main

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for given, kind in [("/dev/null", "a character device"), (str(fifo), "a named pipe (FIFO)")]:
        with pytest.raises(FtguiError) as info:
            load_images(given)
        check_error(info.value)
        assert str(info.value) == (f"{given} is {kind}, not a folder or a zip file: give a folder "
                                   "of class sub-folders or a .zip of one")
        with pytest.raises(FtguiError) as info:
            iter_prediction_inputs([given])
        assert str(info.value) == (f"{given} is {kind}, not a file or a folder: give image "
                                   "files, folders or .zip files")
    assert main(["train", "--data", "/dev/null", "--model", "test_resnet", "--strategy",
                 "scratch", "--out", str(tmp_path / "run")]) != 0
    err = capsys.readouterr().err
    assert "/dev/null is a character device" in err and "does not exist" not in err
    assert not (tmp_path / "run").exists()


HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(40)


def test_an_unsupported_format_is_named_with_what_is_supported(tmp_path):
    """A HEIC (by its bytes or by its name) was "not an image (cannot identify image file)", and
    `ftgui predict` on a folder left .heic files out without a word."""
    root = tree(tmp_path / "data", {**good(), "cat/iphone.heic": HEIC,
                                    "dog/renamed.jpg": HEIC, "dog/fake.heic": b"not really"})
    c = load_images(root)
    assert len(c.paths) == 6
    supported = "ftgui reads JPEG, PNG, WEBP, GIF, BMP, TIFF and "
    for name in ("cat/iphone.heic", "dog/renamed.jpg", "dog/fake.heic"):
        reason = skipped(c)[name]
        assert reason.startswith("unsupported image format: HEIC/HEIF (") and supported in reason
        assert reason.endswith("; convert it to JPEG or PNG") and "\n" not in reason
    assert "(by its contents)" in skipped(c)["dog/renamed.jpg"]
    assert "(a .heic file)" in skipped(c)["dog/fake.heic"]
    loaders = dict(iter_prediction_inputs([str(root)]))
    assert len(loaders) == 9  # the .heic files are reported, not silently left out
    for name in ("cat/iphone.heic", "dog/fake.heic"):
        with pytest.raises(FtguiError, match=r"unsupported image format: HEIC/HEIF"):
            loaders[str(root / name)]()
