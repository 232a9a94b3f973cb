"""Column types of a table: inference over the whole column, and parsing each column to its one type.

Types: ``numeric`` (float), ``categorical`` (text categories), ``boolean``
(true/false, encoded like a two-category column), ``date`` (encoded as days
since 1970-01-01), ``text`` (free text, kept as metadata and not fed to the
model), ``identifier`` (one value per row, kept as metadata) and ``ignore``
(dropped from the features, kept as metadata).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

COLUMN_TYPES = ("numeric", "categorical", "boolean", "date", "text", "identifier", "ignore")
FEATURE_TYPES = ("numeric", "categorical", "boolean", "date")

# A column is numeric (or date, or boolean) when at least this share of its present cells parse as such.
TYPE_SHARE = 0.95
# At most this many distinct values make a text column categorical (and no more than 5% of rows, if that is larger).
MAX_CATEGORIES = 50
# Text columns with values this long on average, or with spaces in most values, count as free text.
FREE_TEXT_LENGTH = 30
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%d/%m/%Y", "%m/%d/%Y",
                "%d.%m.%Y", "%Y/%m/%d")
DATE_PROBE = 2000
TRUE_WORDS = frozenset({"true", "yes", "t", "y", "1"})
FALSE_WORDS = frozenset({"false", "no", "f", "n", "0"})
_IDENTIFIER_NAME = re.compile(r"(^|[_\s-])(id|key|uuid|index)$", re.IGNORECASE)
_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")


@dataclass
class ParsedColumn:
    """One column parsed to its type: ``values`` (float64, datetime64 or text) and the rows that failed to parse."""

    values: pd.Series
    invalid: np.ndarray


def _present(column: pd.Series) -> pd.Series:
    return column[column.notna()]


def _as_text(column: pd.Series) -> pd.Series:
    """Return the column as pandas ``str`` dtype, missing cells staying missing (never the text ``nan``)."""
    if pd.api.types.is_float_dtype(column):
        # 181.0 from a spreadsheet reads as "181", so integer categories keep their spelling.
        whole = column.notna() & (column == column.round())
        text = column.astype("str")
        text[whole] = column[whole].astype("int64").astype("str")
        return text
    return column.astype("str")


def _numbers(column: pd.Series, decimal: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(column):
        return column.astype("float64")
    if pd.api.types.is_numeric_dtype(column):
        return column.astype("float64")
    text = _as_text(column)
    if decimal != ".":
        text = text.str.replace(decimal, ".", regex=False)
    return pd.to_numeric(text, errors="coerce").astype("float64")


def _date_format(text: pd.Series) -> tuple[str | None, float]:
    """Return the format of ``DATE_FORMATS`` that parses the most of a probe of distinct values, and that share."""
    probe = pd.Series(text.dropna().unique()[:DATE_PROBE])
    if probe.empty or probe.str.match(_DATE_LIKE).mean() < TYPE_SHARE:
        return None, 0.0
    best, best_share = None, 0.0
    for candidate in DATE_FORMATS:
        share = pd.to_datetime(probe, format=candidate, errors="coerce").notna().mean()
        if share > best_share:
            best, best_share = candidate, float(share)
    return best, best_share


def infer_column_type(name: str, column: pd.Series, decimal: str = ".") -> str:
    """Return the inferred type of ``column`` (one of ``COLUMN_TYPES`` except ``ignore``).

    Numeric, boolean and date need ``TYPE_SHARE`` of the present cells to
    parse. Text with one distinct value per row is an identifier unless it
    reads as free text. Numbers are an identifier only when they are unique
    and the name looks like one (``id``, ``*_id``, ``key``). A column with no present
    cell is ``ignore``.
    """
    present = _present(column)
    if present.empty:
        return "ignore"
    if pd.api.types.is_bool_dtype(column):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "date"
    unique_share = present.nunique() / len(present)
    text = _as_text(present)
    lowered = text.str.lower()
    if lowered.isin(TRUE_WORDS | FALSE_WORDS).all() and present.nunique() <= 2:
        return "boolean"
    numbers = _numbers(present, decimal)
    if numbers.notna().mean() >= TYPE_SHARE:
        if unique_share == 1.0 and len(present) > 1 and _IDENTIFIER_NAME.search(name):
            return "identifier"
        return "numeric"
    date_format, share = _date_format(text)
    if date_format is not None and share >= TYPE_SHARE:
        return "date"
    is_long = text.str.len().mean() >= FREE_TEXT_LENGTH or text.str.contains(" ", regex=False).mean() > 0.5
    distinct = present.nunique()
    if unique_share == 1.0 and len(present) > 1 and not is_long and \
            (_IDENTIFIER_NAME.search(name) or distinct > MAX_CATEGORIES):
        return "identifier"
    if distinct <= max(MAX_CATEGORIES, 0.05 * len(present)) and not (is_long and distinct > MAX_CATEGORIES):
        return "categorical"
    return "text" if is_long else "categorical"


def parse_column(column: pd.Series, column_type: str, decimal: str = ".") -> ParsedColumn:
    """Parse ``column`` to ``column_type``; cells that do not fit become missing and are flagged in ``invalid``.

    ``numeric`` gives float64, ``date`` datetime64, ``boolean`` the text
    ``"true"``/``"false"``, every other type the cell text. ``invalid`` is a
    boolean array over rows: present cells that did not parse.
    """
    missing = column.isna().to_numpy()
    if column_type == "numeric":
        values = _numbers(column, decimal)
    elif column_type == "date":
        values = _parse_dates(column)
    elif column_type == "boolean":
        lowered = _as_text(column).str.lower()
        values = pd.Series(pd.NA, index=column.index, dtype="str")
        values[lowered.isin(TRUE_WORDS)] = "true"
        values[lowered.isin(FALSE_WORDS)] = "false"
    else:
        values = _as_text(column)
    invalid = values.isna().to_numpy() & ~missing
    return ParsedColumn(values, invalid)


def _parse_dates(column: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(column):
        return column
    text = _as_text(column)
    date_format, _ = _date_format(text)
    if date_format is None:
        return pd.to_datetime(text, errors="coerce", format="mixed")
    return pd.to_datetime(text, format=date_format, errors="coerce")
