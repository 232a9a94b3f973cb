"""Import every reader, pretext-task and encoder module up front.

The registries import their modules on first use. That import keeps the
interpreter lock for about two seconds (measured on a 2-core machine, where
torch_geometric scripts functions at import). The GUI therefore loads them on
the UI thread before the window appears, because the same import on a
training thread would freeze the window.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger(__name__)


def load_registries() -> None:
    """Register every built-in and plug-in reader, task and encoder now (a no-op after the first call)."""
    from sslstudio.data.base import readers
    from sslstudio.models.base import load_encoder_modules
    from sslstudio.tasks.registry import list_tasks

    started = time.perf_counter()
    readers()
    list_tasks()
    load_encoder_modules()
    logger.debug("Registries loaded in %.2f s", time.perf_counter() - started)
