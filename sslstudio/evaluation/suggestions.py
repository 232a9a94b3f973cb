"""Suggest which samples to label next, each with the reason it was chosen.

Before a fine-tuned model exists the suggestions are *diverse*: k-center
greedy on encoder embeddings picks, again and again, the sample farthest from
every labeled or already suggested sample (Sener and Savarese, "Active
Learning for Convolutional Neural Networks: A Core-Set Approach", ICLR 2018).
With a fine-tuned classifier they are *uncertain*: the samples whose predicted
class probabilities have the highest entropy or the smallest margin between
the two most likely classes. Labeled and excluded (skipped) samples are never
suggested, and no sample is suggested twice.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sslstudio.data.base import Dataset, DatasetSpec
from sslstudio.training.loop import embed, predict_proba

logger = logging.getLogger(__name__)

UNCERTAINTY_METHODS = ("entropy", "margin")
# Pairwise distances are computed against this many centers at a time, to bound memory at N×block floats.
_DISTANCE_BLOCK = 1024


@dataclass(frozen=True)
class Suggestion:
    """A sample to label next: its position in the dataset, its id, the score it was chosen by, and why."""

    index: int
    sample_id: str
    score: float
    reason: str


def _min_distances(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Return the Euclidean distance (N,) from each of ``points`` (N×D) to its nearest row of ``centers`` (M×D)."""
    best = np.full(len(points), np.inf, dtype=np.float64)
    squared_points = np.einsum("ij,ij->i", points, points)
    for start in range(0, len(centers), _DISTANCE_BLOCK):
        block = centers[start:start + _DISTANCE_BLOCK]
        squared = squared_points[:, None] + np.einsum("ij,ij->i", block, block)[None, :] - 2.0 * points @ block.T
        best = np.minimum(best, np.sqrt(np.maximum(squared, 0.0)).min(axis=1))
    return best


def k_center_greedy(embeddings: np.ndarray, centers: Sequence[int], count: int,
                    exclude: Collection[int] = ()) -> list[tuple[int, float]]:
    """Pick up to ``count`` rows of ``embeddings`` (N×D), each the farthest from all centers so far.

    ``centers`` (the labeled rows) start the center set, and each pick joins it.
    Rows in ``centers`` or ``exclude`` are never picked. Returns ``(row, distance)``
    pairs in pick order, where the distance is to the nearest center at the time
    of the pick. Without any center, the first pick is the row nearest the mean
    embedding, with distance ``inf``.

    Raises:
        ValueError: if ``embeddings`` is not 2-D or ``count`` is negative.
    """
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be N×D, got shape {embeddings.shape}")
    if count < 0:
        raise ValueError(f"count={count} is invalid; it must be 0 or more")
    points = embeddings.astype(np.float64, copy=False)
    available = np.ones(len(points), dtype=bool)
    available[list(centers)] = False
    available[list(exclude)] = False
    centers = list(centers)
    distances = _min_distances(points, points[centers]) if centers else np.full(len(points), np.inf)
    picks: list[tuple[int, float]] = []
    while len(picks) < count and available.any():
        if centers or picks:
            row = int(np.argmax(np.where(available, distances, -np.inf)))
        else:
            to_mean = np.linalg.norm(points - points.mean(axis=0), axis=1)
            row = int(np.argmin(np.where(available, to_mean, np.inf)))
        picks.append((row, float(distances[row])))
        available[row] = False
        distances = np.minimum(distances, np.linalg.norm(points - points[row], axis=1))
    return picks


def uncertainty_scores(probabilities: np.ndarray, method: str = "entropy") -> np.ndarray:
    """Return one uncertainty score (N,) per row of ``probabilities`` (N×K); higher is less certain.

    ``entropy`` is the prediction entropy in nats; ``margin`` is one minus the gap
    between the two largest probabilities.

    Raises:
        ValueError: for an unknown method or fewer than two classes.
    """
    if method not in UNCERTAINTY_METHODS:
        raise ValueError(f"uncertainty method {method!r} is invalid; choose one of {', '.join(UNCERTAINTY_METHODS)}")
    if probabilities.ndim != 2 or probabilities.shape[1] < 2:
        raise ValueError(f"probabilities must be N×K with K >= 2 classes, got shape {probabilities.shape}")
    if method == "entropy":
        clipped = np.clip(probabilities, 1e-12, 1.0)
        return -(probabilities * np.log(clipped)).sum(axis=1)
    top_two = np.sort(probabilities, axis=1)[:, -2:]
    return 1.0 - (top_two[:, 1] - top_two[:, 0])


def _rows_of(sample_ids: Sequence[str], wanted: Collection[str]) -> list[int]:
    wanted = set(wanted)
    return [row for row, sample_id in enumerate(sample_ids) if sample_id in wanted]


