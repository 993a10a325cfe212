"""Draw ftgui's icon: ``ftgui/ui/assets/icon.png`` (256x256, RGBA), with Pillow only.

    python scripts/make_icon.py

A picture (hills and a sun) on a rounded indigo tile, with an orange label tag carrying a
tick: an image that gets a class. Drawn at 4x and scaled down, so the edges are smooth.
The native window (``ftgui --window``) and the desktop shortcut (``ftgui shortcut``) use it.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 256
SCALE = 4
OUT = Path(__file__).resolve().parent.parent / "ftgui" / "ui" / "assets" / "icon.png"


def draw(size: int = SIZE) -> Image.Image:
    big = size * SCALE

    def s(value: float) -> int:
        return round(value * big / 256)

    # the tile: a vertical indigo gradient, masked to a rounded square
    tile = Image.new("RGBA", (big, big))
    top, bottom = (79, 70, 229), (49, 46, 129)
    gradient = ImageDraw.Draw(tile)
    for y in range(big):
        t = y / (big - 1)
        gradient.line([(0, y), (big, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom)) + (255,))
    mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(mask).rounded_rectangle((s(8), s(8), s(248), s(248)), radius=s(52), fill=255)
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    image.paste(tile, (0, 0), mask)
    d = ImageDraw.Draw(image)

    # the picture: a white card with a sky, two hills and a sun
    d.rounded_rectangle((s(40), s(52), s(204), s(180)), radius=s(14), fill=(255, 255, 255, 255))
    d.rectangle((s(52), s(64), s(192), s(168)), fill=(224, 242, 254, 255))
    d.ellipse((s(140), s(76), s(172), s(108)), fill=(250, 204, 21, 255))
    d.polygon([(s(52), s(168)), (s(98), s(104)), (s(144), s(168))], fill=(34, 197, 94, 255))
    d.polygon([(s(112), s(168)), (s(152), s(122)), (s(192), s(168))], fill=(22, 163, 74, 255))

    # the label: an orange tag with a tick, over the card's lower right corner
    d.rounded_rectangle((s(146), s(150), s(222), s(214)), radius=s(16), fill=(249, 115, 22, 255),
                        outline=(255, 255, 255, 255), width=s(6))
    d.line([(s(164), s(182)), (s(180), s(198)), (s(206), s(166))], fill=(255, 255, 255, 255), width=s(10),
           joint="curve")
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    draw().save(OUT, optimize=True)
    print(OUT)


if __name__ == "__main__":
    main()
