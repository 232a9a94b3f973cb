"""Time-series view: series plots with pyqtgraph (one curve per channel, mouse zoom and pan) and task previews.

A preview item's input is a ``(values, mask)`` pair (C×L each) and its target a
dict; the view draws what the dict contains, whatever the task:
``marked_steps`` (L bool) draws those steps as red dots, ``segments`` (a list of
``(start, end, number)``) separates and numbers the segments, and ``horizon``
(``(start, end)``) with ``future`` (C×h) shades the forecast span and draws the
true future values dashed. ``original`` (C×L) is drawn faintly behind.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

# Distinct curve colors, cycled over channels.
CHANNEL_COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#7f7f7f", "#bcbd22", "#e377c2")
OUTLIER_COLOR = "#d62728"
HORIZON_COLOR = (255, 160, 0, 60)
PLOT_HEIGHT = 220


def masked_array(values: torch.Tensor, mask: torch.Tensor | None = None) -> np.ndarray:
    """Return C×L float64 values with NaN where the mask is 0, so the plot leaves gaps there."""
    array = values.detach().float().cpu().numpy().astype(np.float64)
    if mask is not None:
        array = np.where(mask.detach().cpu().numpy() > 0, array, np.nan)
    return array


def _plot_widget(parent: QWidget | None) -> pg.PlotWidget:
    plot = pg.PlotWidget(parent=parent, background="w")
    plot.setMinimumHeight(PLOT_HEIGHT)
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setLabel("bottom", "step")
    plot.setMouseEnabled(x=True, y=True)
    return plot


def _draw_channels(plot: pg.PlotWidget, array: np.ndarray, names: list[str] | None = None, width: float = 1.5,
                   alpha: int = 255, style: Qt.PenStyle = Qt.PenStyle.SolidLine, offset: int = 0) -> None:
    steps = np.arange(array.shape[1]) + offset
    for channel, row in enumerate(array):
        color = QColor(CHANNEL_COLORS[channel % len(CHANNEL_COLORS)])
        color.setAlpha(alpha)
        name = names[channel] if names and channel < len(names) else None
        plot.plot(steps, row, pen=pg.mkPen(color, width=width, style=style), name=name, connect="finite")


class SeriesPlot(QWidget):
    """One series (C×L, NaN = gap) in a zoomable plot with a title line above it."""

    def __init__(self, array: np.ndarray, title: str = "", channel_names: list[str] | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel(title)
        layout.addWidget(self.title)
        self.plot = _plot_widget(self)
        if array.shape[0] > 1:
            self.plot.addLegend(offset=(5, 5))
        _draw_channels(self.plot, array, channel_names)
        layout.addWidget(self.plot)


def sample_widget(dataset, index: int, parent: QWidget | None = None) -> QWidget:
    """Return a plot of sample ``index``: every channel, gaps left open, padding cut off."""
    values, mask = dataset.batch([index])
    length = int(dataset.metadata["length"].iat[index]) if "length" in dataset.metadata else values.shape[-1]
    array = masked_array(values[0], mask[0])[:, :max(length, 1)]
    title = f"{dataset.ids[index]} · {array.shape[0]} channel(s) · {array.shape[1]} steps"
    return SeriesPlot(array, title, dataset.spec.extra.get("channel_names"), parent)


def _add_marked_steps(plot: pg.PlotWidget, array: np.ndarray, marked: torch.Tensor) -> None:
    steps = np.flatnonzero(marked.detach().cpu().numpy())
    for row in array:
        plot.plot(steps, row[steps], pen=None, symbol="o", symbolSize=6, symbolBrush=OUTLIER_COLOR,
                  symbolPen=OUTLIER_COLOR)


def _add_segments(plot: pg.PlotWidget, array: np.ndarray, segments: list[tuple[int, int, int]]) -> None:
    finite = array[np.isfinite(array)]
    top = float(finite.max()) if finite.size else 1.0
    for slot, (start, end, number) in enumerate(segments):
        if slot:
            plot.addItem(pg.InfiniteLine(pos=start - 0.5, angle=90, pen=pg.mkPen("#555555", style=Qt.PenStyle.DashLine)))
        label = pg.TextItem(str(number), color="#000000", anchor=(0.5, 0.0))
        label.setPos((start + end - 1) / 2, top)
        plot.addItem(label)


def _add_horizon(plot: pg.PlotWidget, horizon: tuple[int, int], future: torch.Tensor | None) -> None:
    start, end = horizon
    plot.addItem(pg.LinearRegionItem(values=(start - 0.5, end - 0.5), movable=False, brush=HORIZON_COLOR))
    if future is not None:
        _draw_channels(plot, masked_array(future), style=Qt.PenStyle.DashLine, offset=start)


def preview_widget(item, task, parent: QWidget | None = None) -> QWidget:
    """Return a plot of one task preview: the task's input, with what the task changed marked on it."""
    values, mask = item.input
    array = masked_array(values, mask)
    target = item.target if isinstance(item.target, dict) else {}
    present = np.flatnonzero(np.isfinite(array).any(axis=0))
    end = int(present.max()) + 1 if present.size else array.shape[1]
    widget = SeriesPlot(np.empty((0, array.shape[1])), item.caption, parent=parent)
    plot = widget.plot
    original = target.get("original")
    if original is not None:
        original_end = max(end, int(target["horizon"][1])) if "horizon" in target else end
        _draw_channels(plot, masked_array(original)[:, :original_end], width=1.0, alpha=70)
    _draw_channels(plot, array[:, :end])
    if "marked_steps" in target:
        _add_marked_steps(plot, array, target["marked_steps"])
    if "segments" in target:
        _add_segments(plot, array[:, :end], target["segments"])
    if "horizon" in target:
        _add_horizon(plot, target["horizon"], target.get("future"))
    widget.setToolTip(f"{task.title}: {item.caption}")
    return widget


def thumbnail(dataset, index: int, size: int) -> QImage | None:
    """Return a ``size``×``size`` sparkline of the first channel of sample ``index`` (gaps left open)."""
    values, mask = dataset.batch([index])
    row = masked_array(values[0, :1], mask[0, :1])[0]
    finite = np.isfinite(row)
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    if finite.sum() < 2:
        return image
    last = int(np.flatnonzero(finite)[-1]) + 1
    row = row[:last]
    low, high = float(np.nanmin(row)), float(np.nanmax(row))
    span = high - low or 1.0
    margin = max(1.0, size * 0.08)
    scale_x = (size - 2 * margin) / max(len(row) - 1, 1)
    scale_y = (size - 2 * margin) / span
    path = QPainterPath()
    drawing = False
    for step, value in enumerate(row):
        if not np.isfinite(value):
            drawing = False
            continue
        point = QPointF(margin + step * scale_x, size - margin - (value - low) * scale_y)
        if drawing:
            path.lineTo(point)
        else:
            path.moveTo(point)
            drawing = True
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(QColor(CHANNEL_COLORS[0]), max(1.0, size / 64)))
    painter.drawPath(path)
    painter.end()
    return image
