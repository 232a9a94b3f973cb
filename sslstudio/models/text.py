"""Text encoder: a pre-norm Transformer encoder over token ids with a padding mask.

Inputs are ``(token_ids, attention_mask)``, both N×L int64 (mask 1 on tokens,
0 on padding). ``forward_dense`` returns N×L×D per-token features;
``forward`` the mean of the token features over the mask (N×D). Attention
is written with ``scaled_dot_product_attention`` rather than
``nn.TransformerEncoder``, whose inference fast path does not export to ONNX.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from sslstudio.data.base import DatasetSpec
from sslstudio.models.base import Encoder, register_encoder

# (width, layers, heads, feed-forward width) per size preset.
_PRESETS = {"small": (128, 2, 4, 256), "base": (256, 4, 4, 1024), "large": (512, 6, 8, 2048)}
DROPOUT = 0.1


class TransformerBlock(nn.Module):
    """Pre-norm self-attention and feed-forward block; ``keep`` is N×1×1×L bool (True = attend to that key)."""

    def __init__(self, width: int, heads: int, hidden: int):
        super().__init__()
        self.heads = heads
        self.norm_attention = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.project = nn.Linear(width, width)
        self.norm_feed_forward = nn.LayerNorm(width)
        self.feed_forward = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Dropout(DROPOUT),
                                          nn.Linear(hidden, width))
        self.dropout = nn.Dropout(DROPOUT)

    def forward(self, features: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        count, length, width = features.shape
        query, key, value = self.qkv(self.norm_attention(features)).chunk(3, dim=-1)
        shape = (count, length, self.heads, width // self.heads)
        query, key, value = (tensor.reshape(shape).transpose(1, 2) for tensor in (query, key, value))
        attended = functional.scaled_dot_product_attention(query, key, value, attn_mask=keep,
                                                           dropout_p=DROPOUT if self.training else 0.0)
        attended = attended.transpose(1, 2).reshape(count, length, width)
        features = features + self.dropout(self.project(attended))
        return features + self.dropout(self.feed_forward(self.norm_feed_forward(features)))


class TextTransformerEncoder(Encoder):
    """Token and learned position embeddings, Transformer blocks, final LayerNorm; masked-mean pooling."""

    def __init__(self, vocab_size: int, max_length: int, size: str = "small"):
        super().__init__()
        width, layers, heads, hidden = _PRESETS[size]
        self.token_embedding = nn.Embedding(vocab_size, width, padding_idx=0)
        self.position_embedding = nn.Embedding(max_length, width)
        self.blocks = nn.ModuleList(TransformerBlock(width, heads, hidden) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.feature_dim = width
        self.dense_dim = width
        self.max_length = max_length

    def forward_dense(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Return per-token features N×L×D for ``(token_ids, attention_mask)``."""
        ids, mask = inputs
        valid = mask > 0
        # A row without tokens would give every query no key to attend to (NaN); let it see position 0.
        first = torch.zeros_like(valid)
        first[:, 0] = True
        valid = valid | (first & ~valid.any(dim=1, keepdim=True))
        positions = torch.arange(ids.shape[1], device=ids.device)
        features = self.token_embedding(ids) + self.position_embedding(positions).unsqueeze(0)
        keep = valid[:, None, None, :]
        for block in self.blocks:
            features = block(features, keep)
        return self.norm(features)

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Return pooled features N×D: the mean of the token features where the mask is 1."""
        features = self.forward_dense(inputs)
        weights = (inputs[1] > 0).to(features.dtype).unsqueeze(-1)
        return (features * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)

    def dense_decoder(self, out_channels: int) -> nn.Module:
        return TokenDecoder(self.dense_dim, out_channels)


class TokenDecoder(nn.Module):
    """N×L×D token features → N×L×out_channels logits (dense layer, GELU, LayerNorm, projection)."""

    def __init__(self, in_features: int, out_channels: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(in_features, in_features), nn.GELU(), nn.LayerNorm(in_features),
                                    nn.Linear(in_features, out_channels))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


@register_encoder("text")
def build_text_encoder(spec: DatasetSpec, size: str) -> TextTransformerEncoder:
    return TextTransformerEncoder(vocab_size=int(spec.extra["vocab_size"]), max_length=int(spec.shape[0]), size=size)
