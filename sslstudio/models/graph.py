"""Graph encoder: GCN or GraphSAGE message passing from PyTorch Geometric.

Inputs are the graph batches of ``sslstudio.data.graph``: ``(node_features
N×F, edge_index 2×M, edge_weight M, query)``. ``query`` selects what the
encoder returns. Int64 node indices of any shape (B for node samples, P×2
for node pairs) give the states of those nodes. A float G×N matrix gives
pooled graph states, where row g weights the nodes of graph g.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GCNConv, MessagePassing
from torch_geometric.utils import scatter

from sslstudio.data.base import DatasetSpec
from sslstudio.models.base import Encoder, register_encoder

# Preset: (layer type, message-passing layers, hidden width).
_PRESETS = {"small": ("gcn", 2, 64), "base": ("sage", 3, 128), "large": ("sage", 4, 256)}
DROPOUT = 0.1


class WeightedSAGEConv(MessagePassing):
    """GraphSAGE layer with a weighted mean over neighbours: W₁·x_i + W₂·Σ_j w_ij x_j / Σ_j w_ij.

    Hamilton, Ying and Leskovec, "Inductive Representation Learning on Large
    Graphs", NeurIPS 2017; PyTorch Geometric's ``SAGEConv`` ignores edge
    weights, which the weight-denoising task needs the encoder to see.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(aggr="sum")
        self.root = nn.Linear(in_channels, out_channels)
        self.neighbours = nn.Linear(in_channels, out_channels, bias=False)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor) -> torch.Tensor:
        summed = self.propagate(edge_index, x=x, edge_weight=edge_weight)
        total = scatter(edge_weight, edge_index[1], dim=0, dim_size=x.shape[0], reduce="sum")
        mean = summed / total.clamp(min=1e-6).unsqueeze(-1)
        return self.root(x) + self.neighbours(mean)

    def message(self, x_j: torch.Tensor, edge_weight: torch.Tensor) -> torch.Tensor:
        return x_j * edge_weight.unsqueeze(-1)


class GraphEncoder(Encoder):
    """Input projection, residual message-passing layers with layer norm, and a query read-out.

    ``forward`` and ``forward_dense`` both return the query's states: B×D for
    node indices B, P×2×D for node pairs P×2, G×D for a G×N pooling matrix.
    """

    def __init__(self, in_features: int, size: str = "small"):
        super().__init__()
        layer_type, depth, hidden = _PRESETS[size]
        self.layer_type = layer_type
        self.input = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU())
        if layer_type == "gcn":
            self.convs = nn.ModuleList(GCNConv(hidden, hidden) for _ in range(depth))
        else:
            self.convs = nn.ModuleList(WeightedSAGEConv(hidden, hidden) for _ in range(depth))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(depth))
        self.dropout = nn.Dropout(DROPOUT)
        self.feature_dim = hidden
        self.dense_dim = hidden

    def node_states(self, features: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor) -> torch.Tensor:
        """Return N×D states of every node after message passing."""
        states = self.input(features)
        for conv, norm in zip(self.convs, self.norms):
            states = states + self.dropout(torch.relu(norm(conv(states, edge_index, edge_weight))))
        return states

    def forward_dense(self, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        features, edge_index, edge_weight, query = inputs
        states = self.node_states(features, edge_index, edge_weight)
        if query.is_floating_point():
            return query @ states
        return states[query]

    def forward(self, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.forward_dense(inputs)

    def dense_decoder(self, out_channels: int) -> nn.Module:
        return NodeDecoder(self.dense_dim, out_channels)

    def edge_decoder(self, out_channels: int) -> nn.Module:
        return EdgeDecoder(self.dense_dim, out_channels)


class NodeDecoder(nn.Module):
    """B×D node states → B×out_channels with a two-layer MLP."""

    def __init__(self, in_features: int, out_channels: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(in_features, in_features), nn.ReLU(), nn.Linear(in_features, out_channels))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.layers(states)


class EdgeDecoder(nn.Module):
    """P×2×D endpoint states → P×out_channels, symmetric in the two endpoints.

    The MLP reads the elementwise product and the absolute difference of the
    endpoint states, so swapping u and v gives the same score.
    """

    def __init__(self, in_features: int, out_channels: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(2 * in_features, in_features), nn.ReLU(),
                                    nn.Linear(in_features, out_channels))

    def forward(self, pair_states: torch.Tensor) -> torch.Tensor:
        first, second = pair_states[:, 0], pair_states[:, 1]
        return self.layers(torch.cat([first * second, (first - second).abs()], dim=-1))


@register_encoder("graph")
def build_graph_encoder(spec: DatasetSpec, size: str) -> GraphEncoder:
    return GraphEncoder(in_features=spec.shape[0], size=size)
