"""Time series: CSV/TSV (wide or long), UCR/UEA ``.ts``, ``.npy`` and WAV/FLAC files, or a folder of them.

Every series is brought to one length L, either by padding with a mask or by
resampling, and kept in memory as float32 values N×C×L with a boolean mask
N×C×L that is True where a value was observed. ``batch`` returns the pair
``(values, mask)`` as float32 tensors; values are 0 wherever the mask is 0
(padding after the end of a series, and masked gaps).
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from sslstudio.data.base import DataError, Dataset, DatasetSpec, register_reader
from sslstudio.data.report import ImportReport
from sslstudio.data.timeseries_formats import (AUDIO_SUFFIXES, SERIES_SUFFIXES, TABLE_SUFFIXES, RawSeries,
                                               parse_audio, parse_npy, parse_table, parse_ts)

logger = logging.getLogger(__name__)

LENGTH_MODES = ("pad", "resample")
MISSING_MODES = ("mask", "interpolate")
NORMALIZE_MODES = ("series", "global", "none")
FORMS = ("auto", "wide", "long")
DEFAULT_SAMPLE_RATE = 8000
# Longer series are cut to this many steps (pad mode) unless the ``length`` option says otherwise.
DEFAULT_MAX_LENGTH = 16_384


def find_series_files(root: Path) -> list[Path]:
    """Return the supported files below ``root``, recursively and sorted, skipping hidden files and folders."""
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in SERIES_SUFFIXES:
            found.append(path)
    return found


def _accepts(path: Path) -> bool:
    """Accept ``.ts``, ``.npy`` and audio files, and folders of them; CSV/TSV only when the modality is chosen."""
    strong = SERIES_SUFFIXES - TABLE_SUFFIXES
    if path.is_file():
        return path.suffix.lower() in strong
    return path.is_dir() and any(file.suffix.lower() in strong for file in find_series_files(path))


class TimeSeriesDataset(Dataset):
    """Series in memory: ``values`` N×C×L float32, ``mask`` N×C×L bool (True = observed), ``lengths`` N.

    Metadata columns: ``sample_id``, ``path``, ``file_name``, ``folder`` (the
    first sub-folder level, for labels by folder), ``length`` (steps before
    padding or resampling) and every metadata column of the source files.
    """

    modality = "timeseries"

    def __init__(self, values: np.ndarray, mask: np.ndarray, lengths: np.ndarray, ids: list[str],
                 metadata: pd.DataFrame, report: ImportReport, source: str, settings: dict[str, Any]):
        channels, length = values.shape[1], values.shape[2]
        extra = {"channels": channels, "length": length, "min_length": int(lengths.min()),
                 "max_length": int(lengths.max()), "channel_names": list(settings["channel_names"])}
        super().__init__(ids, metadata, DatasetSpec("timeseries", shape=(channels, length), extra=extra), report,
                         source)
        self.values = torch.from_numpy(values.astype(np.float32))
        self.mask = torch.from_numpy(mask)
        self.lengths = torch.from_numpy(lengths.astype(np.int64))
        self.settings = settings

    def batch(self, indices: Sequence[int], device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(values, mask)``, both N×C×L float32 on ``device``; mask is 1.0 where observed, else 0.0."""
        index = torch.as_tensor(list(indices), dtype=torch.long)
        values = self.values[index].to(device, non_blocking=True)
        mask = self.mask[index].to(device, non_blocking=True).float()
        return values, mask

    def preprocessing(self) -> dict[str, Any]:
        settings = self.settings
        steps = {
            "series": "each channel of each series is shifted and scaled to mean 0 and standard deviation 1 "
                      "over its observed values",
            "global": "each channel is shifted and scaled by the dataset's per-channel mean and std",
            "none": "values are used as read",
        }
        return {
            "input": "two float32 arrays N×C×L: values, and a mask that is 1 where a value was observed and 0 for "
                     "padding or missing values (values are 0 there)",
            "length": int(self.values.shape[2]),
            "channels": int(self.values.shape[1]),
            "length_mode": settings["length_mode"],
            "missing": settings["missing"],
            "normalize": settings["normalize"],
            "normalization": steps[settings["normalize"]],
            "mean": settings.get("mean"),
            "std": settings.get("std"),
            "sample_rate": settings.get("sample_rate"),
            "layout": "(values NCL float32, mask NCL float32)",
        }


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is invalid; choose from {', '.join(choices)}")


def _as_names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(name.strip() for name in value.split(",") if name.strip())
    return tuple(str(name) for name in value)


