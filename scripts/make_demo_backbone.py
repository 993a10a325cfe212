"""Make the small pretrained backbone that ships with ftgui for the offline demo.

``ftgui --demo`` fine-tunes from pretrained weights. Where timm's hub weights cannot be had
(no network, no cache), it uses this backbone instead: a ``test_resnet`` trained from scratch
*by ftgui itself* on scikit-learn's handwritten digits 0-4, using only images that are NOT in
the bundled sample set (which holds the first 40 images of each digit). The demo then
fine-tunes it on the sample set's ten digits, so digits 5-9 are classes the backbone has
never seen: a real transfer, with a new head.

    python scripts/make_demo_backbone.py     # needs scikit-learn (pip install scikit-learn)

Writes ``ftgui/sample_data/demo_backbone/`` (config.json + model.safetensors, timm's
save_for_hf layout, plus ftgui.json recording how it was trained).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from ftgui.config import TrainConfig
from ftgui.engine import train

PRETRAIN_DIGITS = range(5)
SKIP_FIRST = 40  # the sample set's images
SIZE = 32
OUT = Path(__file__).resolve().parent.parent / "ftgui" / "sample_data" / "demo_backbone"
KEEP = ("config.json", "model.safetensors", "ftgui.json")


def write_pretraining_images(root: Path) -> None:
    digits = load_digits()
    for digit in PRETRAIN_DIGITS:
        folder = root / str(digit)
        folder.mkdir(parents=True)
        for n, index in enumerate(np.flatnonzero(digits.target == digit)[SKIP_FIRST:]):
            grey = np.rint(digits.images[index] * (255 / 16)).astype(np.uint8)
            Image.fromarray(grey).resize((SIZE, SIZE), Image.Resampling.NEAREST).save(folder / f"{n}.png")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "digits-0-4"
        write_pretraining_images(data)
        result = train(TrainConfig(
            data=str(data), model="test_resnet", strategy="scratch", init="kaiming", epochs=12,
            lr=3e-3, batch_size=32, img_size=SIZE, aug="none", seed=0, device="cpu",
            out=str(Path(tmp) / "run"),
        ), listener=lambda e: print(e["message"]) if e["type"] == "log" else None)
        print(f"best epoch {result.best['epoch']}: val_acc {result.best['val_acc']:.3f}")
        if OUT.exists():
            shutil.rmtree(OUT)
        OUT.mkdir(parents=True)
        for name in KEEP:
            shutil.copy(result.run_dir / name, OUT / name)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
