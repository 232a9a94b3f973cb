"""Prediction on new files without a label column, for the series and table samples."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from sslstudio.cli import main
from sslstudio.data.samples import get_sample

TINY_RUN = ["--pretrain-epochs", "1", "--max-pretrain-steps", "2", "--finetune-steps", "2", "--quiet"]


def export_of(sample: str, folder: Path) -> Path:
    assert main(["run", "--sample", sample, "--project", str(folder), *TINY_RUN]) == 0
    (export,) = (folder / "exports").iterdir()
    return export


def first_rows(sample: str, folder: Path, drop_label: bool) -> Path:
    """Write the sample's first five rows, with or without its label column, to a new CSV."""
    info = get_sample(sample)
    with open(info.data_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[:6]
    label = rows[0].index(info.label_column)
    if drop_label:
        rows = [row[:label] + row[label + 1:] for row in rows]
    path = folder / f"{sample}-{'unlabeled' if drop_label else 'labeled'}.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def predictions(export: Path, data: Path, out: Path) -> list[list[str]]:
    """Return the predicted class and probabilities of each row (the sample ids differ by file name)."""
    assert main(["predict", str(export), str(data), "--out", str(out)]) == 0
    with open(out, newline="", encoding="utf-8") as handle:
        return [row[1:] for row in csv.reader(handle)][1:]


@pytest.mark.parametrize("sample", ["gunpoint", "penguins"])
def test_predict_without_label_column(sample, tmp_path):
    export = export_of(sample, tmp_path / "project")
    labeled = predictions(export, first_rows(sample, tmp_path, drop_label=False), tmp_path / "labeled.csv")
    unlabeled = predictions(export, first_rows(sample, tmp_path, drop_label=True), tmp_path / "unlabeled.csv")
    assert len(unlabeled) == 5
    assert unlabeled == labeled
