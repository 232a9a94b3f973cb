"""Graphs: GraphML, GML, edge lists and node-link JSON files, or a folder of them.

One file is one graph whose *nodes* are the samples (node classification). A
folder of graph files is a *collection* whose graphs are the samples, labeled
by their first sub-folder like image folders.

Batch layouts (every tensor on the requested device):

- one graph, ``batch(indices)`` returns ``(node_features N×F float32,
  edge_index 2×M int64, edge_weight M float32, node_index B int64)``: the whole
  graph, so message passing reaches every neighbour, and the B requested nodes.
- a collection returns the disjoint union of the requested graphs with a
  mean-pooling matrix ``G×N float32`` in place of ``node_index``.

``edge_index`` holds each undirected edge in both directions (a self-loop
once). Directed graphs are learned as undirected ones: the reader merges
reciprocal edges and records ``directed`` in the spec. Edge weights lie in
(0, 1]: ``log(1 + w) / log(1 + max w)`` for weighted graphs, and the Jaccard
index of the endpoints' closed neighbourhoods for unweighted graphs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import torch

from sslstudio.data.base import DataError, Dataset, DatasetSpec, register_reader
from sslstudio.data.graph_features import closed_jaccard_weights, structural_features, undirected_graph
from sslstudio.data.graph_formats import (
    GRAPH_SUFFIXES,
    JSON_SUFFIXES,
    GraphFormatError,
    looks_like_node_link,
    read_graph_file,
)
from sslstudio.data.report import ImportReport

logger = logging.getLogger(__name__)

PARALLEL_EDGE_OPTIONS = ("merge", "keep")
STRUCTURAL_OPTIONS = ("auto", "always", "never")
# Without attributes, a node gets 5 structural features and this many Laplacian positional encodings.
DEFAULT_ENCODINGS = 8
# One epoch of a single graph is this many full-graph steps (see ``GraphDataset.steps_per_epoch``).
GRAPH_EPOCH_STEPS = 50
NODE_ID_COLUMNS = ("node", "node_id", "id", "name")


def is_graph_file(path: Path) -> bool:
    if path.name.startswith(".") or not path.is_file():
        return False
    suffix = path.suffix.lower()
    if suffix in JSON_SUFFIXES:
        return looks_like_node_link(path)
    return suffix in {".graphml", ".gml", ".edgelist", ".edges"}


def _accepts(path: Path) -> bool:
    if path.is_file():
        return is_graph_file(path)
    return path.is_dir() and any(is_graph_file(child) for child in sorted(path.rglob("*"))[:200])


@dataclass
class GraphArrays:
    """One parsed graph as arrays: node ids, node attributes, E×2 edges and raw weights (NaN where absent)."""

    ids: list[str]
    attributes: pd.DataFrame
    edges: np.ndarray
    weights: np.ndarray
    directed: bool

    @property
    def weighted(self) -> bool:
        return bool(len(self.weights)) and not np.isnan(self.weights).all()


def _string_ids(nodes: Sequence[Any]) -> list[str]:
    ids = [str(node) for node in nodes]
    if len(set(ids)) == len(ids):
        return ids
    return [repr(node) for node in nodes]


def _edge_weight(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def graph_arrays(graph: nx.MultiGraph, name: str, report: ImportReport, parallel_edges: str = "merge",
                 weight_attribute: str = "weight", directed: bool | None = None) -> GraphArrays:
    """Turn a parsed multigraph into arrays with nodes relabeled 0..N-1 in file order.

    ``directed`` overrides the graph's own flag (edge lists carry none).

    Reciprocal edges of a directed graph and parallel edges are merged (weights
    added) or kept, by ``parallel_edges``. Either way the report records how many.
    Edges with a non-positive or non-numeric weight are dropped and reported.
    """
    nodes = list(graph.nodes)
    position = {node: index for index, node in enumerate(nodes)}
    ids = _string_ids(nodes)
    attributes = pd.DataFrame([{key: value for key, value in data.items() if not isinstance(value, (dict, list))}
                               for _, data in graph.nodes(data=True)], index=range(len(nodes)))
    has_weights = any(weight_attribute in data for _, _, data in graph.edges(data=True))
    pairs, weights = [], []
    for source, target, data in graph.edges(data=True):
        weight = _edge_weight(data.get(weight_attribute, 1.0)) if has_weights else float("nan")
        if has_weights and not (np.isfinite(weight) and weight > 0):
            report.add(name, f"edge weight {data.get(weight_attribute)!r} is not a positive number; edge dropped",
                       "skipped", f"edge {source} – {target}")
            continue
        first, second = position[source], position[target]
        pairs.append((min(first, second), max(first, second)))
        weights.append(weight)
    edges = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    weight_array = np.array(weights, dtype=np.float64)
    loops = int((edges[:, 0] == edges[:, 1]).sum())
    if loops:
        report.add(name, f"{loops} self-loop(s) kept as edges", "warning")
    is_directed = graph.is_directed() if directed is None else directed
    edges, weight_array = _resolve_parallel(edges, weight_array, is_directed, name, report, parallel_edges)
    return GraphArrays(ids, attributes, edges, weight_array, is_directed)


def _resolve_parallel(edges: np.ndarray, weights: np.ndarray, directed: bool, name: str, report: ImportReport,
                      parallel_edges: str) -> tuple[np.ndarray, np.ndarray]:
    unique, inverse = np.unique(edges, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    repeated = len(edges) - len(unique)
    what = "reciprocal or parallel" if directed else "parallel"
    if directed:
        report.add(name, "the graph is directed; messages flow both ways along every edge", "warning")
    if not repeated:
        return edges, weights
    if parallel_edges == "keep":
        report.add(name, f"{repeated} {what} edge(s) kept as a multigraph", "warning")
        return edges, weights
    merged = np.zeros(len(unique), dtype=np.float64)
    np.add.at(merged, inverse, np.nan_to_num(weights, nan=1.0))
    if np.isnan(weights).all():
        merged[:] = np.nan
    report.add(name, f"{repeated} {what} edge(s) merged into one edge per node pair (weights added)", "warning")
    return unique, merged


def _numeric_columns(attributes: pd.DataFrame, exclude: Sequence[str]) -> list[str]:
    numeric = []
    for column in attributes.columns:
        if column in exclude or attributes[column].dtype == bool:
            continue
        values = attributes[column].dropna()
        if len(values) and pd.to_numeric(values, errors="coerce").notna().all():
            numeric.append(column)
    return numeric


def _merge_node_table(arrays: GraphArrays, table_path: Path, report: ImportReport) -> None:
    """Add the columns of a node CSV (one row per node id) to ``arrays.attributes`` in place."""
    if not table_path.is_file():
        raise DataError(f"{table_path}: node table not found. Check the node_table path.")
    table = pd.read_csv(table_path, dtype=str, keep_default_na=False)
    id_column = next((column for column in table.columns if column.lower() in NODE_ID_COLUMNS), table.columns[0])
    position = {node_id: index for index, node_id in enumerate(arrays.ids)}
    rows: dict[int, dict[str, Any]] = {}
    for row_number, row in enumerate(table.to_dict("records"), start=2):
        node_id = row.pop(id_column).strip()
        if node_id not in position:
            report.add(table_path.name, f"node {node_id!r} is not in the graph; row ignored", "skipped",
                       f"row {row_number}")
        elif position[node_id] in rows:
            report.add(table_path.name, f"node {node_id!r} appears again; the first row is used", "skipped",
                       f"row {row_number}")
        else:
            rows[position[node_id]] = {key: (value if value != "" else None) for key, value in row.items()}
    missing = len(arrays.ids) - len(rows)
    if missing:
        report.add(table_path.name, f"{missing} graph node(s) have no row; their values are missing", "warning")
    extra = pd.DataFrame.from_dict(rows, orient="index").reindex(range(len(arrays.ids)))
    for column in extra.columns:
        arrays.attributes[column] = extra[column]


def attribute_features(arrays: GraphArrays, exclude: Sequence[str], name: str,
                       report: ImportReport) -> tuple[np.ndarray, list[str]]:
    """Return N×A numeric node attributes (missing values set to the column mean) and their names."""
    columns = _numeric_columns(arrays.attributes, exclude)
    if not columns:
        return np.zeros((len(arrays.ids), 0), dtype=np.float32), []
    values = arrays.attributes[columns].apply(pd.to_numeric, errors="coerce").astype(np.float64)
    for column in columns:
        missing = int(values[column].isna().sum())
        if missing:
            report.add(name, f"{missing} node(s) lack numeric attribute {column!r}; set to the column mean",
                       "repaired", f"column {column}")
    values = values.fillna(values.mean()).fillna(0.0)
    return values.to_numpy(np.float32), [str(column) for column in columns]


@dataclass
class GraphTensors:
    """One graph ready for learning: node features, E×2 edges (u ≤ v) and edge weights in (0, 1]."""

    features: torch.Tensor
    edges: torch.Tensor
    weights: torch.Tensor

    @property
    def num_nodes(self) -> int:
        return int(self.features.shape[0])

    def message_edges(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the 2×M edge index with both directions of every edge (a self-loop once) and its M weights."""
        reverse = self.edges[self.edges[:, 0] != self.edges[:, 1]].flip(1)
        reverse_weights = self.weights[self.edges[:, 0] != self.edges[:, 1]]
        return torch.cat([self.edges, reverse]).t().contiguous(), torch.cat([self.weights, reverse_weights])


