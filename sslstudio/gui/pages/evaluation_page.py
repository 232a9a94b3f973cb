"""Evaluation page: held-out metrics of the pretrained model beside the scratch baseline, the confusion matrix,
the misclassified samples in the modality's own view, an embedding scatter and the label-efficiency curve."""

from __future__ import annotations

import logging
import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QScrollArea, QSplitter,
                               QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from sslstudio.gui.confusion_table import ConfusionTable
from sslstudio.gui.embedding_scatter import EmbeddingScatter, choose_points
from sslstudio.gui.label_efficiency_panel import LabelEfficiencyPanel
from sslstudio.gui.state import AppState
from sslstudio.gui.views import view_for
from sslstudio.training.config import RunConfig
from sslstudio.training.events import RunResult

logger = logging.getLogger(__name__)

NO_RUN = "No finished run yet. Train a model on the Training page first; its held-out results appear here."
MODELS = {"Pretrained": "pretrained", "Scratch baseline": "scratch"}
SUMMARY_ROWS = (("accuracy", "accuracy"), ("balanced accuracy", "balanced_accuracy"), ("macro-F1", "macro_f1"),
                ("ROC AUC", "roc_auc"))
DASH = "—"
ROW_HEIGHT = 22
SELECT_SAMPLE = "Select a sample in the list or the scatter to see it here"


