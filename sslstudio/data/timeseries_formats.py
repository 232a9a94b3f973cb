"""Parsers for the time-series file formats: CSV/TSV (wide or long), UCR/UEA ``.ts``, ``.npy``, WAV/FLAC.

Each parser turns one file into a list of ``RawSeries`` (float64 arrays, C×T,
NaN where a value is missing) and sends every cell, line or file it cannot use
to the import report. Lengths, gaps and normalization are handled afterwards,
in ``sslstudio.data.timeseries``, the same way for every format.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sslstudio.data.report import ImportReport

logger = logging.getLogger(__name__)

TABLE_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
AUDIO_SUFFIXES = frozenset({".wav", ".flac"})
SERIES_SUFFIXES = TABLE_SUFFIXES | AUDIO_SUFFIXES | {".ts", ".npy"}

# Column names (compared in lower case) that mark metadata rather than time steps or values.
LABEL_NAMES = frozenset({"label", "labels", "class", "target", "category"})
ID_NAMES = frozenset({"id", "series", "series_id", "sample_id", "case", "case_id", "instance", "instance_id"})
TIME_NAMES = frozenset({"time", "timestamp", "t", "step", "time_step", "date", "datetime", "index"})
# Separators tried in this order; the first that splits every sampled line the same way wins.
SEPARATORS = ("\t", ";", "|", ",")
# A column whose non-empty cells are mostly numbers is a value column; its other cells are reported.
NUMERIC_COLUMN_SHARE = 0.5
# Bad cells reported one by one per file; the rest are counted in one summary entry.
MAX_CELL_ISSUES = 50

_COMMA_DECIMAL = re.compile(r"^[+-]?\d+,\d+([eE][+-]?\d+)?$")
_POINT_DECIMAL = re.compile(r"^[+-]?\d*\.\d+([eE][+-]?\d+)?$")
_MISSING_TOKENS = frozenset({"", "nan", "na", "n/a", "null", "none", "?", "-"})


@dataclass
class RawSeries:
    """One series as read from a file: ``values`` C×T float64 (NaN = missing), its file, id, place and metadata."""

    values: np.ndarray
    source: str
    sample_id: str
    location: str
    metadata: dict[str, Any] = field(default_factory=dict)
    channel_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableFormat:
    """The separator, decimal mark and header flag detected in a delimited text file."""

    separator: str
    decimal: str
    has_header: bool


def read_text(path: Path) -> str:
    """Return the file's text, decoded as UTF-8 (with or without BOM) or, failing that, Latin-1."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def detect_separator(lines: list[str], suffix: str) -> str:
    """Return the column separator of a delimited file from its first non-empty lines.

    ``.tsv`` files use tabs. Otherwise the first of tab, ``;``, ``|`` and ``,``
    that occurs the same, non-zero number of times on every sampled line wins,
    which keeps ``;`` ahead of the decimal commas in ``1;28,7;29,1``.
    """
    if suffix == ".tsv":
        return "\t"
    for candidate in SEPARATORS:
        counts = {line.count(candidate) for line in lines}
        if len(counts) == 1 and counts.pop() > 0:
            return candidate
    header_counts = {candidate: lines[0].count(candidate) for candidate in SEPARATORS}
    best = max(SEPARATORS, key=lambda candidate: header_counts[candidate])
    return best if header_counts[best] else ","


def detect_decimal(cells: list[str], separator: str) -> str:
    """Return ``","`` when the cells use decimal commas (``28,7``) and the separator is not a comma, else ``"."``."""
    if separator == ",":
        return "."
    commas = sum(1 for cell in cells if _COMMA_DECIMAL.match(cell.strip()))
    points = sum(1 for cell in cells if _POINT_DECIMAL.match(cell.strip()))
    return "," if commas > points else "."


