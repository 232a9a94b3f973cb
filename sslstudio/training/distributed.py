"""Distributed data parallel under ``torchrun``: process-group set-up and per-rank data shards.

``torchrun --nproc_per_node=N -m sslstudio train …`` sets RANK, LOCAL_RANK and
WORLD_SIZE. Each rank pretrains on its own shard of every epoch's shuffled
order, and DistributedDataParallel averages the gradients (NCCL on GPUs, Gloo
on CPUs). Only rank 0 logs, writes checkpoints and fine-tunes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedInfo:
    """This process's place in the job; ``world_size`` 1 means a plain single-process run."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_distributed(device_preference: str = "auto") -> tuple[DistributedInfo, torch.device]:
    """Join the process group that ``torchrun`` describes; return this rank's info and device.

    Without torchrun's variables this returns a single-process info and leaves
    the device choice to the caller (CPU here).
    """
    if not launched_by_torchrun():
        return DistributedInfo(), torch.device("cpu")
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    use_cuda = torch.cuda.is_available() and device_preference in {"auto", "cuda"}
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    backend = "nccl" if use_cuda else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    logger.info("Rank %d of %d joined the %s process group on %s", rank, world_size, backend, device)
    return DistributedInfo(rank, local_rank, world_size), device


def shard(indices: torch.Tensor, info: DistributedInfo) -> torch.Tensor:
    """Return this rank's share of ``indices`` (every ``world_size``-th entry, trimmed to equal lengths)."""
    if not info.enabled:
        return indices
    usable = len(indices) - len(indices) % info.world_size
    return indices[info.rank:usable:info.world_size]


def finish_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
