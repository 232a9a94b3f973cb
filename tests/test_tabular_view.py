"""Table views offscreen: paging, missing cells, the column-type editor and previews of every task."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PySide6.QtCore import Qt

from sslstudio.data.tabular import open_table
from sslstudio.gui.views import view_for
from sslstudio.gui.views.tabular import (MARKED_COLOUR, MISSING_TEXT, PAGE_ROWS, ColumnTypeEditor, TablePageModel,
                                         dataset_widget)
from sslstudio.tasks.registry import list_tasks


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    count = 1200
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"step": np.arange(count), "x": rng.normal(size=count), "y": rng.normal(size=count),
                          "colour": rng.choice(["red", "blue"], size=count), "kind": ["a", "b"] * (count // 2)})
    frame.loc[3, "x"] = np.nan
    path = tmp_path_factory.mktemp("view") / "rows.csv"
    frame.to_csv(path, index=False)
    return open_table(path, label_column="kind", order_column="step")


def test_model_pages_rows(qtbot, table):
    model = TablePageModel(table.table, table.column_types)
    assert model.rowCount() == PAGE_ROWS
    model.fetchMore()
    assert model.rowCount() == 2 * PAGE_ROWS
    model.fetchMore()
    assert model.rowCount() == len(table)
    assert not model.canFetchMore()


def test_model_shows_missing_not_nan(qtbot, table):
    model = TablePageModel(table.table, table.column_types)
    column = list(table.table.columns).index("x")
    assert model.data(model.index(3, column)) == MISSING_TEXT


def test_model_header_names_type(qtbot, table):
    model = TablePageModel(table.table, table.column_types)
    column = list(table.table.columns).index("colour")
    assert model.headerData(column, Qt.Orientation.Horizontal) == "colour\n(categorical)"


def test_dataset_widget_view_fetches_on_scroll(qtbot, table):
    widget = dataset_widget(table)
    qtbot.addWidget(widget)
    widget.show()
    view = widget.table_view
    view.scrollToBottom()
    qtbot.waitUntil(lambda: view.model().rowCount() > PAGE_ROWS, timeout=2000)
    assert view.model().rowCount() > PAGE_ROWS


def test_type_editor_emits_overrides(qtbot, table):
    editor = ColumnTypeEditor(table.column_types, "kind")
    qtbot.addWidget(editor)
    with qtbot.waitSignal(editor.optionsChanged) as signal:
        editor.choosers["y"].setCurrentText("ignore")
    assert signal.args[0] == {"column_types": {"y": "ignore"}, "label_column": "kind"}


def test_type_editor_options_reopen_table(qtbot, table):
    editor = ColumnTypeEditor(table.column_types, "kind")
    qtbot.addWidget(editor)
    editor.choosers["colour"].setCurrentText("ignore")
    reopened = open_table(table.source, order_column="step", **editor.options())
    assert reopened.categorical_columns == []


def test_sample_widget_shows_row(qtbot, table):
    widget = view_for("tabular").sample_widget(table, 3)
    qtbot.addWidget(widget)
    values = [widget.item(row, 1).text() for row in range(widget.rowCount())]
    assert MISSING_TEXT in values
    assert "nan" not in values


@pytest.mark.parametrize("cls", list_tasks("tabular"), ids=lambda cls: cls.name)
def test_preview_highlights_marked_cells(qtbot, table, cls):
    task = cls(table.spec)
    item = task.preview(table.batch(range(8)), torch.Generator().manual_seed(0))[0]
    widget = view_for("tabular").preview_widget(item, task)
    qtbot.addWidget(widget)
    highlighted = [widget.cells.item(0, column).background().color() == MARKED_COLOUR
                   for column in range(widget.cells.columnCount())]
    assert highlighted == item.input["marked"]
    assert [widget.cells.item(1, column).text() for column in range(widget.cells.columnCount())] == \
        item.target["cells"]


def test_thumbnail_is_none(table):
    assert view_for("tabular").thumbnail(table, 0, 64) is None
