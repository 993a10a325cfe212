"""The user's images: safe intake, a data report, a train/val split and a torch dataset.

:func:`load_images` takes a folder of class sub-folders, a ``.zip`` of one, or
``sample:digits``, and decodes every file once up front: a file that cannot be decoded is
listed in ``skipped`` with the reason instead of failing the run an hour into training.
Reading bytes out of folders and zips safely is :mod:`ftgui.archive`'s job, decoding them
:mod:`ftgui.decode`'s.
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import numbers
import os
import random
import stat
import unicodedata
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from .archive import Entry, FolderSource, Unusable, ZipSource, shown_name
from .decode import load_rgb, strict_pillow
from .errors import FtguiError
from .formats import is_foreign_image_name
from .i18n import N_, current, speaking, tr, translate

MIN_IMAGES = 2  # a class needs this many usable images (one to train on, one to validate)
FEW_IMAGES = 5  # fewer than this per class gets a warning
IMBALANCE_RATIO = 5  # largest class over smallest class beyond this gets a warning
SAMPLE_SETS = ("digits",)
_THREADS = max(2, min(4, os.cpu_count() or 2))
_HINT = N_("give a folder of class sub-folders or a .zip of one")


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
    digests: list[str] = field(default_factory=list, repr=False, compare=False)
    """The SHA-256 of each image file's bytes, in ``paths`` order."""
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
            raise FtguiError(tr("unknown sample data set '{name}': the bundled one is sample:digits", name=text))
        from .sample_data import SAMPLE_DATA

        return text, FolderSource(SAMPLE_DATA)
    given = Path(os.fsdecode(text)).expanduser()
    source = shown_name(os.path.abspath(given))
    if given.is_dir():
        return source, FolderSource(given)
    if given.is_file():
        if zipfile.is_zipfile(given):
            return source, ZipSource(given)
        raise FtguiError(tr("{path} is not a folder or a zip file: {hint}", path=given, hint=translate(_HINT)))
    if given.exists():
        raise FtguiError(tr("{path} is {kind}, not a folder or a zip file: {hint}", path=given, kind=_kind(given),
                            hint=translate(_HINT)))
    raise FtguiError(tr("{path} does not exist: {hint}", path=given, hint=translate(_HINT)))


def _kind(path: Path) -> str:
    """What a path that is neither a folder nor a regular file is: "a character device"...
    (in the reader's language)."""
    mode = path.stat().st_mode
    for test, kind in ((stat.S_ISCHR, N_("a character device")), (stat.S_ISBLK, N_("a block device")),
                       (stat.S_ISFIFO, N_("a named pipe (FIFO)")), (stat.S_ISSOCK, N_("a socket"))):
        if test(mode):
            return translate(kind)
    return tr("not a regular file")


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


def _check_file(files: FolderSource | ZipSource, name: str, language: str) -> tuple[str | None, str]:
    """Return (sha256 of the bytes, "") for a usable image, else (None, the reason in ``language``:
    a pool's thread does not inherit the reader's)."""
    with speaking(language):
        try:
            data = files.read(name)
            digest = hashlib.sha256(data).hexdigest()
            load_rgb(data, name)
        except Unusable as exc:
            return None, str(exc)
    return digest, ""


