"""A folder of graph files as a dataset whose samples are whole graphs (graph-level tasks).

The first folder level below the root becomes the ``folder`` label column, as
for image folders. A batch is the disjoint union of the requested graphs:
``(node_features N×F, edge_index 2×M, edge_weight M, pooling G×N)``, where row
g of ``pooling`` averages the nodes of the g-th requested graph.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from sslstudio.data.base import DataError, Dataset, DatasetSpec
from sslstudio.data.graph import (
    GraphArrays,
    GraphTensors,
    is_graph_file,
    attribute_features,
    build_features,
    graph_arrays,
    scaled_weights,
    standardize,
)
from sslstudio.data.graph_formats import GraphFormatError, read_graph_file
from sslstudio.data.report import ImportReport

logger = logging.getLogger(__name__)


class GraphCollectionDataset(Dataset):
    """Whole graphs as samples, with ``path``, ``file_name``, ``folder``, ``nodes`` and ``edges`` metadata."""

    modality = "graph"

    def __init__(self, graphs: list[GraphTensors], feature_names: list[str], feature_mean: np.ndarray,
                 feature_std: np.ndarray, ids: list[str], metadata: pd.DataFrame, report: ImportReport, source: str):
        spec = DatasetSpec("graph", shape=(len(feature_names),), extra={
            "level": "graph", "graph_count": len(graphs), "feature_count": len(feature_names),
            "feature_names": feature_names, "weighted": False})
        super().__init__(ids, metadata, spec, report, source)
        self.graphs = graphs
        self.feature_mean, self.feature_std = feature_mean, feature_std
        self._messages = [graph.message_edges() for graph in graphs]

    def batch(self, indices: Sequence[int], device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
        """Return ``(node_features N×F, edge_index 2×M, edge_weight M, pooling G×N)`` for the G graphs."""
        features, edge_indices, edge_weights, owners = [], [], [], []
        offset = 0
        for position, index in enumerate(indices):
            graph = self.graphs[index]
            edge_index, edge_weight = self._messages[index]
            features.append(graph.features)
            edge_indices.append(edge_index + offset)
            edge_weights.append(edge_weight)
            owners.append(torch.full((graph.num_nodes,), position, dtype=torch.long))
            offset += graph.num_nodes
        owner = torch.cat(owners)
        pooling = torch.zeros(len(indices), offset)
        pooling[owner, torch.arange(offset)] = 1.0
        pooling /= pooling.sum(dim=1, keepdim=True)
        return (torch.cat(features).to(device), torch.cat(edge_indices, dim=1).to(device),
                torch.cat(edge_weights).to(device), pooling.to(device))

    def export_inputs(self) -> tuple[tuple[str, dict[int, str]], ...]:
        """Return the ONNX input names with their dynamic axes (graphs, nodes and edges all vary)."""
        return (("node_features", {0: "nodes"}), ("edge_index", {1: "edges"}), ("edge_weight", {0: "edges"}),
                ("pooling", {0: "batch", 1: "nodes"}))

    def preprocessing(self) -> dict[str, Any]:
        return {
            "input": "the disjoint union of G graphs and a G×N matrix whose row g averages the nodes of graph g",
            "feature_names": self.spec.extra["feature_names"],
            "feature_mean": self.feature_mean.tolist(),
            "feature_std": self.feature_std.tolist(),
            "layout": "node_features N×F float32, edge_index 2×M int64, edge_weight M float32, pooling G×N float32",
        }


def _find_graph_files(root: Path) -> list[Path]:
    return [path for path in sorted(root.rglob("*"))
            if not any(part.startswith(".") for part in path.relative_to(root).parts) and is_graph_file(path)]


def open_graph_collection(root: Path, parallel_edges: str, weight_attribute: str, structural: str, encodings: int,
                          exclude: Sequence[str]) -> GraphCollectionDataset:
    """Open every graph file below ``root``; unreadable or empty graphs go to the import report.

    Node attributes become features only where every graph has them.

    Raises:
        DataError: if the folder contains no graph file, or none can be read.
    """
    report = ImportReport()
    files = _find_graph_files(root)
    if not files:
        raise DataError(f"{root}: no graph files found (GraphML, GML, node-link JSON, .edgelist or .edges). "
                        "Choose a folder that contains graphs.")
    parsed: list[tuple[Path, GraphArrays]] = []
    for file in files:
        relative = file.relative_to(root).as_posix()
        try:
            graph = read_graph_file(file, report, weight_attribute)
        except GraphFormatError as error:
            report.add(relative, str(error))
            continue
        if graph.number_of_nodes() == 0:
            report.add(relative, "the graph has no nodes")
            continue
        parsed.append((file, graph_arrays(graph, relative, report, parallel_edges, weight_attribute)))
    if not parsed:
        raise DataError(f"{root}: none of the {len(files)} graph files could be read; see the import report.")

    attribute_sets = [attribute_features(arrays, exclude, file.name, ImportReport())[1] for file, arrays in parsed]
    shared = [name for name in attribute_sets[0] if all(name in names for names in attribute_sets)]
    dropped = sorted(set().union(*attribute_sets) - set(shared))
    if dropped:
        report.add(root.name, f"node attributes {', '.join(dropped)} are missing in some graphs; not used as features",
                   "warning")
    raw, names = [], []
    for file, arrays in parsed:
        values, columns = attribute_features(arrays, exclude, file.name, report)
        values = values[:, [columns.index(name) for name in shared]]
        features, names = build_features(arrays, values, list(shared), structural, encodings)
        raw.append(features)
    if not names:
        raise DataError(f"{root}: the graphs have no node features; allow structural features (structural=auto)")
    standardized, mean, std = standardize(np.concatenate(raw))
    graphs, ids, rows, start = [], [], [], 0
    for (file, arrays), features in zip(parsed, raw):
        weights, _, _ = scaled_weights(arrays)
        graphs.append(GraphTensors(torch.from_numpy(standardized[start:start + len(features)]),
                                   torch.from_numpy(arrays.edges), torch.from_numpy(weights)))
        start += len(features)
        relative = file.relative_to(root)
        ids.append(relative.as_posix())
        rows.append({"sample_id": relative.as_posix(), "path": str(file), "file_name": file.name,
                     "folder": relative.parts[0] if len(relative.parts) > 1 else "",
                     "nodes": len(arrays.ids), "edges": len(arrays.edges)})
    logger.info("Loaded %d graphs from %s (%s)", len(graphs), root, report.summary(len(graphs)))
    return GraphCollectionDataset(graphs, names, mean, std, ids, pd.DataFrame(rows), report, str(root))
