"""Tampered run folders, one trap each, through both ways a run folder is loaded:
``ftgui predict --run RUN`` and ``ftgui train --weights RUN`` (with and without --model).

Each must end in one ``ftgui: error:`` line and exit code 2, never "internal error", never a
download, never an unpickled file, and leave the run folder as it was. The app's run listings
skip a damaged run instead of failing, and ``--out`` under a file says so.
"""
from __future__ import annotations

import json
import pickle
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from ftgui import FtguiError, models
from ftgui.cli import main
from ftgui.runs import METRICS_FILE, RUN_FILE, list_runs, load_run

Tamper = Callable[[Path], None]


def edit_config(change: Callable[[dict], object]) -> Tamper:
    """A tamper that rewrites RUN/config.json with ``change(config)`` (or the edited dict)."""
    def tamper(run: Path) -> None:
        config = json.loads((run / "config.json").read_text())
        result = change(config)
        (run / "config.json").write_text(json.dumps(config if result is None else result))
    return tamper


def symlinked_weights(run: Path) -> None:
    elsewhere = run.parent / "elsewhere.safetensors"
    (run / "model.safetensors").rename(elsewhere)
    (run / "model.safetensors").symlink_to(elsewhere)


class Payload:
    """A pickle that would create ``pwned`` beside the run when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def pickled_weights(run: Path) -> None:
    (run / "model.safetensors").unlink()
    with open(run / "pytorch_model.bin", "wb") as handle:
        pickle.dump({"fc.weight": Payload(run.parent / "pwned")}, handle)


def huge_config(run: Path) -> None:
    with open(run / "config.json", "r+b") as handle:
        handle.truncate(64 << 20)  # sparse: 64 MB of nothing


TRAPS: dict[str, tuple[Tamper, str]] = {
    "num_classes 10^9": (edit_config(lambda c: c.update(num_classes=10**9)), "num_classes"),
    "num_classes not a number": (edit_config(lambda c: c.update(num_classes="4")), "num_classes"),
    "unknown architecture": (edit_config(lambda c: c.update(architecture="no_such_net")), "no_such_net"),
    "hf-hub architecture": (edit_config(lambda c: c.update(architecture="hf-hub:timm/resnet18.a1_in1k")),
                            "hf-hub:"),
    "local-dir architecture": (edit_config(lambda c: c.update(architecture="local-dir:/tmp")), "local-dir:"),
    "model_args unknown": (edit_config(lambda c: c["model_args"].update(no_such_arg=1)), "model_args"),
    "model_args a list": (edit_config(lambda c: c.update(model_args=[1, 2])), "model_args"),
    "model_args huge": (edit_config(lambda c: c["model_args"].update(in_chans=10**9)), "model_args"),
    "model_args num_classes": (edit_config(lambda c: c["model_args"].update(num_classes=10**9)), "model_args"),
    "model_args device": (edit_config(lambda c: c["model_args"].update(device="meta")), "model_args"),
    "config a JSON list": (edit_config(lambda c: [c]), "JSON object"),
    "config 64 MB": (huge_config, "config.json"),
    "pretrained_cfg a list": (edit_config(lambda c: c.update(pretrained_cfg=[1])), "pretrained_cfg"),
    "input size 10^5": (edit_config(lambda c: c["pretrained_cfg"].update(input_size=[3, 10**5, 10**5])),
                        "input"),
    "mean not numbers": (edit_config(lambda c: c["pretrained_cfg"].update(mean="abc")), "mean"),
    "labels shorter than the head": (edit_config(lambda c: c.update(label_names=c["label_names"][:2])),
                                     "label_names"),
    "labels longer than the head": (edit_config(lambda c: c.update(label_names=[*c["label_names"], "x"])),
                                    "label_names"),
    "labels not strings": (edit_config(lambda c: c.update(label_names=[1, 2, 3, 4])), "label_names"),
    "head bigger than the weights": (edit_config(lambda c: c.update(
        num_classes=5, label_names=[*c["label_names"], "x"], model_args={**c["model_args"], "num_classes": 5})),
        "do not fit"),
    "symlinked weights": (symlinked_weights, "symbolic link"),
    "pytorch_model.bin pickle": (pickled_weights, "model.safetensors"),
}

LOADERS = {
    "predict": ["predict", "--run", "{run}", "{image}"],
    "train --weights": ["train", "--data", "{data}", "--strategy", "head-only", "--weights", "{run}",
                        "--epochs", "1", "--img-size", "32", "--out", "{out}", "--quiet"],
    "train --model --weights": ["train", "--data", "{data}", "--model", "test_resnet", "--strategy", "head-only",
                                "--weights", "{run}", "--epochs", "1", "--img-size", "32", "--out", "{out}",
                                "--quiet"],
}


@pytest.fixture
def no_network(monkeypatch) -> list:
    """Every connection attempted (none may be: a run folder never downloads)."""
    attempts: list = []

    def refuse(sock, address):
        attempts.append(address)
        raise OSError("network use in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def snapshot(folder: Path) -> dict[str, bytes | str]:
    return {p.name: (str(p.readlink()) if p.is_symlink() else p.read_bytes()[:1 << 20])
            for p in sorted(folder.iterdir())}


def one_line_error(args: list[str], capsys) -> str:
    """Run the CLI; assert exit 2 and that stderr ends in one ``ftgui: error:`` line (after
    the training's progress lines, if any); return that line."""
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("ftgui: error: ") and sum(line.startswith("ftgui") for line in lines) == 1, err
    assert "internal error" not in err and "Traceback" not in err
    return lines[-1]


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("trap", TRAPS)
def test_a_tampered_run_folder_is_a_one_line_error(trap, loader, pretrained_run, three_classes, tmp_path,
                                                    capsys, no_network):
    run = tmp_path / "run"
    shutil.copytree(pretrained_run, run)
    tamper, message = TRAPS[trap]
    tamper(run)
    before = snapshot(run)
    image = tmp_path / "one.png"
    Image.open(next((three_classes / "circle").iterdir())).save(image)
    fill = {"{run}": str(run), "{image}": str(image), "{data}": str(three_classes), "{out}": str(tmp_path / "out")}
    err = one_line_error([fill.get(a, a) for a in LOADERS[loader]], capsys)
    assert message in err
    assert no_network == []
    assert not (tmp_path / "pwned").exists()
    assert snapshot(run) == before


def test_an_untampered_copy_still_loads(pretrained_run, tmp_path, no_network):
    """The checks above refuse tampering, not run folders: a copy loads with its labels."""
    run = tmp_path / "run"
    shutil.copytree(pretrained_run, run)
    loaded = models.load_weights("test_resnet", str(run))
    assert loaded.label_names == json.loads((run / "config.json").read_text())["label_names"]
    assert loaded.source == str(run.resolve()) and no_network == []


def test_out_under_a_file_is_a_one_line_error(three_classes, tmp_path, capsys):
    (tmp_path / "somefile.txt").write_text("keep me")
    err = one_line_error(["train", "--data", str(three_classes), "--model", "test_resnet", "--strategy", "scratch",
                          "--epochs", "1", "--out", str(tmp_path / "somefile.txt" / "run")], capsys)
    assert "somefile.txt" in err and "a file" in err
    assert (tmp_path / "somefile.txt").read_text() == "keep me"


RECORD_TRAMPLES: dict[str, Callable[[dict], object]] = {
    "a JSON list": lambda r: [r],
    "status a number": lambda r: {**r, "status": 3},
    "created a number": lambda r: {**r, "created": 5},
    "best not an object": lambda r: {**r, "best": "yes"},
    "best accuracy a word": lambda r: {**r, "best": {"epoch": 1, "val_acc": "high"}},
    "config a list": lambda r: {**r, "config": []},
    "label_names numbers": lambda r: {**r, "label_names": [1, 2]},
}


def test_damaged_records_are_skipped_by_listings_and_refused_by_load_run(pretrained_run, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(pretrained_run, root / "good")
    record = json.loads((pretrained_run / RUN_FILE).read_text())
    for name, trample in RECORD_TRAMPLES.items():
        shutil.copytree(pretrained_run, root / name)
        (root / name / RUN_FILE).write_text(json.dumps(trample(record)))
    for name, line in (("metrics a list", "[1]\n"), ("metrics not JSON", "{epoch\n")):
        shutil.copytree(pretrained_run, root / name)
        (root / name / METRICS_FILE).write_text(line)
    assert [run.path.name for run in list_runs(root)] == ["good"]
    for folder in root.iterdir():
        if folder.name != "good":
            with pytest.raises(FtguiError, match="damaged") as info:
                load_run(folder)
            assert "\n" not in str(info.value)


def test_the_apps_listings_survive_tampered_run_folders(pretrained_run, tmp_path):
    from ftgui.ui import predict_tab, runs_tab, train_form
    from ftgui.ui.context import AppContext, AppOptions

    ctx = AppContext(AppOptions(runs_dir=tmp_path / "runs"))
    shutil.copytree(pretrained_run, ctx.runs_root / "good")
    shutil.copytree(pretrained_run, ctx.runs_root / "bad-record")
    (ctx.runs_root / "bad-record" / RUN_FILE).write_text("[]")
    shutil.copytree(pretrained_run, ctx.runs_root / "bad-config")
    edit_config(lambda c: [c])(ctx.runs_root / "bad-config")
    assert sorted(runs_tab.run_names(ctx)) == ["bad-config", "good"]
    assert len(runs_tab.runs_table(ctx)) == 2
    assert "bad-config" in [value for _, value in predict_tab.source_choices(ctx)]
    assert "run:bad-config" in [value for _, value in train_form.weights_choices(ctx)]
    with pytest.raises(FtguiError, match="JSON object"):
        train_form.weights_architecture(ctx, "run:bad-config")
    with pytest.raises(FtguiError, match="JSON object"):
        predict_tab.predict_image(ctx, "bad-config", None, Image.new("RGB", (32, 32)), 3)
    assert train_form.weights_architecture(ctx, "run:good") == "test_resnet"

