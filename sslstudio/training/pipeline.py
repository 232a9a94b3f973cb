"""Batch loading for the training loops: on the training thread, or ahead of the step in worker processes.

``BatchLoader.iterate(plan)`` turns a plan (an iterable of index lists, one
per batch) into batches on the run's device. With 0 workers it calls
``dataset.batch(indices, device)`` on the calling thread, exactly as the loops
did before. With N workers a ``torch.utils.data.DataLoader`` runs
``dataset.batch(indices, "cpu")`` in N worker processes, ``prefetch_factor``
batches per worker ahead of the step. On CUDA the batches are pinned and
copied with ``non_blocking=True``.

Workers are started with the spawn method, never forked, because the GUI
trains on a Qt thread and a forked child inherits locks that other threads
hold. Spawning re-imports torch and the reader in each worker, which costs
seconds, so a loader keeps its workers for every ``iterate`` call of a phase.
A batch depends only on its indices: readers use no random numbers, and the
pretext tasks perturb batches on the device with the run's generator, so the
number of workers never changes the result.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler
from torch.utils.data import Dataset as TorchDataset

from sslstudio.data.base import Dataset

logger = logging.getLogger(__name__)

# Batches each worker assembles ahead of the one the training step is using.
PREFETCH_BATCHES = 2


class _BatchSource(TorchDataset):
    """A map-style view of ``dataset`` whose items are whole CPU batches: ``source[indices]``."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __getitem__(self, indices: Sequence[int]) -> Any:
        return self.dataset.batch(indices, "cpu")

    def __len__(self) -> int:
        return len(self.dataset)


class _BatchPlan(Sampler):
    """The sampler: yields the index lists of the current ``iterate`` call, one list per batch."""

    def __init__(self) -> None:
        self.batches: Iterable[Sequence[int]] = ()

    def __iter__(self) -> Iterator[Sequence[int]]:
        return (list(indices) for indices in self.batches)


def _unchanged(batch: Any) -> Any:
    # The collate function: each sampler element is already a whole batch.
    return batch


def make_data_loader(dataset: Dataset, device: torch.device, workers: int, sampler: Sampler) -> DataLoader:
    """Return a ``DataLoader`` of whole batches of ``dataset`` drawn from ``sampler`` by ``workers`` spawned processes.

    Raises:
        ValueError: if ``workers`` is below 1 (use the inline path of ``BatchLoader`` instead).
    """
    if workers < 1:
        raise ValueError(f"workers={workers} is invalid for a DataLoader; it must be 1 or more")
    return DataLoader(_BatchSource(dataset), batch_size=None, sampler=sampler, collate_fn=_unchanged,
                      num_workers=workers, multiprocessing_context="spawn", persistent_workers=True,
                      prefetch_factor=PREFETCH_BATCHES, pin_memory=device.type == "cuda",
                      # Its own generator for the workers' base seed, so the global RNG that dropout and
                      # checkpoints use advances as it does without workers.
                      generator=torch.Generator().manual_seed(0))


def to_device(batch: Any, device: torch.device) -> Any:
    """Return ``batch`` (a Tensor, a tuple of Tensors, or an object with ``to(device, non_blocking)``) on ``device``.

    Raises:
        TypeError: for any other batch type.
    """
    if isinstance(batch, torch.Tensor) or hasattr(batch, "to"):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple):
        return tuple(to_device(item, device) for item in batch)
    raise TypeError(f"cannot move a batch of type {type(batch).__name__} to {device}. Readers return a Tensor, "
                    "a tuple of Tensors or an object with a to(device, non_blocking) method")


class BatchLoader:
    """Batches of one dataset on one device, assembled inline (0 workers) or by spawned worker processes.

    Use it as a context manager, so the workers stop when the phase ends,
    is cancelled or fails. Only one ``iterate`` may be consumed at a time: a
    new call abandons what the previous one had prefetched.

    Raises:
        ValueError: if ``workers`` is negative.
    """

    def __init__(self, dataset: Dataset, device: torch.device, workers: int = 0):
        if workers < 0:
            raise ValueError(f"loader_workers={workers} is invalid; it must be 0 (load on the training thread) "
                             "or more")
        self.dataset = dataset
        self.device = torch.device(device)
        self.workers = workers
        self._plan = _BatchPlan()
        self._loader = make_data_loader(dataset, self.device, workers, self._plan) if workers else None

    def iterate(self, plan: Iterable[Sequence[int]]) -> Iterator[Any]:
        """Yield ``dataset.batch(indices, device)`` for each index list of ``plan``, in order.

        ``plan`` is read lazily, up to ``workers × PREFETCH_BATCHES`` lists ahead of the batch last yielded.
        """
        if self._loader is None:
            for indices in plan:
                yield self.dataset.batch(indices, self.device)
            return
        self._plan.batches = plan
        try:
            batches = iter(self._loader)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            # Starting the workers pickles the dataset; a reader added by a plugin may hold an unpicklable object.
            logger.warning("Loading batches on the training thread: the %s dataset cannot be sent to worker "
                           "processes (%s)", self.dataset.modality, error)
            self.close()
            yield from self.iterate(plan)
            return
        for batch in batches:
            yield to_device(batch, self.device)

    def close(self) -> None:
        """Stop the worker processes (nothing with 0 workers); the loader loads inline afterwards."""
        loader, self._loader = self._loader, None
        iterator = getattr(loader, "_iterator", None)
        if iterator is not None:
            # NOTE: private DataLoader API (torch 2.x); the public alternative is to wait for garbage collection.
            iterator._shutdown_workers()
            loader._iterator = None

    def __enter__(self) -> "BatchLoader":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
