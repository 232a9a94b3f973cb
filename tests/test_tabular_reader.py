"""The table reader on files built here: formats, encodings, detection, types, splits and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from sslstudio.data.base import DataError, open_dataset
from sslstudio.data.tabular import MISSING_INDEX, RESERVED_INDICES, UNKNOWN_INDEX, open_table
from sslstudio.evaluation.splits import holdout_mask

ROWS = [
    ("a1", "red", "1.5", "true", "2024-01-05", "alpha"),
    ("a2", "blue", "2.5", "false", "2024-01-06", "beta"),
    ("a3", "red", "", "true", "2024-01-07", "alpha"),
    ("a4", "green", "4.0", "false", "2024-01-08", "beta"),
    ("a5", "blue", "5.5", "true", "2024-01-09", "alpha"),
    ("a6", "red", "6.0", "true", "2024-01-10", "beta"),
]
HEADER = ("id", "colour", "size", "flag", "day", "kind")


def write_text(path, separator=",", decimal=".", encoding="utf-8", rows=ROWS, header=HEADER):
    lines = [separator.join(header)]
    for row in rows:
        lines.append(separator.join(cell.replace(".", decimal) if cell[:1].isdigit() and "-" not in cell else cell
                                    for cell in row))
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def test_csv_types_inferred(tmp_path):
    dataset = open_table(write_text(tmp_path / "t.csv"), label_column="kind")
    assert dataset.column_types == {"id": "identifier", "colour": "categorical", "size": "numeric",
                                    "flag": "boolean", "day": "date", "kind": "categorical"}


def test_label_column_not_an_input(tmp_path):
    dataset = open_table(write_text(tmp_path / "t.csv"), label_column="kind")
    assert "kind" not in dataset.numeric_columns + dataset.categorical_columns
    assert dataset.label_column("kind") == ["alpha", "beta", "alpha", "beta", "alpha", "beta"]


def test_feature_as_label_raises(tmp_path):
    dataset = open_table(write_text(tmp_path / "t.csv"), label_column="kind")
    with pytest.raises(ValueError, match="label_column=colour"):
        dataset.label_column("colour")


def test_identifier_gives_sample_ids(tmp_path):
    dataset = open_table(write_text(tmp_path / "t.csv"))
    assert dataset.ids == ["a1", "a2", "a3", "a4", "a5", "a6"]


def test_batch_layout(tmp_path):
    dataset = open_table(write_text(tmp_path / "t.csv"), label_column="kind")
    numeric, missing, categorical = dataset.batch([0, 2])
    assert dataset.numeric_columns == ["size", "day"]
    assert dataset.categorical_columns == ["colour", "flag"]
    assert numeric.shape == (2, 2)
    assert categorical.dtype == torch.int64
    assert missing[1].tolist() == [1.0, 0.0]
    assert numeric[1, 0].item() == 0.0


def test_missing_stays_missing(tmp_path):
    rows = [("x", "", "1"), ("y", "NA", "2"), ("x", "z", "3")] * 4
    path = write_text(tmp_path / "t.csv", rows=rows, header=("a", "b", "c"))
    dataset = open_table(path)
    assert dataset.table["b"].isna().sum() == 8
    assert "nan" not in set(dataset.table["b"].dropna())
    assert "nan" not in dataset.vocabularies[dataset.categorical_columns.index("b")]


def test_missing_category_index(tmp_path):
    rows = [("x", "", "1"), ("y", "z", "2")] * 4
    dataset = open_table(write_text(tmp_path / "t.csv", rows=rows, header=("a", "b", "c")))
    column = dataset.categorical_columns.index("b")
    assert dataset.batch([0])[2][0, column].item() == MISSING_INDEX


def test_semicolon_and_decimal_comma(tmp_path):
    dataset = open_table(write_text(tmp_path / "t.csv", separator=";", decimal=","), label_column="kind")
    assert dataset.table["size"].tolist()[:2] == [1.5, 2.5]


def test_tsv(tmp_path):
    dataset = open_table(write_text(tmp_path / "t.tsv", separator="\t"), label_column="kind")
    assert dataset.column_types["size"] == "numeric"


def test_utf8_bom_not_in_header(tmp_path):
    dataset = open_table(write_text(tmp_path / "t.csv", encoding="utf-8-sig"), label_column="kind")
    assert list(dataset.table.columns)[0] == "id"


def test_utf8_bom_not_reported(tmp_path):
    dataset = open_table(write_text(tmp_path / "t.csv", encoding="utf-8-sig"), label_column="kind")
    assert len(dataset.report) == 0


def test_latin1_fallback_reported(tmp_path):
    rows = [(f"r{i}", "Zürich" if i % 2 else "Genève", str(i)) for i in range(8)]
    dataset = open_table(write_text(tmp_path / "t.csv", encoding="latin-1", rows=rows, header=("id", "city", "n")))
    assert set(dataset.table["city"]) == {"Zürich", "Genève"}
    assert any("Latin-1" in issue.reason for issue in dataset.report.issues)


def test_quoted_newline_is_one_record(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('id,note,value\n1,"first line\nsecond line, with comma",3.5\n2,plain,4.5\n3,other,5.0\n',
                    encoding="utf-8")
    dataset = open_table(path)
    assert len(dataset) == 3
    assert dataset.table["note"].iloc[0] == "first line\nsecond line, with comma"


def test_parquet(tmp_path):
    frame = pd.DataFrame({"size": [1.0, np.nan, 3.0, 4.0], "colour": ["a", None, "b", "a"],
                          "flag": [True, False, True, True], "kind": ["p", "q", "p", "q"]})
    frame.to_parquet(tmp_path / "t.parquet")
    dataset = open_table(tmp_path / "t.parquet", label_column="kind")
    assert dataset.column_types == {"size": "numeric", "colour": "categorical", "flag": "boolean",
                                    "kind": "categorical"}
    assert dataset.table["colour"].isna().tolist() == [False, True, False, False]


def test_excel(tmp_path):
    frame = pd.DataFrame({"size": [1.5, 2.0, None, 4.0], "colour": ["a", "b", "a", None], "kind": ["p", "q", "p", "q"]})
    frame.to_excel(tmp_path / "t.xlsx", index=False)
    dataset = open_table(tmp_path / "t.xlsx", label_column="kind")
    assert dataset.column_types["size"] == "numeric"
    assert dataset.missing[:, 0].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert dataset.table["colour"].isna().tolist() == [False, False, False, True]


def test_open_dataset_picks_tabular(tmp_path):
    dataset = open_dataset(write_text(tmp_path / "t.csv"))
    assert dataset.modality == "tabular"


def test_bad_number_reported_with_row_and_column(tmp_path):
    rows = [(str(i), f"{i}.5") for i in range(30)] + [("30", "oops")]
    dataset = open_table(write_text(tmp_path / "t.csv", rows=rows, header=("n", "value")))
    issues = [issue for issue in dataset.report.issues if "oops" in issue.reason]
    assert issues[0].location == "row 31, column 'value'"
    assert dataset.column_types["value"] == "numeric"
    assert np.isnan(dataset.table["value"].iloc[30])


def test_long_record_skipped_with_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3,4,5\n6,7\n8,9\n", encoding="utf-8")
    dataset = open_table(path)
    assert len(dataset) == 3
    assert dataset.report.skipped[0].location == "line 3"


def test_statistics_from_training_split_only(tmp_path):
    ids = [f"s{i}" for i in range(200)]
    held_out = holdout_mask(ids, 0.2)
    values = np.where(held_out, 1000.0, np.arange(200) % 7)
    frame = pd.DataFrame({"id": ids, "value": values, "kind": ["a", "b"] * 100})
    frame.to_csv(tmp_path / "t.csv", index=False)
    dataset = open_table(tmp_path / "t.csv", label_column="kind", id_columns="id")
    assert dataset.mean[0] == pytest.approx(values[~held_out].mean())
    assert dataset.std[0] == pytest.approx(values[~held_out].std())


def test_unseen_category_maps_to_unknown(tmp_path):
    ids = [f"s{i}" for i in range(200)]
    held_out = holdout_mask(ids, 0.2)
    colours = np.where(held_out, "violet", np.array(["red", "blue"] * 100))
    frame = pd.DataFrame({"id": ids, "colour": colours, "value": np.arange(200.0)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    dataset = open_table(tmp_path / "t.csv", id_columns="id")
    column = dataset.categorical_columns.index("colour")
    assert "violet" not in dataset.vocabularies[column]
    assert set(dataset.categorical[torch.from_numpy(held_out), column].tolist()) == {UNKNOWN_INDEX}
    assert dataset.categorical[~torch.from_numpy(held_out), column].min().item() >= RESERVED_INDICES


def test_column_type_override(tmp_path):
    dataset = open_table(write_text(tmp_path / "t.csv"), label_column="kind", column_types="size=categorical")
    assert "size" in dataset.categorical_columns


def test_ignore_columns_kept_as_metadata(tmp_path):
    dataset = open_table(write_text(tmp_path / "t.csv"), label_column="kind", ignore_columns=["colour", "flag"])
    assert dataset.categorical_columns == []
    assert "colour" in dataset.metadata.columns


def test_invalid_type_override_raises(tmp_path):
    with pytest.raises(ValueError, match="column_types"):
        open_table(write_text(tmp_path / "t.csv"), column_types={"size": "float"})


def test_absent_label_column_raises(tmp_path):
    with pytest.raises(DataError, match="available columns"):
        open_table(write_text(tmp_path / "t.csv"), label_column="species")


def test_empty_file_raises(tmp_path):
    (tmp_path / "t.csv").write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        open_table(tmp_path / "t.csv")


def test_header_only_raises(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,c\n", encoding="utf-8")
    with pytest.raises(DataError, match="no data rows"):
        open_table(tmp_path / "t.csv")


def test_no_input_column_raises(tmp_path):
    with pytest.raises(DataError, match="no numeric"):
        open_table(write_text(tmp_path / "t.csv"), label_column="kind",
                   ignore_columns="colour,size,flag,day")


def test_order_column_sorts_rows(tmp_path):
    rows = [("3", "30.0"), ("1", "10.0"), ("2", "20.0"), ("4", "40.0")]
    dataset = open_table(write_text(tmp_path / "t.csv", rows=rows, header=("step", "value")), order_column="step")
    assert dataset.table["value"].tolist() == [10.0, 20.0, 30.0, 40.0]
    assert dataset.batch([3]).has_following.tolist() == [False]


def test_penguins_sample_missing_cells(tmp_path):
    from sslstudio.data.samples import get_sample

    dataset = get_sample("penguins").open()
    assert int(dataset.missing.sum()) == 8
    assert dataset.metadata["species"].isna().sum() == 0


def test_input_column_as_target_names_both_fixes(tmp_path):
    dataset = open_table(write_text(tmp_path / "t.csv"), label_column="kind")
    with pytest.raises(ValueError) as caught:
        dataset.label_column("colour")
    assert "label_column=colour" in str(caught.value)
    assert "--data-option ignore_columns=colour" in str(caught.value)
