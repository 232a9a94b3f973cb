"""Text: a folder of ``.txt`` files, a CSV/TSV file with a text column, or a JSONL file.

Every document is decoded (UTF-8 with or without byte-order mark, UTF-16 with
one, else cp1252 or Latin-1, which the report records), tokenized with a
tokenizer trained on the corpus (``sslstudio.data.text_tokenizer``) and kept
as token ids. A batch is ``(token_ids, attention_mask)``, both N×L int64,
padded with ``[PAD]`` (id 0) or truncated to ``max_length`` tokens.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from sslstudio.data.base import DataError, Dataset, DatasetSpec, register_reader
from sslstudio.data.report import ImportReport
from sslstudio.data.text_tokenizer import SPECIAL_TOKENS, TOKENIZER_MODELS, TextTokenizer

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".txt"})
TABLE_SEPARATORS = {".csv": ",", ".tsv": "\t"}
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
MIN_LENGTH, MAX_LENGTH = 8, 4096
TOKENIZER_FILE = "tokenizer.json"
# Fallbacks for bytes that are not UTF-8: cp1252 first (Windows text), Latin-1 last (decodes anything).
FALLBACK_ENCODINGS = ("cp1252", "latin-1")


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode a file's bytes; return ``(text, encoding)``.

    A UTF-8 byte-order mark is stripped, a UTF-16 one selects UTF-16; other
    bytes are tried as UTF-8, then cp1252, then Latin-1.

    Raises:
        UnicodeDecodeError: if a UTF-16 file is malformed.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    for encoding in ("utf-8", *FALLBACK_ENCODINGS):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("Latin-1 decodes every byte string")


def _decode_file(path: Path, name: str, report: ImportReport) -> str | None:
    """Read and decode one file; record a non-UTF encoding or a failure in ``report``."""
    try:
        text, encoding = decode_bytes(path.read_bytes())
    except (OSError, UnicodeDecodeError) as error:
        report.add(name, f"unreadable file: {error}")
        return None
    if encoding in FALLBACK_ENCODINGS:
        report.add(name, f"not valid UTF-8; decoded as {encoding}. Save the file as UTF-8 if characters look wrong",
                   action="repaired")
    return text


def _find_text_files(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in TEXT_SUFFIXES:
            found.append(path)
    return found


def _accepts(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() in TEXT_SUFFIXES | JSONL_SUFFIXES | set(TABLE_SEPARATORS)
    return path.is_dir() and bool(_find_text_files(path)[:1])


@dataclass
class _Documents:
    """Documents read from a source before tokenization: texts, ids and metadata rows in one order."""

    texts: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, text: str, sample_id: str, row: dict[str, Any], report: ImportReport, location: str = "") -> None:
        if not text.strip():
            report.add(row.get("file_name", sample_id), "empty document", location=location)
            return
        self.texts.append(text)
        self.ids.append(sample_id)
        self.rows.append({"sample_id": sample_id, **row})


def _read_folder(root: Path, report: ImportReport) -> _Documents:
    files = [root] if root.is_file() else _find_text_files(root)
    base = root.parent if root.is_file() else root
    if not files:
        raise DataError(f"{root}: no .txt files found (searched recursively). Choose a folder that contains .txt files.")
    documents = _Documents()
    for file in files:
        relative = file.relative_to(base).as_posix()
        text = _decode_file(file, relative, report)
        if text is None:
            continue
        parts = Path(relative).parts
        documents.add(text, relative, {"path": str(file), "file_name": file.name,
                                       "folder": parts[0] if len(parts) > 1 else ""}, report)
    return documents


def _choose_text_column(frame: pd.DataFrame, name: str, report: ImportReport) -> str:
    """Return the column named ``text`` or else the column with the longest values on average (all are strings)."""
    if "text" in frame.columns:
        return "text"
    lengths = {column: frame[column].astype(str).str.len().mean() for column in frame.columns}
    if not lengths:
        raise DataError(f"{name}: no text column found; columns are {', '.join(map(str, frame.columns))}. "
                        "Choose the text column with the text_column option.")
    column = max(lengths, key=lambda key: lengths[key])
    report.add(name, f"no text_column given; using {column!r}, the column with the longest values", action="warning")
    return column


def _read_table(path: Path, report: ImportReport, text_column: str | None, label_column: str | None) -> _Documents:
    name = path.name
    text = _decode_file(path, name, report)
    if text is None:
        raise DataError(f"{path}: the file could not be read; see the import report.")
    separator = TABLE_SEPARATORS[path.suffix.lower()]
    # The csv module rather than pandas, because its line_num gives each record's real line
    # (quoted fields may span lines, and skipped rows must not shift the numbers that follow).
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    try:
        header = next(reader, None)
        if not header:
            raise DataError(f"{path}: the file is empty; the first line must name the columns.")
        records, lines = [], []
        line = reader.line_num
        for fields in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in fields):
                continue
            if len(fields) != len(header):
                report.add(name, f"malformed row: expected {len(header)} fields, saw {len(fields)}",
                           location=f"line {start}")
                continue
            records.append(fields)
            lines.append(start)
    except csv.Error as error:
        raise DataError(f"{path}: not a readable {'TSV' if separator == chr(9) else 'CSV'} file: {error}") from error
    frame = pd.DataFrame(records, columns=header)
    columns = list(frame.columns)
    column = text_column or _choose_text_column(frame, name, report)
    for option, wanted in (("text_column", column), ("label_column", label_column)):
        if wanted is not None and wanted not in columns:
            raise DataError(f"{path}: {option} {wanted!r} not found; columns are {', '.join(map(str, columns))}")
    documents = _Documents()
    extra = [other for other in columns if other != column and other != "sample_id"]
    for line, record in zip(lines, frame.to_dict("records")):
        row = {"file_name": name, "row": line, **{other: record[other] for other in extra}}
        documents.add(record[column], f"{name}:{line}", row, report, location=f"line {line}, column {column!r}")
    return documents


def _read_jsonl(path: Path, report: ImportReport, text_field: str) -> _Documents:
    name = path.name
    text = _decode_file(path, name, report)
    if text is None:
        raise DataError(f"{path}: the file could not be read; see the import report.")
    documents = _Documents()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        location = f"line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            report.add(name, f"invalid JSON: {error.msg}", location=location)
            continue
        if not isinstance(record, dict) or text_field not in record:
            report.add(name, f"field {text_field!r} missing; set the field option to the key that contains the text",
                       location=location)
            continue
        value = record[text_field]
        if not isinstance(value, str):
            report.add(name, f"field {text_field!r} contains {type(value).__name__}, not text", location=location)
            continue
        row = {"file_name": name, "row": number}
        row.update({key: item for key, item in record.items()
                    if key not in (text_field, "sample_id") and isinstance(item, (str, int, float, bool))})
        documents.add(value, f"{name}:{number}", row, report, location=f"{location}, field {text_field!r}")
    return documents


class TextDataset(Dataset):
    """Tokenized documents in memory (N×L int64, padded with 0) with the raw texts and metadata."""

    modality = "text"

    def __init__(self, texts: list[str], tokenizer: TextTokenizer, max_length: int, ids: list[str],
                 metadata: pd.DataFrame, report: ImportReport, source: str):
        encoded = tokenizer.encode_batch(texts)
        truncated = [sample_id for sample_id, tokens in zip(ids, encoded) if len(tokens) > max_length]
        if truncated:
            shown = ", ".join(truncated[:5]) + (" …" if len(truncated) > 5 else "")
            report.add(source, f"{len(truncated)} documents are longer than max_length={max_length} tokens and were "
                               f"cut to that length ({shown}); raise max_length to keep more", action="warning")
        tokens = torch.zeros((len(encoded), max_length), dtype=torch.long)
        for row, document in enumerate(encoded):
            document = document[:max_length]
            tokens[row, :len(document)] = torch.tensor(document, dtype=torch.long)
        vocabulary = tokenizer.vocabulary()
        spec = DatasetSpec("text", shape=(max_length,), extra={
            "vocab_size": len(vocabulary), "max_length": max_length, "tokenizer": tokenizer.model,
            "special_tokens": {token: index for index, token in enumerate(SPECIAL_TOKENS)},
            # A tuple, so the model card (which keeps lists) does not copy the whole vocabulary.
            "vocabulary": vocabulary,
        })
        super().__init__(ids, metadata, spec, report, source)
        self.texts = texts
        self.tokenizer = tokenizer
        self.tokens = tokens
        self.lengths = (tokens != 0).sum(dim=1)

    @property
    def max_length(self) -> int:
        return int(self.tokens.shape[1])

    def batch(self, indices: Sequence[int], device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(token_ids, attention_mask)``, both N×max_length int64 on ``device`` (mask 1 on tokens)."""
        index = torch.as_tensor(list(indices), dtype=torch.long)
        ids = self.tokens[index].to(device, non_blocking=True)
        return ids, (ids != 0).long()

    def preprocessing(self) -> dict:
        return {
            "input": "text tokenized with tokenizer.json (Hugging Face tokenizers), cut or padded with [PAD] (id 0) "
                     "to max_length; inputs are token_ids and attention_mask (1 on tokens, 0 on padding)",
            "tokenizer": self.tokenizer.model,
            "tokenizer_file": TOKENIZER_FILE,
            "vocab_size": self.tokenizer.vocab_size,
            "lowercase": self.tokenizer.lowercase,
            "max_length": self.max_length,
            "special_tokens": list(SPECIAL_TOKENS),
            "layout": "token_ids N×L int64, attention_mask N×L int64",
        }

    def export_assets(self, out_dir: Path) -> dict[str, Path]:
        """Write ``tokenizer.json`` into ``out_dir``; new data is read with it through ``tokenizer_path``."""
        path = Path(out_dir) / TOKENIZER_FILE
        self.tokenizer.save(path)
        return {"tokenizer_path": path}


