"""Start page: a new project from a folder, an existing project, recent projects, or a bundled sample."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QListWidget, QPushButton,
                               QVBoxLayout, QWidget)

from sslstudio.data.samples import list_samples

RECENT_KEY = "recent_projects"
MAX_RECENT = 10


def recent_projects() -> list[str]:
    value = QSettings("sslstudio", "sslstudio").value(RECENT_KEY, [])
    return [value] if isinstance(value, str) else list(value or [])


def remember_project(folder: str) -> None:
    projects = [folder] + [path for path in recent_projects() if path != folder]
    QSettings("sslstudio", "sslstudio").setValue(RECENT_KEY, projects[:MAX_RECENT])


class StartPage(QWidget):
    """Emits ``open_sample(name)``, ``new_project(data_folder, project_folder)`` or ``open_project(folder)``."""

    open_sample = Signal(str)
    new_project = Signal(str, str)
    open_project = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        title = QLabel("<h1>SSL Studio</h1><p>Turn unlabeled data into a model: pick data, preview the pretext "
                       "tasks it yields, label a few samples and train.</p>")
        title.setWordWrap(True)
        layout.addWidget(title)

        sample_box = QGroupBox("Open a bundled sample")
        sample_row = QHBoxLayout(sample_box)
        self.sample_combo = QComboBox()
        for sample in list_samples():
            self.sample_combo.addItem(f"{sample.title} ({sample.modality})", sample.name)
        self.sample_button = QPushButton("Open sample")
        self.sample_button.clicked.connect(lambda: self.open_sample.emit(self.sample_combo.currentData()))
        sample_row.addWidget(self.sample_combo, 1)
        sample_row.addWidget(self.sample_button)
        layout.addWidget(sample_box)

        project_box = QGroupBox("Projects")
        project_layout = QVBoxLayout(project_box)
        buttons = QHBoxLayout()
        new_button = QPushButton("New project from a folder…")
        new_button.clicked.connect(self._choose_new_project)
        open_button = QPushButton("Open project…")
        open_button.clicked.connect(self._choose_project)
        buttons.addWidget(new_button)
        buttons.addWidget(open_button)
        buttons.addStretch(1)
        project_layout.addLayout(buttons)
        project_layout.addWidget(QLabel("Recent projects (double-click to open):"))
        self.recent_list = QListWidget()
        self.recent_list.itemDoubleClicked.connect(lambda item: self.open_project.emit(item.text()))
        project_layout.addWidget(self.recent_list)
        layout.addWidget(project_box, 1)
        self.refresh_recent()

    def refresh_recent(self) -> None:
        self.recent_list.clear()
        self.recent_list.addItems(recent_projects())

    def _choose_new_project(self) -> None:
        data_folder = QFileDialog.getExistingDirectory(self, "Choose the data folder")
        if not data_folder:
            return
        project_folder = QFileDialog.getExistingDirectory(self, "Choose an empty folder for the project")
        if project_folder:
            self.new_project.emit(data_folder, project_folder)

    def _choose_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a project folder (it contains project.sqlite)")
        if folder:
            self.open_project.emit(folder)
