"""The optimiser (AdamW) and its schedule (warm-up, then cosine), built from a strategy's
parameter groups with timm's rules."""
from __future__ import annotations

import fnmatch

import torch
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.scheduler.scheduler import Scheduler
from torch import nn

from ..timm_api import timm_model


def no_decay_names(model: nn.Module) -> set[str]:
    """Parameters timm exempts from weight decay: 1-D ones (biases, norm scales) and the
    model's own ``no_weight_decay()`` names (a ViT's pos_embed and cls_token), wildcards
    included, as timm's param_groups_weight_decay reads them."""
    patterns = set(timm_model(model).no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    return {name for name, param in model.named_parameters()
            if param.ndim <= 1 or name.endswith(".bias")
            or any(fnmatch.fnmatch(name, pattern) for pattern in patterns)}


def optimizer_groups(model: nn.Module, groups: list[dict], weight_decay: float) -> list[dict]:
    """Split each strategy group into decayed and undecayed parameters, keeping the group's
    other keys such as lr_scale."""
    exempt = {id(p) for name, p in model.named_parameters() if name in no_decay_names(model)}
    out = []
    for group in groups:
        extra = {k: v for k, v in group.items() if k != "params"}
        params = [p for p in group["params"] if p.requires_grad]
        decay = [p for p in params if id(p) not in exempt]
        no_decay = [p for p in params if id(p) in exempt]
        if decay:
            out.append({**extra, "params": decay, "weight_decay": weight_decay})
        if no_decay:
            out.append({**extra, "params": no_decay, "weight_decay": 0.0})
    return out


def build_optimizer(model: nn.Module, groups: list[dict], lr: float, weight_decay: float,
                    previous: torch.optim.Optimizer | None = None) -> torch.optim.Optimizer:
    """AdamW over ``groups``. Parameters that were already training in ``previous`` keep
    their moment estimates (gradual unfreezing does not restart what already learns)."""
    optimizer = create_optimizer_v2(optimizer_groups(model, groups, weight_decay), opt="adamw", lr=lr,
                                    weight_decay=weight_decay)
    if previous is not None:
        for group in optimizer.param_groups:
            for param in group["params"]:
                if param in previous.state:
                    optimizer.state[param] = previous.state[param]
    return optimizer


def build_scheduler(optimizer: torch.optim.Optimizer, lr: float, epochs: int, warmup_epochs: int,
                    steps_per_epoch: int, updates: int) -> Scheduler:
    """Cosine decay to lr/100 per step, after a linear warm-up capped at a quarter of the
    epochs (short runs are not mostly warm-up); set to where ``updates`` steps leave it."""
    scheduler, _ = create_scheduler_v2(
        optimizer, sched="cosine", num_epochs=epochs, warmup_epochs=min(warmup_epochs, epochs // 4),
        warmup_lr=lr * 0.01, min_lr=lr * 0.01, step_on_epochs=False, updates_per_epoch=steps_per_epoch)
    scheduler.step_update(updates)
    return scheduler