def to_numbers(cells: pd.DataFrame, decimal: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse string cells as float64.

    Returns ``(values, bad)``: values with NaN for empty, missing-marker and
    non-numeric cells, and a boolean array that is True for the non-numeric ones.
    """
    text = cells.apply(lambda column: column.str.strip())
    if decimal == ",":
        text = text.apply(lambda column: column.str.replace(",", ".", regex=False))
    values = text.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    missing = text.apply(lambda column: column.str.lower().isin(_MISSING_TOKENS)).to_numpy()
    bad = np.isnan(values) & ~missing
    values[~np.isfinite(values)] = np.nan
    return values, bad


def sniff_table(text: str, suffix: str) -> TableFormat:
    """Detect separator, decimal mark and whether the first line is a header."""
    lines = [line for line in text.splitlines() if line.strip()][:20]
    separator = detect_separator(lines, suffix)
    cells = [cell for line in lines[1:] for cell in line.split(separator)]
    decimal = detect_decimal(cells, separator)
    first = pd.DataFrame([lines[0].split(separator)], dtype=str)
    _, bad = to_numbers(first, decimal)
    first_is_numbers = not bad.any() and bool(first.apply(lambda column: column.str.strip() != "").to_numpy().any())
    return TableFormat(separator, decimal, has_header=not first_is_numbers)


class CellIssues:
    """Report non-numeric cells with their line and column, up to ``MAX_CELL_ISSUES`` per file."""

    def __init__(self, report: ImportReport, source: str):
        self.report = report
        self.source = source
        self.count = 0

    def add(self, value: str, location: str) -> None:
        self.count += 1
        if self.count <= MAX_CELL_ISSUES:
            self.report.add(self.source, f"non-numeric value {value!r} treated as missing", "repaired", location)

    def close(self) -> None:
        if self.count > MAX_CELL_ISSUES:
            self.report.add(self.source, f"{self.count - MAX_CELL_ISSUES} more non-numeric values treated as missing",
                            "repaired")


def _read_table(text: str, table: TableFormat, source: str, report: ImportReport) -> pd.DataFrame:
    header = 0 if table.has_header else None
    options = dict(sep=table.separator, dtype=str, keep_default_na=False, header=header, skip_blank_lines=False)
    try:
        frame = pd.read_csv(io.StringIO(text), **options)
    except pd.errors.ParserError:
        # Rows with more fields than the first line: the Python engine keeps them, cut to that many fields,
        # so every row stays on its own line number.
        expected = len(text.lstrip().splitlines()[0].split(table.separator))
        cut: list[list[str]] = []

        def truncate(fields: list[str]) -> list[str]:
            cut.append(fields)
            return fields[:expected]

        frame = pd.read_csv(io.StringIO(text), engine="python", on_bad_lines=truncate, **options)
        examples = "; ".join(table.separator.join(fields)[:40] for fields in cut[:3])
        report.add(source, f"{len(cut)} rows had more than {expected} fields; the extra fields were dropped "
                   f"(first: {examples})", "repaired")
    if not table.has_header:
        frame.columns = [str(position + 1) for position in range(frame.shape[1])]
    frame.columns = [str(name).strip() for name in frame.columns]
    return frame.fillna("")


def _metadata_columns(frame: pd.DataFrame, numbers_bad: np.ndarray, forced: set[str], reserved: set[str]) -> list[str]:
    """Return the columns that hold metadata: by name, by request, or because most cells are not numbers."""
    chosen = []
    for position, name in enumerate(frame.columns):
        if name in reserved:
            continue
        filled = (frame[name].str.strip() != "").to_numpy()
        share_bad = numbers_bad[filled, position].mean() if filled.any() else 0.0
        if name.lower() in LABEL_NAMES | ID_NAMES or name in forced or share_bad > 1 - NUMERIC_COLUMN_SHARE:
            chosen.append(name)
    return chosen


def _report_bad_cells(issues: CellIssues, frame: pd.DataFrame, bad: np.ndarray, columns: list[str], first_line: int):
    rows, positions = np.nonzero(bad)
    for row, position in zip(rows.tolist(), positions.tolist()):
        name = columns[position]
        issues.add(frame[name].iat[row], f"line {row + first_line}, column {name!r}")


def parse_table(path: Path, source: str, report: ImportReport, form: str = "auto",
                metadata_columns: tuple[str, ...] = (), id_column: str | None = None,
                time_column: str | None = None) -> list[RawSeries]:
    """Parse a CSV/TSV file in wide form (one series per row) or long form (id, time, value columns).

    Wide form: every numeric column is a time step, read left to right; a row
    ends at its last filled cell, so rows may differ in length. Long form:
    rows with the same id form one series, ordered by the time column, and
    each numeric column other than id and time is a channel. Columns named
    like labels or ids, those in ``metadata_columns``, and mostly non-numeric
    ones go to the metadata table. Line numbers in the report count from 1 at
    the file's first line.
    """
    text = read_text(path)
    if not text.strip():
        report.add(source, "empty file", "skipped")
        return []
    table = sniff_table(text, path.suffix.lower())
    frame = _read_table(text, table, source, report)
    if frame.empty:
        report.add(source, "the file has a header but no data rows", "skipped")
        return []
    first_line = 2 if table.has_header else 1
    lower = {name.lower(): name for name in frame.columns}
    id_column = id_column or next((lower[name] for name in lower if name in ID_NAMES), None)
    time_column = time_column or next((lower[name] for name in lower if name in TIME_NAMES), None)
    if form == "auto":
        form = "long" if id_column is not None and time_column is not None else "wide"
    logger.debug("%s: separator %r, decimal %r, header %s, %s form", source, table.separator, table.decimal,
                 table.has_header, form)
    if form == "long":
        if id_column not in frame.columns or time_column not in frame.columns:
            report.add(source, f"long form needs an id and a time column; found columns {', '.join(frame.columns)}. "
                       "Name them with the id_column and time_column options", "skipped")
            return []
        return _parse_long(frame, table, source, report, set(metadata_columns), id_column, time_column, first_line)
    return _parse_wide(frame, table, source, report, set(metadata_columns), first_line)


def _parse_wide(frame: pd.DataFrame, table: TableFormat, source: str, report: ImportReport, forced: set[str],
                first_line: int) -> list[RawSeries]:
    _, bad_all = to_numbers(frame, table.decimal)
    meta_columns = _metadata_columns(frame, bad_all, forced, reserved=set())
    value_columns = [name for name in frame.columns if name not in meta_columns]
    if not value_columns:
        report.add(source, "no numeric column found; a wide file needs one column per time step", "skipped")
        return []
    values, bad = to_numbers(frame[value_columns], table.decimal)
    issues = CellIssues(report, source)
    _report_bad_cells(issues, frame, bad, value_columns, first_line)
    issues.close()
    series = []
    for row in range(len(frame)):
        line = row + first_line
        cells = frame.iloc[row]
        if not any(str(cell).strip() for cell in cells):
            continue  # a blank line
        if np.isnan(values[row]).all():
            report.add(source, "row has no numeric values", "skipped", f"line {line}")
            continue
        metadata = {name: cells[name].strip() for name in meta_columns}
        series.append(RawSeries(values[row][None, :].copy(), source, f"{source}:{line}", f"line {line}", metadata))
    return series


def _time_order(times: pd.Series) -> np.ndarray:
    """Return the order of a group's rows by time: numeric, else as dates, else as written."""
    numeric = pd.to_numeric(times.str.strip(), errors="coerce")
    if numeric.notna().all():
        return np.argsort(numeric.to_numpy(), kind="stable")
    dates = pd.to_datetime(times.str.strip(), errors="coerce", format="mixed")
    if dates.notna().all():
        return np.argsort(dates.to_numpy(), kind="stable")
    return np.arange(len(times))


def _parse_long(frame: pd.DataFrame, table: TableFormat, source: str, report: ImportReport, forced: set[str],
                id_column: str, time_column: str, first_line: int) -> list[RawSeries]:
    _, bad_all = to_numbers(frame, table.decimal)
    meta_columns = _metadata_columns(frame, bad_all, forced, reserved={id_column, time_column})
    value_columns = [name for name in frame.columns if name not in meta_columns and name not in {id_column, time_column}]
    if not value_columns:
        report.add(source, f"no numeric value column found besides {id_column!r} and {time_column!r}", "skipped")
        return []
    values, bad = to_numbers(frame[value_columns], table.decimal)
    issues = CellIssues(report, source)
    _report_bad_cells(issues, frame, bad, value_columns, first_line)
    issues.close()
    keys = frame[id_column].str.strip()
    series = []
    for key, rows in frame.groupby(keys, sort=False).indices.items():
        if key == "":
            report.add(source, f"{len(rows)} rows without an id skipped", "skipped", f"column {id_column!r}")
            continue
        rows = rows[_time_order(frame[time_column].iloc[rows])]
        metadata = {}
        for name in meta_columns:
            distinct = [value for value in dict.fromkeys(frame[name].iloc[rows].str.strip()) if value]
            metadata[name] = distinct[0] if distinct else ""
            if len(distinct) > 1:
                report.add(source, f"series {key!r} has {len(distinct)} different values in {name!r}; kept {distinct[0]!r}",
                           "warning", f"column {name!r}")
        location = f"id {key!r}, lines {rows.min() + first_line}-{rows.max() + first_line}"
        series.append(RawSeries(values[rows].T.copy(), source, f"{source}#{key}", location, metadata,
                                tuple(value_columns)))
    return series


_TS_PAIR = re.compile(r"\(([^,()]*),([^()]*)\)")


def _ts_dimension(text: str, timestamps: bool) -> list[str]:
    if timestamps:
        return [value for _, value in _TS_PAIR.findall(text)]
    return text.split(",") if text.strip() else []


def parse_ts(path: Path, source: str, report: ImportReport) -> list[RawSeries]:
    """Parse a UCR/UEA ``.ts`` file (the sktime format): ``@`` header tags, then one case per line.

    Dimensions are separated by ``:``, values by ``,``, ``?`` marks a missing
    value, and with ``@classLabel true`` the last field is the class label
    (stored in the ``label`` column). ``@timeStamps true`` cases keep the
    values of their ``(time,value)`` pairs in file order.
    """
    text = read_text(path)
    if not text.strip():
        report.add(source, "empty file", "skipped")
        return []
    tags: dict[str, str] = {}
    series: list[RawSeries] = []
    issues = CellIssues(report, source)
    in_data = False
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if line.startswith("@"):
                tag, _, value = line[1:].partition(" ")
                tags[tag.lower()] = value.strip().lower()
                in_data = tag.lower() == "data"
            continue
        labelled = tags.get("classlabel", "false").startswith("true") or tags.get("targetlabel", "false") == "true"
        fields = line.split(":")
        label = fields.pop().strip() if labelled and len(fields) > 1 else None
        dimensions = [_ts_dimension(field_text, tags.get("timestamps") == "true") for field_text in fields]
        length = max((len(dimension) for dimension in dimensions), default=0)
        values = np.full((len(dimensions), length), np.nan)
        for channel, dimension in enumerate(dimensions):
            for position, cell in enumerate(dimension):
                cell = cell.strip()
                if cell in {"?", "", "NaN", "nan"}:
                    continue
                try:
                    values[channel, position] = float(cell)
                except ValueError:
                    issues.add(cell, f"line {number}, dimension {channel + 1}, value {position + 1}")
        metadata = {"label": label} if label is not None else {}
        series.append(RawSeries(values, source, f"{source}:{number}", f"line {number}", metadata))
    issues.close()
    if not in_data:
        report.add(source, "no @data line found; this is not a .ts file in the UCR/UEA format", "skipped")
    return series


def parse_npy(path: Path, source: str, report: ImportReport) -> list[RawSeries]:
    """Parse a ``.npy`` array: (L,) is one series, (N, L) N univariate series, (N, C, L) N series of C channels.

    Object arrays are rejected: loading them would unpickle data from the file.
    """
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as error:
        report.add(source, f"cannot load the array without unpickling ({error}); save a numeric array", "skipped")
        return []
    except (OSError, EOFError) as error:
        report.add(source, f"unreadable .npy file: {error}", "skipped")
        return []
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        report.add(source, f"array of dtype {array.dtype} is not numeric", "skipped")
        return []
    if array.size == 0:
        report.add(source, f"empty array of shape {array.shape}", "skipped")
        return []
    shapes = {1: lambda a: a[None, None, :], 2: lambda a: a[:, None, :], 3: lambda a: a}
    if array.ndim not in shapes:
        report.add(source, f"array of shape {array.shape} has {array.ndim} axes; expected (L,), (N, L) or (N, C, L)",
                   "skipped")
        return []
    cases = shapes[array.ndim](np.asarray(array, dtype=np.float64))
    cases = np.where(np.isfinite(cases), cases, np.nan)
    return [RawSeries(cases[index].copy(), source, f"{source}:{index}", f"index {index}") for index in range(len(cases))]


def parse_audio(path: Path, source: str, report: ImportReport, sample_rate: int) -> list[RawSeries]:
    """Read a WAV or FLAC file with soundfile and resample it to ``sample_rate`` Hz (polyphase filter).

    Each audio channel becomes a channel of one series.
    """
    import soundfile
    from scipy.signal import resample_poly

    try:
        samples, native_rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
        report.add(source, f"unreadable audio file: {error}", "skipped")
        return []
    if samples.shape[0] == 0:
        report.add(source, "audio file has no samples", "skipped")
        return []
    if native_rate != sample_rate:
        divisor = gcd(int(native_rate), int(sample_rate))
        samples = resample_poly(samples, sample_rate // divisor, native_rate // divisor, axis=0)
    metadata = {"native_sample_rate": int(native_rate), "duration_s": round(samples.shape[0] / sample_rate, 3)}
    return [RawSeries(samples.T.copy(), source, source, "whole file", metadata)]
