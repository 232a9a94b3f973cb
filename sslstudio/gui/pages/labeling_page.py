"""Labeling page: the shown sample, class keys 1–9, a virtualized grid for bulk labels, undo and suggestions.

Every label is written to the project store when it is made (the store commits
before returning), so the grid and the progress table only show what is saved.
Labels go through a ``QUndoStack`` whose commands write through the store.
Renaming, merging or deleting a class clears that stack, because its commands
name classes that may no longer exist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from pathlib import Path

import torch
from PySide6.QtCore import QItemSelection, QItemSelectionModel, QModelIndex, QSize, Qt
from PySide6.QtGui import QKeySequence, QShortcut, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (QFileDialog, QGridLayout, QHBoxLayout, QHeaderView, QLabel, QListView, QListWidget,
                               QListWidgetItem, QMessageBox, QPushButton, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from sslstudio.evaluation.splits import holdout_mask
from sslstudio.evaluation.suggestions import latest_pretrained_encoder, suggest_for_dataset
from sslstudio.gui.class_editor import ClassEditor
from sslstudio.gui.errors import show_error
from sslstudio.gui.state import AppState
from sslstudio.gui.threads import BackgroundJob
from sslstudio.gui.thumbnails import THUMBNAIL_SIZE, SampleGridModel
from sslstudio.gui.views import view_for
from sslstudio.project.labels_io import LabelFileError, LabelRow, export_labels, import_label_file, import_labels
from sslstudio.training.config import RunConfig

logger = logging.getLogger(__name__)

SUGGESTION_COUNT = 20
# Fine-tuning uses 5 labels per class by default, so fewer training labels than this get a hint.
MIN_TRAINING_LABELS = 5
# The default share of samples held out for evaluation (chosen by a hash of the sample id).
HOLDOUT_FRACTION = RunConfig.holdout_fraction


def compute_suggestions(dataset, labeled_ids: Collection[str], skipped_ids: Collection[str], count: int,
                        result, project_folder: Path, runs: list[dict]):
    """Suggest samples: by uncertainty with a finished run's model, else by diversity (runs on a worker)."""
    from sslstudio.models.base import build_encoder
    from sslstudio.training.devices import select_device

    device = select_device("auto")
    if result is not None and result.status == "finished" and result.model is not None:
        return suggest_for_dataset(dataset, labeled_ids, count, classifier=result.model,
                                   class_names=result.class_names, exclude_ids=skipped_ids, device=device)
    encoder = latest_pretrained_encoder(project_folder, runs, dataset.spec)
    space = "pretrained embeddings"
    if encoder is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            encoder = build_encoder(dataset.spec, "small")
        space = "features of an untrained encoder; pretrain a model for better suggestions"
    return suggest_for_dataset(dataset, labeled_ids, count, encoder=encoder, exclude_ids=skipped_ids,
                               device=device, space=space)


class LabelCommand(QUndoCommand):
    """Set the labels in ``new``; undo restores those in ``old`` (both ``{sample_id: class or None}``)."""

    def __init__(self, page: "LabelingPage", new: dict[str, str | None], old: dict[str, str | None], text: str):
        super().__init__(text)
        self.page = page
        self.new = new
        self.old = old

    def redo(self) -> None:
        self.page.write_labels(self.new)

    def undo(self) -> None:
        self.page.write_labels(self.old)


