"""Show errors to the user: a readable message with the traceback one click away."""

from __future__ import annotations

import logging
import sys
import threading
import traceback

from PySide6.QtWidgets import QMessageBox, QWidget

logger = logging.getLogger(__name__)


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> QMessageBox:
    """Open a non-blocking error box; ``details`` (the traceback) sits behind "Show Details…"."""
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent)
    if details:
        box.setDetailedText(details)
    box.setObjectName("errorBox")
    box.open()
    return box


def install_exception_hooks(parent_getter) -> None:
    """Route uncaught exceptions on the UI thread to an error box and log those of other threads."""

    def handle(exc_type, exc_value, exc_traceback):
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc_value, exc_traceback)
            return
        details = "".join(traceback.format_exception(exc_type, exc_value, exc_traceback))
        logger.error("Uncaught exception:\n%s", details)
        show_error(parent_getter(), "Unexpected error", f"{exc_type.__name__}: {exc_value}", details)

    def handle_thread(args: threading.ExceptHookArgs) -> None:
        details = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
        logger.error("Uncaught exception in thread %s:\n%s", getattr(args.thread, "name", "?"), details)

    sys.excepthook = handle
    threading.excepthook = handle_thread
