"""Parse graph files into networkx multigraphs: GraphML, GML, node-link JSON and edge lists.

Every parser returns a ``MultiGraph`` or ``MultiDiGraph`` so parallel edges
survive until the reader decides to merge or keep them. Problems that do not
stop the parse go to the import report; a file that cannot be parsed at all
raises ``GraphFormatError``.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
import warnings
from pathlib import Path
from xml.etree.ElementTree import ParseError

import networkx as nx

from sslstudio.data.report import ImportReport

logger = logging.getLogger(__name__)

GRAPHML_SUFFIXES = frozenset({".graphml"})
GML_SUFFIXES = frozenset({".gml"})
JSON_SUFFIXES = frozenset({".json"})
EDGE_LIST_SUFFIXES = frozenset({".edgelist", ".edges", ".csv", ".tsv", ".txt"})
GRAPH_SUFFIXES = GRAPHML_SUFFIXES | GML_SUFFIXES | JSON_SUFFIXES | EDGE_LIST_SUFFIXES
# Header words recognised in the first row of a two-column edge list.
EDGE_LIST_HEADERS = frozenset({"source", "target", "from", "to", "src", "dst", "u", "v", "node1", "node2",
                               "node_1", "node_2", "pre", "post"})


class GraphFormatError(ValueError):
    """A graph file that cannot be parsed at all; the message names the file and the problem."""


def read_graph_file(path: Path, report: ImportReport, weight_attribute: str = "weight") -> nx.MultiGraph:
    """Parse ``path`` by its suffix into a multigraph (directed files give a ``MultiDiGraph``).

    Edge-list rows keep their weight column as the ``weight_attribute`` edge attribute.

    Raises:
        GraphFormatError: if the file is unreadable, malformed or of an unknown suffix.
    """
    suffix = path.suffix.lower()
    try:
        if suffix in GRAPHML_SUFFIXES:
            return _read_graphml(path, report)
        if suffix in GML_SUFFIXES:
            return _read_gml(path, report)
        if suffix in JSON_SUFFIXES:
            return _read_node_link(path)
        if suffix in EDGE_LIST_SUFFIXES:
            return _read_edge_list(path, report, weight_attribute)
    except GraphFormatError:
        raise
    except (nx.NetworkXError, ParseError, OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise GraphFormatError(f"{path.name}: not a valid {suffix.lstrip('.')} graph: {error}") from error
    raise GraphFormatError(f"{path.name}: unknown graph format {suffix!r}; "
                           f"use one of {', '.join(sorted(GRAPH_SUFFIXES))}")


def looks_like_node_link(path: Path) -> bool:
    """Return whether a JSON file starts like node-link data (a ``nodes`` key and ``links`` or ``edges``)."""
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return False
    return '"nodes"' in head and ('"links"' in head or '"edges"' in head)


def _read_graphml(path: Path, report: ImportReport) -> nx.MultiGraph:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = nx.read_graphml(path, force_multigraph=True)
    for warning in caught:
        # networkx reads a <key> without attr.type as a string, so the reader converts numeric values later.
        report.add(path.name, f"{warning.message}; numeric values of this key are read as numbers", "repaired")
    return graph


def _read_gml(path: Path, report: ImportReport) -> nx.MultiGraph:
    text = path.read_text(encoding="utf-8")
    if not re.search(r"\bmultigraph\s+1\b", text):
        # Parse every file as a multigraph so parallel edges reach the merge-or-keep option
        # instead of failing the whole parse.
        text = re.sub(r"\bgraph\s*\[", "graph [\n  multigraph 1", text, count=1)
    graph = nx.parse_gml(text, label=None)
    labels = {node: data.get("label") for node, data in graph.nodes(data=True)}
    unlabeled = [node for node, label in labels.items() if label is None]
    distinct = {str(label) for label in labels.values() if label is not None}
    if unlabeled and len(unlabeled) < len(labels):
        report.add(path.name, f"{len(unlabeled)} node(s) have no 'label'; all nodes are named by their GML id",
                   "repaired", f"node id {unlabeled[0]}")
        return graph
    if not unlabeled and len(distinct) == len(labels):
        return nx.relabel_nodes(graph, {node: str(label) for node, label in labels.items()})
    if not unlabeled:
        report.add(path.name, "node labels are not unique; nodes are named by their GML id", "repaired")
    return graph


def _read_node_link(path: Path) -> nx.MultiGraph:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "nodes" not in data:
        raise GraphFormatError(f"{path.name}: node-link JSON needs an object with a 'nodes' list "
                               "and a 'links' or 'edges' list")
    edges_key = "edges" if "edges" in data else "links"
    data.setdefault(edges_key, [])
    graph = nx.node_link_graph(data, directed=bool(data.get("directed", False)), multigraph=True, edges=edges_key)
    if not graph.is_multigraph():
        graph = nx.MultiDiGraph(graph) if graph.is_directed() else nx.MultiGraph(graph)
    return graph


def _edge_list_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Return (line number, fields) per non-empty, non-comment line; CSV and TSV use the csv module."""
    text = path.read_text(encoding="utf-8-sig")
    suffix = path.suffix.lower()
    rows = []
    if suffix in {".csv", ".tsv"}:
        delimiter = "\t" if suffix == ".tsv" else ","
        for number, fields in enumerate(csv.reader(text.splitlines(), delimiter=delimiter), start=1):
            fields = [field.strip() for field in fields]
            if fields and any(fields) and not fields[0].startswith("#"):
                rows.append((number, fields))
        return rows
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if line:
            rows.append((number, line.split()))
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_edge_list(path: Path, report: ImportReport, weight_attribute: str) -> nx.MultiGraph:
    rows = _edge_list_rows(path)
    if not rows:
        raise GraphFormatError(f"{path.name}: the edge list has no rows; write one 'source target [weight]' per line")
    first = rows[0][1]
    has_header = (len(first) >= 3 and not _is_number(first[2])) or \
                 (len(first) >= 2 and first[0].lower() in EDGE_LIST_HEADERS and first[1].lower() in EDGE_LIST_HEADERS)
    if has_header:
        rows = rows[1:]
    weighted = any(len(fields) >= 3 for _, fields in rows)
    graph = nx.MultiGraph()
    for number, fields in rows:
        if len(fields) < 2 or not fields[0] or not fields[1]:
            report.add(path.name, "a row needs a source and a target node", "skipped", f"line {number}")
            continue
        attributes = {}
        if weighted:
            weight = float(fields[2]) if len(fields) >= 3 and _is_number(fields[2]) else math.nan
            if not math.isfinite(weight):
                value = fields[2] if len(fields) >= 3 else ""
                report.add(path.name, f"weight {value!r} is not a finite number; edge dropped", "skipped",
                           f"line {number}")
                continue
            attributes[weight_attribute] = weight
        graph.add_edge(fields[0], fields[1], **attributes)
    logger.debug("Parsed %d edges from %s", graph.number_of_edges(), path)
    return graph
