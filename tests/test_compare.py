"""Honest comparisons (issue 11, item 6): the same data and split for every run, seeds repeated,
mean +- std, and a verdict per pair that respects the seed-to-seed noise."""
import json

import pytest

from ftgui import FtguiError
from ftgui.cli import main
from ftgui.compare import (
    ConfigResult,
    Configuration,
    RunOutcome,
    configurations,
    load,
    parse_vary,
    run_config,
    verdict,
)
from ftgui.config import TrainConfig
from ftgui.registry import load_registry
from ftgui.sample_data import DEMO_BACKBONE


def result(name, accuracies):
    runs = [RunOutcome(seed, f"runs/{name}-{seed}", acc, 1.0, "completed") for seed, acc in enumerate(accuracies)]
    return ConfigResult(Configuration(name, {}), 100, runs)


def test_vary_is_parsed_into_typed_values():
    assert parse_vary(["strategy=head-only,full,scratch", "lr=0.01, 0.001", "epochs=2"]) == {
        "strategy": ["head-only", "full", "scratch"], "lr": [0.01, 0.001], "epochs": [2]}
    assert parse_vary(["bias-init=zero,0.01"]) == {"bias_init": ["zero", "0.01"]}


@pytest.mark.parametrize("spec, message", [
    (["seed=1,2"], "--vary takes SETTING"),  # the seeds are the comparison's own
    (["data=a,b"], "--vary takes SETTING"),  # the same data for every run
    (["refit=yes,no"], "--vary takes SETTING"),  # it would not change the validation accuracy ranked
    (["colour=red"], "--vary takes SETTING"),
    (["epochs=two"], "takes number or auto values"),
    (["init="], "has no values"),
    (["init=zeros", "init=lecun"], "names init twice"),
])
def test_vary_mistakes_are_one_line_errors(spec, message):
    with pytest.raises(FtguiError, match=message):
        parse_vary(spec)


def test_configurations_are_every_combination_in_order():
    configs = configurations({"strategy": ["head-only", "full"], "init": ["zeros", "lecun"]})
    assert [c.name for c in configs] == ["strategy=head-only,init=zeros", "strategy=head-only,init=lecun",
                                         "strategy=full,init=zeros", "strategy=full,init=lecun"]
    assert configs[1].settings == {"strategy": "head-only", "init": "lecun"}
    assert [c.name for c in configurations({})] == ["baseline"]


def test_mean_and_sample_std_over_seeds():
    r = result("a", [0.6, 0.7, 0.8])
    assert r.mean == pytest.approx(0.7) and r.std == pytest.approx(0.1)
    assert result("b", [0.5]).std == 0.0


def test_verdicts_respect_the_noise():
    clear = verdict(result("full", [0.80, 0.82, 0.81]), result("head-only", [0.50, 0.52, 0.51]))
    assert "is larger than the seed-to-seed noise" in clear and "full is better" in clear
    # issue 11: the same configuration moves by +-0.15 between seeds; 0.05 apart is nothing then
    noisy = verdict(result("a", [0.60, 0.75, 0.45]), result("b", [0.55, 0.70, 0.40]))
    assert "within the seed-to-seed noise" in noisy and "cannot tell" in noisy
    single = verdict(result("a", [0.9]), result("b", [0.1]))
    assert "no verdict" in single


def test_every_run_gets_the_fixed_split_and_scratch_the_same_architecture(tmp_path):
    registry = load_registry(entry_points=False)
    base = TrainConfig(data="sample:digits", weights=str(DEMO_BACKBONE), seed=7)
    (config,) = configurations({"strategy": ["scratch"]})
    run = run_config(base, config, 8, 7, tmp_path, registry)
    assert (run.seed, run.split_seed, run.strategy, run.weights, run.model) == (8, 7, "scratch", None, "test_resnet")
    assert run.refit == "no"  # ranked by validation accuracy, which training again on all images leaves as it was
    assert run.out == str(tmp_path / "strategy-scratch-seed8")
    (full,) = configurations({"strategy": ["full"]})
    assert run_config(base, full, 8, 7, tmp_path, registry).weights == str(DEMO_BACKBONE)


def test_a_setting_that_cannot_work_fails_before_any_training(tmp_path):
    from ftgui.compare import compare

    base = TrainConfig(data="sample:digits", weights=str(DEMO_BACKBONE), out=str(tmp_path / "c"))
    with pytest.raises(FtguiError, match="no initializer named 'lecunn'"):
        compare(base, {"init": ["lecun", "lecunn"]}, seeds=2)
    assert not (tmp_path / "c").exists()
    with pytest.raises(FtguiError, match="validation"):
        compare(TrainConfig(data="sample:digits", val_split=0.0), {}, seeds=1)


@pytest.mark.slow
def test_compare_command_runs_every_configuration_over_seeds_on_one_split(tmp_path, capsys):
    out = tmp_path / "cmp"
    code = main(["compare", "--data", "sample:digits", "--weights", str(DEMO_BACKBONE), "--img-size", "32",
                 "--epochs", "1", "--aug", "none", "--vary", "strategy=head-only,scratch", "--seeds", "2",
                 "--out", str(out), "--quiet", "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert list(printed) == ["configs"]
    assert [list(c) for c in printed["configs"]] == [["name", "settings", "mean", "std", "runs"]] * 2
    assert [c["settings"] for c in printed["configs"]] == [{"strategy": "head-only"}, {"strategy": "scratch"}]
    splits, seeds = set(), []
    for config in printed["configs"]:
        accuracies = []
        for run_dir in config["runs"]:
            record = json.loads((tmp_path / run_dir / "ftgui.json").read_text())
            assert record["strategy"]["name"] == config["settings"]["strategy"]
            splits.add(json.dumps(record["data"]["split"]))
            seeds.append(record["config"]["seed"])
            accuracies.append(record["best"]["val_acc"])
        mean = sum(accuracies) / 2
        assert config["mean"] == pytest.approx(mean)
        assert config["std"] == pytest.approx(abs(accuracies[0] - accuracies[1]) / 2 ** 0.5)
    assert len(splits) == 1  # the same validation images for all four runs
    assert seeds == [0, 1, 0, 1]
    saved = load(out)
    assert saved["trainable"]["strategy=scratch"] > 100 * saved["trainable"]["strategy=head-only"] > 0
    assert len(saved["verdicts"]) == 1 and saved["split_seed"] == 0


def test_the_table_shows_mean_std_time_and_trainable_parameters(tmp_path):
    from ftgui.compare import Comparison

    comparison = Comparison([result("strategy=full", [0.8, 0.9]), result("strategy=head-only", [0.7, 0.7])],
                            [0, 1], 0, tmp_path)
    lines = comparison.table().splitlines()
    assert lines[0].split() == ["configuration", "best", "val", "acc", "time/run", "trainable"]
    assert lines[1].split() == ["strategy=full", "0.850", "±", "0.071", "1.0", "s", "100"]
    assert len(comparison.verdicts()) == 1
    assert comparison.to_json()["configs"][1] == {"name": "strategy=head-only", "settings": {}, "mean": 0.7,
                                                  "std": 0.0, "runs": ["runs/strategy=head-only-0",
                                                                       "runs/strategy=head-only-1"]}