def suggest_diverse(embeddings: np.ndarray, sample_ids: Sequence[str], labeled_ids: Collection[str], count: int,
                    exclude_ids: Collection[str] = (), space: str = "pretrained embeddings") -> list[Suggestion]:
    """Suggest ``count`` samples by k-center greedy on ``embeddings`` (one row per id in ``sample_ids``)."""
    labeled = _rows_of(sample_ids, labeled_ids)
    picks = k_center_greedy(embeddings, labeled, count, exclude=_rows_of(sample_ids, exclude_ids))
    suggestions = []
    for row, distance in picks:
        if math.isinf(distance):
            reason = f"diversity: nothing labeled yet, so the most typical sample (nearest the mean of the {space})"
        else:
            reason = (f"diversity: distance {distance:.3g} to the nearest labeled or suggested sample "
                      f"in the {space}")
        suggestions.append(Suggestion(row, sample_ids[row], distance, reason))
    return suggestions


def suggest_uncertain(probabilities: np.ndarray, sample_ids: Sequence[str], labeled_ids: Collection[str], count: int,
                      class_names: Sequence[str], method: str = "entropy",
                      exclude_ids: Collection[str] = ()) -> list[Suggestion]:
    """Suggest the ``count`` unlabeled samples the classifier is least sure of (rows of ``probabilities``: N×K)."""
    scores = uncertainty_scores(probabilities, method)
    blocked = set(_rows_of(sample_ids, labeled_ids)) | set(_rows_of(sample_ids, exclude_ids))
    order = [int(row) for row in np.argsort(-scores, kind="stable") if int(row) not in blocked][:count]
    suggestions = []
    for row in order:
        first, second = np.argsort(-probabilities[row], kind="stable")[:2]
        top = (f"{class_names[first]} {probabilities[row, first]:.0%}, "
               f"{class_names[second]} {probabilities[row, second]:.0%}")
        if method == "entropy":
            maximum = math.log(probabilities.shape[1])
            reason = f"uncertainty: prediction entropy {scores[row]:.2f} of at most {maximum:.2f} nats ({top})"
        else:
            margin = probabilities[row, first] - probabilities[row, second]
            reason = f"uncertainty: margin {margin:.2f} between the two most likely classes ({top})"
        suggestions.append(Suggestion(row, sample_ids[row], float(scores[row]), reason))
    return suggestions


def suggest_for_dataset(dataset: Dataset, labeled_ids: Collection[str], count: int,
                        encoder: nn.Module | None = None, classifier: nn.Module | None = None,
                        class_names: Sequence[str] = (), exclude_ids: Collection[str] = (),
                        method: str = "entropy", max_candidates: int = 20_000, seed: int = 0,
                        device: torch.device | str = "cpu", space: str = "pretrained embeddings") -> list[Suggestion]:
    """Suggest samples of ``dataset``: uncertainty with ``classifier``, else diversity with ``encoder``.

    To bound the time on large datasets, at most ``max_candidates`` unlabeled
    samples (a random subset fixed by ``seed``) are scored, and diversity also
    embeds every labeled sample. ``classifier`` maps a batch to logits over
    ``class_names``.

    Raises:
        ValueError: if neither model is given.
    """
    if classifier is None and encoder is None:
        raise ValueError("suggestions need an encoder (for diversity) or a fine-tuned classifier (for uncertainty)")
    blocked = set(labeled_ids) | set(exclude_ids)
    candidates = [row for row, sample_id in enumerate(dataset.ids) if sample_id not in blocked]
    if len(candidates) > max_candidates:
        rng = np.random.default_rng(seed)
        candidates = sorted(rng.choice(candidates, size=max_candidates, replace=False).tolist())
    device = torch.device(device)
    if classifier is not None:
        probabilities = predict_proba(classifier, dataset, candidates, device)
        found = suggest_uncertain(probabilities, [dataset.ids[row] for row in candidates], (), count, class_names,
                                  method)
        rows = candidates
    else:
        rows = _rows_of(dataset.ids, labeled_ids) + candidates
        embeddings = embed(encoder, dataset, rows, device)
        found = suggest_diverse(embeddings, [dataset.ids[row] for row in rows], labeled_ids, count, space=space)
    return [Suggestion(rows[item.index], item.sample_id, item.score, item.reason) for item in found]


def latest_pretrained_encoder(project_folder: str | Path, runs: Sequence[dict], spec: DatasetSpec) -> nn.Module | None:
    """Return the encoder of the newest run in ``runs`` with a ``pretrain.pt`` checkpoint that fits ``spec``.

    ``runs`` are rows of ``Project.runs()`` (oldest first). Returns None when no
    run has a usable checkpoint; unreadable or mismatching ones are logged and skipped.
    """
    from sslstudio.models.base import build_encoder
    from sslstudio.training.checkpoints import load_checkpoint

    for run in reversed(runs):
        run_dir = Path(project_folder) / "runs" / run["id"]
        checkpoint_path = run_dir / "checkpoints" / "pretrain.pt"
        if not checkpoint_path.is_file():
            continue
        try:
            size = json.loads((run_dir / "config.json").read_text(encoding="utf-8")).get("encoder_size", "small")
            state = load_checkpoint(checkpoint_path)["model"]
            encoder = build_encoder(spec, size)
            encoder.load_state_dict({key.removeprefix("encoder."): value for key, value in state.items()
                                     if key.startswith("encoder.")})
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            logger.warning("Skipping the pretrain checkpoint of run %s: %s", run["id"], error)
            continue
        return encoder
    return None
