"""Speed features that must not change results: the feature cache and decode-once images."""
from __future__ import annotations

import pytest

from ftgui import features, pipeline
from ftgui.config import TrainConfig
from ftgui.data import ImageCollection
from ftgui.engine import train

TINY = dict(model="test_resnet", img_size=32, batch_size=8, aug="none")


@pytest.fixture(autouse=True)
def fresh_memo(monkeypatch, tmp_path):
    """Each test starts with an empty in-process feature memo and its own cache dir."""
    monkeypatch.setattr(features, "_MEMO", type(features._MEMO)())
    monkeypatch.setenv("FTGUI_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def fetches(monkeypatch):
    """Counts images handed to a transform (ImageBatches) and images decoded from disk."""
    counts = {"transformed": 0, "decoded": 0}
    get_item, open_image = pipeline.ImageBatches.__getitem__, ImageCollection.open_image

    def counting_get_item(self, i):
        counts["transformed"] += 1
        return get_item(self, i)

    def counting_open(self, index):
        counts["decoded"] += 1
        return open_image(self, index)

    monkeypatch.setattr(pipeline.ImageBatches, "__getitem__", counting_get_item)
    monkeypatch.setattr(ImageCollection, "open_image", counting_open)
    return counts


def head_only(data, weights, out, **extra):
    return train(TrainConfig(data=str(data), strategy="head-only", weights=str(weights), out=str(out),
                             **{**TINY, "epochs": 4, **extra}))


def test_cached_head_only_matches_uncached_training(three_classes, pretrained_run, tmp_path):
    cached = head_only(three_classes, pretrained_run, tmp_path / "cached")
    plain = head_only(three_classes, pretrained_run, tmp_path / "plain", feature_cache=False)
    assert all(row["cached_features"] for row in cached.metrics)
    assert not any(row["cached_features"] for row in plain.metrics)
    for a, b in zip(cached.metrics, plain.metrics):
        assert a["val_acc"] == b["val_acc"]
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-3)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3)


def test_the_frozen_backbone_sees_each_image_once(three_classes, pretrained_run, tmp_path, fetches):
    head_only(three_classes, pretrained_run, tmp_path / "run", epochs=5)
    assert fetches["transformed"] == 30 + 6  # train + val features, once, for five epochs
    assert fetches["decoded"] == 36


def test_uncached_training_decodes_once_but_transforms_every_epoch(three_classes, tmp_path, fetches):
    train(TrainConfig(data=str(three_classes), strategy="scratch", out=str(tmp_path / "run"), refit="no",
                      **{**TINY, "epochs": 3}))
    assert fetches["decoded"] == 36
    assert fetches["transformed"] == 3 * (24 + 6)  # drop_last: 30 train images in batches of 8


def test_without_decode_budget_images_stream_from_disk(three_classes, tmp_path, fetches, monkeypatch):
    monkeypatch.setenv("FTGUI_DECODE_CACHE_MB", "0")
    result = train(TrainConfig(data=str(three_classes), strategy="scratch", out=str(tmp_path / "run"),
                               num_workers=0, refit="no", **{**TINY, "epochs": 2}))  # count in this process
    assert fetches["decoded"] == 8 + 2 * (24 + 6)  # the init batch, then every use
    assert result.best["val_acc"] is not None


@pytest.mark.slow
def test_features_are_reused_only_while_data_weights_and_transform_match(
        three_classes, pretrained_run, tmp_path, fetches):
    head_only(three_classes, pretrained_run, tmp_path / "a")
    assert fetches["transformed"] == 36
    head_only(three_classes, pretrained_run, tmp_path / "b", lr=0.05, init="kaiming")
    assert fetches["transformed"] == 36  # same data, weights, transform: reused
    head_only(three_classes, pretrained_run, tmp_path / "c", img_size=40)
    assert fetches["transformed"] == 72  # another transform: computed anew
    other = train(TrainConfig(data=str(three_classes), strategy="scratch", out=str(tmp_path / "w"),
                              **{**TINY, "epochs": 1}))
    before = fetches["transformed"]
    head_only(three_classes, other.run_dir, tmp_path / "d")
    assert fetches["transformed"] == before + 36  # other weights: computed anew


def test_predict_only_features_serve_a_later_head_only_run(three_classes, pretrained_run, tmp_path, fetches):
    train(TrainConfig(data=str(three_classes), strategy="predict-only", weights=str(pretrained_run),
                      out=str(tmp_path / "p"), **TINY))
    assert fetches["transformed"] == 6
    head_only(three_classes, pretrained_run, tmp_path / "h")
    assert fetches["transformed"] == 6 + 30  # only the training images were new


def test_augmented_views_are_cached_and_cycled(three_classes, pretrained_run, tmp_path, fetches):
    result = head_only(three_classes, pretrained_run, tmp_path / "run", aug="light", feature_views=2, epochs=4,
                       refit="no")
    assert fetches["transformed"] == 2 * 30 + 6
    assert len(result.metrics) == 4


def test_large_features_spill_to_disk_with_the_same_result(three_classes, pretrained_run, tmp_path, monkeypatch):
    memory = head_only(three_classes, pretrained_run, tmp_path / "memory")
    monkeypatch.setattr(features, "_MEMO", type(features._MEMO)())
    monkeypatch.setenv("FTGUI_FEATURE_CACHE_MB", "0")
    spilled = head_only(three_classes, pretrained_run, tmp_path / "spilled")
    assert len(list((tmp_path / "cache" / "features").glob("*.npy"))) == 2
    assert not list((tmp_path / "cache" / "features").glob(".*"))  # no partial files left
    assert [r["val_loss"] for r in memory.metrics] == pytest.approx([r["val_loss"] for r in spilled.metrics])
