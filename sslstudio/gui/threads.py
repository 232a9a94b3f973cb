"""Run a function or a generator on a worker thread and deliver its results through Qt signals.

The worker never touches widgets: it emits ``yielded`` for every item of a
generator, then ``returned`` with the return value, or ``errored`` with the
message and the formatted traceback. ``finished`` always comes last.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

logger = logging.getLogger(__name__)


class _Runner(QObject):
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(str, str)
    finished = Signal()

    def __init__(self, function: Callable[..., Any], args: tuple, kwargs: dict):
        super().__init__()
        self._function = function
        self._args = args
        self._kwargs = kwargs
        self.done = threading.Event()

    @Slot()
    def run(self) -> None:
        try:
            result = self._function(*self._args, **self._kwargs)
            if inspect.isgenerator(result):
                for item in result:
                    self.yielded.emit(item)
                result = None
            self.returned.emit(result)
        except Exception as error:  # Every worker error reaches the user as a message with its traceback.
            logger.exception("Background job %s failed", getattr(self._function, "__name__", self._function))
            self.errored.emit(f"{type(error).__name__}: {error}", traceback.format_exc())
        finally:
            self.done.set()
            self.finished.emit()
            # Quit from inside the worker: a queued quit would wait for the UI thread's event loop.
            QThread.currentThread().quit()


class BackgroundJob(QObject):
    """One call of ``function(*args, **kwargs)`` on its own ``QThread``.

    Connect to ``yielded``, ``returned``, ``errored`` and ``finished`` before
    ``start``. Signals arrive on the thread that created the job (the UI thread).
    """

    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(str, str)
    finished = Signal()

    def __init__(self, function: Callable[..., Any], *args: Any, parent: QObject | None = None, **kwargs: Any):
        super().__init__(parent)
        self._thread = QThread()
        self._runner = _Runner(function, args, kwargs)
        self._runner.moveToThread(self._thread)
        self._thread.started.connect(self._runner.run)
        self._runner.yielded.connect(self.yielded)
        self._runner.returned.connect(self.returned)
        self._runner.errored.connect(self.errored)
        self._thread.finished.connect(self.finished)
        self._running = False
        self.finished.connect(self._mark_done)

    def start(self) -> None:
        self._running = True
        self._thread.start()

    def _mark_done(self) -> None:
        self._running = False

    def is_running(self) -> bool:
        return self._running and self._thread.isRunning()

    def wait(self, milliseconds: int = 60_000) -> bool:
        """Block until the thread ends (or the timeout passes); return whether it ended.

        It polls with ``time.sleep`` instead of calling ``QThread.wait``, which holds the
        GIL and would stall a worker that still has Python code (a signal emission) to run.
        """
        deadline = time.monotonic() + milliseconds / 1000
        if not self._runner.done.wait(max(0.0, deadline - time.monotonic())):
            return False
        while self._thread.isRunning():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True


class CancellableJobOwner:
    """A mixin for a widget that runs one cancellable ``BackgroundJob`` at a time.

    The widget sets ``job``, ``cancel_event`` (the event its job's function
    polls) and a ``status`` label; ``cancel`` shows ``cancelling_text`` there.
    """

    job: BackgroundJob | None = None
    cancel_event: threading.Event
    cancelling_text = "Cancelling after the current step…"

    def is_running(self) -> bool:
        return self.job is not None and self.job.is_running()

    def cancel(self) -> None:
        """Ask the running job to stop after its current step (nothing when none runs)."""
        if self.is_running():
            self.cancel_event.set()
            self.status.setText(self.cancelling_text)

    def wait(self, milliseconds: int = 120_000) -> bool:
        """Block until the job ends (or the timeout passes); return whether it ended."""
        return self.job.wait(milliseconds) if self.job is not None else True
