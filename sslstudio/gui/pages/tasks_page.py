"""Tasks page: choose pretext tasks, edit their parameters and weights, and preview them on real samples."""

from __future__ import annotations

import logging

import torch
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QDoubleSpinBox, QStackedWidget, QFormLayout, QGridLayout, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QScrollArea, QSplitter, QVBoxLayout, QWidget)

from sslstudio.gui.param_form import ParamForm
from sslstudio.gui.state import AppState
from sslstudio.gui.threads import BackgroundJob
from sslstudio.gui.views import view_for
from sslstudio.tasks.registry import create_task, list_tasks
from sslstudio.training.config import TaskChoice

logger = logging.getLogger(__name__)

PREVIEW_COUNT = 8
PREVIEW_COLUMNS = 4


def compute_preview(dataset, task_name: str, params: dict, seed: int = 0):
    """Build the task and return its preview items for the first samples (runs on a worker thread)."""
    task = create_task(task_name, dataset.spec, params)
    count = min(PREVIEW_COUNT, len(dataset))
    step = max(1, len(dataset) // count)
    batch = dataset.batch([index * step for index in range(count)], "cpu")
    return task, task.preview(batch, torch.Generator().manual_seed(seed))


class TasksPage(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.forms: dict[str, ParamForm] = {}
        self.panels: dict[str, QWidget] = {}
        self.weights: dict[str, QDoubleSpinBox] = {}
        self._job: BackgroundJob | None = None
        self._pending = False

        splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(QLabel("Pretext tasks (check to train on them):"))
        self.task_list = QListWidget()
        self.task_list.currentItemChanged.connect(self._show_task)
        left_layout.addWidget(self.task_list, 1)
        self.description = QLabel()
        self.description.setWordWrap(True)
        left_layout.addWidget(self.description)
        # One editor panel per task, kept for the page's lifetime so edited values survive task switches.
        self.form_stack = QStackedWidget()
        left_layout.addWidget(self.form_stack)
        splitter.addWidget(left)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        self.preview_status = QLabel("Preview")
        right_layout.addWidget(self.preview_status)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        self.preview_area = QWidget()
        self.preview_grid = QGridLayout(self.preview_area)
        self.preview_grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll.setWidget(self.preview_area)
        right_layout.addWidget(scroll, 1)
        splitter.addWidget(right)
        splitter.setSizes([320, 640])
        layout = QHBoxLayout(self)
        layout.addWidget(splitter)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.refresh_preview)
        state.data_changed.connect(self.reload)

    def reload(self) -> None:
        data = self.state.data
        self.task_list.clear()
        for panel in self.panels.values():
            self.form_stack.removeWidget(panel)
            panel.deleteLater()
        self.forms.clear()
        self.weights.clear()
        self.panels.clear()
        if data is None:
            return
        tasks = list_tasks(data.dataset.modality)
        defaults = {cls.name for cls in tasks if getattr(cls, "default", False)} or {cls.name for cls in tasks[:1]}
        first_checked = None
        for position, cls in enumerate(tasks):
            item = QListWidgetItem(cls.title)
            item.setData(Qt.ItemDataRole.UserRole, cls.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            selected = cls.name in defaults
            item.setCheckState(Qt.CheckState.Checked if selected else Qt.CheckState.Unchecked)
            self.task_list.addItem(item)
            if selected and first_checked is None:
                first_checked = position
        if self.task_list.count():
            self.task_list.setCurrentRow(first_checked or 0)

    def current_task_name(self) -> str | None:
        item = self.task_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def _form_for(self, name: str) -> tuple[ParamForm, QDoubleSpinBox]:
        if name not in self.forms:
            cls = next(cls for cls in list_tasks() if cls.name == name)
            form = ParamForm(cls.Params.describe())
            form.changed.connect(self._debounce.start)
            weight = QDoubleSpinBox()
            weight.setRange(0.0, 100.0)
            weight.setSingleStep(0.1)
            weight.setValue(1.0)
            weight.setToolTip("Weight of this task's loss when several tasks train together")
            self.forms[name], self.weights[name] = form, weight
            panel = QWidget()
            panel_layout = QFormLayout(panel)
            panel_layout.addRow(form)
            panel_layout.addRow("loss weight", weight)
            self.panels[name] = panel
            self.form_stack.addWidget(panel)
        return self.forms[name], self.weights[name]

    def _show_task(self, current: QListWidgetItem | None, _previous=None) -> None:
        if current is None:
            return
        name = current.data(Qt.ItemDataRole.UserRole)
        cls = next(cls for cls in list_tasks() if cls.name == name)
        self.description.setText(f"<b>{cls.title}</b> <code>{cls.name}</code><br>{cls.description}")
        self._form_for(name)
        self.form_stack.setCurrentWidget(self.panels[name])
        self.refresh_preview()

    def refresh_preview(self) -> None:
        """Recompute the preview of the current task off the UI thread (one job at a time)."""
        name = self.current_task_name()
        if name is None or self.state.data is None:
            return
        if self._job is not None and self._job.is_running():
            self._pending = True
            return
        try:
            params = self._form_for(name)[0].values()
        except ValueError as error:
            self.preview_status.setText(f"<span style='color:#b00'>{error}</span>")
            return
        self.preview_status.setText(f"Computing the preview of {name}…")
        self._job = BackgroundJob(compute_preview, self.state.data.dataset, name, params, parent=self)
        self._job.returned.connect(self._show_preview)
        self._job.errored.connect(lambda message, _details: self.preview_status.setText(
            f"<span style='color:#b00'>{message}</span>"))
        self._job.finished.connect(self._job_finished)
        self._job.start()

    def _job_finished(self) -> None:
        if self._pending:
            self._pending = False
            self.refresh_preview()

    def _show_preview(self, result) -> None:
        task, items = result
        while self.preview_grid.count():
            widget = self.preview_grid.takeAt(0).widget()
            if widget is not None:
                widget.setParent(None)
        view = view_for(task.modality)
        for position, item in enumerate(items):
            self.preview_grid.addWidget(view.preview_widget(item, task), position // PREVIEW_COLUMNS,
                                        position % PREVIEW_COLUMNS)
        self.preview_status.setText(f"Preview of <b>{task.title}</b> on {len(items)} real samples: "
                                    "the model sees the input and must predict the target.")

    def selected_tasks(self) -> tuple[TaskChoice, ...]:
        """Return the checked tasks with their parameters and weights.

        Raises:
            ValueError: if no task is checked or a parameter cannot be read.
        """
        choices = []
        for row in range(self.task_list.count()):
            item = self.task_list.item(row)
            if item.checkState() != Qt.CheckState.Checked:
                continue
            name = item.data(Qt.ItemDataRole.UserRole)
            form, weight = self._form_for(name)
            choices.append(TaskChoice.make(name, form.values(), weight.value()))
        if not choices:
            raise ValueError("no pretext task is checked; check at least one on the Tasks page")
        return tuple(choices)

    def wait_for_preview(self) -> None:
        if self._job is not None:
            self._job.wait()
