"""Tables: CSV/TSV, Parquet and Excel ``.xlsx``; one sample is one row of numeric and categorical cells.

A batch is a ``TableBatch``, a tuple of three tensors with the batch axis first:

- ``numeric`` N×F float32: numeric and date columns, standardized with the
  mean and standard deviation of the training split, 0 where missing;
- ``missing`` N×F float32: 1 where the numeric cell is missing, else 0;
- ``categorical`` N×G int64: categorical and boolean columns as indices,
  ``MISSING_INDEX`` (0) for a missing cell, ``UNKNOWN_INDEX`` (1) for a
  category not seen in the training split, 2 and up for the training
  categories in order of frequency.

The training split is every row outside ``holdout_mask`` over the sample
ids, the split that strategies evaluate on, so held-out rows never feed the
statistics or the category lists. The label column, identifier, free-text,
ignored and order columns are never inputs: they go to the metadata table.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from sslstudio.data.base import DataError, Dataset, DatasetSpec, register_reader
from sslstudio.data.report import ImportReport
from sslstudio.data.table_columns import COLUMN_TYPES, infer_column_type, parse_column
from sslstudio.data.table_files import MISSING_TOKENS, TABLE_SUFFIXES, RawTable, read_table_file
from sslstudio.evaluation.splits import holdout_mask

logger = logging.getLogger(__name__)

MISSING_INDEX = 0
UNKNOWN_INDEX = 1
RESERVED_INDICES = 2
# Per column, at most this many training categories get their own index; rarer ones map to UNKNOWN_INDEX.
MAX_VOCABULARY = 1000
# Invalid cells reported one by one per column; the rest are counted in one more entry.
MAX_REPORTED_CELLS = 20
NUMERIC_KINDS = ("numeric", "date")
CATEGORICAL_KINDS = ("categorical", "boolean")
SECONDS_PER_DAY = 86_400.0


class TableBatch(tuple):
    """The tuple ``(numeric, missing, categorical)`` of one batch (see the module docstring).

    For tables with an order column, ``following`` is the batch of the next
    row of each sample and ``has_following`` (N bool) is False for the last
    row. Encoders and the ONNX exporter see a plain tuple of three tensors.
    """

    following: "TableBatch | None"
    has_following: torch.Tensor | None

    def __new__(cls, numeric: torch.Tensor, missing: torch.Tensor, categorical: torch.Tensor,
                following: "TableBatch | None" = None, has_following: torch.Tensor | None = None):
        batch = super().__new__(cls, (numeric, missing, categorical))
        batch.following = following
        batch.has_following = has_following
        return batch

    @property
    def numeric(self) -> torch.Tensor:
        return self[0]

    @property
    def missing(self) -> torch.Tensor:
        return self[1]

    @property
    def categorical(self) -> torch.Tensor:
        return self[2]

    def __reduce__(self):
        # The tuple default calls ``__new__`` with one argument and drops ``following``. Loader workers
        # pickle each batch to send it to the training process.
        return TableBatch, (*self, self.following, self.has_following)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "TableBatch":
        """Return a copy of the batch, ``following`` included, with every tensor on ``device``."""
        following = self.following.to(device, non_blocking) if self.following is not None else None
        has_following = (self.has_following.to(device, non_blocking=non_blocking)
                         if self.has_following is not None else None)
        return TableBatch(*(tensor.to(device, non_blocking=non_blocking) for tensor in self), following=following,
                          has_following=has_following)

    def pin_memory(self) -> "TableBatch":
        """Return a copy in page-locked memory (called by ``DataLoader(pin_memory=True)``)."""
        following = self.following.pin_memory() if self.following is not None else None
        has_following = self.has_following.pin_memory() if self.has_following is not None else None
        return TableBatch(*(tensor.pin_memory() for tensor in self), following=following, has_following=has_following)


def _names(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    return [str(name) for name in value]


def _type_overrides(value: str | Mapping[str, str] | None) -> dict[str, str]:
    """Parse ``{"col": "type"}`` or the command-line form ``"col=type,col2=type"`` into a dict."""
    if value is None:
        return {}
    if isinstance(value, str):
        pairs = [item.partition("=") for item in value.split(",") if item.strip()]
        bad = [left for left, separator, _ in pairs if not separator]
        if bad:
            raise ValueError(f"column_types expects COLUMN=TYPE pairs separated by commas, got {value!r}")
        value = {left.strip(): right.strip() for left, _, right in pairs}
    for name, column_type in value.items():
        if column_type not in COLUMN_TYPES:
            raise ValueError(f"column_types[{name!r}]={column_type!r} is invalid; choose from {', '.join(COLUMN_TYPES)}")
    return dict(value)


def _check_columns(frame: pd.DataFrame, source: Path, **named: Iterable[str]) -> None:
    available = list(frame.columns)
    for option, names in named.items():
        for name in names:
            if name not in available:
                raise DataError(f"{source}: {option} names column {name!r}, which is not in the table; "
                                f"available columns: {', '.join(available)}")


def _report_invalid(report: ImportReport, source: str, name: str, column_type: str, raw: pd.Series,
                    invalid: np.ndarray) -> None:
    rows = np.flatnonzero(invalid)
    for row in rows[:MAX_REPORTED_CELLS]:
        report.add(source, f"{raw.iloc[row]!r} is not a valid {column_type} value, so the cell is treated as missing",
                   "repaired", f"row {row + 1}, column {name!r}")
    if len(rows) > MAX_REPORTED_CELLS:
        report.add(source, f"{len(rows) - MAX_REPORTED_CELLS} more cells are not valid {column_type} values and are "
                   "treated as missing", "repaired", f"column {name!r}")


def _sample_ids(frame: pd.DataFrame, id_columns: list[str], report: ImportReport, source: str) -> list[str]:
    """Return the first identifier column's values when they are unique and present, else ``row-<n>``."""
    if id_columns:
        values = frame[id_columns[0]]
        text = values.astype("str")
        if values.notna().all() and text.is_unique:
            return text.tolist()
        report.add(source, f"identifier column {id_columns[0]!r} has missing or repeated values, so rows are "
                   "identified by their position instead", "warning", f"column {id_columns[0]!r}")
    return [f"row-{position + 1}" for position in range(len(frame))]


