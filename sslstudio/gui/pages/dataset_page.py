"""Dataset page: a thumbnail grid of the samples and the import report."""

from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QPushButton, QStackedWidget, QHeaderView, QLabel, QListView, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from sslstudio.gui.state import AppState
from sslstudio.gui.views import view_for

THUMBNAIL_SIZE = 64


class ThumbnailModel(QAbstractListModel):
    """Thumbnail model that renders and caches a thumbnail when the view requests it, so only visible rows are rendered."""

    def __init__(self, dataset, labels: list[str | None], parent=None):
        super().__init__(parent)
        self.dataset = dataset
        self.labels = labels
        self.view = view_for(dataset.modality)
        self._cache: dict[int, QPixmap | None] = {}

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.dataset)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        row = index.row()
        if role == Qt.ItemDataRole.DecorationRole:
            if row not in self._cache:
                image = self.view.thumbnail(self.dataset, row, THUMBNAIL_SIZE)
                self._cache[row] = QPixmap.fromImage(image) if image is not None else None
            return self._cache[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.labels[row] or ""
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.dataset.ids[row]
        return None


class DatasetPage(QWidget):
    """The samples (a thumbnail grid, or the modality's own dataset view) above the import report.

    ``reopen_requested(options)`` requests reopening the data with changed reader
    options, such as the column types a table's editor sets.
    """

    reopen_requested = Signal(dict)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        layout = QVBoxLayout(self)
        self.summary = QLabel("No dataset open. Open the sample or a project from the start page.")
        layout.addWidget(self.summary)
        splitter = QSplitter(Qt.Orientation.Vertical)
        self.grid = QListView()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.grid.setGridSize(QSize(THUMBNAIL_SIZE + 16, THUMBNAIL_SIZE + 24))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setUniformItemSizes(True)
        self.grid.setLayoutMode(QListView.LayoutMode.Batched)
        self.grid.setBatchSize(200)
        self.views = QStackedWidget()
        self.views.addWidget(self.grid)
        splitter.addWidget(self.views)
        self.report = QTableWidget(0, 4)
        self.report.setHorizontalHeaderLabels(["action", "source", "location", "reason"])
        self.report.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        splitter.addWidget(self.report)
        splitter.setSizes([500, 120])
        layout.addWidget(splitter, 1)
        state.data_changed.connect(self.refresh)

    def refresh(self) -> None:
        data = self.state.data
        if data is None:
            return
        dataset = data.dataset
        self.model = ThumbnailModel(dataset, self.state.labels(), self)
        self.grid.setModel(self.model)
        while self.views.count() > 1:
            self.views.removeWidget(self.views.widget(1))
        make_view = getattr(view_for(dataset.modality), "dataset_widget", None)
        if make_view is None:
            self.views.setCurrentIndex(0)
        else:
            custom = make_view(dataset)
            editor = getattr(custom, "type_editor", None)
            if editor is not None:
                apply_button = QPushButton("Apply column settings and reopen")
                apply_button.clicked.connect(lambda: self.reopen_requested.emit(editor.options()))
                custom.layout().addWidget(apply_button)
                custom.apply_button = apply_button
            self.views.addWidget(custom)
            self.views.setCurrentIndex(1)
        self.summary.setText(f"<b>{data.name}</b> — {dataset.modality}, {dataset.report.summary(len(dataset))}. "
                             f"Labels from column <i>{data.label_column}</i>.")
        issues = dataset.report.issues
        self.report.setRowCount(len(issues))
        for row, issue in enumerate(issues):
            for column, value in enumerate((issue.action, issue.source, issue.location, issue.reason)):
                self.report.setItem(row, column, QTableWidgetItem(value))
