"""The held-out split and the choice of labeled training samples.

The held-out split depends only on the sample ids, so it is the same for every
run of a project and is never used for pretraining, fine-tuning or advice.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence

import numpy as np


def holdout_mask(ids: Sequence[str], fraction: float = 0.2) -> np.ndarray:
    """Return a boolean mask (len(ids),) that is True for held-out samples.

    A sample is held out when the first 8 bytes of SHA-1 of its id, read as a
    fraction of 2**64, are below ``fraction``.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction={fraction} is out of range; it must be between 0 and 1")
    limit = int(fraction * 2**64)
    values = [int.from_bytes(hashlib.sha1(sample_id.encode("utf-8")).digest()[:8], "big") for sample_id in ids]
    return np.array([value < limit for value in values], dtype=bool)


def choose_labeled(labels: Sequence[str | None], candidates: Sequence[int], per_class: int, seed: int) -> list[int]:
    """Pick up to ``per_class`` labeled samples of each class among ``candidates`` (0 = all of them).

    Returns indices in ascending order; the choice is fixed by ``seed``.
    """
    by_class: dict[str, list[int]] = defaultdict(list)
    for index in candidates:
        if labels[index] is not None:
            by_class[labels[index]].append(index)
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for name in sorted(by_class):
        members = np.array(by_class[name])
        if per_class and len(members) > per_class:
            members = rng.choice(members, size=per_class, replace=False)
        chosen.extend(int(index) for index in members)
    return sorted(chosen)
