"""Table views: a paged table model, the column-type editor, one row, and task previews.

``TablePageModel`` hands rows to its view a page at a time (``fetchMore``),
so a table of millions of rows opens at once and costs only the rows shown.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage
from PySide6.QtWidgets import (QComboBox, QHeaderView, QLabel, QTableView, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from sslstudio.data.table_columns import COLUMN_TYPES
from sslstudio.tasks.base import PretextTask, PreviewItem

PAGE_ROWS = 500
MISSING_TEXT = "(missing)"
MARKED_COLOUR = QColor(255, 224, 130)
MISSING_COLOUR = QColor(150, 150, 150)
ModelIndex = QModelIndex | QPersistentModelIndex


def format_cell(value: Any) -> str:
    """Return a cell's display text: missing cells read ``(missing)``, never ``nan``."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return MISSING_TEXT
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, pd.Timestamp):
        return value.isoformat(sep=" ").removesuffix(" 00:00:00")
    return str(value)


class TablePageModel(QAbstractTableModel):
    """Read-only model of a DataFrame that exposes ``PAGE_ROWS`` more rows on each ``fetchMore`` call."""

    def __init__(self, frame: pd.DataFrame, column_types: dict[str, str] | None = None, parent=None):
        super().__init__(parent)
        self.frame = frame
        self.column_types = column_types or {}
        self.loaded = min(PAGE_ROWS, len(frame))

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else self.loaded

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else self.frame.shape[1]

    def canFetchMore(self, parent: ModelIndex = QModelIndex()) -> bool:
        return not parent.isValid() and self.loaded < len(self.frame)

    def fetchMore(self, parent: ModelIndex = QModelIndex()) -> None:
        extra = min(PAGE_ROWS, len(self.frame) - self.loaded)
        if extra <= 0:
            return
        self.beginInsertRows(QModelIndex(), self.loaded, self.loaded + extra - 1)
        self.loaded += extra
        self.endInsertRows()

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        value = self.frame.iat[index.row(), index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return format_cell(value)
        if role == Qt.ItemDataRole.ForegroundRole and format_cell(value) == MISSING_TEXT:
            return QBrush(MISSING_COLOUR)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Vertical:
            return str(section + 1)
        name = str(self.frame.columns[section])
        kind = self.column_types.get(name)
        return f"{name}\n({kind})" if kind else name


class ColumnTypeEditor(QWidget):
    """One row per column with its inferred type and a type chooser, plus the label-column chooser.

    ``optionsChanged`` carries the reader options (``label_column`` and
    ``column_types`` overrides) each time the user changes a choice; the
    caller reopens the table with them.
    """

    optionsChanged = Signal(dict)

    def __init__(self, column_types: dict[str, str], label_column: str | None = None, parent=None):
        super().__init__(parent)
        self.inferred = dict(column_types)
        layout = QVBoxLayout(self)
        self.label_choice = QComboBox()
        self.label_choice.addItems(["(no label)", *self.inferred])
        if label_column in self.inferred:
            self.label_choice.setCurrentText(label_column)
        self.label_choice.currentTextChanged.connect(self._emit)
        layout.addWidget(QLabel("Label column"))
        layout.addWidget(self.label_choice)
        self.table = QTableWidget(len(self.inferred), 2)
        self.table.setHorizontalHeaderLabels(["column", "type"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.choosers: dict[str, QComboBox] = {}
        for row, (name, kind) in enumerate(self.inferred.items()):
            self.table.setItem(row, 0, QTableWidgetItem(name))
            chooser = QComboBox()
            chooser.addItems(list(COLUMN_TYPES))
            chooser.setCurrentText(kind)
            chooser.currentTextChanged.connect(self._emit)
            self.table.setCellWidget(row, 1, chooser)
            self.choosers[name] = chooser
        layout.addWidget(self.table)

    def options(self) -> dict[str, Any]:
        """Return the reader options chosen so far: ``column_types`` (changed columns only) and ``label_column``."""
        overrides = {name: chooser.currentText() for name, chooser in self.choosers.items()
                     if chooser.currentText() != self.inferred[name]}
        label = self.label_choice.currentText()
        return {"column_types": overrides, "label_column": None if label == "(no label)" else label}

    def _emit(self, _text: str = "") -> None:
        self.optionsChanged.emit(self.options())


def dataset_widget(dataset, parent=None) -> QWidget:
    """Return the paged table of ``dataset`` above its column-type editor."""
    widget = QWidget(parent)
    layout = QVBoxLayout(widget)
    view = QTableView()
    view.setModel(TablePageModel(dataset.table, dataset.column_types, view))
    layout.addWidget(view, stretch=3)
    editor = ColumnTypeEditor(dataset.column_types, dataset.label_column_name)
    layout.addWidget(editor, stretch=1)
    widget.table_view = view
    widget.type_editor = editor
    return widget


def sample_widget(dataset, index: int, parent=None) -> QWidget:
    """Return one row of ``dataset`` as a two-column table (column, value)."""
    row = dataset.table.iloc[index]
    table = QTableWidget(len(row), 2, parent)
    table.setHorizontalHeaderLabels(["column", "value"])
    for position, (name, value) in enumerate(row.items()):
        kind = dataset.column_types.get(name, "")
        table.setItem(position, 0, QTableWidgetItem(f"{name} ({kind})"))
        table.setItem(position, 1, QTableWidgetItem(format_cell(value)))
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    return table


def preview_widget(item: PreviewItem, task: PretextTask, parent=None) -> QWidget:
    """Return a preview of one row: the task's input and target as two table rows, marked cells highlighted."""
    widget = QWidget(parent)
    layout = QVBoxLayout(widget)
    columns = item.input["columns"]
    table = QTableWidget(2, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.setVerticalHeaderLabels(["input", "target"])
    for row, cells in enumerate((item.input["cells"], item.target["cells"])):
        for column, text in enumerate(cells):
            cell = QTableWidgetItem(text)
            if item.input["marked"][column]:
                cell.setBackground(QBrush(MARKED_COLOUR))
            table.setItem(row, column, cell)
    layout.addWidget(QLabel(f"{task.title}: {item.caption}"))
    layout.addWidget(table)
    widget.cells = table
    return widget


def thumbnail(dataset, index: int, size: int) -> QImage | None:
    """Return None: a table row has no picture."""
    return None
