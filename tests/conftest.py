"""Shared fixtures: small generated image data sets and tiny trained runs.

Nothing here downloads anything: "pretrained" weights are runs the tests train themselves.
"""
from __future__ import annotations

import random
import zipfile
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "cross", "bar")
COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 220),
           "yellow": (230, 210, 30), "purple": (150, 50, 170)}


def draw_shape(shape: str, colour: tuple, size: int, rng: random.Random) -> Image.Image:
    """One noisy picture of a coloured shape, at a random place and scale."""
    bg = tuple(rng.randint(0, 60) for _ in range(3))
    image = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(image)
    r = rng.uniform(0.25, 0.4) * size
    cx, cy = (rng.uniform(r, size - r) for _ in range(2))
    box = (cx - r, cy - r, cx + r, cy + r)
    jitter = tuple(max(0, min(255, c + rng.randint(-25, 25))) for c in colour)
    if shape == "circle":
        draw.ellipse(box, fill=jitter)
    elif shape == "square":
        draw.rectangle(box, fill=jitter)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=jitter)
    elif shape == "cross":
        draw.rectangle((cx - r, cy - r / 4, cx + r, cy + r / 4), fill=jitter)
        draw.rectangle((cx - r / 4, cy - r, cx + r / 4, cy + r), fill=jitter)
    else:
        draw.rectangle((cx - r, cy - r / 3, cx + r, cy + r / 3), fill=jitter)
    return image


def make_dataset(root: Path, classes: dict[str, tuple[str, str]], per_class: int = 12,
                 size: int = 32, seed: int = 0) -> Path:
    """Write ``per_class`` PNGs for each class name -> (shape, colour name)."""
    rng = random.Random(seed)
    for name, (shape, colour) in classes.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            draw_shape(shape, COLOURS[colour], size, rng).save(folder / f"{i:03d}.png")
    return root


def zip_folder(folder: Path, zip_path: Path, wrapper: str | None = None) -> Path:
    with zipfile.ZipFile(zip_path, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                name = path.relative_to(folder).as_posix()
                archive.write(path, f"{wrapper}/{name}" if wrapper else name)
    return zip_path


THREE = {"circle": ("circle", "red"), "square": ("square", "green"), "triangle": ("triangle", "blue")}
PRETRAIN = {"cross": ("cross", "yellow"), "bar": ("bar", "purple"), "ring": ("circle", "blue"),
            "box": ("square", "red")}


@pytest.fixture(scope="session")
def three_classes(tmp_path_factory) -> Path:
    """A learnable 3-class data set: 12 images of 32x32 per class."""
    return make_dataset(tmp_path_factory.mktemp("data") / "three", THREE)


@pytest.fixture(scope="session")
def pretrained_run(tmp_path_factory) -> Path:
    """A test_resnet trained from scratch by ftgui on other classes: our 'pretrained' weights."""
    from ftgui.config import TrainConfig
    from ftgui.engine import train

    base = tmp_path_factory.mktemp("pretrain")
    data = make_dataset(base / "data", PRETRAIN, per_class=10, seed=1)
    result = train(TrainConfig(data=str(data), model="test_resnet", strategy="scratch", init="kaiming",
                               epochs=2, img_size=32, batch_size=16, out=str(base / "run")))
    return result.run_dir
