"""Every registered graph task, the graph encoder and its ONNX export."""

from __future__ import annotations

import networkx as nx
import numpy as np
import onnxruntime as ort
import pytest
import torch

from sslstudio.data.base import open_dataset
from sslstudio.export.onnx import check_onnx, export_onnx
from sslstudio.models.base import SIZE_PRESETS, build_encoder
from sslstudio.models.model import Classifier, SSLModel
from sslstudio.tasks.registry import create_task, list_tasks

GRAPH_TASKS = list_tasks("graph")


@pytest.fixture(scope="module")
def caveman(tmp_path_factory):
    """Four 6-node cliques joined in a ring, unweighted, as an edge list."""
    path = tmp_path_factory.mktemp("graphs") / "caveman.edgelist"
    nx.write_edgelist(nx.connected_caveman_graph(4, 6), path, data=False)
    return open_dataset(path, "graph")


def test_registry_has_both_tasks():
    names = {cls.name for cls in GRAPH_TASKS}
    assert names == {"graph.missing_link", "graph.weight_denoising"}


@pytest.mark.parametrize("cls", GRAPH_TASKS, ids=lambda cls: cls.name)
def test_task_generate_deterministic(cls, caveman):
    task = create_task(cls.name, caveman.spec)
    batch = caveman.batch(range(len(caveman)))
    first_inputs, first_targets = task.generate(batch, torch.Generator().manual_seed(3))
    second_inputs, second_targets = task.generate(batch, torch.Generator().manual_seed(3))
    assert torch.equal(first_targets, second_targets)
    assert torch.equal(first_inputs[3], second_inputs[3])
    assert torch.equal(first_inputs[2], second_inputs[2])
    assert first_inputs[3].shape == (len(first_targets), 2)


@pytest.mark.parametrize("cls", GRAPH_TASKS, ids=lambda cls: cls.name)
def test_task_trains_every_parameter(cls, caveman):
    task = create_task(cls.name, caveman.spec)
    model = SSLModel(build_encoder(caveman.spec, "small"), [task])
    inputs, targets = task.generate(caveman.batch([0, 1, 2, 3]), torch.Generator().manual_seed(0))
    loss = task.loss(model.forward_task(task.name, inputs), targets)
    loss.backward()
    missing = [name for name, parameter in model.named_parameters() if parameter.grad is None]
    assert torch.isfinite(loss)
    assert missing == []


@pytest.mark.parametrize("cls", GRAPH_TASKS, ids=lambda cls: cls.name)
def test_task_rejects_invalid_fraction(cls, caveman):
    with pytest.raises(ValueError, match="fraction"):
        create_task(cls.name, caveman.spec, {"fraction": 1.5})


@pytest.mark.parametrize("cls", GRAPH_TASKS, ids=lambda cls: cls.name)
def test_task_preview_marks_pairs(cls, caveman):
    task = create_task(cls.name, caveman.spec)
    items = task.preview(caveman.batch(range(len(caveman))), torch.Generator().manual_seed(0))
    assert len(items) == 1
    assert items[0].input["num_nodes"] == len(caveman)
    assert len(items[0].target["pairs"]) > 0
    assert items[0].target["style"] in {"hidden", "perturbed"}


def test_missing_link_hides_both_directions(caveman):
    task = create_task("graph.missing_link", caveman.spec, {"fraction": 0.3})
    batch = caveman.batch(range(len(caveman)))
    (_, visible, _, pairs), targets = task.generate(batch, torch.Generator().manual_seed(1))
    hidden = {tuple(sorted(pair)) for pair in pairs[targets == 1].tolist()}
    seen = {tuple(sorted(pair)) for pair in visible.t().tolist()}
    negatives = {tuple(sorted(pair)) for pair in pairs[targets == 0].tolist()}
    edges = {tuple(sorted(pair)) for pair in batch[1].t().tolist()}
    assert len(hidden) == round(0.3 * caveman.spec.extra["edge_count"])
    assert hidden & seen == set()
    assert negatives & edges == set()
    assert visible.shape[1] == batch[1].shape[1] - 2 * len(hidden)


def test_weight_denoising_perturbs_both_directions(caveman):
    task = create_task("graph.weight_denoising", caveman.spec, {"fraction": 0.25, "noise": 0.5})
    batch = caveman.batch(range(len(caveman)))
    (_, edge_index, noisy, pairs), clean = task.generate(batch, torch.Generator().manual_seed(2))
    by_pair = {}
    for (source, target), weight in zip(edge_index.t().tolist(), noisy.tolist()):
        by_pair.setdefault((min(source, target), max(source, target)), set()).add(round(weight, 6))
    changed = int((noisy != batch[2]).sum())
    perturbed = len(pairs) // 2
    assert all(len(weights) == 1 for weights in by_pair.values())
    assert 0 < changed <= 2 * perturbed
    assert torch.all((clean > 0) & (clean <= 1))


@pytest.mark.parametrize("size", SIZE_PRESETS)
def test_encoder_presets_shapes(size, caveman):
    encoder = build_encoder(caveman.spec, size)
    states = encoder(caveman.batch([0, 5, 7]))
    pairs = encoder.forward_dense(caveman.batch([0])[:3] + (torch.tensor([[0, 1], [2, 3]]),))
    assert states.shape == (3, encoder.feature_dim)
    assert pairs.shape == (2, 2, encoder.dense_dim)


@pytest.mark.parametrize("size", ["small", pytest.param("base", marks=pytest.mark.slow)])
def test_onnx_export_any_graph(size, caveman, tmp_path):
    torch.manual_seed(0)
    model = SSLModel(build_encoder(caveman.spec, size))
    model.add_classifier(3)
    classifier = Classifier(model.encoder, model.classifier).eval()
    names_axes = caveman.export_inputs()
    path = export_onnx(classifier, caveman.batch([0, 1, 2, 3]), tmp_path / "graph.onnx",
                       names=[name for name, _ in names_axes], dynamic_axes=[axes for _, axes in names_axes])
    differences = check_onnx(classifier, path, [caveman.batch([0]), caveman.batch([1, 2, 3])])
    other = nx.barbell_graph(5, 2)
    edges = torch.tensor(list(other.edges)).t()
    edge_index = torch.cat([edges, edges.flip(0)], dim=1)
    inputs = (torch.randn(other.number_of_nodes(), caveman.spec.shape[0]), edge_index,
              torch.rand(edge_index.shape[1]), torch.tensor([0, 4, 7, 9, 11]))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    actual = session.run(None, {name: tensor.numpy() for (name, _), tensor in zip(names_axes, inputs)})[0]
    with torch.no_grad():
        expected = classifier(inputs).numpy()
    assert max(differences) < 1e-4
    assert actual.shape == (5, 3)
    assert np.abs(actual - expected).max() < 1e-4


def test_collection_batch_pools_graphs(tmp_path):
    for number, graph in enumerate([nx.path_graph(4), nx.complete_graph(5), nx.cycle_graph(6)]):
        nx.write_gml(graph, tmp_path / f"g{number}.gml")
    dataset = open_dataset(tmp_path, "graph")
    encoder = build_encoder(dataset.spec, "small")
    task = create_task("graph.missing_link", dataset.spec)
    (_, _, _, pairs), targets = task.generate(dataset.batch([0, 1, 2]), torch.Generator().manual_seed(0))
    owner = torch.tensor([0] * 4 + [1] * 5 + [2] * 6)
    assert encoder(dataset.batch([0, 2])).shape == (2, encoder.feature_dim)
    assert torch.equal(owner[pairs[:, 0]], owner[pairs[:, 1]])
    assert set(targets.tolist()) == {0.0, 1.0}
