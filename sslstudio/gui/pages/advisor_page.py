"""Advisor page: rank candidate pretext tasks and metadata proxies by a short pretraining and a linear probe.

The ranking runs ``sslstudio.evaluation.advisor.advise`` on a ``BackgroundJob``.
A chosen candidate starts a full run on the Training page through
``TrainingPage.start_with``.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Iterator, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QListWidget, QListWidgetItem, QProgressBar, QPushButton, QSpinBox, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from sslstudio.data.base import Dataset
from sslstudio.evaluation.advisor import (ADVICE_EPOCHS, DEFAULT_ADVICE_STEPS, Advice, Candidate, CandidateScore,
                                          advise, default_candidates)
from sslstudio.gui.state import AppState
from sslstudio.gui.threads import BackgroundJob, CancellableJobOwner
from sslstudio.training.config import RunConfig
from sslstudio.training.context import RunContext
from sslstudio.training.devices import select_device
from sslstudio.training.events import Finished, Log, Progress

logger = logging.getLogger(__name__)

COLUMNS = ("rank", "candidate", "kind", "probe score (mean ± std)", "seconds")


def run_advice(config: RunConfig, dataset: Dataset, labels: list[str | None], candidates: Sequence[Candidate],
               folds: int, cancel: threading.Event) -> Iterator:
    """Yield the events of ``advise`` on the device ``config.device`` names (runs on a worker thread).

    Raises:
        DataError: if some class has fewer than 2 labeled samples outside the held-out split.
    """
    context = RunContext(dataset=dataset, labels=labels, device=select_device(config.device), cancel=cancel)
    yield from advise(config, context, candidates, folds=folds)


def _spin(low: int, high: int, value: int, tooltip: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setToolTip(tooltip)
    return box


def _score_text(score: CandidateScore) -> str:
    return f"failed: {score.error}" if score.error else f"{score.mean:.3f} ± {score.std:.3f}"


class AdvisorPage(CancellableJobOwner, QWidget):
    """Ranks the checked candidates and starts a full run of one on ``training_page``.

    ``run_started`` is emitted after a full run started, so the window can show the Training page.
    """

    cancelling_text = "Cancelling after the current step; the candidates scored so far stay…"

    run_started = Signal()

    def __init__(self, state: AppState, training_page, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.training_page = training_page
        self.job: BackgroundJob | None = None
        self.cancel_event = threading.Event()
        self.advice: Advice | None = None
        self.advice_label_column = ""
        self._running_label_column = ""
        self._ranking_started = time.monotonic()

        settings = QGroupBox("Candidates and budget")
        form = QFormLayout(settings)
        self.candidate_list = QListWidget()
        self.candidate_list.setToolTip("Pretext tasks of the modality, metadata columns as proxies, and the "
                                       "untrained encoder as reference; uncheck those not to rank")
        form.addRow(self.candidate_list)
        self.label_column = QComboBox()
        self.label_column.currentTextChanged.connect(self._reload_candidates)
        self.labels_per_class = _spin(0, 100_000, 5, "Labeled samples per class for the probe (0 = every labeled "
                                      "sample); at least 2 per class are needed")
        self.steps = _spin(1, 1_000_000, DEFAULT_ADVICE_STEPS, "Pretraining steps per candidate")
        self.folds = _spin(2, 20, 5, "Cross-validation folds of the probe, at most (fewer when a class has fewer "
                           "labeled samples)")
        for label, widget in (("label column", self.label_column), ("labels per class", self.labels_per_class),
                              ("steps per candidate", self.steps), ("folds", self.folds)):
            form.addRow(label, widget)

        self.rank_button = QPushButton("Rank tasks")
        self.rank_button.clicked.connect(self.rank)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addWidget(self.rank_button)
        buttons.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.status = QLabel("Check the candidates to compare, then rank them.")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(settings, 1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.progress)
        left_layout.addWidget(self.status)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_run_buttons)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.top_button = QPushButton("Start full run with top pick")
        self.top_button.clicked.connect(self.start_top)
        self.selected_button = QPushButton("Start full run with selected")
        self.selected_button.clicked.connect(self.start_selected)
        run_buttons = QHBoxLayout()
        run_buttons.addWidget(self.top_button)
        run_buttons.addWidget(self.selected_button)
        run_buttons.addStretch(1)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(QLabel("<b>Ranking</b> (balanced accuracy of a linear probe on the embeddings, "
                                      "cross-validated; hover a score for its folds)"))
        right_layout.addWidget(self.table, 1)
        right_layout.addWidget(self.summary)
        right_layout.addLayout(run_buttons)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([340, 680])
        layout = QHBoxLayout(self)
        layout.addWidget(splitter)
        self._update_run_buttons()
        state.data_changed.connect(self._data_changed)

    def _data_changed(self) -> None:
        self.label_column.blockSignals(True)
        self.label_column.clear()
        data = self.state.data
        if data is not None:
            self.label_column.addItems([column for column in data.dataset.metadata.columns
                                        if column not in {"sample_id", "path"}])
            self.label_column.setCurrentText(data.label_column)
        self.label_column.blockSignals(False)
        self._reload_candidates()
        self._show_advice(None, "")

    def _reload_candidates(self) -> None:
        """List the candidates for the current label column, all checked."""
        self.candidate_list.clear()
        if self.state.data is None:
            return
        for candidate in default_candidates(self.state.data.dataset, self.label_column.currentText()):
            item = QListWidgetItem(f"{candidate.name}  ({candidate.kind})")
            item.setData(Qt.ItemDataRole.UserRole, candidate)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.candidate_list.addItem(item)

    def checked_candidates(self) -> list[Candidate]:
        items = (self.candidate_list.item(row) for row in range(self.candidate_list.count()))
        return [item.data(Qt.ItemDataRole.UserRole) for item in items if item.checkState() == Qt.CheckState.Checked]

    def set_checked(self, names: set[str]) -> None:
        """Check exactly the candidates whose name is in ``names``."""
        for row in range(self.candidate_list.count()):
            item = self.candidate_list.item(row)
            checked = item.data(Qt.ItemDataRole.UserRole).name in names
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def build_config(self) -> RunConfig:
        """Return the Training page's settings with this page's label column, labels and step budget.

        Raises:
            ValueError: if a setting is invalid.
        """
        return self.training_page.build_config().with_changes(
            label_column=self.label_column.currentText(), labels_per_class=self.labels_per_class.value(),
            max_pretrain_steps=self.steps.value(), pretrain_epochs=ADVICE_EPOCHS, early_stopping_patience=0)

    def rank(self) -> BackgroundJob | None:
        """Start ranking the checked candidates on a worker thread; return the job (None after a message)."""
        if self.is_running():
            return None
        if self.state.data is None:
            self._show_message("Open a sample or a project first.")
            return None
        candidates = self.checked_candidates()
        if not candidates:
            self._show_message("No candidate is checked; check at least one.")
            return None
        try:
            config = self.build_config()
        except ValueError as error:
            self._show_message(f"Invalid settings: {error}")
            return None

        labels = self.state.labels() if config.label_column == self.state.data.label_column \
            else self.state.data.dataset.label_column(config.label_column)
        self.cancel_event = threading.Event()
        self.progress.setMaximum(len(candidates))
        self.progress.setValue(0)
        self.progress.setFormat("%v/%m candidates")
        self._ranking_started = time.monotonic()
        self.status.setText(f"Ranking {len(candidates)} candidates, {config.max_pretrain_steps} steps each…")
        self.job = BackgroundJob(run_advice, config, self.state.data.dataset, labels, candidates, self.folds.value(),
                                 self.cancel_event, parent=self)
        self.job.yielded.connect(self.handle_event)
        self.job.errored.connect(self._failed)
        self.job.finished.connect(self._job_finished)

        self.rank_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._update_run_buttons()
        self._running_label_column = config.label_column
        self.job.start()
        return self.job

    def handle_event(self, event) -> None:
        if isinstance(event, Progress) and event.phase == "advise":
            self.progress.setValue(event.step)
            # Candidates cost about the same (one budget of pretraining steps each), so the mean predicts the rest.
            remaining = (time.monotonic() - self._ranking_started) / event.step * (event.total - event.step)
            left = f", about {remaining / 60:.0f} min left" if remaining >= 60 else \
                (f", about {remaining:.0f} s left" if remaining > 0 else "")
            self.progress.setFormat(f"%v/%m candidates{left}")
        elif isinstance(event, Log):
            self.status.setText(html.escape(event.message))
        elif isinstance(event, Finished):
            self._show_advice(event.result.extras["advice"], self._running_label_column)

    def _failed(self, message: str, _details: str) -> None:
        # The worker formats errors as "Type: text"; the advisor's DataError text is what the user acts on.
        text = message.split(": ", 1)[1] if message.startswith("DataError: ") else message
        self._show_message(f"Could not rank the candidates: {text}")

    def _job_finished(self) -> None:
        self.rank_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self._update_run_buttons()

    def _show_message(self, text: str) -> None:
        self.status.setText(f"<span style='color:#b00'>{html.escape(text)}</span>")

    def _show_advice(self, advice: Advice | None, label_column: str) -> None:
        self.advice = advice
        self.advice_label_column = label_column
        scores = advice.scores if advice is not None else []
        self.table.setRowCount(len(scores))
        for row, score in enumerate(scores):
            cells = (str(row + 1), score.candidate.name, score.candidate.kind, _score_text(score),
                     "" if score.error else f"{score.seconds:.1f}")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column in (0, 3, 4):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
            folds = ", ".join(f"{value:.3f}" for value in score.fold_scores)
            self.table.item(row, 3).setToolTip(f"balanced accuracy per fold: {folds}" if folds else score.error)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.summary.setText(self._summary_html(advice))
        if advice is not None:
            self.status.setText(f"Ranked {len(scores)} candidates ({advice.status}).")
        self._update_run_buttons()

    @staticmethod
    def _summary_html(advice: Advice | None) -> str:
        if advice is None:
            return ""
        top = advice.top
        if top is None:
            return html.escape(advice.explanation)
        lead = f"Top pick: <b>{html.escape(top.name)}</b> ({top.kind}). "
        if top.kind == "reference":
            lead += ("No candidate beat the untrained encoder, so there is no pretraining to start from the top "
                     "pick; select a row to run that candidate anyway. ")
        if advice.status == "cancelled":
            lead += "The ranking was cancelled, so it covers only the candidates scored before the cancel. "
        verdict = html.escape(advice.explanation)
        if not advice.significant:
            verdict = f"<span style='color:#b00'>{verdict}</span>"
        return lead + verdict

    def selected_candidate(self) -> Candidate | None:
        rows = self.table.selectionModel().selectedRows()
        if self.advice is None or not rows:
            return None
        score = self.advice.scores[rows[0].row()]
        return None if score.error else score.candidate

    def _update_run_buttons(self) -> None:
        idle = not self.is_running()
        top = self.advice.top if self.advice is not None else None
        selected = self.selected_candidate()
        self.top_button.setEnabled(idle and top is not None and top.kind != "reference")
        self.selected_button.setEnabled(idle and selected is not None and selected.kind != "reference")

    def start_top(self) -> bool:
        return self.start_full_run(self.advice.top if self.advice is not None else None)

    def start_selected(self) -> bool:
        return self.start_full_run(self.selected_candidate())

    def start_full_run(self, candidate: Candidate | None) -> bool:
        """Start a full run of ``candidate`` on the Training page; return whether it started.

        A pretext task runs the transfer strategy with that task alone; a
        metadata proxy runs the proxy strategy on its column (``Candidate.apply``).
        The run uses the label column the ranking used.
        """
        if candidate is None or candidate.kind == "reference":
            return False
        label_column = self.advice_label_column

        def adjust(config: RunConfig) -> RunConfig:
            config = config.with_changes(label_column=label_column)
            if candidate.kind == "task":
                config = config.with_changes(strategy="transfer")
            return candidate.apply(config)

        started = self.training_page.start_with(adjust)
        if started:
            self.run_started.emit()
        return started
