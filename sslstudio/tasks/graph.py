"""Graph pretext tasks on the batches of ``sslstudio.data.graph``.

A batch is ``(node_features N×F, edge_index 2×M, edge_weight M, query)`` with
each undirected edge in both directions. ``query`` is B node indices (the
nodes of one graph that the step trains on) or a G×N pooling matrix (graphs of
a collection, all of whose edges count). Tasks return inputs of the same
layout whose ``query`` is P×2 node pairs, and one target per pair.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch_geometric.utils import batched_negative_sampling, negative_sampling

from sslstudio.data.base import DatasetSpec
from sslstudio.tasks.base import HeadSpec, PretextTask, PreviewItem, TaskParams, param
from sslstudio.tasks.registry import register_task

if TYPE_CHECKING:
    from sslstudio.data.graph import GraphDataset

logger = logging.getLogger(__name__)

GraphBatch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@contextmanager
def seeded_global_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Seed Python's and torch's global generators for the block, then restore them.

    PyTorch Geometric's negative sampling draws from these global generators
    and takes no ``torch.Generator``. Seeding them from the task's generator
    keeps generation deterministic without disturbing other code.
    """
    state = random.getstate()
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(state)


def _draw_seed(generator: torch.Generator) -> int:
    return int(torch.randint(2**62, (1,), generator=generator, device=generator.device))


