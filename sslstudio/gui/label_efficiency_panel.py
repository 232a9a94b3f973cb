"""The label-efficiency panel: the held-out metric against labels per class, pretrained against scratch."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from sslstudio.data.base import Dataset
from sslstudio.evaluation.label_efficiency import DEFAULT_COUNTS, LabelEfficiency, label_efficiency_curve
from sslstudio.gui.threads import BackgroundJob, CancellableJobOwner
from sslstudio.training.config import RunConfig
from sslstudio.training.context import Cancelled, RunContext
from sslstudio.training.devices import select_device
from sslstudio.training.events import Finished, Log, Progress

logger = logging.getLogger(__name__)

SERIES = (("pretrained", "#4c78a8"), ("scratch", "#f58518"))
IDLE = ("Trains a pretrained and a scratch model at 1, 2, 5, 10 and all labels per class for each seed, on the "
        "last run's settings. Each seed costs about one pretraining and ten fine-tunings.")


def curve_events(config: RunConfig, dataset: Dataset, labels: list[str | None], seeds: tuple[int, ...],
                 cancel: threading.Event) -> Iterator:
    """Yield the curve's Progress and Log events, then ``Finished``; a cancel ends the events early."""
    context = RunContext(dataset=dataset, labels=labels, device=select_device(config.device), cancel=cancel)
    try:
        yield from label_efficiency_curve(config, context, DEFAULT_COUNTS, seeds)
    except Cancelled:
        yield Log("Label-efficiency curve cancelled")


class LabelEfficiencyPanel(CancellableJobOwner, QWidget):
    """The curve of the last run's settings, computed on a ``BackgroundJob`` and plotted as mean ± std over seeds."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.config: RunConfig | None = None
        self.dataset: Dataset | None = None
        self.labels: list[str | None] = []
        self.curve: LabelEfficiency | None = None
        self.job: BackgroundJob | None = None
        self.cancel_event = threading.Event()

        self.seeds = QSpinBox()
        self.seeds.setRange(1, 10)
        self.seeds.setValue(3)
        self.start_button = QPushButton("Compute curve")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.status = QLabel(IDLE)
        self.status.setWordWrap(True)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("seeds"))
        controls.addWidget(self.seeds)
        controls.addWidget(self.start_button)
        controls.addWidget(self.cancel_button)
        controls.addStretch(1)

        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setLabel("bottom", "labels per class")
        self.plot.setLabel("left", "held-out accuracy")
        # Bottom right: the curves rise towards the top right, where a legend would hide them.
        self.plot.addLegend(offset=(-10, -40))
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 1)
        self.set_run(None, None, [])

    def set_run(self, config: RunConfig | None, dataset: Dataset | None, labels: list[str | None]) -> None:
        """Use ``config`` (the last run's settings) on ``dataset`` and ``labels``; None disables the panel."""
        self.cancel()
        self.config, self.dataset, self.labels = config, dataset, list(labels)
        self.curve = None
        self.plot.clear()
        self.start_button.setEnabled(config is not None and dataset is not None)
        self.status.setText(IDLE)

    def start(self) -> BackgroundJob | None:
        """Start computing the curve; return the job (None when there is no run or one is computing)."""
        if self.config is None or self.dataset is None or self.is_running():
            return None
        seeds = tuple(range(self.seeds.value()))
        self.cancel_event = threading.Event()
        self.job = BackgroundJob(curve_events, self.config, self.dataset, self.labels, seeds, self.cancel_event,
                                 parent=self)
        self.job.yielded.connect(self._event)
        self.job.errored.connect(lambda message, _details: self.status.setText(f"Failed: {message}"))
        self.job.finished.connect(self._job_finished)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"Computing over seeds {', '.join(map(str, seeds))}…")
        self.job.start()
        return self.job

    def _event(self, event) -> None:
        if isinstance(event, Log):
            self.status.setText(event.message)
        elif isinstance(event, Progress) and event.total:
            self.status.setText(f"{event.phase}: step {event.step}/{event.total}")
        elif isinstance(event, Finished):
            self.show_curve(event.result.extras["curve"])

    def _job_finished(self) -> None:
        self.start_button.setEnabled(self.config is not None)
        self.cancel_button.setEnabled(False)

    def show_curve(self, curve: LabelEfficiency) -> None:
        """Plot mean ± standard deviation over seeds at each label count, one series per model."""
        self.curve = curve
        self.plot.clear()
        positions = np.arange(len(curve.points), dtype=float)
        self.plot.getAxis("bottom").setTicks([[(float(x), point.name) for x, point in zip(positions, curve.points)]])
        for offset, (name, color) in zip((-0.05, 0.05), SERIES):
            summaries = [getattr(point, f"{name}_summary")() for point in curve.points]
            means = np.array([mean for mean, _ in summaries])
            spreads = np.array([std for _, std in summaries])
            self.plot.plot(positions + offset, means, name=name, pen=pg.mkPen(color, width=2), symbol="o",
                           symbolBrush=color, symbolPen=color)
            self.plot.addItem(pg.ErrorBarItem(x=positions + offset, y=means, height=2 * spreads, pen=color))
        self.status.setText(f"Held-out {curve.metric}, mean ± standard deviation over seeds "
                            f"{', '.join(map(str, curve.seeds))}.")
