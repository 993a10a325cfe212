"""More than one process: `torchrun --nproc_per_node=2 -m ftgui train` with Gloo on CPU runs
DistributedDataParallel and matches one process with the same global batch; only rank 0
writes; --resume works under torchrun. (On GPUs the backend is NCCL; the code path is the same.)

Tolerance: the two runs see exactly the same batches (the data order depends only on seed and
epoch), so they differ only by floating-point summation order: losses agree to 1e-5 relative.
test_vit has LayerNorm, not BatchNorm: with BatchNorm each process normalises its own share of
the batch (SyncBatchNorm is used on GPUs), which no longer matches one process exactly.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ftgui.runs import load_run, read_metrics

from conftest import THREE, make_dataset

pytestmark = pytest.mark.slow
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
COMMON = ["--img-size", "32", "--aug", "none", "--quiet", "--num-workers", "0", "--seed", "3"]
CRASH_ONCE = '''
import os
import ftgui

class CrashOnce(ftgui.Callback):
    name = "crash-once"
    description = "fails once at the end of epoch 2, as a killed machine would"

    def on_epoch_end(self, state, **params):
        if state.epoch == 1 and not os.environ.get("NO_CRASH"):
            raise SystemExit(1)

@ftgui.hookimpl
def ftgui_register_callbacks(register):
    register(CrashOnce())
'''


THREADS_AT_EXIT = '''
import atexit, glob, sys

@atexit.register
def threads_at_exit():  # a thread of the process group still alive here can abort the process as it exits
    names = [open(task + "/comm").read().strip() for task in glob.glob("/proc/self/task/*")]
    print("threads at exit:", ",".join(names), file=sys.stderr)
'''


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("ddp") / "data", THREE, per_class=16)


def ftgui(args: list[str], processes: int = 1, env: dict | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    command = (TORCHRUN if processes == 2 else [sys.executable]) + ["-m", "ftgui", "train", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
    if ok:  # what the processes said, before torchrun's own traceback
        said = done.stderr.split('Traceback (most recent call last):\n  File "<frozen runpy>"')[0]
        assert done.returncode == 0, said[-3000:]
    return done


def assert_same_training(one: Path, two: Path) -> None:
    rows_one, rows_two = read_metrics(one), read_metrics(two)
    assert len(rows_one) == len(rows_two) > 0
    for a, b in zip(rows_one, rows_two):
        assert a["val_acc"] == b["val_acc"] and a["train_acc"] == b["train_acc"]
        for key in ("train_loss", "val_loss"):
            assert b[key] == pytest.approx(a[key], rel=1e-5), (key, a, b)


def test_two_processes_match_one_with_the_same_global_batch(data, tmp_path):
    args = ["--data", str(data), "--model", "test_vit", "--strategy", "scratch", "--epochs", "2", *COMMON]
    ftgui([*args, "--batch-size", "8", "--out", str(tmp_path / "one")])
    done = ftgui([*args, "--batch-size", "4", "--out", str(tmp_path / "two")], processes=2)
    assert_same_training(tmp_path / "one", tmp_path / "two")
    printed = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(printed) == 1 and json.loads(printed[0])["status"] == "completed"  # one process reports
    files = sorted(p.name for p in (tmp_path / "two").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "one").iterdir())  # one writer, nothing doubled
    assert load_run(tmp_path / "two").status == "completed"


def test_the_automatic_batch_is_shared_out_and_trains_like_one_process(data, tmp_path):
    """No --batch-size: one process picks 8 for the ~38 training images, two processes 4 each
    (the rules count both processes' steps), and the two runs train alike."""
    args = ["--data", str(data), "--model", "test_vit", "--strategy", "scratch", "--epochs", "2", *COMMON]
    ftgui([*args, "--out", str(tmp_path / "one")])
    ftgui([*args, "--out", str(tmp_path / "two")], processes=2)
    one, two = load_run(tmp_path / "one").record, load_run(tmp_path / "two").record
    assert one["config"]["batch_size"] == 8 and "processes" not in one["auto_settings"]
    assert two["config"]["batch_size"] == 4 and two["auto_settings"]["processes"] == 2
    why = two["auto_settings"]["batch_size"]["why"]
    assert "over 2 processes: batches of 4 per process (8 in all)" in why, why
    assert why.endswith(one["auto_settings"]["batch_size"]["why"].split(" give ")[1])  # the same steps an epoch
    assert_same_training(tmp_path / "one", tmp_path / "two")


def test_head_only_shares_the_feature_cache_between_processes(data, tmp_path):
    base = ["--data", str(data), "--model", "test_vit", "--strategy", "scratch", "--epochs", "1", *COMMON]
    ftgui([*base, "--batch-size", "8", "--out", str(tmp_path / "base")])
    args = ["--data", str(data), "--strategy", "head-only", "--weights", str(tmp_path / "base"), "--epochs", "3",
            *COMMON]
    ftgui([*args, "--batch-size", "8", "--out", str(tmp_path / "one")])
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "threads_at_exit.py").write_text(THREADS_AT_EXIT)
    two = ftgui([*args, "--batch-size", "4", "--out", str(tmp_path / "two")], processes=2,
                env={"FTGUI_PLUGINS_DIR": str(plugins)})
    assert all(row["cached_features"] for row in read_metrics(tmp_path / "two"))
    exits = [line for line in two.stderr.splitlines() if line.startswith("threads at exit:")]
    assert len(exits) == 2 and not any("gloo" in line for line in exits), exits  # the group was let go of
    assert_same_training(tmp_path / "one", tmp_path / "two")


def test_resume_under_torchrun_ends_like_the_uninterrupted_run(data, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "crash_once.py").write_text(CRASH_ONCE)
    env = {"FTGUI_PLUGINS_DIR": str(plugins), "FTGUI_SAVE_INTERVAL_S": "0"}
    args = ["--data", str(data), "--model", "test_vit", "--strategy", "scratch", "--epochs", "4", "--batch-size",
            "4", "--callback", "crash-once", *COMMON]
    ftgui([*args, "--out", str(tmp_path / "whole")], processes=2, env={**env, "NO_CRASH": "1"})
    crashed = ftgui([*args, "--out", str(tmp_path / "cut")], processes=2, env=env, ok=False)
    assert crashed.returncode != 0 and len(read_metrics(tmp_path / "cut")) <= 2
    ftgui(["--resume", str(tmp_path / "cut"), "--quiet"], processes=2, env={**env, "NO_CRASH": "1"})
    assert [row["epoch"] for row in read_metrics(tmp_path / "cut")] == [1, 2, 3, 4]
    assert_same_training(tmp_path / "whole", tmp_path / "cut")
    assert load_run(tmp_path / "cut").status == "completed"