def _order_rows(frame: pd.DataFrame, order_column: str, column_type: str, decimal: str, report: ImportReport,
                source: str) -> pd.DataFrame:
    parsed = parse_column(frame[order_column], column_type if column_type in NUMERIC_KINDS else "text", decimal)
    missing = int(parsed.values.isna().sum())
    if missing:
        report.add(source, f"{missing} rows have no value in the order column, so they are placed last", "warning",
                   f"column {order_column!r}")
    order = np.argsort(parsed.values.to_numpy(), kind="stable") if missing == 0 else \
        parsed.values.reset_index(drop=True).sort_values(kind="stable", na_position="last").index.to_numpy()
    return frame.iloc[order].reset_index(drop=True)


def _numeric_matrix(table: pd.DataFrame, columns: list[str], kinds: Mapping[str, str]) -> np.ndarray:
    """Return N×F float64 values (dates as days since 1970-01-01), NaN where missing."""
    matrix = np.full((len(table), len(columns)), np.nan, dtype=np.float64)
    for position, name in enumerate(columns):
        values = table[name]
        if kinds[name] == "date":
            if getattr(values.dt, "tz", None) is not None:
                values = values.dt.tz_localize(None)
            days = (values - pd.Timestamp("1970-01-01")).dt.total_seconds() / SECONDS_PER_DAY
            matrix[:, position] = days.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            matrix[:, position] = values.to_numpy(dtype=np.float64, na_value=np.nan)
    return matrix


def _vocabulary(values: pd.Series) -> list[str]:
    counts = values.value_counts(dropna=True)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    return [str(value) for value, _ in ranked[:MAX_VOCABULARY]]


def _category_indices(values: pd.Series, vocabulary: list[str]) -> np.ndarray:
    codes = pd.Index(vocabulary, dtype="str").get_indexer(values).astype(np.int64)
    indices = np.where(codes >= 0, codes + RESERVED_INDICES, UNKNOWN_INDEX)
    return np.where(values.isna().to_numpy(), MISSING_INDEX, indices)


