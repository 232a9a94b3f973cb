"""A 2-D scatter of encoder embeddings colored by label, projected with PCA or t-SNE on a worker thread."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from sslstudio.evaluation.embeddings import project_2d
from sslstudio.gui.threads import BackgroundJob
from sslstudio.training.loop import embed

logger = logging.getLogger(__name__)

# The cap bounds the t-SNE time, which grows faster than linearly in N. Above it, an evenly spaced subset is plotted.
MAX_POINTS = 3000
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
PROJECTIONS = {"PCA": "pca", "t-SNE": "tsne"}
UNLABELED = "(no label)"


def choose_points(labeled: Sequence[int], holdout: Sequence[int], limit: int = MAX_POINTS) -> list[int]:
    """Return the dataset indices to plot: every labeled sample, then evenly spaced held-out samples up to ``limit``.

    The choice depends only on its inputs, so the same run always shows the same points.
    """
    labeled = list(dict.fromkeys(int(index) for index in labeled))[:limit]
    chosen = set(labeled)
    holdout = [int(index) for index in holdout if int(index) not in chosen]
    room = limit - len(labeled)
    if len(holdout) > room:
        holdout = [holdout[position] for position in np.linspace(0, len(holdout) - 1, room).round().astype(int)] \
            if room > 0 else []
    return labeled + holdout


def embedding_coordinates(encoder, dataset, indices: Sequence[int], method: str, seed: int = 0,
                          embeddings: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Embed ``indices`` with ``encoder`` (unless ``embeddings`` are given) and project them to 2-D.

    Runs on a worker thread. The encoder stays on the device of its parameters.

    Returns:
        ``(embeddings, coordinates)``: N×D features and N×2 plot coordinates.

    Raises:
        ValueError: for an unknown method or fewer than two samples (see ``project_2d``).
    """
    if embeddings is None:
        parameter = next(encoder.parameters(), None)
        device = parameter.device if parameter is not None else "cpu"
        embeddings = embed(encoder, dataset, list(indices), device, batch_size=256)
    return embeddings, project_2d(embeddings, method=method, seed=seed)


def class_color(position: int, count: int):
    """Return the color of class ``position`` of ``count``: a fixed palette up to ten classes, hues beyond."""
    return pg.mkColor(PALETTE[position]) if count <= len(PALETTE) else pg.intColor(position, hues=count)


class EmbeddingScatter(QWidget):
    """The scatter, its projection choice and a status line. ``sample_clicked(index)`` carries a dataset index.

    Call ``set_samples`` with an encoder, a dataset and the points to show. The
    embeddings are computed once per ``set_samples``, and switching the
    projection only projects them again. Both steps run on a ``BackgroundJob``.
    """

    sample_clicked = Signal(int)
    points_ready = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.projection = QComboBox()
        self.projection.addItems(list(PROJECTIONS))
        self.projection.currentTextChanged.connect(lambda _text: self.refresh())
        self.status = QLabel()
        self.status.setWordWrap(True)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Pretrained encoder's embeddings, projection:"))
        controls.addWidget(self.projection)
        controls.addStretch(1)
        self.plot = pg.PlotWidget(background="w")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.legend = self.plot.addLegend(offset=(-5, 5), labelTextColor="k")
        self.scatter = pg.ScatterPlotItem(size=8, pen=pg.mkPen(None), hoverable=True)
        self.scatter.sigClicked.connect(self._clicked)
        self.plot.addItem(self.scatter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 1)

        self.encoder = None
        self.dataset = None
        self.indices: list[int] = []
        self.labels: list[str] = []
        self.training: set[int] = set()
        self.embeddings: np.ndarray | None = None
        self.jobs: list[BackgroundJob] = []
        self._generation = 0

    def set_samples(self, encoder, dataset, indices: Sequence[int], labels: Sequence[str | None],
                    training: Sequence[int] = ()) -> None:
        """Plot ``indices`` of ``dataset`` embedded by ``encoder``, colored by ``labels`` (one per index).

        ``training`` marks the labeled training samples, drawn as triangles, and the others as circles.
        """
        self.encoder = encoder
        self.dataset = dataset
        self.indices = [int(index) for index in indices]
        self.labels = [UNLABELED if label is None else str(label) for label in labels]
        self.training = {int(index) for index in training}
        self.embeddings = None
        self.refresh()

    def clear(self) -> None:
        self._generation += 1
        self.encoder = self.dataset = self.embeddings = None
        self.indices, self.labels = [], []
        self.scatter.clear()
        self.legend.clear()
        self.status.clear()

    def refresh(self) -> BackgroundJob | None:
        """Start embedding (first time) or projecting with the chosen method; return the job."""
        if self.encoder is None or len(self.indices) < 2:
            self.status.setText("Too few samples to plot" if self.encoder is not None else "")
            return None
        self._generation += 1
        generation = self._generation
        method = PROJECTIONS[self.projection.currentText()]
        self.status.setText(f"Computing the {self.projection.currentText()} projection of {len(self.indices)} samples…")
        job = BackgroundJob(embedding_coordinates, self.encoder, self.dataset, self.indices, method,
                            embeddings=self.embeddings, parent=self)
        job.returned.connect(lambda output: self._show(generation, *output))
        job.errored.connect(lambda message, _details: self._failed(generation, message))
        job.finished.connect(lambda: self.jobs.remove(job))
        self.jobs.append(job)
        job.start()
        return job

    def wait(self, milliseconds: int = 120_000) -> bool:
        """Block until every projection job ends; return whether they all did."""
        return all(job.wait(milliseconds) for job in list(self.jobs))

    def _failed(self, generation: int, message: str) -> None:
        if generation == self._generation:
            logger.warning("Embedding plot failed: %s", message)
            self.status.setText(f"Could not plot the embeddings: {message}")

    def _show(self, generation: int, embeddings: np.ndarray, coordinates: np.ndarray) -> None:
        if generation != self._generation:
            return
        self.embeddings = embeddings
        names = sorted(set(self.labels))
        colors = {name: class_color(position, len(names)) for position, name in enumerate(names)}
        spots = [{"pos": (float(x), float(y)), "data": index, "brush": pg.mkBrush(colors[label]),
                  "symbol": "t" if index in self.training else "o"}
                 for (x, y), index, label in zip(coordinates, self.indices, self.labels)]
        self.scatter.setData(spots)
        self.legend.clear()
        for name in names:
            self.legend.addItem(pg.ScatterPlotItem(brush=pg.mkBrush(colors[name]), pen=pg.mkPen(None), size=8), name)
        self.plot.autoRange()
        self.status.setText(f"{len(spots)} samples (▲ labeled for training, ● held out)")
        self.points_ready.emit()

    def _clicked(self, _item, points, _event=None) -> None:
        if len(points):
            self.sample_clicked.emit(int(points[0].data()))
