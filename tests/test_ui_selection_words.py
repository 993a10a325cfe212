"""The saved epoch's accuracy is called "best" only when the accuracy chose it; the rule's
window is the run's real one; whether the rule was chosen automatically is recorded and shown."""
from __future__ import annotations

import json

from ftgui import i18n, runs
from ftgui.record import SMOOTHED, RunRecord, auto_select_why, loss_window, rule_of
from ftgui.ui import job_view, runs_tab
from ftgui.ui.context import AppContext, AppOptions

# epoch 4 scores highest, but epoch 5 has the lowest smoothed loss, and the run saved it
ROWS = [{"epoch": e, "val_acc": acc, "val_loss": loss, SMOOTHED: smooth}
        for e, acc, loss, smooth in ((3, 0.70, 0.9, 0.95), (4, 0.8375, 0.8, 0.85), (5, 0.82, 0.6, 0.70))]


def _status(rows):
    return {"name": "run-1", "state": "completed", "model": "resnet18", "strategy": "full", "epochs": 5,
            "metrics": rows, "classes": 10, "val_images": 80, "stop_reason": None, "init": "default"}


def test_the_train_tab_does_not_call_a_loss_chosen_epoch_best():
    line = job_view.describe_job(_status(ROWS))
    assert "best validation accuracy" not in line
    assert "saved epoch 5 (lowest smoothed validation loss): validation accuracy 82%" in line
    with i18n.speaking("zh"):
        assert "保存第 5 轮（平滑后的验证损失最低）" in job_view.describe_job(_status(ROWS))
    by_accuracy = [{k: v for k, v in row.items() if k != SMOOTHED} for row in ROWS]
    assert "best validation accuracy 84%" in job_view.describe_job(_status(by_accuracy))


def _saved_run(tmp_path, select_auto, epochs=5):
    folder = tmp_path / "run"
    folder.mkdir()
    record = RunRecord(status="completed", config={"epochs": epochs, "select": "loss"}, architecture="resnet18",
                       label_names=[str(i) for i in range(10)], best=ROWS[-1], epochs_done=epochs,
                       data={"source": "x", "classes": [],
                             "split": {"train": list(range(320)), "val": list(range(80))}},
                       selected_by="validation loss averaged over the last few epochs (a fifth of the run, at least 3)",
                       select_auto=select_auto)
    (folder / runs.RUN_FILE).write_text(json.dumps(record.to_dict()))
    return runs.load_run(folder)


def test_the_runs_tab_says_saved_not_best_with_the_real_window_and_why_auto(tmp_path):
    run = _saved_run(tmp_path, {"val_images": 80, "limit": 200})
    ctx = AppContext(AppOptions(runs_dir=tmp_path))
    summary = runs_tab._summary(ctx, run)
    assert "best validation accuracy" not in summary
    assert "- saved epoch 5 (lowest smoothed validation loss): validation accuracy **82%" in summary
    assert "- the saved epoch has the lowest validation loss averaged over the last 3 epochs" in summary
    assert "a fifth" not in summary
    assert "- this rule was chosen automatically: 80 validation images: fewer than 200" in summary
    assert "best val acc" not in runs_tab.TABLE_COLUMNS
    with i18n.speaking("zh"):
        zh = runs_tab._summary(ctx, run)
        assert "最近 3 轮平均验证损失最低" in zh and "这条规则是自动选择的：80 张验证图片：少于 200 张" in zh
        assert "最佳验证准确率" not in zh


def test_a_rule_given_by_hand_is_not_said_to_be_automatic(tmp_path):
    run = _saved_run(tmp_path, None, epochs=30)
    assert auto_select_why(run.info) is None and rule_of(run.info) == "loss"
    summary = runs_tab._summary(AppContext(AppOptions(runs_dir=tmp_path)), run)
    assert "chosen automatically" not in summary
    assert f"over the last {loss_window(30)} epochs" in summary and loss_window(30) == 6


def test_an_old_record_is_still_read_by_its_selected_by():
    old = RunRecord.from_dict({"config": {}, "selected_by": "validation loss averaged over a fifth of the epochs"})
    assert rule_of(old) == "loss" and old.select_auto is None
    assert rule_of(RunRecord.from_dict({"config": {}})) == "accuracy"
