"""Locate the bundled resources in a source checkout, a wheel or a frozen bundle."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path


@cache
def resources_dir() -> Path:
    """Return the folder that contains ``samples/`` and the icons.

    A wheel installs it as ``sslstudio/resources``; a source checkout keeps it
    beside the package; a PyInstaller bundle unpacks it under ``sys._MEIPASS``.

    Raises:
        FileNotFoundError: if none of these places exists.
    """
    package_dir = Path(__file__).resolve().parent
    candidates = [package_dir / "resources", package_dir.parent / "resources"]
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        candidates.insert(0, Path(frozen_root) / "resources")
    for candidate in candidates:
        if (candidate / "samples").is_dir():
            return candidate
    tried = ", ".join(str(path) for path in candidates)
    raise FileNotFoundError(f"SSL Studio resources not found; looked in: {tried}. Reinstall the package.")


def samples_dir() -> Path:
    """Return the folder of bundled sample datasets."""
    return resources_dir() / "samples"
