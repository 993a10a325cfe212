"""Image formats Pillow has no reader for, told apart from files that are not images at all.

A phone's HEIC photo and a text file both give Pillow's "cannot identify image file"; the
user needs to hear that the first is an image in a format to convert, and into what.
"""
from __future__ import annotations

import os

from PIL import Image

from .i18n import tr

# format as shown -> Pillow's id for it, should a plugin (pillow-heif...) add a reader
_FORMATS = {"HEIC/HEIF": "HEIF", "AVIF": "AVIF", "JPEG XL": "JXL", "SVG": "SVG"}
_EXTENSIONS = {".heic": "HEIC/HEIF", ".heif": "HEIC/HEIF", ".hif": "HEIC/HEIF",
               ".avif": "AVIF", ".jxl": "JPEG XL", ".svg": "SVG", ".svgz": "SVG"}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs",
                b"mif1", b"msf1"}
_COMMON = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")


def is_foreign_image_name(name: str) -> bool:
    """Whether ``name`` ends like an image in a format Pillow may not read (``.heic``)."""
    return os.path.splitext(name)[1].lower() in _EXTENSIONS


def unsupported_reason(data: bytes, name: str, refused: set[str]) -> str | None:
    """The reason to give for bytes Pillow could not identify, when they are (by their bytes,
    else by ``name``) an image in a format without a reader here; None for anything else.
    ``refused`` are Pillow's formats that ftgui will not read, left out of the count."""
    how = tr("by its contents")
    if data[4:8] == b"ftyp":  # an ISO media file: its brand says what it holds
        brand = data[8:12]
        found = "AVIF" if brand in (b"avif", b"avis") else \
            "HEIC/HEIF" if brand in _HEIF_BRANDS else None
    elif data.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n")):
        found = "JPEG XL"
    else:
        extension = os.path.splitext(name)[1].lower()
        found, how = _EXTENSIONS.get(extension), tr("a {extension} file", extension=extension)
    if found is None or _FORMATS[found] in Image.OPEN:
        return None
    common = [fmt for fmt in _COMMON if fmt in Image.OPEN]
    others = len(set(Image.OPEN) - set(common) - refused)
    return tr("unsupported image format: {found} ({how}); ftgui reads {common} and {others} more formats; "
              "convert it to JPEG or PNG", found=found, how=how, common=", ".join(common), others=others)
