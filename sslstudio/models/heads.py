"""Heads built from a task's ``HeadSpec`` on top of an encoder."""

from __future__ import annotations

from torch import nn

from sslstudio.models.base import Encoder
from sslstudio.tasks.base import HeadSpec


class LinearHead(nn.Module):
    """N×D features → N×out_features (logits or values)."""

    def __init__(self, in_features: int, out_features: int, hidden: int = 0):
        super().__init__()
        if hidden:
            self.layers = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                                        nn.Linear(hidden, out_features))
        else:
            self.layers = nn.Sequential(nn.Linear(in_features, out_features))

    def forward(self, features):
        return self.layers(features)


def build_head(spec: HeadSpec, encoder: Encoder) -> nn.Module:
    """Return the head for ``spec``; pooled kinds get an MLP, per-position kinds the encoder's decoder.

    Raises:
        ValueError: for an unknown head kind.
    """
    if spec.kind in {"classification", "regression"}:
        return LinearHead(encoder.feature_dim, spec.out_features, hidden=256)
    if spec.kind == "edge":
        return encoder.edge_decoder(spec.out_features)
    if spec.kind in {"dense", "token", "node"}:
        return encoder.dense_decoder(spec.out_features)
    raise ValueError(f"unknown head kind {spec.kind!r}")


def uses_dense_features(spec: HeadSpec) -> bool:
    """Return whether a head of this kind reads ``forward_dense`` instead of the pooled features."""
    return spec.kind in {"dense", "token", "node", "edge"}
