"""Embeddings for plots and for use outside SSL Studio: 2-D coordinates and CSV or Parquet export."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

EXPORT_SUFFIXES = (".csv", ".parquet")
PROJECTIONS = ("pca", "tsne")


def embeddings_frame(sample_ids: Sequence[str], embeddings: np.ndarray,
                     labels: Sequence[str | None] | None = None) -> pd.DataFrame:
    """Return a table with ``sample_id``, ``label`` (when given) and one column ``e0 … e{D-1}`` per feature.

    Raises:
        ValueError: if ``embeddings`` is not N×D with N equal to the number of ids (or labels).
    """
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or len(embeddings) != len(sample_ids):
        raise ValueError(f"embeddings of shape {embeddings.shape} do not match {len(sample_ids)} sample ids; "
                         "expected N×D with one row per id")
    columns = {"sample_id": list(sample_ids)}
    if labels is not None:
        if len(labels) != len(sample_ids):
            raise ValueError(f"{len(labels)} labels for {len(sample_ids)} sample ids; give one label (or None) per id")
        columns["label"] = [None if label is None else str(label) for label in labels]
    features = pd.DataFrame(embeddings.astype(np.float32), columns=[f"e{index}" for index in range(embeddings.shape[1])])
    return pd.concat([pd.DataFrame(columns), features], axis=1)


def export_embeddings(path: str | Path, sample_ids: Sequence[str], embeddings: np.ndarray,
                      labels: Sequence[str | None] | None = None) -> Path:
    """Write embeddings with their sample ids to ``path``; the suffix picks CSV (``.csv``) or Parquet (``.parquet``).

    The file is written to a temporary name in the same folder and renamed, so
    a reader never sees half a file.

    Raises:
        ValueError: for another suffix, or embeddings that do not match the ids.
    """
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise ValueError(f"{path}: unsupported embedding file type {suffix or '(none)'!r}; "
                         f"use a name ending in {' or '.join(EXPORT_SUFFIXES)}")
    frame = embeddings_frame(sample_ids, embeddings, labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    try:
        if suffix == ".csv":
            frame.to_csv(temporary, index=False)
        else:
            frame.to_parquet(temporary, index=False)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    logger.info("Wrote %d embeddings of dimension %d to %s", len(frame), np.asarray(embeddings).shape[1], path)
    return path


def project_2d(embeddings: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Return N×2 coordinates of N×D ``embeddings`` for a scatter plot.

    ``pca`` is fast and deterministic. ``tsne`` (van der Maaten and Hinton,
    JMLR 2008) shows local clusters better but costs seconds for thousands of
    points. Its perplexity is 30, or (N - 1) / 3 when N is small.

    Raises:
        ValueError: for an unknown method or fewer than two samples.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if method not in PROJECTIONS:
        raise ValueError(f"method={method!r} is invalid; choose from {', '.join(PROJECTIONS)}")
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or len(embeddings) < 2:
        raise ValueError(f"need N×D embeddings with at least 2 samples for a 2-D projection, got shape {embeddings.shape}")
    if method == "pca":
        components = min(2, embeddings.shape[1], len(embeddings))
        coordinates = PCA(n_components=components, random_state=seed).fit_transform(embeddings)
        if components < 2:
            coordinates = np.pad(coordinates, ((0, 0), (0, 2 - components)))
        return coordinates.astype(np.float32)
    perplexity = float(min(30.0, max(1.0, (len(embeddings) - 1) / 3)))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return tsne.fit_transform(embeddings).astype(np.float32)