def _read_file(path: Path, source: str, report: ImportReport, options: dict[str, Any]) -> list[RawSeries]:
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return parse_table(path, source, report, form=options["form"], metadata_columns=options["metadata_columns"],
                           id_column=options["id_column"], time_column=options["time_column"])
    if suffix == ".ts":
        return parse_ts(path, source, report)
    if suffix == ".npy":
        return parse_npy(path, source, report)
    if suffix in AUDIO_SUFFIXES:
        return parse_audio(path, source, report, options["sample_rate"])
    report.add(source, f"unsupported file type {suffix!r}", "skipped")
    return []


def _observed_length(values: np.ndarray) -> int:
    """Return the number of steps up to and including the last observed value in any channel."""
    observed = np.flatnonzero(~np.isnan(values).all(axis=0))
    return int(observed[-1]) + 1 if observed.size else 0


def _fill_gaps(values: np.ndarray) -> np.ndarray:
    """Linearly interpolate NaN gaps per channel; leading and trailing gaps take the nearest observed value."""
    filled = values.copy()
    steps = np.arange(values.shape[1])
    for channel in range(values.shape[0]):
        observed = ~np.isnan(values[channel])
        if observed.any():
            filled[channel] = np.interp(steps, steps[observed], values[channel, observed])
    return filled


def _validate(series: list[RawSeries], report: ImportReport, missing: str) -> list[RawSeries]:
    """Drop unusable series, trim trailing gaps and handle inner gaps; every decision goes to the report."""
    if not series:
        return []
    channels = Counter(item.values.shape[0] for item in series).most_common(1)[0][0]
    kept = []
    for item in series:
        source = item.source
        if item.values.shape[0] != channels:
            report.add(source, f"series has {item.values.shape[0]} channels, the others have {channels}",
                       "skipped", item.location)
            continue
        length = _observed_length(item.values)
        values = item.values[:, :length]
        observed = int((~np.isnan(values)).any(axis=0).sum())
        if observed == 0:
            report.add(source, "series has no numeric values", "skipped", item.location)
            continue
        if observed == 1:
            report.add(source, "single-sample series: at least two time steps are needed", "skipped", item.location)
            continue
        if all(np.nanmax(row) == np.nanmin(row) for row in values if not np.isnan(row).all()):
            report.add(source, "constant series: every value is the same, so it carries no shape", "warning",
                       item.location)
        gaps = int(np.isnan(values).sum())
        if gaps:
            if missing == "interpolate":
                empty = np.isnan(values).all(axis=1)
                values = _fill_gaps(values)
                action = "interpolated" if not empty.any() else "interpolated (channels with no value stay masked)"
            else:
                action = "masked"
            report.add(source, f"{gaps} missing values {action}", "repaired", item.location)
        kept.append(RawSeries(values, item.source, item.sample_id, item.location, item.metadata, item.channel_names))
    return kept