class TabularDataset(Dataset):
    """Rows of a table encoded as standardized numeric cells and category indices.

    ``table`` keeps every parsed column (numbers, dates, text with missing
    cells missing) for display; ``column_types`` has the type of every column.
    """

    modality = "tabular"

    def __init__(self, table: pd.DataFrame, column_types: dict[str, str], ids: list[str], metadata: pd.DataFrame,
                 report: ImportReport, source: str, *, label_column: str | None, order_column: str | None,
                 training: np.ndarray):
        self.table = table
        self.column_types = column_types
        self.label_column_name = label_column
        self.order_column = order_column
        self.numeric_columns = [name for name, kind in column_types.items()
                                if kind in NUMERIC_KINDS and name not in {label_column, order_column}]
        self.categorical_columns = [name for name, kind in column_types.items()
                                    if kind in CATEGORICAL_KINDS and name not in {label_column, order_column}]
        if not self.numeric_columns and not self.categorical_columns:
            raise DataError(f"{source}: no numeric, categorical, boolean or date column is left as input. "
                            "Change the column types or the ignored columns.")
        raw_numbers = _numeric_matrix(table, self.numeric_columns, column_types)
        self.mean, self.std = self._training_statistics(raw_numbers[training], report, source)
        missing = np.isnan(raw_numbers)
        standardized = np.where(missing, 0.0, (raw_numbers - self.mean) / self.std)
        self.vocabularies = [_vocabulary(table[name][training]) for name in self.categorical_columns]
        categorical = np.zeros((len(table), len(self.categorical_columns)), dtype=np.int64)
        for position, (name, vocabulary) in enumerate(zip(self.categorical_columns, self.vocabularies)):
            categorical[:, position] = _category_indices(table[name], vocabulary)
        self.numeric = torch.from_numpy(standardized.astype(np.float32))
        self.missing = torch.from_numpy(missing.astype(np.float32))
        self.categorical = torch.from_numpy(categorical)
        spec = DatasetSpec("tabular", shape=(len(self.numeric_columns) + len(self.categorical_columns),), extra={
            "numeric_columns": list(self.numeric_columns),
            "categorical_columns": list(self.categorical_columns),
            "category_counts": [len(vocabulary) + RESERVED_INDICES for vocabulary in self.vocabularies],
            "vocabularies": [list(vocabulary) for vocabulary in self.vocabularies],
            "numeric_mean": self.mean.tolist(),
            "numeric_std": self.std.tolist(),
            "column_types": dict(column_types),
            "label_column": label_column or "",
            "order_column": order_column or "",
        })
        super().__init__(ids, metadata, spec, report, source)

    def _training_statistics(self, training_numbers: np.ndarray, report: ImportReport,
                             source: str) -> tuple[np.ndarray, np.ndarray]:
        counts = np.sum(~np.isnan(training_numbers), axis=0)
        safe = np.where(np.isnan(training_numbers), 0.0, training_numbers)
        mean = np.divide(safe.sum(axis=0), counts, out=np.zeros(len(counts)), where=counts > 0)
        squares = np.where(np.isnan(training_numbers), 0.0, (training_numbers - mean) ** 2).sum(axis=0)
        std = np.sqrt(np.divide(squares, counts, out=np.zeros(len(counts)), where=counts > 0))
        for position in np.flatnonzero(counts == 0):
            report.add(source, "the column has no value in the training split, so it is not standardized", "warning",
                       f"column {self.numeric_columns[position]!r}")
        std = np.where(std > 0, std, 1.0)
        return mean, std

    def _rows(self, index: torch.Tensor, device: torch.device | str) -> tuple[torch.Tensor, ...]:
        return tuple(tensor[index].to(device, non_blocking=True)
                     for tensor in (self.numeric, self.missing, self.categorical))

    def batch(self, indices: Sequence[int], device: torch.device | str = "cpu") -> TableBatch:
        """Return the rows at ``indices`` as a ``TableBatch`` on ``device`` (see the module docstring)."""
        index = torch.as_tensor(list(indices), dtype=torch.long)
        if not self.order_column:
            return TableBatch(*self._rows(index, device))
        following_index = torch.clamp(index + 1, max=len(self) - 1)
        has_following = (index + 1 < len(self)).to(device)
        return TableBatch(*self._rows(index, device), following=TableBatch(*self._rows(following_index, device)),
                          has_following=has_following)

    def label_column(self, column: str) -> list[str | None]:
        """Return the values of a metadata column as labels.

        Raises:
            ValueError: if ``column`` is an input feature, because a model
                would then see its own target. The message names both
                ways out: ``label_column`` or ``ignore_columns``.
            KeyError: if the column does not exist.
        """
        if column in self.numeric_columns or column in self.categorical_columns:
            raise ValueError(f"column {column!r} is an input feature of {self.source}, so it cannot be a target: "
                             f"the model would see the answer. To use it as the label, open the table with the "
                             f"reader option label_column={column}. To use it as a proxy or as metadata, keep it "
                             f"out of the inputs with the reader option ignore_columns={column} "
                             f"(command line: --data-option ignore_columns={column})")
        return super().label_column(column)

    def preprocessing(self) -> dict[str, Any]:
        return {
            "input": "a tuple (numeric N×F float32, missing N×F float32, categorical N×G int64)",
            "numeric_columns": list(self.numeric_columns),
            "numeric": "(value - mean) / std with training-split statistics, 0 where missing; "
                       "date columns as days since 1970-01-01 before standardizing",
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "missing": "1 where the numeric cell is missing, else 0",
            "categorical_columns": list(self.categorical_columns),
            "vocabularies": [list(vocabulary) for vocabulary in self.vocabularies],
            "categorical": f"{MISSING_INDEX} for a missing cell, {UNKNOWN_INDEX} for an unknown category, "
                           f"{RESERVED_INDICES} + position in the column's vocabulary otherwise",
            "missing_tokens": list(MISSING_TOKENS),
        }

    def display_frame(self, start: int, stop: int) -> pd.DataFrame:
        """Return rows ``start:stop`` of the parsed table for display (missing cells as NaN/NA)."""
        return self.table.iloc[start:stop]