def _permutation(count: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randperm(count, generator=generator, device=generator.device).to(device)


def pair_keys(pairs: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Return one int64 key per row of a P×2 pair tensor, the same for (u, v) and (v, u)."""
    low, high = pairs.min(dim=1).values, pairs.max(dim=1).values
    return low * num_nodes + high


def candidate_edges(batch: GraphBatch) -> torch.Tensor:
    """Return positions in ``edge_index`` of each undirected non-loop edge once (u < v) that the batch covers.

    Node batches cover the edges with an endpoint among their nodes; collection batches cover all.
    """
    features, edge_index, _, query = batch
    source, target = edge_index
    chosen = source < target
    if not query.is_floating_point():
        in_batch = torch.zeros(features.shape[0], dtype=torch.bool, device=features.device)
        in_batch[query.reshape(-1)] = True
        chosen &= in_batch[source] | in_batch[target]
    return chosen.nonzero().flatten()


def _check_fraction(spec: DatasetSpec, fraction: float) -> None:
    edges = spec.extra.get("edge_count")
    if edges is not None and round(fraction * edges) < 1:
        raise ValueError(f"fraction={fraction} selects no edge of a graph with {edges} edges; "
                         f"choose at least {1 / edges:.3f}")


def roc_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Return the ROC AUC of ``scores`` for binary ``labels`` (NaN when only one class is present)."""
    labels_array = labels.detach().cpu().numpy()
    if len(np.unique(labels_array)) < 2:
        return float("nan")
    return float(roc_auc_score(labels_array, scores.detach().float().cpu().numpy()))


@dataclass(frozen=True)
class MissingLinkParams(TaskParams):
    fraction: float = param(0.15, minimum=0.01, maximum=0.9,
                            help="Fraction of the batch's edges hidden from the encoder and predicted.")


@register_task
class MissingLinkTask(PretextTask):
    """Hide edges and tell them apart from sampled non-edges (link prediction).

    Kipf and Welling, "Variational Graph Auto-Encoders", NeurIPS 2016
    Bayesian Deep Learning workshop, frames this as self-supervision.
    Targets are 1 for hidden edges and 0 for non-edges drawn with PyTorch
    Geometric's ``negative_sampling``; the metric is ROC AUC.
    """

    name = "graph.missing_link"
    title = "Missing-link detection"
    description = ("A fraction of the edges is hidden from the model, which must tell them apart from random node "
                   "pairs that are not linked. To do so it must learn which nodes belong together: communities, "
                   "roles and shared neighbours.")
    Params = MissingLinkParams
    primary_metric = "roc_auc"
    default = True

    def check_spec(self, spec: DatasetSpec) -> None:
        _check_fraction(spec, self.params.fraction)

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("edge", 1)

    def generate(self, batch: GraphBatch, generator: torch.Generator) -> tuple[GraphBatch, torch.Tensor]:
        """Hide edges and sample as many non-edges.

        Returns:
            inputs ``(node_features, visible edge_index, visible edge_weight, pairs P×2)``,
            targets P float32 (1 for a hidden edge, 0 for a non-edge).
        """
        features, edge_index, edge_weight, query = batch
        device, num_nodes = features.device, features.shape[0]
        candidates = candidate_edges(batch)
        count = max(1, round(self.params.fraction * len(candidates))) if len(candidates) else 0
        hidden = candidates[_permutation(len(candidates), generator, device)[:count]]
        hidden_pairs = edge_index[:, hidden].t()
        keys = pair_keys(edge_index.t(), num_nodes)
        visible = ~torch.isin(keys, pair_keys(hidden_pairs, num_nodes))
        with seeded_global_rng(_draw_seed(generator), device):
            if query.is_floating_point():
                per_graph = -(-count // query.shape[0])
                negatives = batched_negative_sampling(edge_index, query.argmax(dim=0), num_neg_samples=per_graph)
                negatives = negatives[:, :count]
            else:
                negatives = negative_sampling(edge_index, num_nodes=num_nodes, num_neg_samples=count)
        pairs = torch.cat([hidden_pairs, negatives.t()])
        targets = torch.cat([torch.ones(len(hidden_pairs), device=device),
                             torch.zeros(negatives.shape[1], device=device)])
        return (features, edge_index[:, visible], edge_weight[visible], pairs), targets

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.binary_cross_entropy_with_logits(outputs.squeeze(-1), targets)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        scores = outputs.squeeze(-1)
        accuracy = ((scores > 0).float() == targets).float().mean().item()
        return {"roc_auc": roc_auc(scores, targets), "accuracy": accuracy, "chance": 0.5}

    def preview(self, batch: GraphBatch, generator: torch.Generator) -> list[PreviewItem]:
        (features, edge_index, edge_weight, pairs), targets = self.generate(batch, generator)
        hidden = pairs[targets > 0.5]
        return [_preview_item(features.shape[0], edge_index, edge_weight, hidden, torch.ones(len(hidden)), "hidden",
                              f"{len(hidden)} links hidden (dashed), to be told apart from "
                              f"{int((targets < 0.5).sum())} sampled non-links")]


@dataclass(frozen=True)
class WeightDenoisingParams(TaskParams):
    fraction: float = param(0.2, minimum=0.01, maximum=0.9,
                            help="Fraction of the batch's edges whose weight is perturbed.")
    noise: float = param(0.3, minimum=0.01, maximum=1.0,
                         help="Standard deviation of the Gaussian noise added to weights in (0, 1].")


@register_task
class EdgeWeightDenoisingTask(PretextTask):
    """Perturb the weights of some edges and predict every queried edge's clean weight.

    The queries are the perturbed edges and as many untouched ones, so the
    model must also tell which weights were changed. Unweighted graphs get
    weights from common neighbours when they are read (see
    ``sslstudio.data.graph``), so the task denoises those.
    """

    name = "graph.weight_denoising"
    title = "Edge-weight denoising"
    description = ("Gaussian noise is added to the weights of a fraction of the edges; the model predicts the clean "
                   "weights. Graphs without weights use weights derived from common neighbours, so the model learns "
                   "how tightly each pair of nodes is knit into its neighbourhood.")
    Params = WeightDenoisingParams
    primary_metric = "loss"

    def check_spec(self, spec: DatasetSpec) -> None:
        _check_fraction(spec, self.params.fraction)
        if not spec.extra.get("weighted", False):
            logger.info("The graph has no edge weights; %s denoises weights derived from common neighbours",
                        self.name)

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("edge", 1)

    def generate(self, batch: GraphBatch, generator: torch.Generator) -> tuple[GraphBatch, torch.Tensor]:
        """Add noise to the weights of a fraction of the batch's edges (both directions alike).

        Returns:
            inputs ``(node_features, edge_index, noisy edge_weight, pairs P×2)`` with the
            perturbed pairs first, targets P float32 clean weights in (0, 1].
        """
        features, edge_index, edge_weight, _ = batch
        device, num_nodes = features.device, features.shape[0]
        candidates = candidate_edges(batch)
        order = candidates[_permutation(len(candidates), generator, device)]
        count = max(1, round(self.params.fraction * len(candidates))) if len(candidates) else 0
        perturbed, untouched = order[:count], order[count:2 * count]
        noise = torch.randn(count, generator=generator, device=generator.device).to(device) * self.params.noise
        noisy_values = (edge_weight[perturbed] + noise).clamp(0.01, 1.0)
        perturbed_keys = pair_keys(edge_index[:, perturbed].t(), num_nodes)
        sorted_keys, order_of_keys = perturbed_keys.sort()
        keys = pair_keys(edge_index.t(), num_nodes)
        position = torch.searchsorted(sorted_keys, keys).clamp(max=max(count - 1, 0))
        matched = sorted_keys[position] == keys if count else torch.zeros_like(keys, dtype=torch.bool)
        noisy_weight = torch.where(matched, noisy_values[order_of_keys][position], edge_weight) if count \
            else edge_weight
        queried = torch.cat([perturbed, untouched])
        return (features, edge_index, noisy_weight, edge_index[:, queried].t()), edge_weight[queried]

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.mse_loss(outputs.squeeze(-1), targets)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        error = outputs.squeeze(-1) - targets
        return {"mse": float(error.pow(2).mean()), "mae": float(error.abs().mean())}

    def preview(self, batch: GraphBatch, generator: torch.Generator) -> list[PreviewItem]:
        (features, edge_index, noisy_weight, pairs), targets = self.generate(batch, generator)
        perturbed = pairs[:len(pairs) // 2]
        source = "common-neighbour" if not self.spec.extra.get("weighted", False) else "edge"
        return [_preview_item(features.shape[0], edge_index, noisy_weight, perturbed, targets[:len(perturbed)],
                              "perturbed", f"{len(perturbed)} {source} weights perturbed (colored); "
                                           "the model predicts the clean ones")]


def _preview_item(num_nodes: int, edge_index: torch.Tensor, edge_weight: torch.Tensor, marked: torch.Tensor,
                  values: torch.Tensor, style: str, caption: str) -> PreviewItem:
    """Build the graph preview: ``input`` is the graph given to the model, ``target`` the marked pairs.

    ``input``: ``num_nodes``, ``edges`` E×2 (u ≤ v) and their ``weights``.
    ``target``: ``pairs`` K×2, their clean ``values`` and ``style`` (``hidden`` or ``perturbed``).
    """
    once = edge_index[0] <= edge_index[1]
    graph = {"num_nodes": num_nodes, "edges": edge_index[:, once].t().cpu(), "weights": edge_weight[once].cpu()}
    target = {"pairs": marked.cpu(), "values": values.cpu(), "style": style}
    return PreviewItem(graph, target, caption)


def split_links(dataset: GraphDataset, test_fraction: float,
                seed: int) -> tuple[GraphDataset, torch.Tensor, torch.Tensor]:
    """Hold out a fraction of the edges with PyTorch Geometric's ``RandomLinkSplit``.

    Returns the training graph (held-out edges removed, structural features
    recomputed without them), the test pairs P×2 (held-out edges, then as many
    sampled non-edges) and their labels P (1.0 for an edge, 0.0 otherwise).
    """
    from torch_geometric.data import Data
    from torch_geometric.transforms import RandomLinkSplit

    edges = dataset.graph.edges
    raw_weights = torch.as_tensor(dataset.arrays.weights, dtype=torch.float64)
    both = torch.cat([edges, edges.flip(1)]).t()
    data = Data(edge_index=both, edge_attr=torch.cat([raw_weights, raw_weights]), num_nodes=len(dataset))
    splitter = RandomLinkSplit(num_val=0.0, num_test=test_fraction, is_undirected=True,
                               add_negative_train_samples=False, split_labels=True)
    with seeded_global_rng(seed, torch.device("cpu")):
        train, _, test = splitter(data)
    once = train.edge_index[0] <= train.edge_index[1]
    training_graph = dataset.with_edges(train.edge_index[:, once].t().numpy(), train.edge_attr[once].numpy())
    pairs = torch.cat([test.pos_edge_label_index, test.neg_edge_label_index], dim=1).t()
    labels = torch.cat([torch.ones(test.pos_edge_label_index.shape[1]), torch.zeros(test.neg_edge_label_index.shape[1])])
    return training_graph, pairs, labels


@torch.no_grad()
def score_pairs(model: torch.nn.Module, task_name: str, dataset: GraphDataset, pairs: torch.Tensor,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """Return the edge head's score for each row of P×2 ``pairs`` on ``dataset``'s graph (eval mode)."""
    model.to(device).eval()
    features, edge_index, edge_weight, _ = dataset.batch([0], device)
    return model.forward_task(task_name, (features, edge_index, edge_weight, pairs.to(device))).squeeze(-1).cpu()
