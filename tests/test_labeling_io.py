"""Label import and export: CSV round trip, class folders, the report of what was not imported, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sslstudio.cli import main
from sslstudio.project.labels_io import (LabelFileError, export_labels, import_label_file, read_label_csv)
from sslstudio.project.store import Project


@pytest.fixture
def image_project(tmp_path):
    """A project over 6 tiny PNGs: ``red/r0..r2.png`` and ``blue/b0.png``, ``blue/b1.png``, ``loose.png``."""
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    files = ["red/r0.png", "red/r1.png", "red/r2.png", "blue/b0.png", "blue/b1.png", "loose.png"]
    for name in files:
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(data / name)
    project = Project.create(tmp_path / "project")
    source = project.add_source(str(data), "image", {"label_column": "folder", "image_size": 8})
    yield project, source, files, data
    project.close()


def test_csv_round_trip(image_project, tmp_path):
    project, source, files, _ = image_project
    project.set_labels(source, [("red/r0.png", "red"), ("blue/b1.png", "blue"), ("loose.png", "red")])
    exported = tmp_path / "labels.csv"
    assert export_labels(project, source, exported, order=files) == 3
    assert exported.read_text().splitlines() == ["sample_id,label", "red/r0.png,red", "blue/b1.png,blue",
                                                 "loose.png,red"]

    other = Project.create(tmp_path / "other")
    other_source = other.add_source("data", "image")
    result = import_label_file(other, other_source, files, exported)
    assert result.applied == 3
    assert result.rejected == 0
    assert result.created_classes == ["blue", "red"]
    assert other.labels(other_source) == project.labels(source)
    other.close()


def test_import_reports_unknown_ids_and_classes(image_project, tmp_path):
    project, source, files, _ = image_project
    project.add_class("red")
    project.add_class("blue")
    table = tmp_path / "in.csv"
    table.write_text("file_name,class\nr1.png,red\nmissing.png,red\nb0.png,green\nghost.png,blue\n,red\nr2.png\n"
                     "b1.png,blue\nb1.png,red\n")
    result = import_label_file(project, source, files, table)

    assert project.labels(source) == {"red/r1.png": "red", "blue/b1.png": "red"}
    assert result.applied == 2
    assert result.unknown_ids == [("in.csv:3", "missing.png"), ("in.csv:5", "ghost.png")]
    assert result.unknown_classes == {"green": ["in.csv:4"]}
    assert result.invalid_rows == [("in.csv:6", "empty sample or label cell"),
                                   ("in.csv:7", "expected at least 2 columns, got 1")]
    assert result.overridden == [("in.csv:8", "blue/b1.png")]
    assert result.rejected == 5
    assert "2 unknown sample ids" in result.summary()
    details = "\n".join(result.details())
    assert "in.csv:3: sample 'missing.png' not found in the data" in details
    assert "class 'green' is not in the project (1 rows: in.csv:4)" in details


def test_headerless_csv_and_ambiguous_name(tmp_path):
    table = tmp_path / "plain.csv"
    table.write_text("a/x.png,cat\nx.png,dog\n")
    rows, invalid = read_label_csv(table)
    assert [(row.keys, row.label) for row in rows] == [(("a/x.png",), "cat"), (("x.png",), "dog")]
    assert invalid == []

    project = Project.create(tmp_path / "p")
    source = project.add_source("d", "image")
    result = import_label_file(project, source, ["a/x.png", "b/x.png"], table)
    assert project.labels(source) == {"a/x.png": "cat"}
    assert result.ambiguous_ids == [("plain.csv:2", "x.png", 2)]
    project.close()


def test_header_without_label_column_rejected(tmp_path):
    table = tmp_path / "bad.csv"
    table.write_text("sample_id,score\na,1\n")
    with pytest.raises(LabelFileError, match="needs a sample column .* and a label column"):
        read_label_csv(table)
    with pytest.raises(LabelFileError, match="file not found"):
        read_label_csv(tmp_path / "absent.csv")


def test_import_from_class_folders(image_project, tmp_path):
    project, source, files, data = image_project
    sorted_folder = tmp_path / "sorted"
    (sorted_folder / "small").mkdir(parents=True)
    (sorted_folder / "large").mkdir()
    (sorted_folder / "small" / "r0.png").write_bytes((data / "red" / "r0.png").read_bytes())
    (sorted_folder / "large" / "b1.png").write_bytes(b"copy")
    (sorted_folder / "large" / "other.png").write_bytes(b"not in the data")
    (sorted_folder / "unsorted.png").write_bytes(b"no class")

    result = import_label_file(project, source, files, sorted_folder)
    assert project.labels(source) == {"red/r0.png": "small", "blue/b1.png": "large"}
    assert result.unknown_ids == [("large/other.png", "large/other.png")]

    from_data_folder = import_label_file(project, source, files, data, add_classes=True)
    assert from_data_folder.applied == 5
    assert project.labels(source)["red/r2.png"] == "red"


def test_cli_import_and_export(image_project, tmp_path, capsys):
    project, source, _, _ = image_project
    table = tmp_path / "in.csv"
    table.write_text("sample_id,label\nred/r0.png,red\nnope.png,red\n")
    assert main(["labels", "import", str(project.folder), str(table)]) == 1
    captured = capsys.readouterr()
    assert "1 labels imported" in captured.out
    assert "1 unknown sample ids" in captured.out
    assert "in.csv:3: sample 'nope.png' not found in the data" in captured.err

    exported = tmp_path / "out.csv"
    assert main(["labels", "export", str(project.folder), str(exported)]) == 0
    assert exported.read_text() == "sample_id,label\nred/r0.png,red\n"
    assert main(["labels", "export", str(project.folder), str(exported), "--source", "7"]) == 2
    assert "no data source with id 7" in capsys.readouterr().err


def test_import_flags_class_typo(image_project, tmp_path, capsys):
    project, source, _, data = image_project
    table = tmp_path / "typo.csv"
    table.write_text("sample_id,label\nred/r0.png,Adelie\nred/r1.png,Adelei\nblue/b0.png,Gentoo\n")
    assert main(["labels", "import", str(project.folder), str(table)]) == 0
    captured = capsys.readouterr()
    assert "1 new classes named like another class" in captured.out
    assert "new class 'Adelei' is named like 'Adelie'" in captured.err


def test_numbered_classes_not_flagged(image_project, tmp_path):
    project, source, files, _ = image_project
    table = tmp_path / "grades.csv"
    table.write_text("sample_id,label\nred/r0.png,grade 1\nred/r1.png,grade 2\n")
    assert import_label_file(project, source, files, table).similar_classes == []
