"""A list model of samples whose thumbnails are rendered on a worker thread and kept in an LRU cache.

The view requests data for visible rows only. A row without a cached thumbnail is
queued and shown without a picture until the worker delivers it. The queue is
last-in, first-out and bounded, so after a fast scroll the rows now on screen
are rendered first and rows scrolled past are dropped.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QColor, QImage

from sslstudio.gui.views import view_for

logger = logging.getLogger(__name__)

THUMBNAIL_SIZE = 64
CACHE_SIZE = 3000
# Enough for a few screens of a maximized grid; older requests are dropped first.
MAX_PENDING = 512


class ThumbnailWorker(QObject):
    """Renders ``view.thumbnail(dataset, row, size)`` on a daemon thread, newest request first.

    ``rendered(row, image)`` is emitted from the worker thread and so reaches
    receivers on the UI thread through a queued connection. ``image`` is None
    when the modality has no picture or rendering failed (which is logged).
    """

    rendered = Signal(int, object)

    def __init__(self, dataset, size: int = THUMBNAIL_SIZE, parent: QObject | None = None):
        super().__init__(parent)
        self.dataset = dataset
        self.size = size
        self.view = view_for(dataset.modality)
        self._pending: deque[int] = deque()
        self._queued: set[int] = set()
        self._condition = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="thumbnails", daemon=True)
        self._thread.start()

    def request(self, row: int) -> None:
        with self._condition:
            if row in self._queued:
                return
            self._pending.append(row)
            self._queued.add(row)
            while len(self._pending) > MAX_PENDING:
                self._queued.discard(self._pending.popleft())
            self._condition.notify()

    def stop(self) -> None:
        """Stop the thread after the thumbnail in progress and wait for it (at most 5 s)."""
        with self._condition:
            self._stopping = True
            self._pending.clear()
            self._queued.clear()
            self._condition.notify()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._pending and not self._stopping:
                    self._condition.wait()
                if self._stopping:
                    return
                row = self._pending.pop()
                self._queued.discard(row)
            try:
                image = self.view.thumbnail(self.dataset, row, self.size)
            except Exception:  # one broken sample must not stop the grid; the row shows no picture
                logger.exception("Thumbnail of sample %s failed", self.dataset.ids[row])
                image = None
            if isinstance(image, QImage) and image.format() != QImage.Format.Format_RGB888:
                image = image.convertToFormat(QImage.Format.Format_RGB888)
            self.rendered.emit(row, image)


class SampleGridModel(QAbstractListModel):
    """One row per sample: its thumbnail (decoration), its label (text, colored by class) and its id (tooltip)."""

    def __init__(self, dataset, labels: list[str | None], colors: dict[str, str], parent: QObject | None = None):
        super().__init__(parent)
        self.dataset = dataset
        self.labels = labels
        self.colors = {name: QColor(color) for name, color in colors.items()}
        self._cache: OrderedDict[int, QImage | None] = OrderedDict()
        self.worker = ThumbnailWorker(dataset, parent=self)
        self.worker.rendered.connect(self._store, Qt.ConnectionType.QueuedConnection)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.dataset)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = index.row()
        if role == Qt.ItemDataRole.DecorationRole:
            if row in self._cache:
                self._cache.move_to_end(row)
                return self._cache[row]
            self.worker.request(row)
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            label = self.labels[row] or ""
            if row in self._cache and self._cache[row] is None:
                return f"{self.dataset.ids[row]}\n{label}"
            return label
        if role == Qt.ItemDataRole.BackgroundRole and self.labels[row] in self.colors:
            color = QColor(self.colors[self.labels[row]])
            color.setAlpha(110)
            return color
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{self.dataset.ids[row]}: {self.labels[row] or 'unlabeled'}"
        return None

    def is_cached(self, row: int) -> bool:
        return row in self._cache

    def set_labels(self, changes: dict[int, str | None]) -> None:
        """Show new labels for the rows in ``changes``."""
        for row, label in changes.items():
            self.labels[row] = label
        if changes:
            self.dataChanged.emit(self.index(min(changes)), self.index(max(changes)),
                                  [Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.BackgroundRole])

    def set_colors(self, colors: dict[str, str]) -> None:
        self.colors = {name: QColor(color) for name, color in colors.items()}
        if self.rowCount():
            self.dataChanged.emit(self.index(0), self.index(self.rowCount() - 1), [Qt.ItemDataRole.BackgroundRole])

    def stop(self) -> None:
        self.worker.stop()

    def _store(self, row: int, image) -> None:
        self._cache[row] = image
        self._cache.move_to_end(row)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        index = self.index(row)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.DisplayRole])
