"""Bundled sample data: a small digits data set to try ftgui without images of your own.

The data path ``sample:digits`` (as in ``load_images("sample:digits")``) means
:data:`SAMPLE_DATA`: 10 class folders ``0`` .. ``9`` with 40 grey 32x32 PNGs each. See
README.md here for where the images come from, their licence, and how to regenerate them.
"""
from pathlib import Path

SAMPLE_DATA = Path(__file__).parent / "digits"

DEMO_BACKBONE = Path(__file__).parent / "demo_backbone"
"""A test_resnet pretrained by ftgui on other digit images (classes 0-4, none of them in the
sample set); made by scripts/make_demo_backbone.py. The offline demo fine-tunes from it."""
