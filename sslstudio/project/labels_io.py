"""Import labels from a CSV file or from class folders, and export them as CSV.

A CSV row names a sample by its id or by its file name and gives its label. A
folder import reads ``FOLDER/<class>/<file>``: the sub-folder name is the
label and the file is matched to a sample by its path or name. Nothing is
dropped silently: rows whose sample is unknown or ambiguous, rows with an
empty cell, and labels of classes the project does not have are listed in the
returned ``LabelImportResult``.
"""

from __future__ import annotations

import csv
import difflib
import io
import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from sslstudio.project.store import Project
from sslstudio.training.checkpoints import atomic_write_text

logger = logging.getLogger(__name__)

ID_COLUMNS = ("sample_id", "id", "file_name", "filename", "file", "path", "name")
LABEL_COLUMNS = ("label", "class", "class_name", "category", "target")


class LabelFileError(ValueError):
    """A label file or folder that cannot be read at all."""


@dataclass(frozen=True)
class LabelRow:
    """One label read from a file: where it came from, the sample keys to try in order, and the class."""

    location: str
    keys: tuple[str, ...]
    label: str


@dataclass
class LabelImportResult:
    """The outcome of an import: the labels written, and each row not written with its file location."""

    applied: int = 0
    created_classes: list[str] = field(default_factory=list)
    unknown_ids: list[tuple[str, str]] = field(default_factory=list)
    ambiguous_ids: list[tuple[str, str, int]] = field(default_factory=list)
    unknown_classes: dict[str, list[str]] = field(default_factory=dict)
    invalid_rows: list[tuple[str, str]] = field(default_factory=list)
    overridden: list[tuple[str, str]] = field(default_factory=list)
    # (new class, existing or other new class) pairs whose names differ by a typo or two.
    similar_classes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        """Return the number of rows that were read but not written."""
        return (len(self.unknown_ids) + len(self.ambiguous_ids) + len(self.invalid_rows)
                + sum(len(locations) for locations in self.unknown_classes.values()))

    def summary(self) -> str:
        parts = [f"{self.applied} labels imported"]
        if self.created_classes:
            parts.append(f"{len(self.created_classes)} new classes ({', '.join(self.created_classes)})")
        if self.unknown_ids:
            parts.append(f"{len(self.unknown_ids)} unknown sample ids")
        if self.ambiguous_ids:
            parts.append(f"{len(self.ambiguous_ids)} ambiguous file names")
        if self.unknown_classes:
            count = sum(len(locations) for locations in self.unknown_classes.values())
            parts.append(f"{count} labels of {len(self.unknown_classes)} unknown classes")
        if self.invalid_rows:
            parts.append(f"{len(self.invalid_rows)} invalid rows")
        if self.overridden:
            parts.append(f"{len(self.overridden)} rows overridden by a later row for the same sample")
        if self.similar_classes:
            parts.append(f"{len(self.similar_classes)} new classes named like another class")
        return "; ".join(parts)

    def details(self, limit: int = 20) -> list[str]:
        """Return one line per row that was not written (at most ``limit`` per kind) and per unknown class."""
        lines = [f"{location}: sample {key!r} not found in the data" for location, key in self.unknown_ids[:limit]]
        lines += [f"{location}: file name {key!r} matches {count} samples; use the sample id instead"
                  for location, key, count in self.ambiguous_ids[:limit]]
        for name, locations in self.unknown_classes.items():
            shown = ", ".join(locations[:5]) + (" …" if len(locations) > 5 else "")
            lines.append(f"class {name!r} is not in the project ({len(locations)} rows: {shown}); add the class "
                         "or import with classes added")
        lines += [f"{location}: {reason}" for location, reason in self.invalid_rows[:limit]]
        lines += [f"{location}: sample {key!r} appears again later; the later label is used"
                  for location, key in self.overridden[:limit]]
        lines += [f"new class {new!r} is named like {other!r}; if it is a typo, merge it into {other!r} with "
                  "\"Merge into…\" in the Labeling page's class list" for new, other in self.similar_classes]
        return lines


_DIGITS = re.compile(r"\d+")