def _open_known(files: FolderSource | ZipSource, root: str, rel: str) -> Image.Image:
    try:
        return load_rgb(files.read(root + rel), rel)
    except Unusable as exc:
        raise FtguiError(tr("cannot read {path} any more ({reason}): it changed after the data was loaded; "
                            "fix or remove it and start again", path=rel, reason=exc)) from None


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
        raise FtguiError(tr("no class folders found in {source}: put each class's images in a sub-folder "
                            "named after the class", source=source))
    jobs = []
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.name.startswith(root) and not _directly_in(entry.name, root):
            jobs.append(entry.name)
        else:
            skipped_raw.append((entry.name, tr("not inside a class folder")))
    Image.init()  # register every format now: Pillow's lazy registration is not thread-safe
    language = current.get()  # the pool's threads start in English: they word reasons in the reader's
    with strict_pillow(), ThreadPoolExecutor(_THREADS) as pool:
        results = list(pool.map(lambda name: _check_file(files, name, language), jobs))

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
            count = tr("only 1 usable image") if items else tr("no usable image")
            notes.append(tr("class '{name}' has {count} and was left out; each class needs at least {minimum}",
                            name=name, count=count, minimum=MIN_IMAGES))
            skipped_raw += [(root + rel, tr("its class '{name}' has {count} and was left out; each class needs "
                                            "at least {minimum}", name=name, count=count, minimum=MIN_IMAGES))
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
    return ImageCollection(source, classes, paths, labels, skipped, notes, content.hexdigest(), hashes,
                           sorted(files.ignored), files, root)


def _nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def _require_two_classes(classes: list[str], dropped: list[str], skipped: list[Skipped],
                         source: str) -> None:
    if len(classes) >= 2:
        return
    left_out = ""
    if dropped:
        left_out = tr(" (left out for having fewer than {minimum} usable images: {names})", minimum=MIN_IMAGES,
                      names=", ".join(f"'{d}'" for d in dropped[:5]))
    if skipped:
        left_out += tr(" ({n} files skipped, e.g. {path}: {reason})", n=len(skipped), path=skipped[0].path,
                       reason=skipped[0].reason)
    if classes:
        raise FtguiError(tr("found only one class '{name}' in {source}{left_out}; a classifier needs at least "
                            "two class folders", name=classes[0], source=source, left_out=left_out))
    raise FtguiError(tr("no class folder in {source} has {minimum} or more usable images{left_out}: put each "
                        "class's images in a sub-folder named after the class", source=source,
                        minimum=MIN_IMAGES, left_out=left_out))


def _warnings(classes: list[str], labels: list[int], paths: list[str],
              hashes: list[str]) -> list[str]:
    notes = []
    counts = Counter(labels)
    for label, name in enumerate(classes):
        if counts[label] < FEW_IMAGES:
            notes.append(tr("class '{name}' has only {n} images; 20 or more per class give much better results",
                            name=name, n=counts[label]))
    big = max(range(len(classes)), key=lambda c: counts[c])
    small = min(range(len(classes)), key=lambda c: counts[c])
    if counts[big] > IMBALANCE_RATIO * counts[small]:
        notes.append(tr("the classes are unbalanced: '{big}' has {big_n} images, '{small}' only {small_n}; the "
                        "model will favour the big classes unless the small ones get more images",
                        big=classes[big], big_n=counts[big], small=classes[small], small_n=counts[small]))
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, digest in enumerate(hashes):
        by_hash[digest].append(i)
    shared = [group for group in by_hash.values() if len({labels[i] for i in group}) > 1]
    if shared:
        first = min(shared, key=lambda group: paths[group[0]])
        other = next(i for i in first if labels[i] != labels[first[0]])
        template = N_("{n} identical images appear in more than one class, e.g. {first} = {other}; keep each "
                      "image in the one class it belongs to") if len(shared) > 1 else \
            N_("1 identical image appears in more than one class, e.g. {first} = {other}; keep each image in "
               "the one class it belongs to")
        notes.append(tr(template, n=len(shared), first=paths[first[0]], other=paths[other]))
    return notes


def stratified_split(labels: list[int], val_fraction: float,
                     seed: int) -> tuple[list[int], list[int]]:
    """Split indices into (train, val), sorted, with ``val_fraction`` of every class in val.

    Each class with 2 or more images gets at least one image on each side. Each class is
    shuffled by its own seeded generator, so the split does not depend on global random state.
    """
    if not isinstance(val_fraction, numbers.Real) or not 0 <= val_fraction < 1:
        raise FtguiError(tr("the validation fraction must be at least 0 and below 1 (e.g. 0.2), not {value}",
                            value=repr(val_fraction)))
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
    image or raises FtguiError with the reason, in the language of the reader the paths were
    listed for (whichever thread loads it).
    """
    return itertools.chain.from_iterable([_prediction_inputs(p) for p in paths])


def _prediction_inputs(given: str | os.PathLike) -> list[tuple[str, Callable[[], Image.Image]]]:
    path = Path(given).expanduser()
    if not path.exists():
        raise FtguiError(tr("{path} does not exist: give image files, folders or .zip files", path=given))
    files: FolderSource | ZipSource
    if path.is_dir():
        files = FolderSource(path)
    elif not path.is_file():  # a FIFO or a device would block or never end
        raise FtguiError(tr("{path} is {kind}, not a file or a folder: give image files, folders or .zip files",
                            path=given, kind=_kind(path)))
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
    language = current.get()  # a loader may run in another thread (Predictor's pool), which starts in English

    def load() -> Image.Image:
        with speaking(language):
            try:
                if reason is not None:
                    raise Unusable(reason)
                return load_rgb(files.read(name), name)
            except Unusable as exc:
                raise FtguiError(tr("cannot read {path}: {reason}", path=display, reason=exc)) from None

    return load
