"""Graph view: a pyqtgraph ``GraphItem`` on a networkx spring layout, nodes colored by label.

Previews draw the graph given to the model in grey, hidden links dashed and
perturbed edge weights in color (blue for a weight lowered by the noise, red
for one raised).
"""

from __future__ import annotations

import weakref

import networkx as nx
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from sslstudio.data.base import Dataset
from sslstudio.tasks.base import PretextTask, PreviewItem

EDGE_PEN = pg.mkPen((150, 150, 150, 160), width=1)
HIDDEN_PEN = pg.mkPen((230, 120, 20), width=2, style=Qt.PenStyle.DashLine)
MAX_LABEL_CLASSES = 20
_layouts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def spring_layout(num_nodes: int, edges: np.ndarray) -> np.ndarray:
    """Return N×2 node positions from networkx's spring layout (fixed seed, so views agree)."""
    graph = nx.Graph()
    graph.add_nodes_from(range(num_nodes))
    graph.add_edges_from(edges.tolist())
    positions = nx.spring_layout(graph, seed=0)
    return np.array([positions[node] for node in range(num_nodes)], dtype=float).reshape(-1, 2)


def _label_column(dataset: Dataset) -> str | None:
    for column in dataset.metadata.columns:
        if column == "sample_id":
            continue
        distinct = dataset.metadata[column].dropna().nunique()
        if 2 <= distinct <= MAX_LABEL_CLASSES:
            return column
    return None


def node_colors(labels: list[str | None]) -> list:
    """Return one brush per node: a distinct hue per label, grey for unlabeled nodes."""
    names = sorted({label for label in labels if label is not None})
    hues = {name: pg.intColor(index, hues=max(len(names), 1)) for index, name in enumerate(names)}
    return [pg.mkBrush(hues[label]) if label is not None else pg.mkBrush(200, 200, 200) for label in labels]


def _plot_widget(parent: QWidget | None) -> pg.PlotWidget:
    plot = pg.PlotWidget(parent=parent)
    plot.setAspectLocked(True)
    plot.hideAxis("left")
    plot.hideAxis("bottom")
    plot.setMenuEnabled(False)
    return plot


def _with_caption(plot: pg.PlotWidget, caption: str, parent: QWidget | None) -> QWidget:
    container = QWidget(parent)
    layout = QVBoxLayout(container)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(plot)
    label = QLabel(caption, container)
    label.setWordWrap(True)
    layout.addWidget(label)
    container.caption = label
    container.plot = plot
    return container


def _graph_of(dataset: Dataset, index: int) -> tuple[int, np.ndarray, int | None]:
    """Return (node count, E×2 edges, highlighted node or None) for the sample at ``index``."""
    if dataset.spec.extra.get("level") == "graph":
        graph = dataset.graphs[index]
        return graph.num_nodes, graph.edges.numpy(), None
    return len(dataset), dataset.graph.edges.numpy(), index


def sample_widget(dataset: Dataset, index: int, parent: QWidget | None = None,
                  label_column: str | None = None) -> QWidget:
    """Draw the graph of sample ``index``: the whole graph with that node enlarged, or that graph of a collection."""
    num_nodes, edges, highlighted = _graph_of(dataset, index)
    # One graph's layout is cached per dataset, so every node of it is drawn in the same place.
    positions = _layouts.get(dataset) if highlighted is not None else None
    if positions is None:
        positions = spring_layout(num_nodes, edges)
        if highlighted is not None:
            _layouts[dataset] = positions
    column = label_column or (_label_column(dataset) if highlighted is not None else None)
    labels = dataset.label_column(column) if column else [None] * num_nodes
    sizes = np.full(num_nodes, 9.0)
    if highlighted is not None:
        sizes[highlighted] = 18.0
    plot = _plot_widget(parent)
    item = pg.GraphItem()
    item.setData(pos=positions, adj=edges.astype(np.int64) if len(edges) else None, pen=EDGE_PEN,
                 size=sizes, symbolBrush=node_colors(labels), pxMode=True)
    plot.addItem(item)
    plot.graph_item = item
    caption = f"{dataset.ids[index]}: {num_nodes} nodes, {len(edges)} edges"
    if column:
        caption += f"; colored by {column}"
    return _with_caption(plot, caption, parent)


def _weight_pens(noisy: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """Return one record-array pen per edge: red where the noise raised the weight, blue where it lowered it."""
    change = np.clip((noisy - clean) / 0.5, -1.0, 1.0)
    pens = np.empty(len(change), dtype=[("red", np.ubyte), ("green", np.ubyte), ("blue", np.ubyte),
                                        ("alpha", np.ubyte), ("width", float)])
    pens["red"] = np.where(change > 0, 220, (1 + change) * 220).astype(np.ubyte)
    pens["blue"] = np.where(change < 0, 220, (1 - change) * 220).astype(np.ubyte)
    pens["green"] = 60
    pens["alpha"] = 255
    pens["width"] = 3.0
    return pens


def preview_widget(item: PreviewItem, task: PretextTask, parent: QWidget | None = None) -> QWidget:
    """Draw a graph task preview: the visible graph, hidden links dashed, perturbed weights colored."""
    graph, target = item.input, item.target
    num_nodes = int(graph["num_nodes"])
    edges = graph["edges"].numpy().astype(np.int64)
    pairs = target["pairs"].numpy().astype(np.int64).reshape(-1, 2)
    positions = spring_layout(num_nodes, np.concatenate([edges, pairs]))
    plot = _plot_widget(parent)
    base = pg.GraphItem()
    base.setData(pos=positions, adj=edges if len(edges) else None, pen=EDGE_PEN, size=8,
                 symbolBrush=pg.mkBrush(90, 140, 200), pxMode=True)
    plot.addItem(base)
    if target["style"] == "hidden":
        marked = pg.PlotCurveItem(positions[pairs].reshape(-1, 2)[:, 0], positions[pairs].reshape(-1, 2)[:, 1],
                                  connect="pairs", pen=HIDDEN_PEN)
    else:
        keys = {tuple(pair): position for position, pair in enumerate(edges.tolist())}
        weights = graph["weights"].numpy()
        noisy = np.array([weights[keys[tuple(sorted(pair))]] for pair in pairs.tolist()])
        marked = pg.GraphItem()
        marked.setData(pos=positions, adj=pairs, pen=_weight_pens(noisy, target["values"].numpy()), size=0)
    plot.addItem(marked)
    plot.marked_item = marked
    return _with_caption(plot, f"{task.title}: {item.caption}", parent)


def thumbnail(dataset: Dataset, index: int, size: int):
    """Return None: a node or a graph has no picture small enough for a grid cell."""
    return None
