"""Tests an author keeps with the plugins: they load without errors, and a short run uses all three.

Run them with the package installed (pip install -e .) and pytest: ``pytest tests``.
"""
from __future__ import annotations

import ftgui
from ftgui.registry import load_registry
from ftgui.runs import read_metrics
from ftgui.sample_data import DEMO_BACKBONE

NAMES = {"initializer": "example-scaled-normal", "strategy": "example-discriminative",
         "callback": "example-best-so-far"}


def test_the_plugins_load_from_the_entry_points():
    registry = load_registry()
    assert not [broken for broken in registry.broken if "example" in broken.plugin], registry.broken
    for kind, name in NAMES.items():
        assert registry.get(kind, name).source.startswith("ftgui-example-plugins")


def test_a_short_run_uses_all_three(tmp_path):
    config = ftgui.TrainConfig(data="sample:digits", model="test_resnet", weights=str(DEMO_BACKBONE),
                               strategy="example-discriminative", strategy_params={"backbone_scale": 0.5},
                               init="example-scaled-normal", init_params={"gain": 2.0},
                               callbacks={"example-best-so-far": {}}, epochs=2, img_size=32, out=str(tmp_path / "run"))
    result = ftgui.train(config)
    assert result.status == "completed"
    rows = read_metrics(result.run_dir)
    assert rows[1]["best_val_acc"] == max(row["val_acc"] for row in rows)
