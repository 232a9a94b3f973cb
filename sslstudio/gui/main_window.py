"""The main window: a page list on the left and the pages on the right."""

from __future__ import annotations

import logging

from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QMainWindow, QStackedWidget, QWidget

from sslstudio.gui.errors import show_error
from sslstudio.gui.loading import create_folder_project, open_existing_project, open_sample_project, reopen_with_options
from sslstudio.gui.pages.advisor_page import AdvisorPage
from sslstudio.gui.pages.dataset_page import DatasetPage
from sslstudio.gui.pages.evaluation_page import EvaluationPage
from sslstudio.gui.pages.labeling_page import LabelingPage
from sslstudio.gui.pages.start_page import StartPage, remember_project
from sslstudio.gui.pages.tasks_page import TasksPage
from sslstudio.gui.pages.training_page import TrainingPage
from sslstudio.gui.state import AppState
from sslstudio.gui.threads import BackgroundJob
from sslstudio.registries import load_registries

logger = logging.getLogger(__name__)

PAGES = ("Start", "Dataset", "Labeling", "Tasks", "Advisor", "Training", "Evaluation")


class MainWindow(QMainWindow):
    def __init__(self):
        super().__init__()
        # Imported here, on the UI thread, because the first import on a training thread would freeze the window.
        load_registries()
        self.setWindowTitle("SSL Studio")
        self.resize(1200, 780)
        self.state = AppState()
        self.load_job: BackgroundJob | None = None

        self.start_page = StartPage()
        self.dataset_page = DatasetPage(self.state)
        self.tasks_page = TasksPage(self.state)
        self.training_page = TrainingPage(self.state, self.tasks_page.selected_tasks)
        self.labeling_page = LabelingPage(self.state, lambda: self.training_page.result)
        self.evaluation_page = EvaluationPage(self.state)
        self.training_page.run_finished.connect(
            lambda result: self.evaluation_page.show_result(result, self.training_page.config))
        self.advisor_page = AdvisorPage(self.state, self.training_page)
        self.advisor_page.run_started.connect(lambda: self.show_page("Training"))
        self.stack = QStackedWidget()
        for page in (self.start_page, self.dataset_page, self.labeling_page, self.tasks_page, self.advisor_page,
                     self.training_page, self.evaluation_page):
            self.stack.addWidget(page)
        self.navigation = QListWidget()
        self.navigation.addItems(PAGES)
        self.navigation.setFixedWidth(140)
        self.navigation.currentRowChanged.connect(self.stack.setCurrentIndex)
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.navigation)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.navigation.setCurrentRow(0)

        self.start_page.open_sample.connect(lambda name: self._load(open_sample_project, name))
        self.start_page.new_project.connect(lambda data, folder: self._load(create_folder_project, data, folder))
        self.dataset_page.reopen_requested.connect(
            lambda changes: self._load(reopen_with_options, self.state.project, self.state.data, changes))
        self.start_page.open_project.connect(lambda folder: self._load(open_existing_project, folder))

        export_action = QAction("&Export model…", self)
        export_action.setShortcut(QKeySequence("Ctrl+E"))
        export_action.triggered.connect(lambda: self.training_page.export())
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(export_action)
        file_menu.addAction(quit_action)
        self.statusBar().showMessage("Open a sample or a project to begin")

    def show_page(self, name: str) -> None:
        self.navigation.setCurrentRow(PAGES.index(name))

    def _load(self, function, *args) -> BackgroundJob | None:
        """Open data on a worker thread; the pages refresh when it arrives."""
        if self.training_page.is_running():
            show_error(self, "Training in progress", "Cancel the current run before opening other data.")
            return None
        self.statusBar().showMessage("Loading data…")
        self.load_job = BackgroundJob(function, *args, parent=self)
        self.load_job.returned.connect(self._loaded)
        self.load_job.errored.connect(lambda message, details: (
            self.statusBar().showMessage("Loading failed"), show_error(self, "Could not open the data", message, details)))
        self.load_job.start()
        return self.load_job

    def _loaded(self, result) -> None:
        project, data = result
        self.state.set_data(project, data)
        remember_project(str(project.folder))
        self.start_page.refresh_recent()
        self.statusBar().showMessage(f"{data.name}: {len(data.dataset)} samples; project {project.folder}")
        self.setWindowTitle(f"SSL Studio — {data.name}")
        self.show_page("Dataset")

    def closeEvent(self, event: QCloseEvent) -> None:
        """Cancel a running training, wait for its worker (the checkpoint stays), then close."""
        if self.training_page.is_running():
            logger.info("Window closed during a run; cancelling and waiting for the worker")
            self.training_page.cancel()
            self.training_page.wait()
        self.tasks_page.wait_for_preview()
        self.advisor_page.cancel()
        self.advisor_page.wait()
        self.labeling_page.shutdown()
        self.evaluation_page.shutdown()
        if self.load_job is not None:
            self.load_job.wait()
        super().closeEvent(event)
