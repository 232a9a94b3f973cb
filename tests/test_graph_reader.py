"""The graph reader on every format and bad case, with files built in the test."""

from __future__ import annotations

import json

import networkx as nx
import pytest
import torch

from sslstudio.data.base import DataError, open_dataset
from sslstudio.data.graph_collection import GraphCollectionDataset


def _reasons(dataset) -> str:
    return " | ".join(str(issue) for issue in dataset.report.issues)


def test_graphml_string_ids_relabeled(tmp_path):
    graph = nx.Graph()
    graph.add_node("alice", role="a", age=30)
    graph.add_node("bob", role="b", age=40)
    graph.add_node("carol", role="a", age=50)
    graph.add_edge("alice", "bob", weight=2.0)
    graph.add_edge("bob", "carol", weight=4.0)
    path = tmp_path / "people.graphml"
    nx.write_graphml(graph, path)
    dataset = open_dataset(path, "graph")
    features, edge_index, edge_weight, node_index = dataset.batch([2, 0])
    assert dataset.ids == ["alice", "bob", "carol"]
    assert dataset.label_column("role") == ["a", "b", "a"]
    assert dataset.spec.extra["feature_names"] == ["age"]
    assert features.shape == (3, 1)
    assert sorted(map(tuple, edge_index.t().tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    assert edge_weight.max().item() == pytest.approx(1.0)
    assert node_index.tolist() == [2, 0]


def test_graphml_key_without_type(tmp_path):
    path = tmp_path / "untyped.graphml"
    path.write_text("""<?xml version="1.0" encoding="UTF-8"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
  <key id="w" for="edge" attr.name="weight"/>
  <key id="size" for="node" attr.name="size"/>
  <graph edgedefault="undirected">
    <node id="n0"><data key="size">1.5</data></node>
    <node id="n1"><data key="size">2.5</data></node>
    <node id="n2"><data key="size">3.5</data></node>
    <edge source="n0" target="n1"><data key="w">3</data></edge>
    <edge source="n1" target="n2"><data key="w">1</data></edge>
  </graph>
</graphml>""", encoding="utf-8")
    dataset = open_dataset(path, "graph")
    assert dataset.spec.extra["weighted"] is True
    assert dataset.spec.extra["feature_names"] == ["size"]
    assert "repaired" in _reasons(dataset)


def test_gml_nodes_without_label(tmp_path):
    path = tmp_path / "partial.gml"
    path.write_text("""graph [
  node [ id 10 label "x" ]
  node [ id 20 ]
  node [ id 30 label "z" ]
  edge [ source 10 target 20 ]
  edge [ source 20 target 30 ]
]""", encoding="utf-8")
    dataset = open_dataset(path, "graph")
    assert dataset.ids == ["10", "20", "30"]
    assert "no 'label'" in _reasons(dataset)
    assert dataset.spec.extra["edge_count"] == 2


def test_gml_parallel_edges_merge_or_keep(tmp_path):
    path = tmp_path / "parallel.gml"
    path.write_text("""graph [
  node [ id 0 label "a" ]
  node [ id 1 label "b" ]
  node [ id 2 label "c" ]
  edge [ source 0 target 1 ]
  edge [ source 0 target 1 ]
  edge [ source 1 target 2 ]
]""", encoding="utf-8")
    merged = open_dataset(path, "graph")
    kept = open_dataset(path, "graph", parallel_edges="keep")
    assert merged.ids == ["a", "b", "c"]
    assert merged.spec.extra["edge_count"] == 2
    assert "merged" in _reasons(merged)
    assert kept.spec.extra["edge_count"] == 3
    assert "kept as a multigraph" in _reasons(kept)


def test_parallel_edges_option_invalid(tmp_path):
    path = tmp_path / "g.edgelist"
    path.write_text("a b\n", encoding="utf-8")
    with pytest.raises(ValueError, match="parallel_edges"):
        open_dataset(path, "graph", parallel_edges="drop")


def test_node_link_json_directed_self_loop(tmp_path):
    graph = nx.DiGraph()
    graph.add_edges_from([(5, 7), (7, 5), (7, 9), (9, 9)])
    path = tmp_path / "links.json"
    path.write_text(json.dumps(nx.node_link_data(graph, edges="links")), encoding="utf-8")
    dataset = open_dataset(path)
    reasons = _reasons(dataset)
    assert dataset.ids == ["5", "7", "9"]
    assert dataset.spec.extra["directed"] is True
    assert dataset.spec.extra["edge_count"] == 3
    assert "self-loop" in reasons
    assert "reciprocal" in reasons


def test_edge_list_weights_and_bad_rows(tmp_path):
    path = tmp_path / "weighted.csv"
    path.write_text("source,target,weight\n100,200,1\n200,300,x\n300\n300,100,4\n100,400,-2\n", encoding="utf-8")
    dataset = open_dataset(path, "graph")
    reasons = _reasons(dataset)
    assert dataset.ids == ["100", "200", "300", "400"]
    assert dataset.spec.extra["edge_count"] == 2
    assert "line 3" in reasons
    assert "line 4" in reasons
    assert "not a positive number" in reasons


def test_unweighted_edge_list_derives_weights(tmp_path):
    path = tmp_path / "plain.edgelist"
    path.write_text("# triangle with a tail\na b\nb c\nc a\nc d\n", encoding="utf-8")
    dataset = open_dataset(path)
    _, edge_index, edge_weight, _ = dataset.batch([0])
    weight_by_pair = {tuple(pair): weight for pair, weight in zip(edge_index.t().tolist(), edge_weight.tolist())}
    assert dataset.spec.extra["weighted"] is False
    assert "common neighbours" in _reasons(dataset)
    assert weight_by_pair[(0, 1)] == pytest.approx(3 / 3)
    assert weight_by_pair[(0, 2)] == pytest.approx(3 / 4)
    assert weight_by_pair[(2, 3)] == pytest.approx(2 / 4)


def test_node_table_adds_labels_and_features(tmp_path):
    (tmp_path / "g.edges").write_text("n1 n2\nn2 n3\n", encoding="utf-8")
    (tmp_path / "nodes.csv").write_text("node,kind,score\nn1,x,1.0\nn2,y,\nn3,x,3.0\nn9,z,1\nn1,y,2\n",
                                        encoding="utf-8")
    dataset = open_dataset(tmp_path / "g.edges", "graph", node_table="nodes.csv")
    reasons = _reasons(dataset)
    assert dataset.label_column("kind") == ["x", "y", "x"]
    assert dataset.spec.extra["feature_names"] == ["score"]
    assert "row 5" in reasons
    assert "row 6" in reasons
    assert "set to the column mean" in reasons


def test_missing_node_table_raises(tmp_path):
    (tmp_path / "g.edges").write_text("a b\n", encoding="utf-8")
    with pytest.raises(DataError, match="node table not found"):
        open_dataset(tmp_path / "g.edges", "graph", node_table="absent.csv")


def test_malformed_file_raises(tmp_path):
    path = tmp_path / "broken.graphml"
    path.write_text("<graphml><graph>", encoding="utf-8")
    with pytest.raises(DataError, match="broken.graphml"):
        open_dataset(path, "graph")


def test_empty_edge_list_raises(tmp_path):
    path = tmp_path / "empty.edgelist"
    path.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(DataError, match="no rows"):
        open_dataset(path, "graph")


def test_folder_is_collection(tmp_path):
    for label, graphs in {"ring": [nx.cycle_graph(5), nx.cycle_graph(7)], "star": [nx.star_graph(4)]}.items():
        (tmp_path / label).mkdir()
        for number, graph in enumerate(graphs):
            nx.write_graphml(graph, tmp_path / label / f"g{number}.graphml")
    (tmp_path / "ring" / "bad.gml").write_text("graph [ node [", encoding="utf-8")
    dataset = open_dataset(tmp_path, "graph")
    features, edge_index, edge_weight, pooling = dataset.batch([0, 2])
    assert isinstance(dataset, GraphCollectionDataset)
    assert len(dataset) == 3
    assert dataset.label_column("folder") == ["ring", "ring", "star"]
    assert "bad.gml" in _reasons(dataset)
    assert features.shape[0] == 5 + 5
    assert pooling.shape == (2, 10)
    assert torch.allclose(pooling.sum(dim=1), torch.ones(2))
    assert edge_index.max().item() == 9
