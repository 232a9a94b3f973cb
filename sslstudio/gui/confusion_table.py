"""A confusion matrix drawn as a table: class names on both axes, counts in the cells, shading by row share."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGridLayout, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QWidget

# The shading runs from white (0 % of the true class) to this color (100 %).
FULL_SHADE = QColor("#2b6cb0")


def shade(fraction: float) -> QColor:
    """Return the background color of a cell holding ``fraction`` (0 to 1) of its row."""
    fraction = min(max(fraction, 0.0), 1.0)
    white = QColor("white")
    return QColor(round(white.red() + (FULL_SHADE.red() - white.red()) * fraction),
                  round(white.green() + (FULL_SHADE.green() - white.green()) * fraction),
                  round(white.blue() + (FULL_SHADE.blue() - white.blue()) * fraction))


class ConfusionTable(QWidget):
    """A K×K table, rows the true class and columns the predicted class.

    Each cell shows the count and is shaded by its share of the row, so the
    diagonal reads as per-class recall whatever the class sizes.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.table = QTableWidget()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        for header in (self.table.horizontalHeader(), self.table.verticalHeader()):
            header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
            header.setMinimumSectionSize(20)
        self.table.verticalHeader().setDefaultSectionSize(22)
        predicted = QLabel("predicted")
        predicted.setAlignment(Qt.AlignmentFlag.AlignCenter)
        true = QLabel("true")
        true.setAlignment(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(predicted, 0, 1)
        layout.addWidget(true, 1, 0)
        layout.addWidget(self.table, 1, 1)

    def set_matrix(self, matrix: Sequence[Sequence[int]], class_names: Sequence[str]) -> None:
        """Show ``matrix`` (K×K counts, ``matrix[true][predicted]``) with ``class_names`` (K) on both axes.

        Raises:
            ValueError: if the matrix is not K×K for the K class names.
        """
        size = len(class_names)
        counts = np.asarray(matrix, dtype=np.int64) if len(matrix) else np.zeros((0, 0), np.int64)
        if counts.shape != (size, size):
            raise ValueError(f"confusion matrix of shape {counts.shape} does not match {size} classes")
        totals = counts.sum(axis=1, keepdims=True)
        fractions = counts / np.maximum(totals, 1)
        self.table.clear()
        self.table.setRowCount(size)
        self.table.setColumnCount(size)
        self.table.setHorizontalHeaderLabels(list(class_names))
        self.table.setVerticalHeaderLabels(list(class_names))
        for row in range(size):
            for column in range(size):
                item = QTableWidgetItem(str(counts[row, column]))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setBackground(shade(fractions[row, column]))
                item.setForeground(QColor("white") if fractions[row, column] > 0.5 else QColor("black"))
                item.setToolTip(f"true {class_names[row]}, predicted {class_names[column]}: {counts[row, column]} "
                                f"({fractions[row, column]:.0%} of the true class)")
                self.table.setItem(row, column, item)

    def counts(self) -> list[list[int]]:
        """Return the counts shown, row by row."""
        return [[int(self.table.item(row, column).text()) for column in range(self.table.columnCount())]
                for row in range(self.table.rowCount())]
