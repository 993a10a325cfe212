"""More than one process (``torchrun``): PyTorch's own DistributedDataParallel, nothing
home-made.

torchrun sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; every process runs the same
``ftgui train``. Each trains on its share of every batch (``--batch-size`` is per process:
the global batch is that times the number of processes; ``auto`` shares out the batch one
process would get, see :mod:`.auto_settings`), gradients are averaged by DDP,
validation runs whole on every process (so every process takes the same decisions: best
epoch, early stopping), and only rank 0 writes the run folder, the log and checkpoints.
The data order is a function of the seed and the epoch only, so N processes with batch B see
exactly the batches one process sees with batch N x B.
"""
from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ..errors import FtguiError


@dataclass(frozen=True)
class Processes:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def many(self) -> bool:
        return self.world > 1

    def sum(self, values: list[float]) -> list[float]:
        """``values`` added up over every process (unchanged with one process)."""
        if not self.many:
            return values
        tensor = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """True on every process when it is True on any (a stop must be taken together)."""
        return bool(self.sum([float(flag)])[0]) if self.many else flag

    def share(self, value: Any) -> Any:
        """Rank 0's ``value``, on every process."""
        if not self.many:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather_rows(self, rows: torch.Tensor, total: int) -> torch.Tensor:
        """Every process's ``rows`` (its consecutive shard of ``total``), joined in rank order."""
        if not self.many:
            return rows
        size = -(-total // self.world)
        padded = torch.zeros((size, *rows.shape[1:]), dtype=rows.dtype)
        padded[: len(rows)] = rows.cpu()
        parts = [torch.zeros_like(padded) for _ in range(self.world)]
        dist.all_gather(parts, padded)
        return torch.cat([part[: len(shard(total, r, self.world))] for r, part in enumerate(parts)])


def shard(total: int, rank: int, world: int) -> range:
    """The consecutive rows of ``total`` that process ``rank`` of ``world`` computes."""
    size = -(-total // world)
    return range(min(rank * size, total), min((rank + 1) * size, total))


def from_environment() -> Processes:
    """The processes torchrun started (one, without torchrun); joins their group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Processes()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        try:
            dist.init_process_group(backend)
        except (RuntimeError, ValueError) as exc:
            raise FtguiError(f"cannot join the other {world - 1} training processes ({exc}); start ftgui with "
                             "torchrun and its rendezvous flags (see the README)") from None
    return Processes(rank, world, local_rank)


@contextlib.contextmanager
def joined() -> Iterator[Processes]:
    """The processes torchrun started, for the length of one run. On a normal end every process
    waits for the others before it leaves the group: one that tore down its connections while
    another was still writing could die in C++ ("terminate called without an active exception")
    and fail the whole run. After an error it leaves at once (the others see the broken group)."""
    processes = from_environment()
    try:
        yield processes
        if processes.many and dist.is_initialized():
            dist.barrier()
    finally:
        if processes.many and dist.is_initialized():
            gc.collect()  # a DistributedDataParallel wrapper in a reference cycle holds the group's threads
            dist.destroy_process_group()


class EpochOrder(torch.utils.data.Sampler[int]):
    """Indices in an order that depends only on the seed and the epoch (call ``set_epoch``),
    this process's share of them: positions rank, rank + world, ... of the permutation. With
    ``shuffle`` False, the plain order. Like DistributedSampler, but its single-process order
    is the same permutation, so N processes reproduce one process's batches exactly."""

    def __init__(self, size: int, seed: int, processes: Processes, shuffle: bool = True) -> None:
        self.size, self.seed, self.processes, self.shuffle = size, seed, processes, shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        usable = self.size - self.size % self.processes.world  # equal shares: every process steps together
        return iter(order[self.processes.rank:usable:self.processes.world])

    def __len__(self) -> int:
        return self.size // self.processes.world