def _resample(values: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Resample C×T values to C×length by linear interpolation; the mask follows the nearest source step."""
    source_steps = values.shape[1]
    positions = np.linspace(0, source_steps - 1, length)
    observed = ~np.isnan(values)
    nearest = np.rint(positions).astype(int)
    mask = observed[:, nearest]
    resampled = np.stack([np.interp(positions, np.arange(source_steps), row) for row in _fill_gaps(values)])
    return np.where(mask, resampled, np.nan), mask


def _to_common_length(series: list[RawSeries], report: ImportReport, mode: str,
                      length: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Stack the series into values N×C×L (NaN where not observed) and a mask, padding or resampling each."""
    lengths = np.array([item.values.shape[1] for item in series])
    if length is None:
        length = int(min(lengths.max(), DEFAULT_MAX_LENGTH)) if mode == "pad" else int(np.median(lengths))
    channels = series[0].values.shape[0]
    values = np.full((len(series), channels, length), np.nan, dtype=np.float64)
    for index, item in enumerate(series):
        if mode == "resample":
            values[index] = _resample(item.values, length)[0]
            continue
        steps = item.values.shape[1]
        if steps > length:
            report.add(item.source, f"series of {steps} steps cut to the first {length}",
                       "warning", item.location)
        values[index, :, :min(steps, length)] = item.values[:, :length]
    return values, ~np.isnan(values)


def _normalize(values: np.ndarray, mode: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Scale values (NaN where not observed) per series or per channel; return them and the statistics used."""
    if mode == "none":
        return values, {}
    axes = 2 if mode == "series" else (0, 2)
    with warnings.catch_warnings():
        # A channel with no observed value has no statistics; it stays NaN and is masked.
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=axes, keepdims=True)
        std = np.nanstd(values, axis=axes, keepdims=True)
    std = np.where(std > 0, std, 1.0)
    normalized = (values - np.nan_to_num(mean)) / std
    if mode == "series":
        return normalized, {}
    return normalized, {"mean": np.nan_to_num(mean).ravel().tolist(), "std": std.ravel().tolist()}


def _metadata_frame(series: list[RawSeries], files: dict[str, Path], lengths: np.ndarray) -> pd.DataFrame:
    rows = []
    for item, length in zip(series, lengths):
        parts = Path(item.source).parts
        file = files[item.source]
        rows.append({"sample_id": item.sample_id, "path": str(file), "file_name": file.name,
                     "folder": parts[0] if len(parts) > 1 else "", "length": int(length), **item.metadata})
    return pd.DataFrame(rows)


@register_reader("timeseries", _accepts)
def open_timeseries(path: str | Path, length_mode: str = "pad", length: int | None = None, missing: str = "mask",
                    normalize: str = "series", sample_rate: int | None = DEFAULT_SAMPLE_RATE, form: str = "auto",
                    metadata_columns: Any = None, id_column: str | None = None, time_column: str | None = None,
                    **_: object) -> TimeSeriesDataset:
    """Open a series file or a folder of them (recursively).

    Args:
        path: a CSV/TSV/TXT, ``.ts``, ``.npy``, WAV or FLAC file, or a folder.
        length_mode: ``pad`` (pad shorter series and mask the padding) or
            ``resample`` (stretch every series to ``length`` steps).
        length: the common length L in steps; by default the longest series
            (pad, at most 16,384) or the median length (resample).
        missing: ``mask`` or ``interpolate`` (linear) for NaN gaps inside a series.
        normalize: ``series`` (z-score per series and channel), ``global``
            (z-score per channel with dataset statistics) or ``none``.
        sample_rate: rate in Hz that audio files are resampled to.
        form: ``auto``, ``wide`` or ``long`` for CSV/TSV files; auto picks long
            when the header has an id column and a time column.
        metadata_columns: CSV columns (a list or a comma-separated string) to
            keep as metadata even when they hold numbers.
        id_column, time_column: the long-form columns, when their names are not
            the usual ``id``/``time``.

    Raises:
        ValueError: for an invalid option value.
        DataError: if the path is missing, holds no supported file, or no
            series can be used; the message points to the import report.
    """
    _check_choice("length_mode", length_mode, LENGTH_MODES)
    _check_choice("missing", missing, MISSING_MODES)
    _check_choice("normalize", normalize, NORMALIZE_MODES)
    _check_choice("form", form, FORMS)
    if length is not None and not 2 <= int(length) <= 1_000_000:
        raise ValueError(f"length={length} is out of range; valid range is 2 to 1000000 steps")
    if sample_rate is None:
        sample_rate = DEFAULT_SAMPLE_RATE
    if not 1 <= int(sample_rate) <= 384_000:
        raise ValueError(f"sample_rate={sample_rate} is out of range; valid range is 1 to 384000 Hz")
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"{root}: not found. Check the path and try again.")
    files = [root] if root.is_file() else find_series_files(root)
    if not files:
        raise DataError(f"{root}: no series files found (looked for {', '.join(sorted(SERIES_SUFFIXES))}, "
                        "recursively). Choose a file or a folder that contains series.")
    base = root.parent if root.is_file() else root
    options = {"form": form, "metadata_columns": _as_names(metadata_columns), "id_column": id_column,
               "time_column": time_column, "sample_rate": int(sample_rate)}
    report = ImportReport()
    raw: list[RawSeries] = []
    by_source: dict[str, Path] = {}
    for file in files:
        source = file.relative_to(base).as_posix()
        by_source[source] = file
        raw.extend(_read_file(file, source, report, options))
    series = _validate(raw, report, missing)
    if not series:
        raise DataError(f"{root}: no usable series in {len(files)} file(s); see the import report "
                        f"({len(report)} issues). Check the file format and separator.")
    lengths = np.array([item.values.shape[1] for item in series])
    values, mask = _to_common_length(series, report, length_mode, None if length is None else int(length))
    values, stats = _normalize(values, normalize)
    values = np.where(mask, values, 0.0)
    named = {item.channel_names for item in series}
    channel_names = list(named.pop()) if len(named) == 1 and () not in named else [
        f"channel {index + 1}" for index in range(values.shape[1])]
    settings = {"length_mode": length_mode, "missing": missing, "normalize": normalize, "channel_names": channel_names,
                "sample_rate": int(sample_rate) if any(file.suffix.lower() in AUDIO_SUFFIXES for file in files) else None,
                **stats}
    metadata = _metadata_frame(series, by_source, lengths)
    ids = list(metadata["sample_id"])
    logger.info("Loaded %d series (%d channels, length %d) from %s (%s)", len(series), values.shape[1],
                values.shape[2], root, report.summary(len(series)))
    return TimeSeriesDataset(values, mask, lengths, ids, metadata, report, str(root), settings)