def similar_names(new: Sequence[str], names: Sequence[str], cutoff: float = 0.8) -> list[tuple[str, str]]:
    """Return ``(new name, other name)`` pairs whose case-folded similarity ratio is at least ``cutoff``.

    The ratio is ``difflib.SequenceMatcher``'s: 0.83 for "Adelei" against
    "Adelie" (two letters swapped) and 0.8 for one changed letter in a
    five-letter word, so such typos are caught. Names that differ only in digits ("grade 1", "grade 2")
    are numbered classes, not typos, and are left out. Each unordered pair
    appears once.
    """
    pairs = []
    for name in new:
        for other in names:
            if other == name or (other in new and other < name):
                continue
            if _DIGITS.sub("", name) == _DIGITS.sub("", other):
                continue
            if difflib.SequenceMatcher(None, name.casefold(), other.casefold()).ratio() >= cutoff:
                pairs.append((name, other))
    return pairs


def _header_columns(first_row: list[str]) -> tuple[int, int] | None:
    lowered = [cell.strip().lower() for cell in first_row]
    id_column = next((lowered.index(name) for name in ID_COLUMNS if name in lowered), None)
    label_column = next((lowered.index(name) for name in LABEL_COLUMNS if name in lowered), None)
    if id_column is None and label_column is None:
        return None
    if id_column is None or label_column is None:
        raise LabelFileError(f"header {first_row!r} needs a sample column ({', '.join(ID_COLUMNS)}) and a label "
                             f"column ({', '.join(LABEL_COLUMNS)}); rename the columns")
    return id_column, label_column


