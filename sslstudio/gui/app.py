"""Start the desktop application."""

from __future__ import annotations

import logging
import sys

from PySide6.QtWidgets import QApplication

from sslstudio.gui.errors import install_exception_hooks
from sslstudio.gui.main_window import MainWindow
from sslstudio.gui.loading import open_sample_project, open_existing_project

logger = logging.getLogger(__name__)


def run_app(sample: str | None = None, project: str | None = None) -> int:
    """Show the main window, optionally opening a sample or a project, and run the event loop."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("SSL Studio")
    app.setOrganizationName("sslstudio")
    window = MainWindow()
    install_exception_hooks(lambda: window)
    window.show()
    if project:
        window._load(open_existing_project, project)
    elif sample:
        window._load(open_sample_project, sample)
    return app.exec()
