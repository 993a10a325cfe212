"""Image intake (ftgui.data, ftgui.archive): folders, zips, broken files, modes, split, dataset."""
from __future__ import annotations

import io
import itertools
import pickle
import stat
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from ftgui import FtguiError, archive, decode
from ftgui.data import iter_prediction_inputs, load_images, stratified_split
from ftgui.decode import MAX_PIXELS, to_rgb

_colors = itertools.count(1)


def png(color: tuple | int | None = None, size=(8, 8), mode="RGB") -> bytes:
    """A small PNG; each call without ``color`` gets a new colour, so no two are identical."""
    if color is None:
        n = next(_colors)
        color = (n % 256, n // 256 % 256, 77)
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, "PNG")
    return buf.getvalue()


def jpeg(size=(16, 8), orientation: int | None = None) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, size[0] // 2, size[1]))  # left half blue
    exif = image.getexif()
    if orientation:
        exif[0x0112] = orientation
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=95, exif=exif)
    return buf.getvalue()


def noise_jpeg(size=(64, 64)) -> bytes:
    """A JPEG that is mostly scan data, so cutting it leaves a readable header."""
    pixels = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG")
    return buf.getvalue()


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    root.mkdir(parents=True, exist_ok=True)
    return root


def write_zip(path: Path, files: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def two_classes(n=3) -> dict[str, bytes]:
    return {f"{c}/{i}.png": png() for c in ("cat", "dog") for i in range(n)}


def reasons(collection) -> dict[str, str]:
    return {s.path: s.reason for s in collection.skipped}


def snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# --- folders and zips ------------------------------------------------------------------


def test_folder_of_class_folders(tmp_path):
    files = two_classes()
    files["dog/more/deep.png"] = png()  # nested deeper: still a dog
    files["notes.png"] = png()  # beside the class folders
    files[".DS_Store"] = b"junk"
    files["cat/.DS_Store"] = b"junk"
    files[".ipynb_checkpoints/x-checkpoint.png"] = png()
    files["cat/.ipynb_checkpoints/0-checkpoint.png"] = png()
    files["Thumbs.db"] = b"junk"
    root = write_tree(tmp_path / "data", files)

    c = load_images(root)
    assert c.source == str(root.absolute())
    assert c.classes == ["cat", "dog"]
    assert c.paths == ["cat/0.png", "cat/1.png", "cat/2.png",
                       "dog/0.png", "dog/1.png", "dog/2.png", "dog/more/deep.png"]
    assert c.labels == [0, 0, 0, 1, 1, 1, 1]
    assert reasons(c) == {"notes.png": "not inside a class folder"}
    image = c.open_image(6)
    assert image.mode == "RGB" and image.size == (8, 8)
    report = c.report()
    assert report["images_per_class"] == {"cat": 3, "dog": 4}
    assert report["total"] == 7
    assert report["skipped"] == [{"path": "notes.png", "reason": "not inside a class folder"}]
    assert report["content_hash"] == c.content_hash and len(c.content_hash) == 64
    assert any("'cat' has only 3 images" in w for w in report["warnings"])


def test_wrapper_folder_is_descended(tmp_path):
    root = write_tree(tmp_path / "data", {f"photos/{k}": v for k, v in two_classes().items()})
    (root / "README.txt").write_text("not an image, does not stop the descent")
    c = load_images(root)
    assert c.classes == ["cat", "dog"]
    assert c.paths[0] == "cat/0.png"
    assert reasons(c) == {"README.txt": "not inside a class folder"}


def test_one_class_folder_is_not_mistaken_for_a_wrapper(tmp_path):
    root = write_tree(tmp_path / "data", {f"cats/{i}.png": png() for i in range(3)})
    with pytest.raises(FtguiError, match=r"found only one class 'cats' in .*two class folders"):
        load_images(root)


@pytest.mark.parametrize("wrapper", ["", "my photos/"])
def test_zip_matches_the_folder(tmp_path, wrapper):
    files = two_classes()
    folder = load_images(write_tree(tmp_path / "folder", files))
    entries = {wrapper + name: data for name, data in files.items()}
    entries.update({  # what macOS and Jupyter leave behind
        f"__MACOSX/{wrapper}cat/._0.png": b"\x00\x05\x16\x07resource fork",
        f"{wrapper}.DS_Store": b"junk",
        f"{wrapper}dog/.DS_Store": b"junk",
        f"{wrapper}.ipynb_checkpoints/0-checkpoint.png": png(),
    })
    before = snapshot(tmp_path)
    c = load_images(write_zip(tmp_path / "data.zip", entries))
    assert snapshot(tmp_path) == before | {"data.zip"}  # nothing extracted
    assert (c.classes, c.paths, c.labels) == (folder.classes, folder.paths, folder.labels)
    assert c.skipped == []
    assert c.content_hash == folder.content_hash
    assert c.open_image(4).getpixel((0, 0)) == folder.open_image(4).getpixel((0, 0))


def test_zip_with_explicit_folder_entries_and_an_empty_class(tmp_path):
    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name in ("top/", "top/cat/", "top/dog/", "top/empty/"):
            zf.writestr(name, b"")
        for name, data in two_classes().items():
            zf.writestr("top/" + name, data)
    c = load_images(path)
    assert c.classes == ["cat", "dog"]
    assert "class 'empty' has no usable image and was left out; each class needs at least 2" \
        in c.warnings


def test_unsafe_zip_entries_are_skipped_and_nothing_is_written(tmp_path):
    inner = tmp_path / "inner"
    inner.mkdir()
    path = inner / "data.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in two_classes().items():
            zf.writestr(name, data)
        zf.writestr("../evil.png", png())
        zf.writestr("cat/../../evil2.png", png())
        zf.writestr("/abs.png", png())
        zf.writestr("C:/windows.png", png())
        link = zipfile.ZipInfo("cat/link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "../../../etc/passwd")
    before = snapshot(tmp_path)
    c = load_images(path)
    assert snapshot(tmp_path) == before
    got = reasons(c)
    assert got["../evil.png"].startswith("unsafe path in zip")
    assert got["cat/../../evil2.png"].startswith("unsafe path in zip")
    assert got["/abs.png"].startswith("unsafe path in zip (absolute")
    assert got["C:/windows.png"].startswith("unsafe path in zip (absolute")
    assert got["cat/link.png"].startswith("symbolic link")
    assert len(c.paths) == 6


def test_zip_bombs_are_skipped(tmp_path):
    files = two_classes()
    files["cat/bomb.png"] = bytes(2 * 1024 * 1024)  # 2 MB of zeros deflates ~1000:1
    path = write_zip(tmp_path / "data.zip", files)
    c = load_images(path)
    assert reasons(c)["cat/bomb.png"].startswith("looks like a zip bomb: compressed")
    assert len(c.paths) == 6


def test_zip_entry_whose_header_lies_about_its_size(tmp_path):
    files = two_classes()
    files["cat/liar.png"] = png(size=(32, 32))
    path = write_zip(tmp_path / "data.zip", files)
    raw = bytearray(path.read_bytes())
    # central directory record of the last entry: claim 10 bytes uncompressed
    record = raw.rindex(b"PK\x01\x02")
    raw[record + 24:record + 28] = struct.pack("<I", 10)
    path.write_bytes(bytes(raw))
    c = load_images(path)
    assert reasons(c)["cat/liar.png"].startswith("damaged zip entry")
    assert len(c.paths) == 6


def test_zip_limits_are_errors(tmp_path, monkeypatch):
    path = write_zip(tmp_path / "data.zip", two_classes())
    monkeypatch.setattr(archive, "MAX_ZIP_ENTRIES", 5)
    with pytest.raises(FtguiError, match="6 entries, more than the 5"):
        load_images(path)
    monkeypatch.setattr(archive, "MAX_ZIP_ENTRIES", 100_000)
    monkeypatch.setattr(archive, "MAX_ZIP_TOTAL_BYTES", 100)
    with pytest.raises(FtguiError, match="unzip it and give the folder"):
        load_images(path)


# --- broken files -----------------------------------------------------------------------


def png_claiming(width: int, height: int) -> bytes:
    """A 1-bit PNG whose header claims width x height (the pixel data is not there)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def test_unusable_files_are_listed_with_the_reason(tmp_path):
    files = two_classes()
    whole_png, whole_jpeg = png(size=(32, 32)), noise_jpeg()
    files.update({
        "cat/empty.png": b"",
        "cat/text.jpg": b"hello, I am not a picture\n",
        "cat/cut.png": whole_png[: len(whole_png) // 2],
        "dog/cut.jpg": whole_jpeg[: len(whole_jpeg) * 3 // 4],
        "dog/bomb.png": png_claiming(12_000, 12_000),  # over MAX_PIXELS: Pillow only warns
        "dog/huge.png": png_claiming(20_000, 20_000),  # over 2x: Pillow raises
    })
    root = write_tree(tmp_path / "data", files)
    before = (ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    c = load_images(root)
    assert (ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters)) == before  # restored
    got = reasons(c)
    assert got["cat/empty.png"] == "empty file (0 bytes)"
    assert got["cat/text.jpg"] == "not an image (cannot identify image file)"
    assert got["cat/cut.png"].startswith("truncated or corrupt image")
    assert got["dog/cut.jpg"].startswith("truncated or corrupt image")
    assert got["dog/bomb.png"] == f"image too large: 144000000 pixels (limit {MAX_PIXELS})"
    assert got["dog/huge.png"] == f"image too large: 400000000 pixels (limit {MAX_PIXELS})"
    assert len(c.paths) == 6


def test_pixel_limit_holds_whatever_pillow_is_set_to(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # someone switched Pillow's check off
    files = {**two_classes(), "dog/bomb.png": png_claiming(12_000, 12_000)}
    root = write_tree(tmp_path / "data", files)
    assert reasons(load_images(root))["dog/bomb.png"].startswith("image too large: 144000000")
    monkeypatch.setattr(decode, "MAX_PIXELS", 100)
    root = write_tree(tmp_path / "small", {**two_classes(), "cat/big.png": png(size=(11, 10))})
    assert reasons(load_images(root)) == {"cat/big.png": "image too large: 110 pixels (limit 100)"}


def test_truncated_images_are_skipped_even_if_pillow_is_told_to_load_them(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    whole = noise_jpeg()  # Pillow would pad this one out if the setting were left on
    files = {**two_classes(), "cat/cut.jpg": whole[: len(whole) * 3 // 4]}
    root = write_tree(tmp_path / "data", files)
    c = load_images(root)
    assert reasons(c)["cat/cut.jpg"].startswith("truncated or corrupt image")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


def test_a_class_with_one_usable_image_is_left_out(tmp_path):
    files = two_classes()
    files.update({"bird/0.png": png(), "bird/1.png": b"broken"})
    c = load_images(write_tree(tmp_path / "data", files))
    assert c.classes == ["cat", "dog"]
    assert ("class 'bird' has only 1 usable image and was left out; each class needs at least 2"
            in c.warnings)
    assert "bird/1.png" in reasons(c)


@pytest.mark.parametrize("files, message", [
    ({}, "no class folders found in .*: put each class's images in a sub-folder"),
    ({"a.png": png(), "b.png": png()}, "no class folders found"),
    ({"cats/0.png": png(), "cats/1.png": png(), "dogs/0.png": png()},
     r"found only one class 'cats' .*left out .*'dogs'.*two class folders"),
    ({"cats/0.png": b"x", "dogs/0.png": b""},
     "no class folder in .* has 2 or more usable images .*files skipped"),
])
def test_nothing_to_train_on_is_an_error(tmp_path, files, message):
    with pytest.raises(FtguiError, match=message) as info:
        load_images(write_tree(tmp_path / "data", files))
    assert "\n" not in str(info.value)


def test_bad_paths_are_errors(tmp_path):
    with pytest.raises(FtguiError, match="does not exist"):
        load_images(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(FtguiError, match="is not a folder or a zip file"):
        load_images(tmp_path / "notes.txt")
    with pytest.raises(FtguiError, match="sample:digits"):
        load_images("sample:cats")


def test_unicode_emoji_and_space_class_names(tmp_path):
    names = ["chat noir", "猫", "🐶 dogs", "Ünïcödé"]
    files = {f"{name}/{name} {i}.png": png() for name in names for i in range(2)}
    folder = load_images(write_tree(tmp_path / "data", files))
    zipped = load_images(write_zip(tmp_path / "data.zip", files))
    for c in (folder, zipped):
        assert c.classes == sorted(names)
        assert c.report()["images_per_class"] == {name: 2 for name in names}
        assert c.open_image(7).mode == "RGB"
    assert folder.content_hash == zipped.content_hash


def test_warnings_for_duplicates_few_images_and_imbalance(tmp_path):
    same = png((1, 2, 3))
    files = {f"big/{i}.png": png() for i in range(30)}
    files.update({"small/0.png": png(), "small/1.png": png(), "small/7.png": same,
                  "big/1.png": same})
    c = load_images(write_tree(tmp_path / "data", files))
    assert "1 identical image appears in more than one class, e.g. big/1.png = small/7.png" \
        in " ".join(c.warnings)
    assert any("'small' has only 3 images; 20 or more" in w for w in c.warnings)
    assert any("unbalanced: 'big' has 30 images, 'small' only 3" in w for w in c.warnings)
    assert all("\n" not in w for w in c.warnings)


def test_content_hash_follows_the_pixels(tmp_path):
    files = two_classes()
    a = load_images(write_tree(tmp_path / "a", files))
    b = load_images(write_tree(tmp_path / "b", files))
    assert a.content_hash == b.content_hash
    image = Image.open(io.BytesIO(files["dog/2.png"])).convert("RGB")
    image.putpixel((3, 3), (0, 0, 0))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    c = load_images(write_tree(tmp_path / "c", {**files, "dog/2.png": buf.getvalue()}))
    assert c.content_hash != a.content_hash


def test_sample_digits():
    c = load_images("sample:digits")
    assert c.classes == [str(d) for d in range(10)]
    assert c.report()["images_per_class"] == {str(d): 40 for d in range(10)}
    assert c.skipped == [] and c.warnings == []
    image = c.open_image(0)
    assert image.mode == "RGB" and image.size == (32, 32)


# --- to_rgb ------------------------------------------------------------------------------


def _image(mode: str, value) -> Image.Image:
    return Image.new(mode, (4, 4), value)


def _palette(transparent: bool) -> Image.Image:
    image = Image.new("P", (4, 4), 0)
    image.putpalette([255, 0, 0, 0, 255, 0])
    if transparent:
        image.info["transparency"] = 0
    return image


def _ramp(mode: str, values: list) -> Image.Image:
    dtype = {"I": np.int32, "F": np.float32}[mode]
    return Image.fromarray(np.array([values], dtype=dtype))


@pytest.mark.parametrize("image, expected", [
    (_image("L", 128), (128, 128, 128)),
    (_image("1", 1), (255, 255, 255)),
    (_image("CMYK", (0, 0, 0, 0)), (255, 255, 255)),
    (_image("CMYK", (0, 0, 0, 255)), (0, 0, 0)),
    (_image("YCbCr", (128, 128, 128)), (128, 128, 128)),
    (_image("LAB", (255, 128, 128)), (255, 255, 255)),
    (_image("HSV", (0, 255, 255)), (255, 0, 0)),
    (_palette(transparent=False), (255, 0, 0)),
    (_palette(transparent=True), (255, 255, 255)),
    (_image("RGBA", (255, 0, 0, 0)), (255, 255, 255)),
    (_image("RGBA", (255, 0, 0, 255)), (255, 0, 0)),
    (_image("RGBA", (0, 0, 0, 128)), (127, 127, 127)),
    (_image("LA", (0, 0)), (255, 255, 255)),
    (_image("LA", (0, 255)), (0, 0, 0)),
    (_palette(transparent=False).convert("PA"), (255, 0, 0)),
    (_image("I;16", 65535), (255, 255, 255)),
    (_image("I;16", 257 * 100), (100, 100, 100)),
    (_image("I;16", 257 * 200 + 100), (200, 200, 200)),  # divided by 257, not 256
    (_image("I;16B", 65535), (255, 255, 255)),
    (_image("I;16L", 0), (0, 0, 0)),
    (_image("I", 100), (100, 100, 100)),  # one value: nothing to stretch
])
def test_to_rgb_modes(image, expected):
    out = to_rgb(image)
    assert out.mode == "RGB" and out.size == image.size
    assert out.getpixel((0, 0)) == pytest.approx(expected, abs=1)


def test_to_rgb_transparent_pa_is_white():
    image = _palette(transparent=False).convert("PA")
    image.putpixel((0, 0), (1, 0))
    assert to_rgb(image).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("mode, values", [("I", [1000, 2000, 3000]), ("F", [-1.0, 0.0, 1.0])])
def test_to_rgb_stretches_32_bit_range(mode, values):
    out = to_rgb(_ramp(mode, values))
    assert [out.getpixel((x, 0)) for x in range(3)] == [(0,) * 3, (128,) * 3, (255,) * 3]


def test_to_rgb_keeps_rgb_as_is():
    image = _image("RGB", (10, 20, 30))
    assert to_rgb(image) is image


def test_exif_orientation_is_applied(tmp_path):
    data = jpeg(size=(16, 8), orientation=6)
    upright = to_rgb(Image.open(io.BytesIO(data)))
    assert upright.size == (8, 16)
    # rotated 90 degrees clockwise: the blue left half is now on top
    r, g, b = upright.getpixel((4, 1))
    assert b > 150 and r < 100
    files = {**two_classes(), "cat/rotated.jpg": data}
    c = load_images(write_tree(tmp_path / "data", files))
    assert c.open_image(c.paths.index("cat/rotated.jpg")).size == (8, 16)


def test_big_jpegs_decode_at_a_reduced_scale(tmp_path):
    files = {**two_classes(), "cat/big.jpg": noise_jpeg(size=(4096, 2048))}
    c = load_images(write_tree(tmp_path / "data", files))
    assert c.open_image(c.paths.index("cat/big.jpg")).size == (2048, 1024)  # 1/2, still >= 1024


def test_16_bit_png_file(tmp_path):
    deep = Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16))
    buf = io.BytesIO()
    deep.save(buf, "PNG")
    files = {**two_classes(), "cat/deep.png": buf.getvalue()}
    c = load_images(write_tree(tmp_path / "data", files))
    assert c.open_image(c.paths.index("cat/deep.png")).getpixel((0, 0)) == (255, 255, 255)


# --- split -------------------------------------------------------------------------------


def test_stratified_split():
    labels = [0] * 50 + [1] * 10 + [2] * 3
    train, val = stratified_split(labels, 0.2, seed=7)
    assert train == sorted(train) and val == sorted(val)
    assert sorted(train + val) == list(range(len(labels)))
    assert [sum(labels[i] == k for i in val) for k in range(3)] == [10, 2, 1]
    assert stratified_split(labels, 0.2, seed=7) == (train, val)
    assert stratified_split(labels, 0.2, seed=8) != (train, val)


def test_stratified_split_edges():
    labels = [0, 0, 1, 1, 1, 1]
    train, val = stratified_split(labels, 0.01, seed=0)
    assert {labels[i] for i in val} == {0, 1} and {labels[i] for i in train} == {0, 1}
    train, val = stratified_split(labels, 0.99, seed=0)  # still one training image per class
    assert {labels[i] for i in train} == {0, 1} and len(val) == 4
    assert stratified_split(labels, 0, seed=0) == (list(range(6)), [])
    for bad in (1, 1.5, -0.1, float("nan")):
        with pytest.raises(FtguiError, match="validation fraction"):
            stratified_split(labels, bad, seed=0)


# --- dataset -----------------------------------------------------------------------------


def test_training_batches_from_a_zip_survive_pickling_and_workers(tmp_path):
    """Decoded-once images and their batches work in DataLoader worker processes, also when
    images beyond the memory budget are streamed from the zip there."""
    from timm.data import create_transform

    from ftgui.pipeline import DecodedImages, ImageBatches

    files = {f"wrapper/{name}": data for name, data in two_classes(n=4).items()}
    c = load_images(write_zip(tmp_path / "data.zip", files))
    c.open_image(0)  # the parent opened the zip before the workers start
    transform = create_transform(input_size=(3, 16, 16), use_prefetcher=True)
    expected = [transform(c.open_image(i)) for i in range(8)]
    for budget in (None, 0):  # everything cached; nothing cached (streamed in the workers)
        images = DecodedImages(c, list(range(8)), None, budget_bytes=budget)
        assert images.fully_cached is (budget is None)
        batches = ImageBatches(pickle.loads(pickle.dumps(images)), c.labels, transform)
        loader = torch.utils.data.DataLoader(batches, batch_size=2, num_workers=2)
        pixels, labels = zip(*loader)
        assert torch.equal(torch.cat(pixels), torch.stack(expected))
        assert torch.cat(labels).tolist() == c.labels


def test_open_image_after_the_file_broke(tmp_path):
    root = write_tree(tmp_path / "data", two_classes())
    c = load_images(root)
    (root / "cat/0.png").write_bytes(b"gone")
    with pytest.raises(FtguiError, match="cannot read cat/0.png any more"):
        c.open_image(0)


# --- prediction inputs -------------------------------------------------------------------


def test_prediction_inputs(tmp_path):
    single = tmp_path / "one.jpg"
    single.write_bytes(jpeg())
    folder = write_tree(tmp_path / "folder", {
        "b.png": png(), "sub/a.png": png(), ".hidden/x.png": png(), "notes.txt": b"hi",
        "broken.png": b"nope",
    })
    zipped = write_zip(tmp_path / "more.zip", {
        "z/1.png": png(), "__MACOSX/z/._1.png": b"x", "../evil.png": png(), "readme.md": b"hi",
    })
    inputs = list(iter_prediction_inputs([str(single), str(folder), str(zipped)]))
    shown = [display for display, _ in inputs]
    assert shown == [str(single), str(folder / "b.png"), str(folder / "broken.png"),
                     str(folder / "sub" / "a.png"), str(zipped / ".." / "evil.png"),
                     str(zipped / "z" / "1.png")]
    loaders = dict(inputs)
    assert loaders[str(single)]().size == (16, 8)
    assert loaders[str(zipped / "z" / "1.png")]().mode == "RGB"
    with pytest.raises(FtguiError, match="broken.png: not an image"):
        loaders[str(folder / "broken.png")]()
    with pytest.raises(FtguiError, match="unsafe path in zip"):
        loaders[str(zipped / ".." / "evil.png")]()


def test_prediction_inputs_check_every_path_first(tmp_path):
    single = tmp_path / "one.png"
    single.write_bytes(png())
    with pytest.raises(FtguiError, match="missing.png does not exist"):
        iter_prediction_inputs([str(single), str(tmp_path / "missing.png")])


def test_image_opener_reads_single_images_without_loading_the_set(tmp_path, monkeypatch):
    from ftgui import data

    files = {f"wrapper/{name}": blob for name, blob in two_classes(n=4).items()}
    archive = write_zip(tmp_path / "data.zip", files)
    c = load_images(archive)
    monkeypatch.setattr(data, "_check_file", lambda *a: pytest.fail("the opener must not check every file"))
    open_image = data.image_opener(archive)
    for i, path in enumerate(c.paths):
        assert np.array_equal(np.asarray(open_image(path)), np.asarray(c.open_image(i)))
    with pytest.raises(FtguiError, match="cannot read"):
        open_image("cat/no-such.png")