def read_label_csv(path: str | Path) -> tuple[list[LabelRow], list[tuple[str, str]]]:
    """Read ``(sample, label)`` rows from a CSV file; return the rows and the invalid rows with reasons.

    The first row is a header when it names a sample column (``sample_id``,
    ``file_name``, …) and a label column (``label``, ``class``, …). Without
    such a header, the first column is the sample and the second the label.
    Locations are ``file:line``.

    Raises:
        LabelFileError: if the file is missing, not UTF-8 text, or has a header without both columns.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as error:
        raise LabelFileError(f"{path}: file not found; check the path") from error
    except UnicodeDecodeError as error:
        raise LabelFileError(f"{path}: not UTF-8 text ({error}); save the CSV as UTF-8") from error
    records = list(csv.reader(io.StringIO(text)))
    if not records:
        return [], []
    columns = _header_columns(records[0])
    start = 1 if columns else 0
    id_column, label_column = columns or (0, 1)
    rows, invalid = [], []
    for line, record in enumerate(records[start:], start=start + 1):
        location = f"{path.name}:{line}"
        if not any(cell.strip() for cell in record):
            continue
        if len(record) <= max(id_column, label_column):
            invalid.append((location, f"expected at least {max(id_column, label_column) + 1} columns, got {len(record)}"))
            continue
        key, label = record[id_column].strip(), record[label_column].strip()
        if not key or not label:
            invalid.append((location, "empty sample or label cell"))
            continue
        rows.append(LabelRow(location, (key,), label))
    return rows, invalid


def read_label_folders(folder: str | Path) -> list[LabelRow]:
    """Read one label per file in ``FOLDER/<class>/…``: the first sub-folder is the class.

    Each file is matched by ``<class>/<path>`` (a sample id when the folder is
    the data folder itself), then by ``<path>`` below the class folder. Hidden
    files and folders are ignored; files directly in ``FOLDER`` have no class
    and are left out.

    Raises:
        LabelFileError: if ``folder`` is not a folder.
    """
    root = Path(folder)
    if not root.is_dir():
        raise LabelFileError(f"{root}: not a folder; give a folder with one sub-folder per class")
    rows = []
    for path in sorted(root.rglob("*")):
        relative = PurePosixPath(path.relative_to(root).as_posix())
        if not path.is_file() or any(part.startswith(".") for part in relative.parts) or len(relative.parts) < 2:
            continue
        below_class = PurePosixPath(*relative.parts[1:]).as_posix()
        rows.append(LabelRow(relative.as_posix(), (relative.as_posix(), below_class), relative.parts[0]))
    return rows


class SampleIndex:
    """Finds a sample by its id, else by the file name at the end of its id."""

    def __init__(self, sample_ids: Sequence[str]):
        self.ids = set(sample_ids)
        self.by_name: dict[str, list[str]] = defaultdict(list)
        for sample_id in sample_ids:
            self.by_name[PurePosixPath(sample_id).name].append(sample_id)

    def find(self, keys: Sequence[str]) -> tuple[str | None, int]:
        """Return ``(sample_id, 1)`` for the first key that names one sample, else ``(None, matches)``.

        ``matches`` is 0 when no key matched and the number of samples sharing the
        file name when the name is ambiguous.
        """
        for key in keys:
            if key in self.ids:
                return key, 1
        for key in keys:
            matches = self.by_name.get(PurePosixPath(key).name, [])
            if len(matches) == 1:
                return matches[0], 1
            if matches:
                return None, len(matches)
        return None, 0


def import_labels(project: Project, source_id: int, sample_ids: Sequence[str], rows: Sequence[LabelRow],
                  add_classes: bool | None = None) -> LabelImportResult:
    """Write the labels of ``rows`` that match a sample of ``sample_ids`` in one transaction.

    Labels of classes the project lacks are written when ``add_classes`` is True,
    or when it is None and the project has no classes yet. Otherwise they are
    reported under ``unknown_classes``. A later row for the same sample wins.
    """
    result = LabelImportResult()
    known_classes = {entry["name"] for entry in project.classes()}
    if add_classes is None:
        add_classes = not known_classes
    index = SampleIndex(sample_ids)
    chosen: dict[str, tuple[str, str]] = {}
    for row in rows:
        sample_id, matches = index.find(row.keys)
        if sample_id is None and matches:
            result.ambiguous_ids.append((row.location, row.keys[-1], matches))
            continue
        if sample_id is None:
            result.unknown_ids.append((row.location, row.keys[0]))
            continue
        if row.label not in known_classes and not add_classes:
            result.unknown_classes.setdefault(row.label, []).append(row.location)
            continue
        if sample_id in chosen:
            result.overridden.append((chosen[sample_id][0], sample_id))
        chosen[sample_id] = (row.location, row.label)
    result.created_classes = sorted({label for _, label in chosen.values()} - known_classes)
    result.similar_classes = similar_names(result.created_classes, sorted(known_classes | set(result.created_classes)))
    result.applied = project.set_labels(source_id, [(sample_id, label) for sample_id, (_, label) in chosen.items()])
    logger.info("Imported labels into source %d: %s", source_id, result.summary())
    return result


def import_label_file(project: Project, source_id: int, sample_ids: Sequence[str], path: str | Path,
                      add_classes: bool | None = None) -> LabelImportResult:
    """Import labels from a CSV file or a folder of class sub-folders (see ``import_labels``).

    Raises:
        LabelFileError: if the file or folder cannot be read.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        rows, invalid = read_label_folders(path), []
    else:
        rows, invalid = read_label_csv(path)
    result = import_labels(project, source_id, sample_ids, rows, add_classes)
    result.invalid_rows = invalid + result.invalid_rows
    return result


def export_labels(project: Project, source_id: int, path: str | Path, order: Sequence[str] | None = None) -> int:
    """Write the labels of one source to a CSV with columns ``sample_id,label``; return the rows written.

    Rows follow ``order`` (the dataset's sample order) where given, else sorted
    sample ids. The file is written atomically.
    """
    labels = project.labels(source_id)
    if order is None:
        sample_ids = sorted(labels)
    else:
        sample_ids = [sample_id for sample_id in order if sample_id in labels]
        sample_ids += sorted(set(labels) - set(sample_ids))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["sample_id", "label"])
    writer.writerows([sample_id, labels[sample_id]] for sample_id in sample_ids)
    atomic_write_text(Path(path).expanduser(), buffer.getvalue())
    logger.info("Exported %d labels of source %d to %s", len(sample_ids), source_id, path)
    return len(sample_ids)
