"""Decoding one image's bytes safely into RGB.

:func:`load_rgb` fully decodes a file's bytes within :data:`MAX_PIXELS` and
:data:`MAX_ASPECT_RATIO` and returns it upright as 8-bit RGB, or raises
:class:`~ftgui.archive.Unusable` with the reason; :func:`strict_pillow` makes Pillow strict
about broken files while decoding.
"""
from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from PIL import Image, ImageFile, ImageOps

from .archive import Unusable
from .formats import unsupported_reason
from .i18n import N_, tr, translate

MAX_PIXELS = 89_478_485  # Pillow's default bomb limit, enforced whatever Pillow is set to
# Models resize the shorter side to about the input size and keep its centre square, so an
# image's work grows with its aspect ratio: a 177-byte 1x100000 PNG became gigapixels. At 20:1
# a resized image is 20 input squares (5 MB at 224 pixels) and the model sees 5% of it.
MAX_ASPECT_RATIO = 20
DRAFT_SIZE = (1024, 1024)  # JPEGs decode at the smallest 1/2^k scale still at least this big
# formats Pillow only reads by running another program (Ghostscript) on the file: untrusted
# PostScript is code, and Ghostscript writes temporary files outside the run folder
_REFUSED_FORMATS = {"EPS": N_("a PostScript (EPS) file is not read: it would run Ghostscript")}


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
    """Fully decode ``data`` (the file ``name``); raise Unusable with the reason (in the
    reader's language) if it is not a usable image.

    Pillow raises many exception types on malformed input, so any exception while
    decoding counts as a broken file.
    """
    if not data:
        raise Unusable(tr("empty file (0 bytes)"))
    try:
        image = Image.open(io.BytesIO(data))
    except Image.UnidentifiedImageError:
        reason = unsupported_reason(data, name, set(_REFUSED_FORMATS))
        reason = reason or tr("not an image (cannot identify image file)")
        raise Unusable(reason) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = found.group(1) if found else tr("too many")
        raise Unusable(tr("image too large: {pixels} pixels (limit {limit})", pixels=pixels,
                          limit=MAX_PIXELS)) from None
    except Exception as exc:  # noqa: BLE001
        raise Unusable(tr("truncated or corrupt image: {why}", why=_why(exc))) from None
    if image.format in _REFUSED_FORMATS:
        raise Unusable(translate(_REFUSED_FORMATS[image.format]))
    check_size(image)
    try:
        if image.format in ("JPEG", "MPO"):
            image.draft("RGB", DRAFT_SIZE)
        image.load()
    except Exception as exc:  # noqa: BLE001
        raise Unusable(tr("truncated or corrupt image: {why}", why=_why(exc))) from None
    check_size(image)  # a format can change its size while loading (ICO does)
    return image


def check_size(image: Image.Image) -> None:
    """Raise Unusable unless ``image`` is within :data:`MAX_PIXELS` and
    :data:`MAX_ASPECT_RATIO`: what it takes to decode it and to resize it for a model."""
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise Unusable(tr("image too large: {pixels} pixels (limit {limit})", pixels=width * height,
                          limit=MAX_PIXELS))
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise Unusable(tr("aspect ratio too extreme: {width}x{height} pixels, more than {ratio}:1; crop it "
                          "nearer to square", width=width, height=height, ratio=MAX_ASPECT_RATIO))


def load_rgb(data: bytes, name: str = "") -> Image.Image:
    image = _decode(data, name)
    try:
        return to_rgb(image)
    except Exception as exc:  # noqa: BLE001
        raise Unusable(tr("cannot convert a {mode} image to RGB: {why}", mode=image.mode, why=_why(exc))) from None


@contextmanager
def strict_pillow() -> Iterator[None]:
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