@register_reader("text", _accepts)
def open_text(path: str | Path, text_column: str | None = None, label_column: str | None = None,
              field: str = "text", max_length: int = 128, vocab_size: int = 8000, tokenizer: str = "wordpiece",
              lowercase: bool = False, tokenizer_path: str | Path | None = None, **_: object) -> TextDataset:
    """Open a ``.txt`` file or folder (recursively), a CSV/TSV file or a JSONL file.

    Folders: one document per file; the first folder level becomes the
    ``folder`` column. CSV/TSV: ``text_column`` contains the text (default: a
    column named ``text``, else the longest string column); the other columns
    become metadata, and ``label_column``, when given, must exist. JSONL: the
    key ``field`` contains the text; other scalar keys become metadata.

    A tokenizer (``tokenizer``: wordpiece or bpe, ``vocab_size`` tokens) is
    trained on the documents unless ``tokenizer_path`` names a saved one, and
    documents are cut to ``max_length`` tokens.

    Raises:
        DataError: if the path is missing, a named column is missing, or no
            document with text remains.
        ValueError: for an invalid option value.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"{root}: not found. Check the path and try again.")
    if not MIN_LENGTH <= int(max_length) <= MAX_LENGTH:
        raise ValueError(f"max_length={max_length} is out of range; valid range is {MIN_LENGTH} to {MAX_LENGTH}")
    if tokenizer not in TOKENIZER_MODELS:
        raise ValueError(f"tokenizer={tokenizer!r} is invalid; choose from {', '.join(TOKENIZER_MODELS)}")
    report = ImportReport()
    suffix = root.suffix.lower() if root.is_file() else ""
    if suffix in TABLE_SEPARATORS:
        documents = _read_table(root, report, text_column, label_column)
    elif suffix in JSONL_SUFFIXES:
        documents = _read_jsonl(root, report, field)
    elif root.is_dir() or suffix in TEXT_SUFFIXES:
        documents = _read_folder(root, report)
    else:
        raise DataError(f"{root}: not a text source; choose a folder of .txt files, a .csv, .tsv or .jsonl file.")
    if not documents.texts:
        raise DataError(f"{root}: no document with text was found; see the import report for what was skipped.")
    if tokenizer_path is not None and Path(tokenizer_path).is_file():
        trained = TextTokenizer.load(tokenizer_path)
    else:
        trained = TextTokenizer.train(documents.texts, vocab_size=int(vocab_size), model=tokenizer,
                                      lowercase=bool(lowercase))
        if tokenizer_path is not None:
            trained.save(tokenizer_path)
    dataset = TextDataset(documents.texts, trained, int(max_length), documents.ids, pd.DataFrame(documents.rows),
                          report, str(root))
    logger.info("Loaded %d documents from %s (%s)", len(dataset), root, report.summary(len(dataset)))
    return dataset
