"""The time-series view builds its widgets offscreen and marks what each task changed."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
import torch

from sslstudio.data.samples import get_sample
from sslstudio.gui.views import view_for
from sslstudio.tasks.registry import create_task, list_tasks


@pytest.fixture(scope="module")
def gunpoint():
    return get_sample("gunpoint").open()


def _items(widget, kind):
    return [item for item in widget.plot.getPlotItem().items if isinstance(item, kind)]


def test_sample_widget_plots_series(qtbot, gunpoint):
    widget = view_for("timeseries").sample_widget(gunpoint, 0)
    qtbot.addWidget(widget)
    curves = widget.plot.getPlotItem().listDataItems()
    assert len(curves) == 1
    assert len(curves[0].getData()[0]) == 150
    assert "150 steps" in widget.title.text()


def test_preview_widget_for_every_task(qtbot, gunpoint):
    view = view_for("timeseries")
    batch = gunpoint.batch([0, 1])
    for cls in list_tasks("timeseries"):
        task = create_task(cls.name, gunpoint.spec)
        item = task.preview(batch, torch.Generator().manual_seed(0))[0]
        widget = view.preview_widget(item, task)
        qtbot.addWidget(widget)
        assert widget.title.text() == item.caption


def test_outlier_preview_marks_steps_red(qtbot, gunpoint):
    task = create_task("timeseries.outliers", gunpoint.spec)
    item = task.preview(gunpoint.batch([0]), torch.Generator().manual_seed(0))[0]
    widget = view_for("timeseries").preview_widget(item, task)
    qtbot.addWidget(widget)
    red = [curve for curve in widget.plot.getPlotItem().listDataItems()
           if curve.opts.get("symbolBrush") == "#d62728"]
    assert len(red) == 1
    assert len(red[0].getData()[0]) == int(item.target["marked_steps"].sum())


def test_reorder_preview_numbers_segments(qtbot, gunpoint):
    task = create_task("timeseries.reorder", gunpoint.spec, {"segments": 4})
    item = task.preview(gunpoint.batch([0]), torch.Generator().manual_seed(0))[0]
    widget = view_for("timeseries").preview_widget(item, task)
    qtbot.addWidget(widget)
    numbers = sorted(label.textItem.toPlainText() for label in _items(widget, pg.TextItem))
    assert numbers == ["1", "2", "3", "4"]
    assert len(_items(widget, pg.InfiniteLine)) == 3


def test_forecast_preview_shades_horizon(qtbot, gunpoint):
    task = create_task("timeseries.forecast", gunpoint.spec, {"horizon": 12})
    item = task.preview(gunpoint.batch([0]), torch.Generator().manual_seed(0))[0]
    widget = view_for("timeseries").preview_widget(item, task)
    qtbot.addWidget(widget)
    regions = _items(widget, pg.LinearRegionItem)
    start, end = item.target["horizon"]
    assert len(regions) == 1
    assert regions[0].getRegion() == pytest.approx((start - 0.5, end - 0.5))


def test_thumbnail_draws_sparkline(gunpoint):
    image = view_for("timeseries").thumbnail(gunpoint, 0, 48)
    pixels = np.array([[image.pixelColor(x, y).red() for x in range(48)] for y in range(48)])
    assert (image.width(), image.height()) == (48, 48)
    assert int((pixels < 200).sum()) > 40