class LabelingPage(QWidget):
    def __init__(self, state: AppState, result_provider: Callable[[], object] = lambda: None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.result_provider = result_provider
        self.model: SampleGridModel | None = None
        self.rows_by_id: dict[str, int] = {}
        self.held_out: dict[str, bool] = {}
        self.suggestion_job: BackgroundJob | None = None
        self.undo_stack = QUndoStack(self)
        self.class_shortcuts: dict[str, str] = {}
        self.view = None
        self.last_import = None

        self.class_editor = ClassEditor()
        self.class_editor.changed.connect(self._classes_changed)
        self.progress = QTableWidget(0, 3)
        self.progress.setHorizontalHeaderLabels(["class", "labels", "hint"])
        self.progress.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.progress.verticalHeader().setVisible(False)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(QLabel("<b>Classes</b>"))
        left_layout.addWidget(self.class_editor, 1)
        left_layout.addWidget(QLabel("<b>Progress</b>"))
        left_layout.addWidget(self.progress, 1)
        io_buttons = QGridLayout()
        for position, (text, slot) in enumerate([("Import CSV…", self.import_csv),
                                                 ("Import folder names", self.import_label_column),
                                                 ("Export CSV…", self.export_csv)]):
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, slot=slot: slot())
            io_buttons.addWidget(button, position // 2, position % 2)
        left_layout.addLayout(io_buttons)

        self.sample_area = QVBoxLayout()
        self.sample_holder = QWidget()
        self.sample_area.addWidget(self.sample_holder, 1)
        self.class_buttons = QHBoxLayout()
        controls = QHBoxLayout()
        self.skip_button = QPushButton("Skip (S)")
        self.skip_button.clicked.connect(self.skip)
        self.clear_button = QPushButton("Remove label (0)")
        self.clear_button.clicked.connect(self.remove_label)
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.undo_stack.undo)
        self.redo_button = QPushButton("Redo")
        self.redo_button.clicked.connect(self.undo_stack.redo)
        self.undo_stack.canUndoChanged.connect(self.undo_button.setEnabled)
        self.undo_stack.canRedoChanged.connect(self.redo_button.setEnabled)
        self.undo_button.setEnabled(False)
        self.redo_button.setEnabled(False)
        for button in (self.skip_button, self.clear_button, self.undo_button, self.redo_button):
            controls.addWidget(button)
        self.status = QLabel("Open a dataset to label it.")
        self.status.setWordWrap(True)
        center = QWidget()
        center_layout = QVBoxLayout(center)
        center_layout.addLayout(self.sample_area, 1)
        center_layout.addLayout(self.class_buttons)
        center_layout.addLayout(controls)
        center_layout.addWidget(self.status)

        self.suggest_button = QPushButton("Suggest what to label")
        self.suggest_button.clicked.connect(self.request_suggestions)
        self.suggestions = QListWidget()
        self.suggestions.setWordWrap(True)
        self.suggestions.itemActivated.connect(self._suggestion_chosen)
        self.suggestions.itemClicked.connect(self._suggestion_chosen)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.suggest_button)
        right_layout.addWidget(self.suggestions, 1)

        self.grid = QListView()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.grid.setGridSize(QSize(THUMBNAIL_SIZE + 16, THUMBNAIL_SIZE + 24))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setUniformItemSizes(True)
        self.grid.setLayoutMode(QListView.LayoutMode.Batched)
        self.grid.setBatchSize(500)
        self.grid.setSelectionMode(QListView.SelectionMode.ExtendedSelection)

        top = QSplitter(Qt.Orientation.Horizontal)
        for widget in (left, center, right):
            top.addWidget(widget)
        top.setSizes([260, 560, 300])
        vertical = QSplitter(Qt.Orientation.Vertical)
        vertical.addWidget(top)
        vertical.addWidget(self.grid)
        vertical.setSizes([420, 300])
        QVBoxLayout(self).addWidget(vertical)

        self._add_shortcut("S", self.skip)
        self._add_shortcut("0", self.remove_label)
        self._add_shortcut("Ctrl+Z", self.undo_stack.undo)
        self._add_shortcut("Ctrl+Shift+Z", self.undo_stack.redo)
        for key in "123456789":
            self._add_shortcut(key, lambda key=key: self.label_by_key(key))
        state.data_changed.connect(self.refresh)

    def _add_shortcut(self, sequence: str, slot) -> None:
        shortcut = QShortcut(QKeySequence(sequence), self)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(slot)

    # Loading ------------------------------------------------------------------------

    @property
    def source_id(self) -> int:
        return self.state.data.source_id

    def _setting_key(self, name: str) -> str:
        return f"labeling.{self.source_id}.{name}"

    def refresh(self) -> None:
        """Load the open dataset and project: labels, classes, progress, then the saved position and selection."""
        data, project = self.state.data, self.state.project
        if data is None or project is None:
            return
        self.shutdown()
        dataset = data.dataset
        self.view = view_for(dataset.modality)
        self.rows_by_id = {sample_id: row for row, sample_id in enumerate(dataset.ids)}
        stored = project.labels(self.source_id)
        labels = [stored.get(sample_id) for sample_id in dataset.ids]
        previous = self.model
        self.model = SampleGridModel(dataset, labels, self._colors(), self)
        self.grid.setModel(self.model)
        if previous is not None:
            previous.deleteLater()
        self.grid.selectionModel().currentChanged.connect(self._current_changed)
        self.grid.selectionModel().selectionChanged.connect(self._save_selection)
        self.undo_stack.clear()
        self.suggestions.clear()
        self.class_editor.set_project(project)
        self._classes_changed("loaded")
        self._restore_position()

    def _colors(self) -> dict[str, str]:
        return {entry["name"]: entry["color"] for entry in self.state.project.classes()}

    def _restore_position(self) -> None:
        project = self.state.project
        row = self.rows_by_id.get(project.setting(self._setting_key("position")), 0)
        ranges = project.setting(self._setting_key("selection"), [])
        self.grid.setCurrentIndex(self.model.index(row))
        selection = QItemSelection()
        for first, last in ranges:
            last = min(last, self.model.rowCount() - 1)
            if 0 <= first <= last:
                selection.select(self.model.index(first), self.model.index(last))
        if not selection.isEmpty():
            self.grid.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.grid.scrollTo(self.model.index(row))
        self._show_sample(row)

    def shutdown(self) -> None:
        """Stop the thumbnail worker and wait for a suggestion job; called before the window closes."""
        if self.model is not None:
            self.model.stop()
        if self.suggestion_job is not None:
            self.suggestion_job.wait()

    # Classes and progress -------------------------------------------------------------

    def _classes_changed(self, kind: str) -> None:
        if kind in {"renamed", "merged", "deleted"}:
            self.undo_stack.clear()
            stored = self.state.project.labels(self.source_id)
            self.model.set_labels({row: stored.get(sample_id) for sample_id, row in self.rows_by_id.items()
                                   if stored.get(sample_id) != self.model.labels[row]})
        classes = self.state.project.classes()
        self.class_shortcuts = {entry["shortcut"]: entry["name"] for entry in classes if entry["shortcut"]}
        self.model.set_colors(self._colors())
        while self.class_buttons.count():
            self.class_buttons.takeAt(0).widget().deleteLater()
        for entry in classes:
            key = f"{entry['shortcut']}: " if entry["shortcut"] else ""
            button = QPushButton(f"{key}{entry['name']}")
            button.setStyleSheet(f"border-left: 6px solid {entry['color']}; padding: 4px 8px;")
            button.clicked.connect(lambda _=False, name=entry["name"]: self.label_selection(name))
            self.class_buttons.addWidget(button)
        self._refresh_progress()

    def _refresh_progress(self) -> None:
        counts = self.state.project.label_counts(self.source_id)
        labels = self.state.project.labels(self.source_id)
        unseen = [sample_id for sample_id in labels if sample_id not in self.held_out]
        if unseen:
            self.held_out.update(zip(unseen, holdout_mask(unseen, HOLDOUT_FRACTION).tolist()))
        held_out_counts = dict.fromkeys(counts, 0)
        for sample_id, name in labels.items():
            held_out_counts[name] += self.held_out[sample_id]
        self.progress.setRowCount(len(counts))
        for row, (name, count) in enumerate(counts.items()):
            training = count - held_out_counts[name]
            if count == 0:
                hint = "no labels yet"
            elif held_out_counts[name] == 0:
                hint = f"cannot be evaluated: none of its labels is in the held-out {HOLDOUT_FRACTION:.0%}; label more"
            elif training < MIN_TRAINING_LABELS:
                hint = f"only {training} labels to fine-tune on; label at least {MIN_TRAINING_LABELS}"
            else:
                hint = ""
            for column, value in enumerate((name, str(count), hint)):
                self.progress.setItem(row, column, QTableWidgetItem(value))

    # Labeling ---------------------------------------------------------------------------

    def current_row(self) -> int | None:
        index = self.grid.currentIndex()
        return index.row() if index.isValid() else None

    def target_rows(self) -> list[int]:
        """Return the selected rows when several are selected, else the current row."""
        selected = sorted(index.row() for index in self.grid.selectionModel().selectedIndexes())
        if len(selected) > 1:
            return selected
        row = self.current_row()
        return [row] if row is not None else []

    def label_by_key(self, key: str) -> None:
        if key in self.class_shortcuts:
            self.label_selection(self.class_shortcuts[key])
        elif self.model is not None:
            self.status.setText(f"Key {key} labels no class; give a class that key in the class list.")

    def label_selection(self, class_name: str | None) -> None:
        """Label the selection (or the shown sample) as ``class_name`` (None removes labels), then move on."""
        if self.model is None:
            return
        rows = self.target_rows()
        ids = [self.state.data.dataset.ids[row] for row in rows]
        old = {sample_id: self.model.labels[self.rows_by_id[sample_id]] for sample_id in ids}
        new = {sample_id: class_name for sample_id in ids if old[sample_id] != class_name}
        if new:
            target = class_name if class_name is not None else "unlabeled"
            text = f"Label {ids[0]} as {target}" if len(new) == 1 else f"Label {len(new)} samples as {target}"
            self.undo_stack.push(LabelCommand(self, new, {sample_id: old[sample_id] for sample_id in new}, text))
        if rows:
            self._advance(rows[-1])

    def remove_label(self) -> None:
        self.label_selection(None)

    def skip(self) -> None:
        row = self.current_row()
        if row is None:
            return
        sample_id = self.state.data.dataset.ids[row]
        self.state.project.skip(self.source_id, sample_id)
        self.status.setText(f"Skipped {sample_id}; it is left out of suggestions.")
        self._advance(row)

    def write_labels(self, changes: dict[str, str | None]) -> None:
        """Write ``{sample_id: class or None}`` to the store (committed on return), then show it."""
        self.state.project.set_labels(self.source_id, list(changes.items()))
        self.model.set_labels({self.rows_by_id[sample_id]: label for sample_id, label in changes.items()})
        if any(label is not None and label not in self.model.colors for label in changes.values()):
            self.class_editor.refresh()
            self._classes_changed("added")
        else:
            self._refresh_progress()
        shown = ", ".join(f"{sample_id} → {label or 'unlabeled'}" for sample_id, label in list(changes.items())[:3])
        more = f" and {len(changes) - 3} more" if len(changes) > 3 else ""
        self.status.setText(f"Saved: {shown}{more}")

    def _advance(self, after_row: int) -> None:
        """Show the next suggestion that is still unlabeled, else the row after ``after_row``."""
        skipped = self.state.project.skipped(self.source_id)
        for position in range(self.suggestions.count()):
            sample_id = self.suggestions.item(position).data(Qt.ItemDataRole.UserRole)
            row = self.rows_by_id[sample_id]
            if self.model.labels[row] is None and sample_id not in skipped and row != after_row:
                self.go_to(row)
                return
        self.go_to(min(after_row + 1, self.model.rowCount() - 1))

    def go_to(self, row: int) -> None:
        index = self.model.index(row)
        self.grid.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.grid.scrollTo(index)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        self._show_sample(current.row())
        self.state.project.set_setting(self._setting_key("position"), self.state.data.dataset.ids[current.row()])

    def _save_selection(self, *_args) -> None:
        ranges = [[selection_range.top(), selection_range.bottom()]
                  for selection_range in self.grid.selectionModel().selection()]
        self.state.project.set_setting(self._setting_key("selection"), ranges)

    def _show_sample(self, row: int) -> None:
        widget = self.view.sample_widget(self.state.data.dataset, row)
        self.sample_area.replaceWidget(self.sample_holder, widget)
        self.sample_holder.deleteLater()
        self.sample_holder = widget

    # Suggestions -----------------------------------------------------------------------

    def request_suggestions(self) -> BackgroundJob | None:
        if self.model is None or (self.suggestion_job is not None and self.suggestion_job.is_running()):
            return None
        project = self.state.project
        labeled = {sample_id for sample_id, row in self.rows_by_id.items() if self.model.labels[row] is not None}
        self.suggest_button.setEnabled(False)
        self.status.setText("Computing suggestions…")
        self.suggestion_job = BackgroundJob(compute_suggestions, self.state.data.dataset, labeled,
                                            project.skipped(self.source_id), SUGGESTION_COUNT,
                                            self.result_provider(), project.folder, project.runs(), parent=self)
        self.suggestion_job.returned.connect(self._show_suggestions)
        self.suggestion_job.errored.connect(lambda message, details: show_error(
            self, "Suggestions failed", message, details))
        self.suggestion_job.finished.connect(lambda: self.suggest_button.setEnabled(True))
        self.suggestion_job.start()
        return self.suggestion_job

    def _show_suggestions(self, suggestions) -> None:
        self.suggestions.clear()
        for suggestion in suggestions:
            item = QListWidgetItem(f"{suggestion.sample_id}\n{suggestion.reason}")
            item.setData(Qt.ItemDataRole.UserRole, suggestion.sample_id)
            self.suggestions.addItem(item)
        self.status.setText(f"{len(suggestions)} suggestions; label them in order with the class keys.")
        if suggestions:
            self.go_to(suggestions[0].index)

    def _suggestion_chosen(self, item: QListWidgetItem) -> None:
        self.go_to(self.rows_by_id[item.data(Qt.ItemDataRole.UserRole)])

    # Import and export -----------------------------------------------------------------

    def _after_import(self, result) -> None:
        stored = self.state.project.labels(self.source_id)
        self.undo_stack.clear()
        self.model.set_labels({row: stored.get(sample_id) for sample_id, row in self.rows_by_id.items()})
        self.class_editor.refresh()
        self._classes_changed("imported")
        box = QMessageBox(QMessageBox.Icon.Information, "Labels imported", result.summary(),
                          QMessageBox.StandardButton.Ok, self)
        if result.details():
            box.setDetailedText("\n".join(result.details(limit=1000)))
        box.open()
        self.last_import = result

    def import_csv(self, path: str | None = None) -> None:
        if self.model is None:
            return
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Import labels", "", "CSV files (*.csv);;All files (*)")
            if not path:
                return
        try:
            result = import_label_file(self.state.project, self.source_id, self.state.data.dataset.ids, path)
        except LabelFileError as error:
            show_error(self, "Labels not imported", str(error))
            return
        self._after_import(result)

    def import_label_column(self) -> None:
        """Import the dataset's label column (such as the image folder names) as project labels."""
        data = self.state.data
        if self.model is None or data.label_column not in data.dataset.metadata.columns:
            return
        rows = [LabelRow(f"{data.label_column} of {sample_id}", (sample_id,), value)
                for sample_id, value in zip(data.dataset.ids, data.dataset.label_column(data.label_column)) if value]
        self._after_import(import_labels(self.state.project, self.source_id, data.dataset.ids, rows,
                                         add_classes=True))

    def export_csv(self, path: str | None = None) -> None:
        if self.model is None:
            return
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export labels", "labels.csv", "CSV files (*.csv)")
            if not path:
                return
        count = export_labels(self.state.project, self.source_id, path, order=self.state.data.dataset.ids)
        self.status.setText(f"Exported {count} labels to {path}")