def _accepts(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in TABLE_SUFFIXES


def infer_column_types(raw: RawTable) -> dict[str, str]:
    """Return the inferred type of every column of ``raw`` (see ``table_columns.infer_column_type``)."""
    return {name: infer_column_type(name, raw.frame[name], raw.decimal) for name in raw.frame.columns}


def _assign_types(raw: RawTable, overrides: dict[str, str], label_column: str | None, id_columns: list[str],
                  ignore_columns: list[str]) -> dict[str, str]:
    kinds = infer_column_types(raw)
    kinds.update(overrides)
    for name in id_columns:
        kinds[name] = "identifier"
    for name in ignore_columns:
        kinds[name] = "ignore"
    if label_column is not None:
        # Labels are class names, so they are parsed as text whatever they look like.
        kinds[label_column] = "categorical"
    return kinds


@register_reader("tabular", _accepts)
def open_table(path: str | Path, label_column: str | None = None, id_columns: str | Sequence[str] | None = None,
               ignore_columns: str | Sequence[str] | None = None, column_types: str | Mapping[str, str] | None = None,
               order_column: str | None = None, separator: str | None = None, decimal: str | None = None,
               encoding: str | None = None, sheet: str | int = 0, holdout_fraction: float = 0.2,
               label_optional: bool = False, **_: object) -> TabularDataset:
    """Open a CSV/TSV, Parquet or ``.xlsx`` table; one sample per row.

    ``label_column`` is kept out of the inputs; ``id_columns`` and
    ``ignore_columns`` (names, or one comma-separated string) are kept as
    metadata. ``column_types`` overrides inferred types, as a mapping or as
    ``"col=type,col2=type"``. ``order_column`` sorts the rows and enables the
    next-row task. ``separator``, ``decimal`` and ``encoding`` override
    detection for text files; ``sheet`` picks the Excel sheet.
    ``holdout_fraction`` must match the run's, so that held-out rows stay out
    of the statistics. With ``label_optional`` (new data to predict on), a
    table without ``label_column`` opens as if no label column were named.

    Raises:
        DataError: for a missing or unreadable file, a table without rows, an
            option naming an absent column, or no usable input column.
        ValueError: for an invalid ``column_types`` entry.
    """
    source = Path(path).expanduser()
    if not source.is_file():
        raise DataError(f"{source}: file not found. Choose a CSV, TSV, Parquet or .xlsx file.")
    report = ImportReport()
    raw = read_table_file(source, report, separator, decimal, encoding, sheet)
    frame = raw.frame
    overrides = _type_overrides(column_types)
    id_names, ignore_names = _names(id_columns), _names(ignore_columns)
    if label_optional and label_column and label_column not in frame.columns:
        label_column = None
    special = {"label_column": [label_column] if label_column else [], "id_columns": id_names,
               "ignore_columns": ignore_names, "order_column": [order_column] if order_column else [],
               "column_types": list(overrides)}
    _check_columns(frame, source, **special)
    kinds = _assign_types(raw, overrides, label_column, id_names, ignore_names)
    if order_column:
        frame = _order_rows(frame, order_column, kinds[order_column], raw.decimal, report, source.name)
    for name, kind in kinds.items():
        if kind != "ignore" and frame[name].isna().all():
            report.add(source.name, "the column has no values, so it is ignored", "warning", f"column {name!r}")
            kinds[name] = "ignore"

    parsed = {}
    for name, kind in kinds.items():
        result = parse_column(frame[name], kind, raw.decimal)
        _report_invalid(report, source.name, name, kind, frame[name], result.invalid)
        parsed[name] = result.values.reset_index(drop=True)
    table = pd.DataFrame(parsed)
    identifiers = [name for name, kind in kinds.items() if kind == "identifier"]
    ids = _sample_ids(table, identifiers, report, source.name)
    metadata_columns = [name for name, kind in kinds.items()
                        if (kind in {"identifier", "text", "ignore"} or name in {label_column, order_column})
                        and name != "sample_id"]
    metadata = table[metadata_columns].copy()
    metadata.insert(0, "sample_id", ids)
    training = ~holdout_mask(ids, holdout_fraction)
    dataset = TabularDataset(table, kinds, ids, metadata, report, str(source), label_column=label_column,
                             order_column=order_column, training=training)
    logger.info("Loaded %d rows from %s: %d numeric and %d categorical inputs (%s)", len(dataset), source,
                len(dataset.numeric_columns), len(dataset.categorical_columns), report.summary(len(dataset)))
    return dataset