def scaled_weights(arrays: GraphArrays) -> tuple[np.ndarray, str, float]:
    """Return edge weights in (0, 1], a description of where they come from and the raw maximum (1 if derived)."""
    if arrays.weighted:
        raw = np.nan_to_num(arrays.weights, nan=1.0)
        maximum = float(raw.max())
        return (np.log1p(raw) / np.log1p(maximum)).astype(np.float32), "file", maximum
    derived = closed_jaccard_weights(len(arrays.ids), arrays.edges)
    return derived, "common neighbours (Jaccard index of closed neighbourhoods)", 1.0


def build_features(arrays: GraphArrays, attributes: np.ndarray, attribute_names: list[str], structural: str,
                   encodings: int) -> tuple[np.ndarray, list[str]]:
    """Return unstandardized N×F node features: attributes, then structural features where chosen."""
    if structural == "always" or (structural == "auto" and not attribute_names):
        graph = undirected_graph(len(arrays.ids), arrays.edges, np.nan_to_num(arrays.weights, nan=1.0))
        extra, extra_names = structural_features(graph, encodings)
        return np.concatenate([attributes, extra], axis=1), attribute_names + extra_names
    return attributes, attribute_names


def standardize(features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (features − mean) / std per column, with the mean and std (a constant column keeps std 1)."""
    mean = features.mean(axis=0) if len(features) else np.zeros(features.shape[1])
    std = features.std(axis=0) if len(features) else np.ones(features.shape[1])
    std = np.where(std > 1e-8, std, 1.0)
    return ((features - mean) / std).astype(np.float32), mean.astype(np.float32), std.astype(np.float32)


class GraphDataset(Dataset):
    """The nodes of one graph as samples; ``metadata`` has one row per node with its attributes."""

    modality = "graph"

    def __init__(self, arrays: GraphArrays, attributes: np.ndarray, attribute_names: list[str], report: ImportReport,
                 source: str, structural: str = "auto", encodings: int = DEFAULT_ENCODINGS):
        raw_features, names = build_features(arrays, attributes, attribute_names, structural, encodings)
        if raw_features.shape[1] == 0:
            raise DataError(f"{source}: the nodes have no features; allow structural features (structural=auto)")
        features, self.feature_mean, self.feature_std = standardize(raw_features)
        weights, self.weight_source, self.max_weight = scaled_weights(arrays)
        self.arrays = arrays
        self.attribute_values, self.attribute_names = attributes, attribute_names
        self.structural, self.encodings = structural, encodings
        self.graph = GraphTensors(torch.from_numpy(features), torch.from_numpy(arrays.edges),
                                  torch.from_numpy(weights))
        self.message_index, self.message_weight = self.graph.message_edges()
        spec = DatasetSpec("graph", shape=(features.shape[1],), extra={
            "level": "node", "node_count": len(arrays.ids), "edge_count": len(arrays.edges),
            "feature_count": features.shape[1], "feature_names": names, "directed": arrays.directed,
            "weighted": arrays.weighted, "weight_source": self.weight_source})
        metadata = arrays.attributes.copy()
        metadata.insert(0, "sample_id", arrays.ids)
        super().__init__(arrays.ids, metadata, spec, report, source)

    def batch(self, indices: Sequence[int], device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
        """Return ``(node_features N×F, edge_index 2×M, edge_weight M, node_index B)`` on ``device``."""
        node_index = torch.as_tensor(list(indices), dtype=torch.long)
        return (self.graph.features.to(device), self.message_index.to(device), self.message_weight.to(device),
                node_index.to(device))

    def steps_per_epoch(self, count: int, batch_size: int) -> int:
        """Return ``GRAPH_EPOCH_STEPS``: each step already runs the encoder over the whole graph and draws
        fresh pretext targets, so one pass over the nodes would train for only a step or two."""
        return GRAPH_EPOCH_STEPS

    def export_inputs(self) -> tuple[tuple[str, dict[int, str]], ...]:
        """Return the ONNX input names with their dynamic axes: any graph size, any number of query nodes."""
        return (("node_features", {0: "nodes"}), ("edge_index", {1: "edges"}), ("edge_weight", {0: "edges"}),
                ("node_index", {0: "batch"}))

    def with_edges(self, edges: np.ndarray, weights: np.ndarray) -> "GraphDataset":
        """Return a copy of this graph with other edges (E×2, raw weights, NaN for unweighted).

        Structural features are recomputed, so held-out edges leave no trace in them.
        """
        arrays = GraphArrays(self.arrays.ids, self.arrays.attributes, np.asarray(edges, dtype=np.int64).reshape(-1, 2),
                             np.asarray(weights, dtype=np.float64), self.arrays.directed)
        return GraphDataset(arrays, self.attribute_values, self.attribute_names, ImportReport(), self.source,
                            self.structural, self.encodings)

    def preprocessing(self) -> dict[str, Any]:
        return {
            "input": "a whole graph: node features, edge index with both directions of each edge, edge weights, "
                     "and the indices of the nodes to classify",
            "feature_names": self.spec.extra["feature_names"],
            "feature_mean": self.feature_mean.tolist(),
            "feature_std": self.feature_std.tolist(),
            "structural_features": "log(1 + degree), log(1 + weighted degree), clustering, log(N * PageRank), "
                                   "core number / max core number, then Laplacian eigenvectors with the smallest "
                                   "nonzero eigenvalues (largest entry positive); standardized with the mean and std",
            "edge_weight": ("log(1 + w) / log(1 + max_weight)" if self.spec.extra["weighted"]
                            else "(common neighbours + 2) / (deg u + deg v - common neighbours)"),
            "max_weight": self.max_weight,
            "layout": "node_features N×F float32, edge_index 2×M int64, edge_weight M float32, node_index B int64",
        }


def _check_options(parallel_edges: str, structural: str, encodings: int) -> None:
    if parallel_edges not in PARALLEL_EDGE_OPTIONS:
        raise ValueError(f"parallel_edges={parallel_edges!r} is invalid; choose from {', '.join(PARALLEL_EDGE_OPTIONS)}")
    if structural not in STRUCTURAL_OPTIONS:
        raise ValueError(f"structural={structural!r} is invalid; choose from {', '.join(STRUCTURAL_OPTIONS)}")
    if not 0 <= encodings <= 64:
        raise ValueError(f"encodings={encodings} is out of range; valid range is 0 to 64")


@register_reader("graph", _accepts)
def open_graph(path: str | Path, node_table: str | None = None, parallel_edges: str = "merge",
               weight_attribute: str = "weight", directed: bool | None = None, structural: str = "auto",
               encodings: int = DEFAULT_ENCODINGS, exclude_columns: Sequence[str] | str = (),
               **_: object) -> Dataset:
    """Open a graph file (nodes are samples) or a folder of graph files (graphs are samples).

    Args:
        node_table: CSV of node attributes and labels, one row per node; the
            ``node``/``id`` column (else the first) names the node. A relative
            path is resolved against the graph file's folder.
        parallel_edges: ``merge`` (weights added) or ``keep``.
        weight_attribute: the edge attribute that contains weights.
        directed: for edge lists, whether the rows are directed (other formats say so themselves).
        structural: add structural features ``auto`` (when no numeric attribute exists), ``always`` or ``never``.
        encodings: number of Laplacian positional encodings among the structural features.
        exclude_columns: numeric node attributes that are not features (such as a numeric label), comma-separated.

    Raises:
        DataError: if the path is missing, unparseable, or holds no node or no graph.
        ValueError: for an invalid option.
    """
    _check_options(parallel_edges, structural, encodings)
    root = Path(path).expanduser()
    exclude = [item.strip() for item in exclude_columns.split(",")] if isinstance(exclude_columns, str) \
        else list(exclude_columns)
    if root.is_dir():
        from sslstudio.data.graph_collection import open_graph_collection

        return open_graph_collection(root, parallel_edges, weight_attribute, structural, encodings, exclude)
    if not root.is_file():
        raise DataError(f"{root}: not found. Check the path and try again.")
    report = ImportReport()
    try:
        graph = read_graph_file(root, report, weight_attribute)
    except GraphFormatError as error:
        raise DataError(f"{root}: {error}. Fix the file or export it again as GraphML.") from error
    if graph.number_of_nodes() == 0:
        raise DataError(f"{root}: the graph has no nodes. Choose a file with at least one node.")
    arrays = graph_arrays(graph, root.name, report, parallel_edges, weight_attribute, directed)
    if node_table:
        table_path = Path(node_table).expanduser()
        _merge_node_table(arrays, table_path if table_path.is_absolute() else root.parent / table_path, report)
    if not arrays.weighted:
        report.add(root.name, "the graph has no edge weights; weights are derived from common neighbours "
                              "(Jaccard index of closed neighbourhoods)", "warning")
    attributes, names = attribute_features(arrays, exclude, root.name, report)
    dataset = GraphDataset(arrays, attributes, names, report, str(root), structural, encodings)
    logger.info("Loaded graph %s: %d nodes, %d edges (%s)", root, len(dataset), len(arrays.edges),
                report.summary(len(dataset)))
    return dataset
