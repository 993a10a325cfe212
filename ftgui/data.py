"""The user's images: safe intake, a data report, a train/val split and a torch dataset.

:func:`load_images` takes a folder of class sub-folders, a ``.zip`` of one, or
``sample:digits``, and decodes every file once up front: a file that cannot be decoded is
listed in ``skipped`` with the reason instead of failing the run an hour into training.
Reading bytes out of folders and zips safely is :mod:`ftgui.archive`'s job.
"""
from __future__ import annotations

import functools
import hashlib
import io
import itertools
import numbers
import os
import random
import re
import stat
import unicodedata
import warnings
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps

from .archive import Entry, FolderSource, Unusable, ZipSource, shown_name
from .errors import FtguiError
from .formats import is_foreign_image_name, unsupported_reason

MAX_PIXELS = 89_478_485  # Pillow's default bomb limit, enforced whatever Pillow is set to
# Models resize the shorter side to about the input size and keep its centre square, so an
# image's work grows with its aspect ratio: a 177-byte 1x100000 PNG became gigapixels. At 20:1
# a resized image is 20 input squares (5 MB at 224 pixels) and the model sees 5% of it.
MAX_ASPECT_RATIO = 20
DRAFT_SIZE = (1024, 1024)  # JPEGs decode at the smallest 1/2^k scale still at least this big
MIN_IMAGES = 2  # a class needs this many usable images (one to train on, one to validate)
FEW_IMAGES = 5  # fewer than this per class gets a warning
IMBALANCE_RATIO = 5  # largest class over smallest class beyond this gets a warning
SAMPLE_SETS = ("digits",)
# formats Pillow only reads by running another program (Ghostscript) on the file: untrusted
# PostScript is code, and Ghostscript writes temporary files outside the run folder
_REFUSED_FORMATS = {"EPS": "a PostScript (EPS) file is not read: it would run Ghostscript"}
_THREADS = max(2, min(4, os.cpu_count() or 2))
_HINT = "give a folder of class sub-folders or a .zip of one"


@dataclass
class Skipped:
    path: str  # relative posix path inside the folder or zip the user gave
    reason: str


@dataclass
class ImageCollection:
    """The usable images of a data set, their labels, and what was left out and why."""

    source: str
    classes: list[str]
    paths: list[str]  # relative to the data root (below any wrapper folder): "cat/a.jpg"
    labels: list[int]
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    content_hash: str = ""
    ignored: list[str] = field(default_factory=list)
    """Hidden and system entries (.DS_Store, __MACOSX/..., .ipynb_checkpoints): never read."""
    _files: Any = field(default=None, repr=False, compare=False)  # FolderSource | ZipSource
    _root: str = field(default="", repr=False, compare=False)  # "" or "wrapper/" inside _files

    def open_image(self, index: int) -> Image.Image:
        """Decode image ``index`` as RGB with its EXIF orientation applied."""
        return _open_known(self._files, self._root, self.paths[index])

    def report(self) -> dict:
        counts = Counter(self.labels)
        return {
            "source": self.source,
            "classes": list(self.classes),
            "images_per_class": {name: counts[i] for i, name in enumerate(self.classes)},
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "warnings": list(self.warnings),
            "ignored": list(self.ignored),
            "content_hash": self.content_hash,
            "total": len(self.paths),
        }


def to_rgb(image: Image.Image) -> Image.Image:
    """Return ``image`` upright (EXIF orientation) as 8-bit RGB; transparency becomes white."""
    try:
        if image.getexif().get(0x0112, 1) != 1:
            image = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a broken EXIF block should not make the image unusable
        pass
    mode = image.mode
    if mode == "RGB":
        return image
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La")
    if has_alpha or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode.startswith("I;16"):
        return Image.fromarray(_SIXTEEN_TO_EIGHT[np.asarray(image)]).convert("RGB")
    if mode in ("I", "F"):
        return Image.fromarray(_stretch(np.asarray(image))).convert("RGB")
    return image.convert("RGB")  # 1, L, P, CMYK, YCbCr, LAB, HSV, RGBX


