"""Table encoders: an MLP over numeric cells and category embeddings, and an FT-Transformer.

Both take the ``(numeric N×F, missing N×F, categorical N×G int64)`` tuple of
``sslstudio.data.tabular``. Presets: ``small`` and ``base`` are MLPs;
``large`` is a Transformer over one token per column with a [CLS] token, after
Gorishniy et al., "Revisiting Deep Learning Models for Tabular Data",
NeurIPS 2021.

Per-cell tasks use ``forward_dense`` and ``dense_decoder(out_features)``,
which returns N×out_features; the task lays out its per-column outputs in
that vector (see ``sslstudio.tasks.tabular``).
"""

from __future__ import annotations

import torch
from torch import nn

from sslstudio.data.base import DatasetSpec
from sslstudio.models.base import Encoder, register_encoder

# (hidden width, blocks, embedding width per category) of the MLP presets.
_MLP_PRESETS = {"small": (128, 2, 8), "base": (256, 3, 16)}
# (token width, blocks, attention heads) of the Transformer preset.
_TRANSFORMER_PRESETS = {"large": (128, 3, 8)}


class CategoryEmbedding(nn.Module):
    """One embedding table for all categorical columns: N×G indices → N×G×width.

    Column ``g`` owns rows ``offsets[g]`` to ``offsets[g] + counts[g] - 1``,
    so one gather serves every column.
    """

    def __init__(self, counts: list[int], width: int):
        super().__init__()
        offsets = torch.tensor([0, *counts[:-1]], dtype=torch.long).cumsum(0) if counts else torch.zeros(0)
        self.register_buffer("offsets", offsets.long(), persistent=False)
        self.table = nn.Embedding(max(1, sum(counts)), width)

    def forward(self, categorical: torch.Tensor) -> torch.Tensor:
        return self.table(categorical + self.offsets)


class TabularMLP(Encoder):
    """Numeric cells, missing flags and category embeddings concatenated, then residual MLP blocks → N×hidden."""

    def __init__(self, numeric_count: int, category_counts: list[int], hidden: int, blocks: int, embedding: int):
        super().__init__()
        self.numeric_count = numeric_count
        self.category_count = len(category_counts)
        self.embedding = CategoryEmbedding(category_counts, embedding) if category_counts else None
        width = 2 * numeric_count + embedding * len(category_counts)
        self.stem = nn.Sequential(nn.Linear(width, hidden), nn.GELU())
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(0.1),
                          nn.Linear(hidden, hidden))
            for _ in range(blocks))
        self.norm = nn.LayerNorm(hidden)
        self.feature_dim = hidden
        self.dense_dim = hidden

    def forward_dense(self, inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Return N×hidden features of the row (the MLP has no per-column states)."""
        numeric, missing, categorical = inputs
        parts = []
        if self.numeric_count:
            parts += [numeric, missing]
        if self.embedding is not None:
            parts.append(self.embedding(categorical).flatten(1))
        features = self.stem(torch.cat(parts, dim=1))
        for block in self.blocks:
            features = features + block(features)
        return self.norm(features)

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return self.forward_dense(inputs)

    def dense_decoder(self, out_channels: int) -> nn.Module:
        return nn.Sequential(nn.Linear(self.dense_dim, self.dense_dim), nn.GELU(),
                             nn.Linear(self.dense_dim, out_channels))


class TransformerBlock(nn.Module):
    """Pre-norm self-attention and feed-forward block over N×T×width tokens."""

    def __init__(self, width: int, heads: int, dropout: float = 0.1):
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.projection = nn.Linear(width, width)
        self.feedforward = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 2 * width), nn.GELU(),
                                         nn.Dropout(dropout), nn.Linear(2 * width, width))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, count, width = tokens.shape
        qkv = self.qkv(self.attention_norm(tokens)).view(batch, count, 3, self.heads, width // self.heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)
        attended = nn.functional.scaled_dot_product_attention(query, key, value)
        tokens = tokens + self.projection(attended.transpose(1, 2).reshape(batch, count, width))
        return tokens + self.feedforward(tokens)


class FTTransformer(Encoder):
    """One token per column plus [CLS]; ``forward`` is the final [CLS] state (N×width).

    A numeric token is ``value · w_j + b_j + missing · m_j``; a categorical
    token is the category's embedding plus a per-column bias.
    """

    def __init__(self, numeric_count: int, category_counts: list[int], width: int, blocks: int, heads: int):
        super().__init__()
        self.numeric_count = numeric_count
        self.numeric_weight = nn.Parameter(torch.randn(numeric_count, width) * 0.02)
        self.numeric_bias = nn.Parameter(torch.zeros(numeric_count, width))
        self.missing_weight = nn.Parameter(torch.randn(numeric_count, width) * 0.02)
        self.embedding = CategoryEmbedding(category_counts, width) if category_counts else None
        self.category_bias = nn.Parameter(torch.zeros(len(category_counts), width))
        self.cls = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.blocks = nn.Sequential(*(TransformerBlock(width, heads) for _ in range(blocks)))
        self.norm = nn.LayerNorm(width)
        self.token_count = 1 + numeric_count + len(category_counts)
        self.feature_dim = width
        self.dense_dim = width

    def forward_dense(self, inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Return N×T×width token states, [CLS] first, then numeric, then categorical columns."""
        numeric, missing, categorical = inputs
        parts = [self.cls.expand(numeric.shape[0], -1, -1)]
        if self.numeric_count:
            parts.append(numeric.unsqueeze(-1) * self.numeric_weight + self.numeric_bias
                         + missing.unsqueeze(-1) * self.missing_weight)
        if self.embedding is not None:
            parts.append(self.embedding(categorical) + self.category_bias)
        return self.norm(self.blocks(torch.cat(parts, dim=1)))

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return self.forward_dense(inputs)[:, 0]

    def dense_decoder(self, out_channels: int) -> nn.Module:
        return nn.Sequential(nn.Flatten(1), nn.Linear(self.token_count * self.dense_dim, out_channels))


@register_encoder("tabular")
def build_tabular_encoder(spec: DatasetSpec, size: str) -> Encoder:
    """Build the MLP (``small``, ``base``) or the FT-Transformer (``large``) for a table spec."""
    numeric_count = len(spec.extra["numeric_columns"])
    counts = [int(count) for count in spec.extra["category_counts"]]
    if size in _MLP_PRESETS:
        hidden, blocks, embedding = _MLP_PRESETS[size]
        return TabularMLP(numeric_count, counts, hidden, blocks, embedding)
    width, blocks, heads = _TRANSFORMER_PRESETS[size]
    return FTTransformer(numeric_count, counts, width, blocks, heads)
