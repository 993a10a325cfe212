"""Every plugin example in docs/plugins.md is a complete plugin that loads and trains."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from safetensors.torch import load_file

from ftgui.cli import main
from ftgui.registry import HOOKS, load_registry
from ftgui.runs import load_run, read_metrics

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
EXAMPLE = re.compile(r"```python\n# plugin: (\S+\.py)\n(.*?)```", re.S)


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("doc-plugins")
    found = EXAMPLE.findall(DOC.read_text(encoding="utf-8"))
    assert len(found) == 4
    for filename, source in found:
        (folder / filename).write_text(source)
    return folder


def test_every_hook_is_documented_with_an_example():
    text = DOC.read_text(encoding="utf-8")
    examples = "".join(source for _, source in EXAMPLE.findall(text))
    for hook in HOOKS:
        assert f"## `{hook}(register)`" in text and f"def {hook}(register)" in examples


def test_the_examples_load_as_plugins(examples):
    registry = load_registry([examples], entry_points=False)
    assert registry.broken == []
    assert {"uniform", "unit-output"} <= set(registry.initializers)
    assert "head-then-all" in registry.strategies and "loss-spread" in registry.callbacks


def run(examples: Path, data: Path, out: Path, *args: str) -> dict:
    code = main(["train", "--plugins-dir", str(examples), "--data", str(data), "--model", "test_resnet",
                 "--img-size", "32", "--out", str(out), "--quiet", *args])
    assert code == 0
    return load_run(out).record


def test_the_example_initialisers_strategy_and_callback_train(examples, three_classes, pretrained_run, tmp_path,
                                                               capsys):
    record = run(examples, three_classes, tmp_path / "uniform", "--strategy", "scratch", "--init", "uniform",
                 "--init-arg", "a=0.02", "--epochs", "0")
    conv = load_file(str(tmp_path / "uniform" / "model.safetensors"))["layer1.0.conv1.weight"]
    assert record["initializer"]["params"] == {"a": 0.02} and float(conv.abs().max()) <= 0.02
    record = run(examples, three_classes, tmp_path / "unit", "--strategy", "head-then-all", "--weights",
                 str(pretrained_run), "--init", "unit-output", "--epochs", "2", "--callback", "loss-spread")
    assert record["status"] == "completed" and record["strategy"]["name"] == "head-then-all"
    rows = read_metrics(tmp_path / "unit")
    assert all(row["max_batch_loss"] >= row["train_loss"] for row in rows)
    assert [row["cached_features"] for row in rows] == [True, False]  # head first, then everything
    capsys.readouterr()
    run(examples, three_classes, tmp_path / "stopped", "--strategy", "scratch", "--epochs", "3",
        "--callback", "loss-spread:limit=0.0")
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["stop_reason"] == "loss-spread: a batch loss passed 0.0"
    assert len(read_metrics(tmp_path / "stopped")) == 1
