"""A form built from a task's parameter declarations (``TaskParams.describe``)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLineEdit, QSpinBox, QWidget


def _parse_sequence(text: str, template: tuple) -> tuple:
    kind = type(template[0]) if template else str
    return tuple(kind(part.strip()) for part in text.split(",") if part.strip())


class ParamForm(QWidget):
    """Editable parameters of one task; ``changed`` fires after any edit."""

    changed = Signal()

    def __init__(self, rows: list[dict[str, Any]], values: dict[str, Any] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.rows = rows
        self.editors: dict[str, QWidget] = {}
        layout = QFormLayout(self)
        values = values or {}
        for row in rows:
            value = values.get(row["name"], row["default"])
            editor = self._make_editor(row, value)
            editor.setToolTip(row.get("help", ""))
            self.editors[row["name"]] = editor
            layout.addRow(row["name"].replace("_", " "), editor)

    def _make_editor(self, row: dict[str, Any], value: Any) -> QWidget:
        low, high, choices = row.get("minimum"), row.get("maximum"), row.get("choices")
        if isinstance(value, bool):
            editor = QCheckBox()
            editor.setChecked(value)
            editor.toggled.connect(self.changed)
        elif isinstance(value, tuple):
            editor = QLineEdit(", ".join(map(str, value)))
            if choices:
                editor.setPlaceholderText("from: " + ", ".join(map(str, choices)))
            editor.editingFinished.connect(self.changed)
        elif choices is not None:
            editor = QComboBox()
            for choice in choices:
                editor.addItem(str(choice), choice)
            editor.setCurrentIndex(list(choices).index(value) if value in choices else 0)
            editor.currentIndexChanged.connect(self.changed)
        elif isinstance(value, int):
            editor = QSpinBox()
            editor.setRange(int(low) if low is not None else -1_000_000, int(high) if high is not None else 1_000_000)
            editor.setValue(value)
            editor.valueChanged.connect(self.changed)
        elif isinstance(value, float):
            editor = QDoubleSpinBox()
            editor.setDecimals(3)
            editor.setSingleStep(0.05)
            editor.setRange(float(low) if low is not None else -1e6, float(high) if high is not None else 1e6)
            editor.setValue(value)
            editor.valueChanged.connect(self.changed)
        else:
            editor = QLineEdit(str(value))
            editor.editingFinished.connect(self.changed)
        return editor

    def values(self) -> dict[str, Any]:
        """Return the edited values; sequences are parsed from comma-separated text.

        Raises:
            ValueError: if a sequence entry cannot be parsed; the message names the parameter.
        """
        result = {}
        for row in self.rows:
            editor = self.editors[row["name"]]
            if isinstance(editor, QCheckBox):
                result[row["name"]] = editor.isChecked()
            elif isinstance(editor, QComboBox):
                result[row["name"]] = editor.currentData()
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                result[row["name"]] = editor.value()
            elif isinstance(row["default"], tuple):
                try:
                    result[row["name"]] = _parse_sequence(editor.text(), row["default"])
                except ValueError as error:
                    raise ValueError(f"{row['name']}: cannot read {editor.text()!r} ({error})") from error
            else:
                result[row["name"]] = editor.text()
        return result
