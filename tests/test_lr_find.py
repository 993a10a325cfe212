"""The learning-rate finder: a range test on the run's own data and layers, its suggestion, and
`--lr auto`, which trains exactly as if the found rate had been given."""
from __future__ import annotations

import json

import pytest

from ftgui import FtguiError
from ftgui.cli import main
from ftgui.config import TrainConfig
from ftgui.engine import lr_find, train
from ftgui.runs import load_run
from ftgui.training import lr_find as finder
from ftgui.training.lr_find import valley

TINY = dict(model="test_resnet", img_size=32, batch_size=8, aug="none", strategy="scratch", seed=1)


def test_valley_is_two_thirds_down_the_longest_fall():
    lrs = [10 ** (-7 + i * 0.1) for i in range(60)]
    losses = [2.0] * 10 + [2.0 - 0.05 * i for i in range(30)] + [0.5 + 0.3 * i for i in range(20)]
    # the fall runs from index 10 to 39; fastai's valley picks start + third + third/2 = 10 + 9 + 4
    assert valley(lrs, losses) == lrs[24]


def test_the_range_test_sweeps_up_and_stops_when_the_loss_explodes(three_classes):
    finding = lr_find(TrainConfig(data=str(three_classes), **TINY), steps=60)
    assert finding.steps == len(finding.lrs) == len(finding.losses) <= 60
    assert finding.lrs[0] == pytest.approx(1e-7) and all(b > a for a, b in zip(finding.lrs, finding.lrs[1:]))
    assert min(finding.losses) < finding.losses[0]  # it learned somewhere along the way
    assert finding.lrs[0] < finding.suggestion < finding.lrs[-1]
    assert 1e-5 < finding.suggestion < 1.0


def test_the_suggestion_is_read_off_the_mean_of_the_tests(three_classes, monkeypatch):
    """Three tests from the same weights, each its batches in another order; their curves
    averaged up to the shortest (a test ends when its loss explodes), the valley of the mean."""
    seen = []
    test = finder._range_test

    def recorded(plan, setup, sources, steps, start, end, epoch):
        seen.append((epoch, {k: v.clone() for k, v in setup.model.state_dict().items()}))
        lrs, losses, after = test(plan, setup, sources, steps, start, end, epoch)
        seen[-1] += (lrs, losses)
        return lrs, losses, after

    monkeypatch.setattr(finder, "_range_test", recorded)
    finding = lr_find(TrainConfig(data=str(three_classes), **TINY), steps=40)
    assert finding.tests == len(seen) == 3
    assert seen[0][0] < seen[1][0] < seen[2][0]  # each test its own epochs' batch order
    for _, weights, _, _ in seen[1:]:  # each from the same weights
        assert all((weights[k] == seen[0][1][k]).all() for k in weights)
    curves = [losses for *_, losses in seen]
    assert curves[0] != curves[1]
    n = min(map(len, curves))
    assert finding.steps == n and finding.lrs == seen[0][2][:n]
    assert finding.losses == pytest.approx([sum(c[i] for c in curves) / 3 for i in range(n)])
    assert finding.suggestion == valley(finding.lrs, finding.losses)


def test_a_zero_head_is_tested_from_random_starts_and_put_back(three_classes, pretrained_run, monkeypatch):
    """From zeros every image's loss is ln C, a flat start along which the valley began at the
    smallest rate: each test draws the new head's weights as LeCun's (its own draw), the
    pretrained layers as they are; afterwards the head is zeros again, as the run starts it."""
    starts, setups = [], []
    test = finder._range_test

    def recorded(plan, setup, sources, steps, start, end, epoch):
        setups.append(setup)
        starts.append({k: v.clone() for k, v in setup.model.state_dict().items()})
        return test(plan, setup, sources, steps, start, end, epoch)

    monkeypatch.setattr(finder, "_range_test", recorded)
    lr_find(TrainConfig(data=str(three_classes), weights=str(pretrained_run), model="test_resnet", img_size=32,
                        strategy="full", batch_size=8, aug="none", seed=1), steps=20)
    assert len(starts) == 3
    heads = [start["fc.weight"] for start in starts]
    for head in heads:
        assert float(head.std()) == pytest.approx(head.shape[1] ** -0.5, rel=0.2)
    assert not (heads[0] == heads[1]).all() and not (heads[1] == heads[2]).all()  # each test its own draw
    for name in starts[0]:
        if not name.startswith("fc."):
            assert all((start[name] == starts[0][name]).all() for start in starts[1:]), name
    assert float(setups[0].model.state_dict()["fc.weight"].abs().max()) == 0.0  # the run's own start, put back


def test_lr_auto_records_the_finding_and_trains_as_if_it_were_given(three_classes, tmp_path):
    auto = train(TrainConfig(data=str(three_classes), lr="auto", epochs=2, out=str(tmp_path / "auto"), **TINY))
    record = load_run(auto.run_dir).record
    found = record["lr_finder"]["suggestion"]
    assert record["config"]["lr"] == found and len(record["lr_finder"]["lrs"]) == record["lr_finder"]["steps"]
    given = train(TrainConfig(data=str(three_classes), lr=found, epochs=2, out=str(tmp_path / "given"), **TINY))
    # the range test put back the weights and every random generator it used
    assert [r["train_loss"] for r in auto.metrics] == [r["train_loss"] for r in given.metrics]
    assert [r["val_loss"] for r in auto.metrics] == [r["val_loss"] for r in given.metrics]


def test_lr_find_from_the_command_line(three_classes, capsys):
    assert main(["lr-find", "--data", str(three_classes), "--model", "test_resnet", "--img-size", "32",
                 "--strategy", "scratch", "--steps", "30", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(printed) == {"lrs", "losses", "suggestion", "steps", "tests"} and printed["steps"] <= 30
    assert printed["tests"] == 3
    assert main(["lr-find", "--data", str(three_classes), "--strategy", "predict-only", "--weights", "none"]) == 2
    with pytest.raises(FtguiError):
        TrainConfig(lr="fast").validate()
    assert TrainConfig.from_dict({"lr": "auto"}).lr == "auto"
