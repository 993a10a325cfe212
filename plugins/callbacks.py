"""The bundled callbacks: early stopping, gradient norms per stage (the seed's gradient
diffusion, measured), an exponential moving average of the weights, and gradient clipping.

Each is an ordinary plugin, registered through the same hook as a third-party one; per-run
values live in ``state.store[self.name]`` (one instance serves every run).
"""
from __future__ import annotations

import math

import ftgui
from ftgui import Callback, Param


class EarlyStop(Callback):
    name = "early-stop"
    description = (
        "stop training when the validation loss has not improved for `patience` epochs; the best "
        "epoch is kept, so extra epochs cost only time"
    )
    params = (
        Param("patience", 3, "epochs without improvement before stopping"),
        Param("min_delta", 0.0, "how much lower the loss must be to count as an improvement"),
        Param("metric", "val_loss", "what to watch: val_loss (lower is better) or val_acc (higher is better)",
              ("val_loss", "val_acc")),
    )
    translations = {"zh": {
        "label": "提前停止",
        "description": "验证损失连续 `patience` 轮没有改善时停止训练；保留最好的那一轮，所以多设的轮数只多花时间",
        "param.patience": "停止前允许没有改善的轮数",
        "param.min_delta": "损失至少要降低多少才算改善",
        "param.metric": "观察哪个指标：val_loss（越低越好）或 val_acc（越高越好）",
    }}

    def on_epoch_end(self, state, patience=3, min_delta=0.0, metric="val_loss", **params):
        value = state.metrics.get(metric)
        if value is None:
            return
        memory = state.store[self.name]
        sign = 1.0 if metric == "val_loss" else -1.0  # compare as "lower is better"
        best = memory.get("best")
        if best is None or sign * value < sign * best - min_delta:
            memory["best"], memory["wait"] = value, 0
            return
        memory["wait"] = memory.get("wait", 0) + 1
        if memory["wait"] >= patience:
            state.stop(f"early-stop: {metric} has not improved for {patience} epochs (best {best:.4f})")


class GradNorms(Callback):
    name = "grad-norms"
    description = (
        "measure, each epoch, the gradient norm and the update/weight ratio of every stage of the "
        "backbone and of the head: tiny numbers in the first stages are the seed's gradient diffusion"
    )
    translations = {"zh": {
        "label": "测量每个阶段的梯度（梯度扩散）",
        "description": (
            "每轮测量卷积层各阶段和最后分类层的梯度范数，以及更新量与权重之比：前几个阶段的数值极小，"
            "就是教程所说的梯度扩散"),
    }}

    def on_fit_start(self, state, **params):
        from timm.models import group_parameters

        model = state.model
        head = {id(p) for p in model.get_classifier().parameters()}
        stage_of = {}
        if hasattr(model, "group_matcher"):
            for stage, names in group_parameters(model, model.group_matcher(coarse=True)).items():
                stage_of.update({name: f"stage{stage}" for name in names})
        groups: dict[str, list] = {}
        for name, param in model.named_parameters():
            label = "head" if id(param) in head else stage_of.get(name, "backbone")
            groups.setdefault(label, []).append(param)
        state.store[self.name].update(groups=groups, sums={}, batches=0, start={})

    def on_epoch_start(self, state, **params):
        memory = state.store[self.name]
        memory.update(sums={}, batches=0)
        memory["start"] = {label: [p.detach().clone() for p in ps if p.requires_grad]
                           for label, ps in memory["groups"].items()}

    def on_after_backward(self, state, **params):
        import torch

        memory = state.store[self.name]
        for label, params_ in memory["groups"].items():
            grads = [p.grad for p in params_ if p.grad is not None]
            if grads:
                norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
                memory["sums"][label] = memory["sums"].get(label, 0.0) + float(norm)
        memory["batches"] += 1

    def on_epoch_end(self, state, **params):
        memory = state.store[self.name]
        batches = max(memory["batches"], 1)
        for label, total in memory["sums"].items():
            state.metrics[f"grad_norm/{label}"] = total / batches
            before = memory["start"].get(label) or []
            after = [p.detach() for p in memory["groups"][label] if p.requires_grad]
            if before and len(before) == len(after):
                change = math.sqrt(sum(float((a - b).pow(2).sum()) for a, b in zip(after, before)))
                size = math.sqrt(sum(float(b.pow(2).sum()) for b in before))
                state.metrics[f"update_ratio/{label}"] = change / size if size > 0 else None
        memory["start"] = {}

    def state_dict(self, state):
        return {}  # everything is measured afresh each epoch

    def load_state_dict(self, state, saved):
        return None


class Ema(Callback):
    name = "ema"
    description = (
        "keep an exponential moving average of the weights (timm's ModelEmaV3) and validate and save "
        "that average instead of the last weights: steadier results from run to run"
    )
    params = (
        Param("decay", 0.999, "how slowly the average follows the weights (closer to 1: slower)"),
        Param("warmup", True, "follow quickly in the first steps (timm's EMA warm-up), so short runs work"),
    )
    translations = {"zh": {
        "label": "权重的滑动平均（EMA）",
        "description": (
            "保存权重的指数滑动平均（timm 的 ModelEmaV3），验证和保存的是这个平均值而不是最后的权重："
            "每次训练的结果更稳定"),
        "param.decay": "平均值跟随权重的快慢（越接近 1 越慢）",
        "param.warmup": "最初几步快速跟随（timm 的 EMA 预热），这样短的训练也能用",
    }}

    def on_fit_start(self, state, decay=0.999, warmup=True, **params):
        from timm.utils import ModelEmaV3

        ema = ModelEmaV3(state.model, decay=decay, use_warmup=warmup)
        state.store[self.name]["ema"] = ema
        state.eval_model = ema.module

    def on_batch_end(self, state, **params):
        state.store[self.name]["ema"].update(state.model, step=state.step)

    def state_dict(self, state):
        return {"weights": state.store[self.name]["ema"].module.state_dict()}

    def load_state_dict(self, state, saved):
        state.store[self.name]["ema"].module.load_state_dict(saved["weights"])


class ClipGrad(Callback):
    name = "clip-grad"
    description = (
        "clip the gradient norm of each step to at most `max_norm` (steadier training with a high "
        "learning rate); adds the fraction of clipped steps to the metrics"
    )
    params = (Param("max_norm", 1.0, "largest gradient norm allowed per step"),)
    translations = {"zh": {
        "label": "梯度裁剪",
        "description": (
            "把每一步的梯度范数裁剪到不超过 `max_norm`（学习率高时训练更稳）；在指标中加入被裁剪步数的比例"),
        "param.max_norm": "每一步允许的最大梯度范数",
    }}

    def on_epoch_start(self, state, **params):
        state.store[self.name].update(clipped=0, steps=0)

    def on_after_backward(self, state, max_norm=1.0, **params):
        import torch

        trainable = [p for p in state.model.parameters() if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(trainable, max_norm)
        memory = state.store[self.name]
        memory["clipped"] += int(float(norm) > max_norm)
        memory["steps"] += 1

    def on_epoch_end(self, state, **params):
        memory = state.store[self.name]
        state.metrics["clipped_fraction"] = memory["clipped"] / max(memory["steps"], 1)


@ftgui.hookimpl
def ftgui_register_callbacks(register):
    for callback in (EarlyStop(), GradNorms(), Ema(), ClipGrad()):
        register(callback)