def format_metric(value) -> str:
    """Return ``value`` with three decimals, or a dash when it is missing or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{value:.3f}"


def metric_rows(result: RunResult) -> list[tuple[str, str, str]]:
    """Return (name, pretrained, scratch) text rows: the summary metrics, then recall per class.

    ROC AUC appears only when either model has it (two classes, both held out).
    """
    models = (result.pretrained, result.scratch)
    rows = []
    for title, key in SUMMARY_ROWS:
        if key == "roc_auc" and not any(key in metrics for metrics in models):
            continue
        rows.append((title, *(format_metric(metrics.get(key)) for metrics in models)))
    for name in result.class_names:
        rows.append((f"recall of {name}", *(format_metric(metrics.get("per_class_recall", {}).get(name))
                                            for metrics in models)))
    return rows


def _read_only_table(columns: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
    table.setWordWrap(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    return table


class EvaluationPage(QWidget):
    """The held-out evaluation of one finished ``RunResult``. Each ``show_result`` call replaces it.

    The result's indices refer to the dataset open in ``state``; opening other
    data clears the page.
    """

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.result: RunResult | None = None
        self.sample_view: QWidget | None = None
        self._index_of: dict[str, int] = {}

        self.message = QLabel(NO_RUN)
        self.metrics_table = _read_only_table(["metric", "Pretrained", "Scratch baseline"])
        self.counts = QLabel()
        self.counts.setWordWrap(True)
        metrics_box = QGroupBox("Held-out metrics")
        metrics_layout = QVBoxLayout(metrics_box)
        metrics_layout.addWidget(self.metrics_table)
        metrics_layout.addWidget(self.counts)

        self.model_choice = QComboBox()
        self.model_choice.addItems(list(MODELS))
        self.model_choice.currentTextChanged.connect(lambda _text: self._show_model())
        self.confusion = ConfusionTable()
        confusion_box = QGroupBox("Confusion matrix")
        confusion_layout = QVBoxLayout(confusion_box)
        model_row = QHBoxLayout()
        model_row.addWidget(QLabel("Model:"))
        model_row.addWidget(self.model_choice, 1)
        confusion_layout.addLayout(model_row)
        confusion_layout.addWidget(self.confusion)

        self.mistakes = _read_only_table(["sample", "true", "predicted", "confidence"])
        self.mistakes.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.mistakes.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.mistakes.itemSelectionChanged.connect(self._mistake_selected)
        self.mistakes_title = QLabel()
        # The sample view scrolls, so a large view (a video, a big graph) never widens the page.
        sample_panel = QWidget()
        self.sample_area = QVBoxLayout(sample_panel)
        self.sample_caption = QLabel(SELECT_SAMPLE)
        self.sample_caption.setWordWrap(True)
        self.sample_area.addWidget(self.sample_caption)
        self.sample_area.addStretch(1)
        mistakes_box = QGroupBox("Misclassified held-out samples")
        mistakes_layout = QHBoxLayout(mistakes_box)
        mistakes_list = QVBoxLayout()
        mistakes_list.addWidget(self.mistakes_title)
        mistakes_list.addWidget(self.mistakes)
        mistakes_layout.addLayout(mistakes_list, 3)
        sample_scroll = QScrollArea()
        sample_scroll.setWidgetResizable(True)
        sample_scroll.setWidget(sample_panel)
        sample_scroll.setMinimumWidth(160)
        mistakes_layout.addWidget(sample_scroll, 2)

        self.scatter = EmbeddingScatter()
        self.scatter.sample_clicked.connect(self.show_sample)

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(metrics_box)
        left.addWidget(confusion_box)
        left.setMinimumWidth(440)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(mistakes_box)
        self.label_efficiency = LabelEfficiencyPanel()
        views = QTabWidget()
        views.addTab(self.scatter, "Embeddings")
        views.addTab(self.label_efficiency, "Label efficiency")
        right.addWidget(views)
        right.setSizes([1, 1])
        self.content = QSplitter(Qt.Orientation.Horizontal)
        self.content.addWidget(left)
        self.content.addWidget(right)
        self.content.setStretchFactor(0, 2)
        self.content.setStretchFactor(1, 3)
        self.content.setVisible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.content, 1)
        state.data_changed.connect(self.clear)

    def clear(self) -> None:
        """Clear the shown result and show the line that requests a training run."""
        self.result = None
        self.scatter.clear()
        self.label_efficiency.set_run(None, None, [])
        self._set_sample_view(None, SELECT_SAMPLE)
        self.message.setText(NO_RUN)
        self.content.setVisible(False)

    def show_result(self, result: RunResult, config: RunConfig | None = None) -> None:
        """Show a finished run's held-out evaluation and start its embedding plot on a worker thread.

        With the run's ``config``, the label-efficiency panel can compute its curve on the same settings.
        """
        if result.status != "finished" or self.state.data is None:
            return
        dataset = self.state.data.dataset
        self.label_efficiency.set_run(config, dataset, self.state.labels())
        self.result = result
        self._index_of = {sample_id: index for index, sample_id in enumerate(dataset.ids)}
        self._set_sample_view(None, SELECT_SAMPLE)
        self._fill_metrics(result)
        self.model_choice.setEnabled(bool(result.scratch))
        self.model_choice.setCurrentText("Pretrained")
        self._show_model()
        self.message.setText(f"Held-out evaluation of the last run ({len(result.class_names)} classes)")
        self.content.setVisible(True)

        labeled = result.extras.get("labeled_indices", [])
        indices = choose_points(labeled, result.extras.get("holdout_indices", []))
        labels = self.state.labels()
        encoder = getattr(result.model, "encoder", None)
        if encoder is None:
            self.scatter.clear()
            return
        self.scatter.set_samples(encoder, dataset, indices, [labels[index] for index in indices], training=labeled)

    def _fill_metrics(self, result: RunResult) -> None:
        rows = metric_rows(result)
        self.metrics_table.setRowCount(len(rows))
        for row, values in enumerate(rows):
            for column, text in enumerate(values):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.metrics_table.setItem(row, column, item)
        per_class = ", ".join(f"{name}: {count}" for name, count in result.extras.get("label_counts", {}).items())
        baseline = "" if result.scratch else " The scratch baseline was not trained in this run."
        self.counts.setText(f"{result.extras.get('holdout_count', result.pretrained.get('count', 0))} held-out "
                            f"samples. Labeled for training per class: {per_class or DASH}.{baseline}")

    def current_metrics(self) -> dict:
        """Return the metric dict of the model chosen in the combo box (empty when it was not trained)."""
        if self.result is None:
            return {}
        return getattr(self.result, MODELS[self.model_choice.currentText()])

    def _show_model(self) -> None:
        metrics = self.current_metrics()
        if self.result is None:
            return
        size = len(self.result.class_names)
        self.confusion.set_matrix(metrics.get("confusion_matrix", [[0] * size for _ in range(size)]),
                                  self.result.class_names)
        mistakes = metrics.get("misclassified", [])
        self.mistakes.clearSelection()
        self.mistakes.setRowCount(len(mistakes))
        for row, mistake in enumerate(mistakes):
            values = (mistake["sample_id"], mistake["true"], mistake["predicted"], f"{mistake['confidence']:.2f}")
            for column, text in enumerate(values):
                self.mistakes.setItem(row, column, QTableWidgetItem(str(text)))
        self.mistakes_title.setText(f"{len(mistakes)} of {metrics.get('count', 0)} held-out samples, "
                                    "most confident mistakes first")

    def _mistake_selected(self) -> None:
        rows = self.mistakes.selectionModel().selectedRows()
        if not rows:
            return
        sample_id = self.mistakes.item(rows[0].row(), 0).text()
        if sample_id not in self._index_of:
            logger.warning("Misclassified sample %s is not in the open dataset", sample_id)
            return
        self.show_sample(self._index_of[sample_id])

    def show_sample(self, index: int) -> None:
        """Show sample ``index`` of the open dataset in its modality's view, with its label."""
        dataset = self.state.data.dataset
        label = self.state.labels()[index]
        widget = view_for(dataset.modality).sample_widget(dataset, index, self)
        self._set_sample_view(widget, f"{dataset.ids[index]} · label {label if label is not None else DASH}")

    def _set_sample_view(self, widget: QWidget | None, caption: str) -> None:
        if self.sample_view is not None:
            self.sample_area.removeWidget(self.sample_view)
            self.sample_view.deleteLater()
        self.sample_view = widget
        self.sample_caption.setText(caption)
        if widget is not None:
            self.sample_area.insertWidget(1, widget, 1)

    def wait(self, milliseconds: int = 120_000) -> bool:
        """Block until the embedding plot's and the curve's worker jobs end; return whether they did."""
        return self.scatter.wait(milliseconds) and self.label_efficiency.wait(milliseconds)

    def shutdown(self) -> None:
        """Cancel a label-efficiency curve in progress and wait for every worker job of the page."""
        self.label_efficiency.cancel()
        self.wait()
