"""The batch loader: spawned workers return the batches the training thread would build, and runs match."""

from __future__ import annotations

import pickle
import threading

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import torch

from sslstudio.data.base import open_dataset
from sslstudio.data.samples import get_sample
from sslstudio.data.tabular import TableBatch
from sslstudio.models.base import build_encoder
from sslstudio.models.model import SSLModel
from sslstudio.training.config import RunConfig
from sslstudio.training.context import RunContext
from sslstudio.training.events import Finished, Progress
from sslstudio.training.loop import build_tasks, fit_classifier, pretrain
from sslstudio.training.pipeline import BatchLoader, make_data_loader
from sslstudio.training.strategies import run_strategy

CPU = torch.device("cpu")
PLAN = [[0, 1, 2], [5, 3], [4, 1, 0, 6]]


def _flatten(batch) -> list[torch.Tensor]:
    """Return every tensor of a batch in order, a table batch's ``following`` rows included."""
    if isinstance(batch, torch.Tensor):
        return [batch]
    tensors = [tensor for item in batch for tensor in _flatten(item)]
    if isinstance(batch, TableBatch) and batch.following is not None:
        tensors += _flatten(batch.following) + [batch.has_following]
    return tensors


def _ordered_table(folder):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"step": rng.permutation(12), "a": rng.normal(size=12),
                          "colour": rng.choice(["red", "blue"], size=12), "kind": ["x", "y"] * 6})
    frame.to_csv(folder / "ordered.csv", index=False)
    return open_dataset(folder / "ordered.csv", "tabular", label_column="kind", order_column="step")


def _graph_collection(folder):
    for number, graph in enumerate([nx.cycle_graph(5), nx.star_graph(4), nx.path_graph(6), nx.cycle_graph(3),
                                    nx.complete_graph(4), nx.star_graph(3), nx.path_graph(3)]):
        nx.write_graphml(graph, folder / f"g{number}.graphml")
    return open_dataset(folder, "graph")


DATASETS = {
    "image": lambda folder: get_sample("digits").open(),
    "video": lambda folder: get_sample("clips").open(),
    "timeseries": lambda folder: get_sample("gunpoint").open(),
    "text": lambda folder: get_sample("movie-reviews").open(),
    "tabular": lambda folder: get_sample("penguins").open(),
    "tabular-ordered": _ordered_table,
    "graph-nodes": lambda folder: get_sample("karate").open(),
    "graph-collection": _graph_collection,
}
HEAVY = {"video", "text", "tabular", "tabular-ordered", "graph-nodes", "graph-collection"}


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in HEAVY else name
                                  for name in DATASETS])
def test_spawned_workers_match_inline(name, tmp_path):
    dataset = DATASETS[name](tmp_path)
    with BatchLoader(dataset, CPU, workers=2) as loader:
        loaded = list(loader.iterate(PLAN))
    inline = [dataset.batch(indices, CPU) for indices in PLAN]
    assert len(loaded) == len(PLAN)
    for got, expected in zip(loaded, inline):
        assert type(got) is type(expected)
        got_tensors, expected_tensors = _flatten(got), _flatten(expected)
        assert len(got_tensors) == len(expected_tensors)
        for got_tensor, expected_tensor in zip(got_tensors, expected_tensors):
            assert got_tensor.dtype == expected_tensor.dtype
            assert torch.equal(got_tensor, expected_tensor)


def test_inline_loader_starts_no_workers(digits):
    loader = BatchLoader(digits, CPU)
    batches = list(loader.iterate(PLAN))
    assert loader._loader is None
    assert torch.equal(batches[1], digits.batch([5, 3], CPU))


def test_table_batch_survives_pickling(tmp_path):
    batch = _ordered_table(tmp_path).batch([0, 11])
    copy = pickle.loads(pickle.dumps(batch))
    assert isinstance(copy.following, TableBatch)
    assert torch.equal(copy.following.numeric, batch.following.numeric)
    assert copy.has_following.tolist() == batch.has_following.tolist()


def test_loader_starts_workers_with_spawn(digits):
    loader = make_data_loader(digits, CPU, 2, sampler=[[0]])
    assert loader.multiprocessing_context.get_start_method() == "spawn"
    assert loader.persistent_workers


def test_pin_memory_only_for_cuda(digits):
    assert make_data_loader(digits, torch.device("cuda"), 2, sampler=[[0]]).pin_memory
    assert not make_data_loader(digits, CPU, 2, sampler=[[0]]).pin_memory


def test_negative_workers_rejected():
    with pytest.raises(ValueError, match="loader_workers=-1"):
        RunConfig(loader_workers=-1)
    with pytest.raises(ValueError, match="loader_workers=-2"):
        BatchLoader(get_sample("karate").open(), CPU, workers=-2)


def _config(workers: int) -> RunConfig:
    # Early stopping makes each epoch also load its validation batches through the loader.
    return RunConfig(pretrain_epochs=2, max_pretrain_steps=8, finetune_steps=6, batch_size=32, seed=5,
                     baseline=False, early_stopping_patience=3, loader_workers=workers)


def _final_weights(events) -> dict[str, torch.Tensor]:
    assert isinstance(events[-1], Finished)
    return events[-1].result.model.state_dict()


def _assert_same_weights(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> None:
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


def _pretrain_then_fit(dataset, workers: int) -> dict[str, torch.Tensor]:
    """Return the weights after 8 pretraining steps (with validation) and 6 classifier steps on 40 labels."""
    torch.manual_seed(0)
    config = _config(workers)
    context = RunContext(dataset, dataset.label_column("folder"))
    tasks = build_tasks(config, dataset)
    model = SSLModel(build_encoder(dataset.spec, "small"), tasks)
    list(pretrain(model, tasks, [1.0], list(range(0, 600, 2)), config, context, epochs=2))
    model.add_classifier(10)
    labeled = list(range(1000, 1040))
    targets = [int(label) for label in dataset.label_column("folder")[1000:1040]]
    list(fit_classifier(model, labeled, targets, config, context, phase="finetune"))
    return model.state_dict()


def test_workers_keep_final_weights(digits):
    _assert_same_weights(_pretrain_then_fit(digits, 0), _pretrain_then_fit(digits, 2))


@pytest.mark.slow
def test_resume_with_workers_matches_inline(digits, tmp_path):
    inline = _final_weights(list(run_strategy(_config(0), RunContext(digits, digits.label_column("folder")))))
    cancel = threading.Event()
    context = RunContext(digits, digits.label_column("folder"), cancel=cancel, run_dir=tmp_path)
    for event in run_strategy(_config(2), context):
        if isinstance(event, Progress) and event.phase == "pretrain" and event.step == 3:
            cancel.set()
    resumed = list(run_strategy(_config(2), RunContext(digits, digits.label_column("folder"), run_dir=tmp_path,
                                                       resume=True)))
    _assert_same_weights(inline, _final_weights(resumed))
