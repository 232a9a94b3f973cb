"""Logging set-up for the application entry points (library modules only create loggers)."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

import platformdirs

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_dir() -> Path:
    """Return the platform's user log folder for SSL Studio, creating it."""
    path = Path(platformdirs.user_log_dir("sslstudio", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def configure_logging(level: int = logging.INFO, console: bool = True) -> Path | None:
    """Attach a rotating log file (1 MB × 5) and, optionally, a console handler.

    Returns the log file's path, or None when the log folder cannot be written,
    in which case only the console handler is installed.
    """
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        if getattr(handler, "_sslstudio", False):
            root.removeHandler(handler)
    log_file: Path | None = None
    try:
        log_file = log_dir() / "sslstudio.log"
        file_handler = logging.handlers.RotatingFileHandler(log_file, maxBytes=1_000_000, backupCount=5, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
        file_handler._sslstudio = True  # type: ignore[attr-defined]
        root.addHandler(file_handler)
    except OSError as error:
        logging.getLogger(__name__).warning("Log file not writable (%s); logging to the console only", error)
        log_file = None
    if console:
        stream_handler = logging.StreamHandler()
        stream_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        stream_handler.setLevel(logging.WARNING)
        stream_handler._sslstudio = True  # type: ignore[attr-defined]
        root.addHandler(stream_handler)
    return log_file
