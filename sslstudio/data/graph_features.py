"""Node and edge features computed from graph structure (no Qt).

Used by the graph reader when a graph has no numeric node attributes, and to
give unweighted graphs edge weights in (0, 1].
"""

from __future__ import annotations

import logging

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import ArpackNoConvergence, eigsh

logger = logging.getLogger(__name__)

STRUCTURAL_NAMES = ("log_degree", "log_strength", "clustering", "log_pagerank", "core_number")
# Graphs up to this many nodes get their Laplacian eigenvectors from a dense solver.
DENSE_EIGEN_MAX_NODES = 2000


def undirected_graph(num_nodes: int, edges: np.ndarray, weights: np.ndarray) -> nx.Graph:
    """Build a simple undirected networkx graph from E×2 ``edges``; repeated pairs add their weights."""
    graph = nx.Graph()
    graph.add_nodes_from(range(num_nodes))
    for (source, target), weight in zip(edges.tolist(), weights.tolist()):
        if graph.has_edge(source, target):
            graph[source][target]["weight"] += weight
        else:
            graph.add_edge(source, target, weight=weight)
    return graph


def closed_jaccard_weights(num_nodes: int, edges: np.ndarray) -> np.ndarray:
    """Return one weight per row of E×2 ``edges``: the Jaccard index of the endpoints' closed neighbourhoods.

    For an edge u–v with c common neighbours this is (c + 2) / (deg u + deg v − c),
    so it lies in (0, 1] and is never 0, even for a bridge. Self-loops get 1.
    """
    simple = edges[edges[:, 0] != edges[:, 1]]
    adjacency = sp.coo_matrix((np.ones(len(simple)), (simple[:, 0], simple[:, 1])), shape=(num_nodes, num_nodes))
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64).tocsr()
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    common = np.asarray((adjacency @ adjacency)[edges[:, 0], edges[:, 1]]).ravel()
    union = degree[edges[:, 0]] + degree[edges[:, 1]] - common
    weights = (common + 2.0) / np.maximum(union, 1.0)
    weights[edges[:, 0] == edges[:, 1]] = 1.0
    return np.clip(weights, 0.0, 1.0).astype(np.float32)


def laplacian_encodings(graph: nx.Graph, count: int) -> np.ndarray:
    """Return N×count eigenvectors of the symmetric normalized Laplacian with the smallest nonzero eigenvalues.

    Dwivedi et al., "Benchmarking Graph Neural Networks", JMLR 2023, use them as
    positional encodings. Each vector's sign is fixed so that its entry of largest
    magnitude is positive. Columns past N − 1 are zero.
    """
    num_nodes = graph.number_of_nodes()
    encodings = np.zeros((num_nodes, count), dtype=np.float32)
    usable = min(count, num_nodes - 1)
    if usable <= 0:
        return encodings
    laplacian = nx.normalized_laplacian_matrix(graph, nodelist=range(num_nodes), weight=None).astype(np.float64)
    if num_nodes <= DENSE_EIGEN_MAX_NODES:
        _, vectors = np.linalg.eigh(laplacian.toarray())
    else:
        try:
            _, vectors = eigsh(laplacian, k=usable + 1, sigma=-1e-3, which="LM")
        except ArpackNoConvergence:
            logger.warning("Laplacian eigenvectors did not converge for %d nodes; positional encodings are zero",
                           num_nodes)
            return encodings
    vectors = vectors[:, 1:usable + 1]
    largest = np.abs(vectors).argmax(axis=0)
    signs = np.sign(vectors[largest, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    encodings[:, :usable] = vectors * signs
    return encodings


def structural_features(graph: nx.Graph, encodings: int) -> tuple[np.ndarray, list[str]]:
    """Return N×F structural node features and their names.

    Features: log(1 + degree), log(1 + weighted degree), clustering
    coefficient, log(N · PageRank), core number / max core number, then
    ``encodings`` Laplacian positional encodings.
    """
    num_nodes = graph.number_of_nodes()
    nodes = range(num_nodes)
    simple = nx.Graph(graph)
    simple.remove_edges_from(nx.selfloop_edges(simple))
    degree = np.array([simple.degree(node) for node in nodes], dtype=np.float64)
    strength = np.array([simple.degree(node, weight="weight") for node in nodes], dtype=np.float64)
    clustering_by_node = nx.clustering(simple)
    clustering = np.array([clustering_by_node[node] for node in nodes], dtype=np.float64)
    pagerank_by_node = nx.pagerank(simple, weight="weight") if simple.number_of_edges() else {}
    pagerank = np.array([pagerank_by_node.get(node, 1.0 / num_nodes) for node in nodes], dtype=np.float64)
    core_by_node = nx.core_number(simple)
    core = np.array([core_by_node[node] for node in nodes], dtype=np.float64)
    columns = [np.log1p(degree), np.log1p(strength), clustering, np.log(pagerank * num_nodes),
               core / max(core.max(), 1.0)]
    features = np.stack(columns, axis=1).astype(np.float32)
    names = list(STRUCTURAL_NAMES)
    if encodings:
        features = np.concatenate([features, laplacian_encodings(simple, encodings)], axis=1)
        names += [f"laplacian_{index + 1}" for index in range(encodings)]
    return features, names