_SIXTEEN_TO_EIGHT = ((np.arange(65536, dtype=np.uint32) + 128) // 257).astype(np.uint8)
_BAND = 256  # rows at a time: a 64-bit copy of a whole image at the pixel cap would take 700 MB


def _stretch(values: np.ndarray) -> np.ndarray:
    """32-bit pixel values stretched over 0..255 (their finite range; non-finite ones count as
    the lowest); one value only is clipped to 0..255 instead. Worked in bands of rows, so a
    small file that unpacks to a big float image does not take several copies of it in memory."""
    lo, hi = np.inf, -np.inf
    for start in range(0, len(values), _BAND):
        band = values[start:start + _BAND]
        finite = band[np.isfinite(band)]
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    if lo > hi:
        lo = hi = 0.0
    out = np.empty(values.shape, np.uint8)
    for start in range(0, len(values), _BAND):
        band = values[start:start + _BAND].astype(np.float64)
        band[~np.isfinite(band)] = lo
        band = (band - lo) * (255 / (hi - lo)) if hi > lo else np.clip(band, 0, 255)
        out[start:start + _BAND] = np.rint(band)
    return out


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _decode(data: bytes, name: str = "") -> Image.Image:
    """Fully decode ``data`` (the file ``name``); raise Unusable with the reason if it is not a
    usable image.

    Pillow raises many exception types on malformed input, so any exception while
    decoding counts as a broken file.
    """
    if not data:
        raise Unusable("empty file (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))
    except Image.UnidentifiedImageError:
        reason = unsupported_reason(data, name, set(_REFUSED_FORMATS))
        reason = reason or "not an image (cannot identify image file)"
        raise Unusable(reason) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = found.group(1) if found else "too many"
        raise Unusable(f"image too large: {pixels} pixels (limit {MAX_PIXELS})") from None
    except Exception as exc:  # noqa: BLE001
        raise Unusable(f"truncated or corrupt image: {_why(exc)}") from None
    if image.format in _REFUSED_FORMATS:
        raise Unusable(_REFUSED_FORMATS[image.format])
    check_size(image)
    try:
        if image.format in ("JPEG", "MPO"):
            image.draft("RGB", DRAFT_SIZE)
        image.load()
    except Exception as exc:  # noqa: BLE001
        raise Unusable(f"truncated or corrupt image: {_why(exc)}") from None
    check_size(image)  # a format can change its size while loading (ICO does)
    return image


def check_size(image: Image.Image) -> None:
    """Raise Unusable unless ``image`` is within :data:`MAX_PIXELS` and
    :data:`MAX_ASPECT_RATIO`: what it takes to decode it and to resize it for a model."""
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise Unusable(f"image too large: {width * height} pixels (limit {MAX_PIXELS})")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise Unusable(f"aspect ratio too extreme: {width}x{height} pixels, more than "
                       f"{MAX_ASPECT_RATIO}:1; crop it nearer to square")


def _load_rgb(data: bytes, name: str = "") -> Image.Image:
    image = _decode(data, name)
    try:
        return to_rgb(image)
    except Exception as exc:  # noqa: BLE001
        raise Unusable(f"cannot convert a {image.mode} image to RGB: {_why(exc)}") from None


@contextmanager
def _strict_pillow() -> Iterator[None]:
    """Truncated images and decompression bomb warnings are errors while this is active, and
    Pillow's other warnings about broken files are silent (the file's reason is reported).

    These are process-wide settings, so they are set here and restored afterwards; the
    decoding threads run inside it.
    """
    truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated


@functools.cache
def _image_extensions() -> frozenset[str]:
    return frozenset(Image.registered_extensions())


def _is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in _image_extensions()


def _open_source(path: str | os.PathLike) -> tuple[str, FolderSource | ZipSource]:
    """Return (source as recorded, files) for what the user gave."""
    text = os.fspath(path)
    if isinstance(text, str) and text.startswith("sample:"):
        if text[len("sample:"):] not in SAMPLE_SETS:
            raise FtguiError(f"unknown sample data set '{text}': the bundled one is sample:digits")
        from .sample_data import SAMPLE_DATA

        return text, FolderSource(SAMPLE_DATA)
    given = Path(os.fsdecode(text)).expanduser()
    source = shown_name(os.path.abspath(given))
    if given.is_dir():
        return source, FolderSource(given)
    if given.is_file():
        if zipfile.is_zipfile(given):
            return source, ZipSource(given)
        raise FtguiError(f"{given} is not a folder or a zip file: {_HINT}")
    if given.exists():
        raise FtguiError(f"{given} is {_kind(given)}, not a folder or a zip file: {_HINT}")
    raise FtguiError(f"{given} does not exist: {_HINT}")


def _kind(path: Path) -> str:
    """What a path that is neither a folder nor a regular file is: "a character device"..."""
    mode = path.stat().st_mode
    for test, kind in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def _directly_in(name: str, prefix: str) -> bool:
    return name.startswith(prefix) and "/" not in name[len(prefix):]


def _subfolders(dirs: set[str], prefix: str) -> list[str]:
    return sorted(d[len(prefix):] for d in dirs if _directly_in(d, prefix))


def _find_root(files: list[Entry], dirs: set[str]) -> str:
    """Descend through wrapper folders: "data.zip/photos/{cat,dog}" has its classes in "photos/".

    A folder is a wrapper when it is the only folder at its level, no image lies beside it,
    and it holds folders but no images itself (else it is one class of its own).
    """
    def images_at(prefix: str) -> bool:
        return any(_directly_in(e.name, prefix) and _is_image_name(e.name) for e in files)

    root = ""
    while True:
        below = _subfolders(dirs, root)
        if len(below) != 1 or images_at(root):
            return root
        inner = f"{root}{below[0]}/"
        if not _subfolders(dirs, inner) or images_at(inner):
            return root
        root = inner


def _check_file(files: FolderSource | ZipSource, name: str) -> tuple[str | None, str]:
    """Return (sha256 of the bytes, "") for a usable image, else (None, reason)."""
    try:
        data = files.read(name)
        digest = hashlib.sha256(data).hexdigest()
        _load_rgb(data, name)
    except Unusable as exc:
        return None, str(exc)
    return digest, ""


def _open_known(files: FolderSource | ZipSource, root: str, rel: str) -> Image.Image:
    try:
        return _load_rgb(files.read(root + rel), rel)
    except Unusable as exc:
        raise FtguiError(
            f"cannot read {rel} any more ({exc}): it changed after the data was loaded; "
            "fix or remove it and start again"
        ) from None


def image_opener(path: str | os.PathLike) -> Callable[[str], Image.Image]:
    """A function that opens single images of a data set by their path in it (as a run's
    split and validation predictions name them), without checking or decoding the rest:
    for showing a few images of a data set that was loaded before."""
    _, files = _open_source(path)
    entries, dirs, _ = files.list()
    root = _find_root(entries, dirs)
    return functools.partial(_open_known, files, root)


def load_images(path: str | os.PathLike) -> ImageCollection:
    """Read a folder of class sub-folders, a .zip of one, or ``sample:digits``.

    Raises FtguiError when there is nothing to train on: no such path, no class folders,
    fewer than two classes with at least two usable images.
    """
    source, files = _open_source(path)
    entries, dirs, skipped_raw = files.list()
    root = _find_root(entries, dirs)
    folders = _subfolders(dirs, root)
    if not folders:
        raise FtguiError(
            f"no class folders found in {source}: put each class's images in a sub-folder "
            "named after the class"
        )
    jobs = []
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.name.startswith(root) and not _directly_in(entry.name, root):
            jobs.append(entry.name)
        else:
            skipped_raw.append((entry.name, "not inside a class folder"))
    Image.init()  # register every format now: Pillow's lazy registration is not thread-safe
    with _strict_pillow(), ThreadPoolExecutor(_THREADS) as pool:
        results = list(pool.map(lambda name: _check_file(files, name), jobs))

    # class name -> [(path below root, sha256)]; NFC so that a macOS zip's names match
    found: dict[str, list[tuple[str, str]]] = {_nfc(folder): [] for folder in folders}
    for name, (digest, reason) in zip(jobs, results):
        if digest is None:
            skipped_raw.append((name, reason))
            continue
        rel = name[len(root):]
        found[_nfc(rel.split("/", 1)[0])].append((rel, digest))

    notes: list[str] = []
    dropped = []
    for name, items in sorted(found.items()):
        if len(items) < MIN_IMAGES:
            dropped.append(name)
            count = "only 1 usable image" if items else "no usable image"
            notes.append(f"class '{name}' has {count} and was left out; "
                         f"each class needs at least {MIN_IMAGES}")
            skipped_raw += [(root + rel, f"its class '{name}' has {count} and was left out; "
                                         f"each class needs at least {MIN_IMAGES}")
                            for rel, _ in items]
    classes = sorted(name for name in found if name not in dropped)
    skipped = sorted((Skipped(p, r) for p, r in skipped_raw), key=lambda s: s.path)
    _require_two_classes(classes, dropped, skipped, source)

    paths, labels, hashes = [], [], []
    for label, name in enumerate(classes):
        for rel, digest in sorted(found[name]):
            paths.append(rel)
            labels.append(label)
            hashes.append(digest)
    notes += _warnings(classes, labels, paths, hashes)
    content = hashlib.sha256()
    for rel, digest in sorted(zip(paths, hashes)):
        content.update(rel.encode("utf-8", "surrogateescape") + b"\0" + digest.encode() + b"\n")
    return ImageCollection(source, classes, paths, labels, skipped, notes,
                           content.hexdigest(), sorted(files.ignored), files, root)


def _nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def _require_two_classes(classes: list[str], dropped: list[str], skipped: list[Skipped],
                         source: str) -> None:
    if len(classes) >= 2:
        return
    left_out = ""
    if dropped:
        left_out = f" (left out for having fewer than {MIN_IMAGES} usable images: "
        left_out += ", ".join(f"'{d}'" for d in dropped[:5]) + ")"
    if skipped:
        left_out += f" ({len(skipped)} files skipped, e.g. {skipped[0].path}: {skipped[0].reason})"
    if classes:
        raise FtguiError(f"found only one class '{classes[0]}' in {source}{left_out}; "
                         "a classifier needs at least two class folders")
    raise FtguiError(f"no class folder in {source} has {MIN_IMAGES} or more usable images"
                     f"{left_out}: put each class's images in a sub-folder named after the class")


def _warnings(classes: list[str], labels: list[int], paths: list[str],
              hashes: list[str]) -> list[str]:
    notes = []
    counts = Counter(labels)
    for label, name in enumerate(classes):
        if counts[label] < FEW_IMAGES:
            notes.append(f"class '{name}' has only {counts[label]} images; "
                         "20 or more per class give much better results")
    big = max(range(len(classes)), key=lambda c: counts[c])
    small = min(range(len(classes)), key=lambda c: counts[c])
    if counts[big] > IMBALANCE_RATIO * counts[small]:
        notes.append(f"the classes are unbalanced: '{classes[big]}' has {counts[big]} images, "
                     f"'{classes[small]}' only {counts[small]}; the model will favour the big "
                     "classes unless the small ones get more images")
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, digest in enumerate(hashes):
        by_hash[digest].append(i)
    shared = [group for group in by_hash.values() if len({labels[i] for i in group}) > 1]
    if shared:
        first = min(shared, key=lambda group: paths[group[0]])
        other = next(i for i in first if labels[i] != labels[first[0]])
        many = f"{len(shared)} identical images appear" if len(shared) > 1 else \
            "1 identical image appears"
        notes.append(f"{many} in more than one class, e.g. {paths[first[0]]} = {paths[other]}; "
                     "keep each image in the one class it belongs to")
    return notes


def stratified_split(labels: list[int], val_fraction: float,
                     seed: int) -> tuple[list[int], list[int]]:
    """Split indices into (train, val), sorted, with ``val_fraction`` of every class in val.

    Each class with 2 or more images gets at least one image on each side. Each class is
    shuffled by its own seeded generator, so the split does not depend on global random state.
    """
    if not isinstance(val_fraction, numbers.Real) or not 0 <= val_fraction < 1:
        raise FtguiError(f"the validation fraction must be at least 0 and below 1 (e.g. 0.2), "
                         f"not {val_fraction!r}")
    by_class: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_class[label].append(index)
    train: list[int] = []
    val: list[int] = []
    for label, indices in sorted(by_class.items()):
        n = len(indices)
        n_val = 0 if val_fraction == 0 or n < 2 else min(max(round(n * val_fraction), 1), n - 1)
        random.Random(f"{seed}/{label}").shuffle(indices)
        val += indices[:n_val]
        train += indices[n_val:]
    return sorted(train), sorted(val)


def iter_prediction_inputs(
    paths: list[str],
) -> Iterator[tuple[str, Callable[[], Image.Image]]]:
    """Yield (display path, loader) for every image to label; ``loader()`` decodes it.

    Each path is an image file, a folder (searched recursively, hidden files skipped) or a
    zip; folders and zips contribute the files whose names look like images. Every path is
    checked before the first yield, so a typo fails at once. ``loader()`` returns the RGB
    image or raises FtguiError with the reason.
    """
    return itertools.chain.from_iterable([_prediction_inputs(p) for p in paths])


def _prediction_inputs(given: str | os.PathLike) -> list[tuple[str, Callable[[], Image.Image]]]:
    path = Path(given).expanduser()
    if not path.exists():
        raise FtguiError(f"{given} does not exist: give image files, folders or .zip files")
    files: FolderSource | ZipSource
    if path.is_dir():
        files = FolderSource(path)
    elif not path.is_file():  # a FIFO or a device would block or never end
        raise FtguiError(f"{given} is {_kind(path)}, not a file or a folder: give image files, "
                         "folders or .zip files")
    elif not _is_image_name(path.name) and zipfile.is_zipfile(path):
        files = ZipSource(path)
    else:
        shown = os.fspath(given)
        return [(shown, _loader(FolderSource(path.parent), path.name, shown))]
    entries, _, skipped = files.list()
    found = [(e.name, None) for e in entries] + [(name, reason) for name, reason in skipped]
    inputs = []
    for name, reason in sorted(found, key=lambda item: item[0]):
        if _is_image_name(name) or is_foreign_image_name(name):  # the latter to say why not
            display = str(Path(given, *name.split("/")))
            inputs.append((display, _loader(files, name, display, reason)))
    return inputs


def _loader(files: FolderSource | ZipSource, name: str, display: str,
            reason: str | None = None) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        try:
            if reason is not None:
                raise Unusable(reason)
            return _load_rgb(files.read(name), name)
        except Unusable as exc:
            raise FtguiError(f"cannot read {display}: {exc}") from None

    return load
