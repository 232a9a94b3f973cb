"""The graph view offscreen: samples of both bundled graphs and previews of both tasks."""

from __future__ import annotations

import networkx as nx
import pytest
import torch

from sslstudio.data.base import open_dataset
from sslstudio.data.samples import get_sample
from sslstudio.gui.views import view_for
from sslstudio.tasks.registry import create_task, list_tasks


@pytest.fixture(scope="module")
def karate():
    return get_sample("karate").open()


@pytest.mark.parametrize("name", ["karate", "drosophila"])
def test_sample_widget_colors_by_label(qtbot, name):
    dataset = get_sample(name).open()
    widget = view_for("graph").sample_widget(dataset, 3)
    qtbot.addWidget(widget)
    brushes = widget.plot.graph_item.scatter.data["brush"]
    colors = {brush.color().name() for brush in brushes}
    labels = set(dataset.label_column(get_sample(name).label_column))
    assert len(brushes) == len(dataset)
    assert len(colors) == len(labels)
    assert widget.plot.graph_item.scatter.data["size"][3] > widget.plot.graph_item.scatter.data["size"][0]


@pytest.mark.parametrize("cls", list_tasks("graph"), ids=lambda cls: cls.name)
def test_preview_widget_marks_pairs(qtbot, karate, cls):
    task = create_task(cls.name, karate.spec)
    item = task.preview(karate.batch(range(len(karate))), torch.Generator().manual_seed(0))[0]
    widget = view_for("graph").preview_widget(item, task)
    qtbot.addWidget(widget)
    marked = widget.plot.marked_item
    assert task.title in widget.caption.text()
    if cls.name == "graph.missing_link":
        assert marked.opts["pen"].style() == pytest.importorskip("PySide6.QtCore").Qt.PenStyle.DashLine
        assert len(marked.xData) == 2 * len(item.target["pairs"])
    else:
        assert len(marked.pen) == len(item.target["pairs"])


def test_collection_sample_widget(qtbot, tmp_path):
    nx.write_graphml(nx.cycle_graph(5), tmp_path / "a.graphml")
    nx.write_graphml(nx.star_graph(3), tmp_path / "b.graphml")
    dataset = open_dataset(tmp_path, "graph")
    widget = view_for("graph").sample_widget(dataset, 1)
    qtbot.addWidget(widget)
    assert len(widget.plot.graph_item.scatter.data) == 4
    assert view_for("graph").thumbnail(dataset, 0, 64) is None
