"""The settings that only one strategy reads: the probe, the supervised weight, the proxy's target."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QLineEdit, QSizePolicy, QSpinBox,
                               QStackedWidget, QWidget)

from sslstudio.training.config import PROBES, PROXY_SOURCES, STRATEGIES

# Shown in the task combo when the proxy uses the first selected task with a classification head.
FIRST_CLASSIFICATION_TASK = "first classification task"


class StrategyOptions(QStackedWidget):
    """One form per strategy; ``changes()`` returns the ``RunConfig`` fields of the shown one."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._pages: dict[str, QWidget] = {}

        transfer = QLabel("Pretrains on the checked pretext tasks, then fine-tunes the whole model on the labels.")
        transfer.setWordWrap(True)
        self._add("transfer", transfer)

        self.probe = QComboBox()
        self.probe.addItems(PROBES)
        self.probe.setToolTip("The classifier fitted on the frozen encoder's embeddings of the labeled samples")
        self.neighbors = QSpinBox()
        self.neighbors.setRange(1, 1000)
        self.neighbors.setValue(5)
        self.probe.currentTextChanged.connect(lambda probe: self.neighbors.setEnabled(probe == "knn"))
        self.neighbors.setEnabled(False)
        self._add("feature-extraction", self._form(("probe", self.probe), ("neighbors (k-NN)", self.neighbors)))

        self.supervised_weight = QDoubleSpinBox()
        self.supervised_weight.setRange(0.0, 100.0)
        self.supervised_weight.setSingleStep(0.1)
        self.supervised_weight.setValue(1.0)
        self.supervised_weight.setToolTip("Weight of the supervised loss; each pretext task keeps the weight set "
                                          "on the Tasks page")
        self._add("multitask", self._form(("supervised weight", self.supervised_weight)))

        self.proxy_source = QComboBox()
        self.proxy_source.addItems(PROXY_SOURCES)
        self.proxy_source.setToolTip("task: a pretext task's output; column: a metadata column's value; "
                                     "pattern: the first group of a regular expression searched in a column")
        self.proxy_task = QComboBox()
        self.proxy_column = QComboBox()
        self.proxy_pattern = QLineEdit()
        self.proxy_pattern.setPlaceholderText(r"_(in|out)bound_")
        self.proxy_source.currentTextChanged.connect(self._proxy_source_changed)
        self._add("proxy", self._form(("proxy target", self.proxy_source), ("task", self.proxy_task),
                                      ("column", self.proxy_column), ("pattern", self.proxy_pattern)))
        self._proxy_source_changed(self.proxy_source.currentText())
        self.set_tasks([])

    @staticmethod
    def _form(*rows: tuple[str, QWidget]) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        for label, widget in rows:
            form.addRow(label, widget)
        return page

    def _add(self, strategy: str, page: QWidget) -> None:
        self._pages[strategy] = page
        self.addWidget(page)

    def _proxy_source_changed(self, source: str) -> None:
        self.proxy_task.setEnabled(source == "task")
        self.proxy_column.setEnabled(source in {"column", "pattern"})
        self.proxy_pattern.setEnabled(source == "pattern")

    def show_strategy(self, strategy: str) -> None:
        """Show the form of ``strategy`` (one of ``STRATEGIES``), sized to that form alone."""
        current = self._pages[strategy]
        # A stacked widget is as tall as its tallest page unless the hidden pages ignore their size hints.
        for page in self._pages.values():
            policy = QSizePolicy.Policy.Preferred if page is current else QSizePolicy.Policy.Ignored
            page.setSizePolicy(policy, policy)
        self.setCurrentWidget(current)
        self.updateGeometry()

    def set_columns(self, columns: list[str]) -> None:
        """Offer the dataset's metadata ``columns`` as proxy targets, keeping the current one when it remains."""
        current = self.proxy_column.currentText()
        self.proxy_column.clear()
        self.proxy_column.addItems(columns)
        if current in columns:
            self.proxy_column.setCurrentText(current)

    def set_tasks(self, names: list[str]) -> None:
        """Offer the checked pretext tasks ``names`` as proxy tasks."""
        current = self.proxy_task.currentText()
        self.proxy_task.clear()
        self.proxy_task.addItems([FIRST_CLASSIFICATION_TASK, *names])
        if current in names:
            self.proxy_task.setCurrentText(current)

    def changes(self, strategy: str) -> dict[str, Any]:
        """Return the ``RunConfig`` fields that ``strategy`` reads, as set in its form.

        Raises:
            ValueError: for a strategy not in ``STRATEGIES``.
        """
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy={strategy!r} is invalid; choose from {', '.join(STRATEGIES)}")
        if strategy == "feature-extraction":
            return {"probe": self.probe.currentText(), "knn_neighbors": self.neighbors.value()}
        if strategy == "multitask":
            return {"supervised_weight": self.supervised_weight.value()}
        if strategy == "proxy":
            source = self.proxy_source.currentText()
            task = self.proxy_task.currentText()
            return {"proxy_source": source,
                    "proxy_task": task if source == "task" and task != FIRST_CLASSIFICATION_TASK else "",
                    "proxy_column": self.proxy_column.currentText() if source != "task" else "",
                    "proxy_pattern": self.proxy_pattern.text() if source == "pattern" else ""}
        return {}

    def apply(self, config) -> None:
        """Show the values of ``config`` (a ``RunConfig``) in the form of its strategy."""
        self.show_strategy(config.strategy)
        self.probe.setCurrentText(config.probe)
        self.neighbors.setValue(config.knn_neighbors)
        self.supervised_weight.setValue(config.supervised_weight)
        self.proxy_source.setCurrentText(config.proxy_source)
        if config.proxy_column:
            self.proxy_column.setCurrentText(config.proxy_column)
        self.proxy_pattern.setText(config.proxy_pattern)
