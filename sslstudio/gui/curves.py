"""Live training curves: points are buffered as events arrive and drawn on a timer, not per step."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

_COLORS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac"]


class CurvePlot(QWidget):
    """A pyqtgraph plot with one named curve per series, redrawn at most every ``interval_ms``."""

    def __init__(self, title: str, y_label: str, interval_ms: int = 200, legend_offset: tuple[int, int] = (-10, 10),
                 parent: QWidget | None = None):
        """``legend_offset`` is in pixels from the plot's edges: negative x from the right, negative y from the bottom."""
        super().__init__(parent)
        self.plot = pg.PlotWidget(title=title)
        self.plot.setBackground("w")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setLabel("left", y_label)
        self.plot.setLabel("bottom", "step")
        self.plot.addLegend(offset=legend_offset)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.series: dict[str, tuple[list[float], list[float]]] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.redraw)
        self._timer.start()

    def add_point(self, name: str, x: float, y: float) -> None:
        xs, ys = self.series.setdefault(name, ([], []))
        xs.append(x)
        ys.append(y)
        self._dirty = True

    def redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        for name, (xs, ys) in self.series.items():
            if name not in self.curves:
                color = _COLORS[len(self.curves) % len(_COLORS)]
                self.curves[name] = self.plot.plot(name=name, pen=pg.mkPen(color, width=2))
            self.curves[name].setData(xs, ys)

    def clear(self) -> None:
        self.series.clear()
        for curve in self.curves.values():
            self.plot.removeItem(curve)
        self.curves.clear()
        legend = self.plot.plotItem.legend
        if legend is not None:
            legend.clear()
