"""The plugin author kit (examples/ftgui-example-plugins): installed into a temporary folder
(pip install --no-deps --target, then PYTHONPATH), each of its plugins works from the CLI in a
subprocess; between them they implement every hook ftgui has, so every hook spec is exercised
here (tests/test_plugin_docs.py checks that each is documented, with an example it trains)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ftgui.registry import HOOKS, TABLES, load_registry
from ftgui.runs import load_run, read_metrics
from ftgui.sample_data import DEMO_BACKBONE

KIT = Path(__file__).resolve().parents[1] / "examples" / "ftgui-example-plugins"
NAMES = {"initializer": "example-scaled-normal", "strategy": "example-discriminative",
         "callback": "example-best-so-far"}
SOURCE = "ftgui-example-plugins 0.1.0"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The kit installed as a user would, into a folder of its own (the source tree is copied
    first so that the build leaves nothing in it)."""
    base = tmp_path_factory.mktemp("kit")
    shutil.copytree(KIT, base / "src", ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = base / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--disable-pip-version-check", "--no-input", "--target", str(target), str(base / "src")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return target


def ftgui(site: Path, *args: str) -> subprocess.CompletedProcess:
    path = [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    env.pop("FTGUI_PLUGINS_DIR", None)
    return subprocess.run([sys.executable, "-m", "ftgui", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_the_kit_implements_every_hook_once():
    """Loaded straight from its source files, the kit registers one thing per hook spec."""
    registry = load_registry([KIT / "src" / "ftgui_example_plugins"], entry_points=False)
    assert registry.broken == []
    kinds = {hook_class.kind for hook_class in HOOKS.values()}
    assert kinds == set(NAMES) == set(TABLES)
    for kind, name in NAMES.items():
        assert registry.get(kind, name).item.kind == kind


@pytest.mark.slow
def test_installed_its_plugins_are_listed_from_the_entry_points(site):
    proc = ftgui(site, "plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    for kind, name in NAMES.items():
        entry = next(item for item in listing[TABLES[kind]] if item["name"] == name)
        assert entry["source"] == SOURCE
    assert [b for b in listing["broken"] if "example" in b["plugin"]] == []


@pytest.mark.slow
def test_installed_each_plugin_trains_from_the_cli(site, three_classes, tmp_path):
    out = tmp_path / "run"
    proc = ftgui(site, "train", "--data", str(three_classes), "--model", "test_resnet", "--weights",
                 str(DEMO_BACKBONE), "--img-size", "32", "--epochs", "2", "--batch-size", "16", "--quiet",
                 "--out", str(out),
                 "--strategy", "example-discriminative", "--strategy-arg", "backbone_scale=0.5",
                 "--init", "example-scaled-normal", "--init-arg", "gain=2",
                 "--callback", "example-best-so-far:metric=val_loss")
    assert proc.returncode == 0, proc.stderr
    record = load_run(out).record
    assert (record["strategy"]["name"], record["strategy"]["source"]) == ("example-discriminative", SOURCE)
    assert record["strategy"]["params"] == {"backbone_scale": 0.5}
    assert (record["initializer"]["name"], record["initializer"]["params"]) == ("example-scaled-normal", {"gain": 2.0})
    assert record["initializer"]["source"] == SOURCE
    assert [(c["name"], c["source"]) for c in record["callbacks"]] == [("example-best-so-far", SOURCE)]
    rows = read_metrics(out)
    assert [row["best_val_loss"] for row in rows] == [rows[0]["val_loss"], min(r["val_loss"] for r in rows)]
    assert "example-best-so-far: val_loss improved to" in proc.stderr
    # the strategy's groups: the backbone learns at half the head's rate
    assert [row["cached_features"] for row in rows] == [False, False]
    bad = ftgui(site, "train", "--data", str(three_classes), "--model", "test_resnet", "--weights",
                str(DEMO_BACKBONE), "--img-size", "32", "--epochs", "1", "--quiet", "--out", str(tmp_path / "bad"),
                "--strategy", "example-discriminative", "--strategy-arg", "backbone_scale=2")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == (
        "ftgui: error: example-discriminative: backbone_scale must be in (0, 1], not 2.0")
