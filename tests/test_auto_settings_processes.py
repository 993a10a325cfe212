"""Issue 15 under torchrun: ``--batch-size`` is per process, so the automatic sizes count the
steps of every process together. The rules' batch is the total, shared out among the processes;
an epoch has the steps one process would take, and the epochs follow from the real steps. One
process gets exactly what it always did."""
from __future__ import annotations

import math

import pytest

from ftgui import i18n
from ftgui.training import auto_settings
from ftgui.training.auto_settings import FINE_TUNE, HEAD, SCRATCH, choose, steps_per_epoch

IMAGES = (12, 80, 160, 320, 1000, 16000)


@pytest.mark.parametrize("kind", [HEAD, FINE_TUNE, SCRATCH])
def test_one_process_is_unchanged(kind):
    """The rules as they were before processes were counted, written out again."""
    for images in [*IMAGES, *range(1, 600, 7)]:
        batch = max(8, min(32, 2 ** int(math.log2(max(images // 8, 1)))))
        steps = max(images // batch, 1)
        epochs = max(5, min(100, math.ceil(auto_settings.TARGET_STEPS[kind] / steps)))
        sizes = choose(images, kind, processes=1)
        assert sizes == choose(images, kind) and sizes.processes == 1
        assert (sizes.batch_size, sizes.epochs) == (batch, epochs)
        assert sizes.reasons["batch_size"] == (f"{images} training images: batches of {batch} give {steps} steps "
                                               "an epoch")
        assert sizes.reasons["epochs"] == (f"{auto_settings.KINDS[kind]}: about {auto_settings.TARGET_STEPS[kind]} "
                                           f"steps wanted, {steps} an epoch; between 5 and 100 epochs")
        assert "processes" not in sizes.record(images, kind) and "per process" not in sizes.summary()


@pytest.mark.parametrize("processes", [2, 4])
def test_the_batch_is_shared_out_and_an_epoch_keeps_its_steps(processes):
    for images in IMAGES:
        one, many = choose(images, FINE_TUNE), choose(images, FINE_TUNE, processes=processes)
        assert many.batch_size * processes == one.batch_size  # 8, 16 and 32 divide by 2 and 4
        assert steps_per_epoch(images, many.batch_size, processes) == steps_per_epoch(images, one.batch_size)
        assert (many.epochs, many.warmup_epochs) == (one.epochs, one.warmup_epochs)  # the same run, only faster


def test_per_process_batches_for_two_and_four_processes():
    table = {  # (images, processes): (batch per process, steps an epoch, epochs when fine-tuning)
        (320, 2): (16, 10, 50), (320, 4): (8, 10, 50),
        (160, 2): (8, 10, 50), (160, 4): (4, 10, 50),
        (80, 2): (4, 10, 50), (80, 4): (2, 10, 50),
        (16000, 2): (16, 500, 5), (16000, 4): (8, 500, 5),
        (12, 4): (2, 1, 100),
    }
    for (images, processes), expected in table.items():
        sizes = choose(images, FINE_TUNE, processes=processes)
        assert (sizes.batch_size, steps_per_epoch(images, sizes.batch_size, processes), sizes.epochs) == expected


def test_the_reasons_and_the_record_say_per_process():
    sizes = choose(320, HEAD, processes=2)
    assert sizes.reasons["batch_size"] == ("320 training images over 2 processes: batches of 16 per process "
                                           "(32 in all) give 10 steps an epoch")
    assert sizes.reasons["epochs"] == ("only the new head learns: about 300 steps wanted, 10 an epoch (2 processes, "
                                       "16 images each per step); between 5 and 100 epochs")
    assert sizes.summary().startswith("batch size per process 16 (320 training images over 2 processes")
    record = sizes.record(320, HEAD)
    assert record["processes"] == 2 and record["batch_size"]["value"] == 16 and record["epochs"]["value"] == 30
    from ftgui.ui import runs_tab

    lines = runs_tab._chosen_lines(record)
    assert lines[0] == ("- chosen from the data (320 training images): 30 epochs, batch size 16 per process, "
                        "warm-up 0 epochs")
    assert lines[2] == ("  - batch size 16 per process: 320 training images over 2 processes: batches of 16 per "
                        "process (32 in all) give 10 steps an epoch")  # the reasons, one line each
    with i18n.speaking("zh"):
        zh = runs_tab._chosen_lines(record)
        assert "每个进程的批大小 16" in zh[0] and "，" in zh[0] and ", " not in zh[0]  # a Chinese comma
        assert zh[2] == "  - 每个进程的批大小 16：320 张训练图片分给 2 个进程：每个进程批大小 16（共 32），每轮 10 步"
        assert "只训练新的最后分类层" in zh[1] and not any(c.isascii() and c.isalpha() for c in "".join(zh[1:]))


def test_a_given_batch_is_per_process_and_the_epochs_follow_the_real_steps():
    sizes = choose(160, FINE_TUNE, batch_size=16, processes=2)  # 32 images a step in all: 5 steps an epoch
    assert (sizes.batch_size, sizes.epochs) == (16, 100)
    assert choose(160, FINE_TUNE, batch_size=16).epochs == 50  # one process: 10 steps an epoch
    assert "5 an epoch (2 processes, 16 images each per step)" in sizes.reasons["epochs"]
    assert "batch_size" not in sizes.reasons


def test_uneven_and_many_processes_round_and_keep_the_whole_batch_at_eight():
    assert auto_settings.auto_batch_size(320, 3) == 11  # 32 / 3, rounded: 33 in all
    assert auto_settings.auto_batch_size(80, 3) == 3  # 8 / 3 -> 3 each, 9 in all (2 each would be 6)
    assert auto_settings.auto_batch_size(80, 6) == 2 and auto_settings.auto_batch_size(80, 7) == 2  # 12, 14 in all
    assert auto_settings.auto_batch_size(80, 8) == 1 and auto_settings.auto_batch_size(320, 64) == 1  # at least 1
    few = choose(100, FINE_TUNE, processes=16)  # one image a process: 16 in all, 6 steps an epoch
    assert few.batch_size == 1 and steps_per_epoch(100, 1, 16) == 6 and few.epochs == 84  # ceil(500 / 6)
