"""Reading table files into a raw pandas DataFrame: CSV/TSV, Parquet and Excel ``.xlsx``.

CSV and TSV files are read with every cell as text, so that column types are
inferred later from the whole column. The encoding is UTF-8 (with or without a
byte-order mark) or, when the bytes are not valid UTF-8, Latin-1, which the
import report records. The separator and the decimal mark are detected from
the first 256 KiB. Quoted fields may contain separators and newlines.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sslstudio.data.base import DataError
from sslstudio.data.report import ImportReport

logger = logging.getLogger(__name__)

CSV_SUFFIXES = frozenset({".csv", ".tsv", ".tab", ".txt"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm"})
TABLE_SUFFIXES = CSV_SUFFIXES | PARQUET_SUFFIXES | EXCEL_SUFFIXES

# Cells with exactly one of these texts (after trimming spaces) are missing values.
MISSING_TOKENS = ("", "NA", "N/A", "n/a", "na", "NaN", "nan", "NULL", "null", "None", "none", "?", "#N/A", "-")
CANDIDATE_SEPARATORS = (",", ";", "\t", "|")
SNIFF_BYTES = 256 * 1024
SNIFF_RECORDS = 500
UTF8_BOM = codecs.BOM_UTF8

_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_DECIMAL_POINT = re.compile(r"^[+-]?\d*\.\d+$")
_SKIPPED_LINE = re.compile(r"Skipping line (\d+): (.*)")


@dataclass(frozen=True)
class CsvDialect:
    """The field separator, decimal mark and encoding of a delimited text file."""

    separator: str
    decimal: str
    encoding: str


@dataclass
class RawTable:
    """A table as read from its file, before type inference.

    ``frame`` has one column per header name; CSV cells are text (``str``
    dtype, missing as NaN), Parquet and Excel keep the types the file stores.
    ``decimal`` is the decimal mark of text numbers.
    """

    frame: pd.DataFrame
    decimal: str = "."
    dialect: CsvDialect | None = None


def detect_encoding(path: Path, report: ImportReport) -> str:
    """Return ``utf-8-sig`` for a UTF-8 byte-order mark, ``utf-8`` if the bytes decode, else ``latin-1``.

    The whole file is checked in 1 MiB chunks, so memory stays small. Falling
    back to Latin-1 is recorded in ``report`` with the line of the first
    invalid byte.
    """
    with path.open("rb") as handle:
        if handle.read(len(UTF8_BOM)) == UTF8_BOM:
            return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(1 << 20)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                line += chunk[:max(error.start, 0)].count(b"\n")
                report.add(path.name, "the file is not valid UTF-8, so it was read as Latin-1 (ISO-8859-1); "
                           "check accented characters, or save the file as UTF-8", "repaired", f"line {line}")
                return "latin-1"
            if not chunk:
                return "utf-8"
            line += chunk.count(b"\n")


def _sample_records(text: str, separator: str) -> list[list[str]]:
    records = [record for record in csv.reader(io.StringIO(text), delimiter=separator) if record]
    # The sample ends at an arbitrary byte, so its last record may be cut short.
    return records[:-1] if len(records) > 1 else records


def detect_separator(sample: str) -> str:
    """Return the separator among ``, ; tab |`` that splits the sample's records most consistently.

    A candidate scores by the share of records that have the most common field
    count, then by that count. Candidates that give one field per record lose,
    and ``,`` is returned when no candidate splits the sample.
    """
    best, best_score = ",", (0.0, 0)
    for separator in CANDIDATE_SEPARATORS:
        records = _sample_records(sample, separator)[:SNIFF_RECORDS]
        if not records:
            continue
        width, count = Counter(len(record) for record in records).most_common(1)[0]
        if width < 2:
            continue
        score = (count / len(records), width)
        if score > best_score:
            best, best_score = separator, score
    return best


def detect_decimal(sample: str, separator: str) -> str:
    """Return ``,`` when numbers in the sample use a decimal comma (only possible if the separator is not a comma)."""
    if separator == ",":
        return "."
    fields = [field.strip() for record in _sample_records(sample, separator)[1:SNIFF_RECORDS] for field in record]
    commas = sum(1 for field in fields if _DECIMAL_COMMA.match(field))
    points = sum(1 for field in fields if _DECIMAL_POINT.match(field))
    return "," if commas > points else "."


def sniff_dialect(path: Path, report: ImportReport, separator: str | None = None, decimal: str | None = None,
                  encoding: str | None = None) -> CsvDialect:
    """Detect the encoding, separator and decimal mark of a delimited file; given values win."""
    encoding = encoding or detect_encoding(path, report)
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    sample = head.decode(encoding, errors="replace")
    if encoding == "utf-8-sig":
        sample = sample.removeprefix("\ufeff")
    if separator is None:
        separator = "\t" if path.suffix.lower() in {".tsv", ".tab"} else detect_separator(sample)
    if decimal is None:
        decimal = detect_decimal(sample, separator)
    return CsvDialect(separator=separator, decimal=decimal, encoding=encoding)


def read_csv(path: Path, report: ImportReport, separator: str | None = None, decimal: str | None = None,
             encoding: str | None = None) -> RawTable:
    """Read a delimited text file with every cell as text.

    Records with more fields than the header are skipped and reported with
    their line number; records with fewer fields get missing cells.

    Raises:
        DataError: if the file is empty or cannot be parsed at all.
    """
    dialect = sniff_dialect(path, report, separator, decimal, encoding)
    logger.info("Reading %s as %r-separated text, decimal %r, %s", path, dialect.separator, dialect.decimal,
                dialect.encoding)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            frame = pd.read_csv(path, sep=dialect.separator, encoding=dialect.encoding, dtype="str",
                                keep_default_na=False, na_values=list(MISSING_TOKENS), skipinitialspace=True,
                                on_bad_lines="warn", engine="c")
        except pd.errors.EmptyDataError as error:
            raise DataError(f"{path}: the file is empty. Choose a file with a header row and data rows.") from error
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            raise DataError(f"{path}: the file could not be parsed as {dialect.separator!r}-separated text "
                            f"({error}). Pass the separator explicitly, for example separator=';'.") from error
    for warning in caught:
        for match in _SKIPPED_LINE.finditer(str(warning.message)):
            report.add(path.name, f"the record was skipped: {match.group(2).strip()}", "skipped",
                       f"line {match.group(1)}")
    frame = frame.apply(lambda column: column.str.strip() if column.dtype == "str" else column)
    return RawTable(frame, dialect.decimal, dialect)


def read_parquet(path: Path) -> RawTable:
    """Read a Parquet file with pyarrow, keeping its column types.

    Raises:
        DataError: if pyarrow cannot read the file.
    """
    try:
        frame = pd.read_parquet(path, engine="pyarrow")
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: the file could not be read as Parquet ({error}). "
                        "Check that the file is complete.") from error
    return RawTable(frame)


def read_excel(path: Path, sheet: str | int = 0) -> RawTable:
    """Read one sheet of an ``.xlsx`` workbook with openpyxl (the first sheet by default).

    Raises:
        DataError: if the workbook or the sheet cannot be read.
    """
    try:
        frame = pd.read_excel(path, sheet_name=sheet, engine="openpyxl", na_values=list(MISSING_TOKENS),
                              keep_default_na=False)
    except (OSError, ValueError, KeyError) as error:
        raise DataError(f"{path}: sheet {sheet!r} could not be read ({error}). "
                        "Check the file, or choose another sheet with sheet=NAME.") from error
    return RawTable(frame)


def read_table_file(path: Path, report: ImportReport, separator: str | None = None, decimal: str | None = None,
                    encoding: str | None = None, sheet: str | int = 0) -> RawTable:
    """Read ``path`` by its suffix; columns without a header are named ``Unnamed: N`` and reported.

    Raises:
        DataError: for an unsupported suffix, an unreadable file or a table without rows.
    """
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        table = read_parquet(path)
    elif suffix in EXCEL_SUFFIXES:
        table = read_excel(path, sheet)
    elif suffix in CSV_SUFFIXES:
        table = read_csv(path, report, separator, decimal, encoding)
    else:
        raise DataError(f"{path}: {suffix or 'no suffix'} is not a table format; "
                        f"use one of {', '.join(sorted(TABLE_SUFFIXES))}.")
    table.frame.columns = [str(name).strip() for name in table.frame.columns]
    for position, name in enumerate(table.frame.columns):
        if name.startswith("Unnamed: "):
            report.add(path.name, f"column {position + 1} has no header; it was named {name!r}", "repaired",
                       f"column {position + 1}")
    if table.frame.empty:
        raise DataError(f"{path}: the table has a header but no data rows. Choose a file with data.")
    return table
