"""Experiment logging through callbacks: TensorBoard and MLflow.

Ordinary callback plugins (``--callback tensorboard``, ``--callback mlflow``). Each uses its
package only when it is installed; otherwise the run says so in one line when it starts and
trains as usual. They log each epoch's row of ``state.metrics`` (what metrics.jsonl holds):
put them last in ``--callback`` to also log what other callbacks add. Under torchrun only the
first process (rank 0) logs; the training again on all images (``--refit``, ``state.refit``),
which has no validation curves, is not logged. Per-run objects live in ``state.store[self.name]`` and are not
saved in checkpoints; a resumed run logs on from its next epoch.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any

import ftgui
from ftgui import Callback, Param


def _main_process() -> bool:
    """Whether this process writes the run's files (rank 0 under torchrun, or no torchrun)."""
    return os.environ.get("RANK", "0") == "0"


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a metrics row, but its epoch (the step they are logged at)."""
    return {key: float(value) for key, value in metrics.items()
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value)}


class TensorBoard(Callback):
    name = "tensorboard"
    description = (
        "write TensorBoard event files into the run folder (per epoch: losses, accuracies, learning rate "
        "and what other callbacks measure); needs pip install tensorboard"
    )
    params = (Param("folder", "tensorboard", "sub-folder of the run folder for the event files"),)
    translations = {"zh": {
        "label": "记录到 TensorBoard",
        "description": (
            "把 TensorBoard 事件文件写进本次训练的文件夹（每轮：损失、准确率、学习率以及其他回调测得的数值）；"
            "需要 pip install tensorboard"),
        "param.folder": "训练文件夹中存放事件文件的子文件夹",
    }}

    def on_fit_start(self, state, folder="tensorboard", **params):
        memory = state.store[self.name]
        memory.clear()
        if not _main_process() or state.refit:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            state.log("tensorboard: the tensorboard package is not installed, so this run writes no event files "
                      "(pip install tensorboard)")
            return
        if os.path.isabs(folder) or ".." in folder.replace("\\", "/").split("/"):
            raise ftgui.FtguiError(f"tensorboard: folder must be a sub-folder of the run folder, not {folder!r}")
        log_dir = state.run_dir / folder
        memory["writer"] = SummaryWriter(log_dir=str(log_dir))
        if not state.resumed:
            memory["writer"].add_text("ftgui/config", "```\n" + json.dumps(state.config.to_dict(), indent=2)
                                      + "\n```", 0)
        state.log(f"tensorboard: event files in {log_dir} (tensorboard --logdir {log_dir})")

    def on_epoch_end(self, state, **params):
        writer = state.store[self.name].get("writer")
        if writer is None:
            return
        step = state.metrics.get("epoch", state.epoch + 1)
        for key, value in _scalars(state.metrics).items():
            writer.add_scalar(key, value, step)
        writer.flush()

    def on_fit_end(self, state, **params):
        writer = state.store[self.name].pop("writer", None)
        if writer is not None:
            writer.close()

    def state_dict(self, state):
        return {}  # the writer is opened afresh on every start

    def load_state_dict(self, state, saved):
        return None


class MLflow(Callback):
    name = "mlflow"
    description = (
        "log the run's settings and each epoch's metrics to MLflow (MLFLOW_TRACKING_URI, or ./mlruns); "
        "needs pip install mlflow"
    )
    params = (
        Param("experiment", "ftgui", "MLflow experiment name"),
        Param("tracking_uri", "", "where MLflow keeps runs (empty: MLFLOW_TRACKING_URI or ./mlruns)"),
    )
    STATUS = {"completed": "FINISHED", "evaluated": "FINISHED", "initialised": "FINISHED", "stopped": "KILLED"}
    translations = {"zh": {
        "label": "记录到 MLflow",
        "description": (
            "把本次训练的设置和每轮的指标记录到 MLflow（MLFLOW_TRACKING_URI，或 ./mlruns）；需要 pip install mlflow"),
        "param.experiment": "MLflow 实验名称",
        "param.tracking_uri": "MLflow 保存运行记录的位置（留空：MLFLOW_TRACKING_URI 或 ./mlruns）",
    }}

    def on_fit_start(self, state, experiment="ftgui", tracking_uri="", **params):
        memory = state.store[self.name]
        memory.pop("client", None)
        if not _main_process() or state.refit:
            return
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            state.log("mlflow: the mlflow package is not installed, so this run is not logged to MLflow "
                      "(pip install mlflow)")
            return
        # a client of its own, not mlflow's global active run: the GUI trains several runs in one process
        client = MlflowClient(tracking_uri=tracking_uri or None)
        found = client.get_experiment_by_name(experiment)
        memory["experiment_id"] = found.experiment_id if found else client.create_experiment(experiment)
        memory["client"] = client

    def _run_id(self, state) -> str:
        """The MLflow run of this ftgui run: the one a resumed run logged to, else a new one."""
        memory = state.store[self.name]
        if not memory.get("run_id"):
            run = memory["client"].create_run(memory["experiment_id"], run_name=state.run_dir.name,
                                              tags={"ftgui.run_dir": str(state.run_dir)})
            memory["run_id"] = run.info.run_id
            for key, value in state.config.to_dict().items():
                memory["client"].log_param(memory["run_id"], key, json.dumps(value) if not isinstance(value, str)
                                           else value)
            state.log(f"mlflow: logging to run {memory['run_id']} of experiment {memory['experiment_id']}")
        return memory["run_id"]

    def on_epoch_end(self, state, **params):
        client = state.store[self.name].get("client")
        if client is None:
            return
        run_id = self._run_id(state)
        step = state.metrics.get("epoch", state.epoch + 1)
        for key, value in _scalars(state.metrics).items():
            client.log_metric(run_id, key, value, step=step)

    def on_fit_end(self, state, **params):
        memory = state.store[self.name]
        client = memory.pop("client", None)
        if client is not None and memory.get("run_id"):
            client.set_terminated(memory["run_id"], self.STATUS.get(state.status, "FAILED"))

    def state_dict(self, state):
        run_id = state.store[self.name].get("run_id")
        return {"run_id": run_id} if run_id else {}

    def load_state_dict(self, state, saved):
        if saved.get("run_id"):
            state.store[self.name]["run_id"] = saved["run_id"]


@ftgui.hookimpl
def ftgui_register_callbacks(register):
    register(TensorBoard())
    register(MLflow())
