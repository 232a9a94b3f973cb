"""The masked 1-D residual encoder: shapes per preset, the padding mask, and ONNX export."""

from __future__ import annotations

import pytest
import torch

from sslstudio.data.base import DatasetSpec
from sslstudio.export.onnx import check_onnx, export_onnx
from sslstudio.models.base import build_encoder
from sslstudio.models.heads import LinearHead
from sslstudio.models.model import Classifier

SPEC = DatasetSpec("timeseries", shape=(2, 24), extra={"min_length": 10})


def _batch(count: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(count, 2, 24, generator=generator)
    mask = torch.ones(count, 2, 24)
    mask[0, :, 16:] = 0
    values = values * mask
    return values, mask


@pytest.mark.parametrize(("size", "dense_dim"), [("small", 64), ("base", 128), ("large", 256)])
def test_presets_shapes(size, dense_dim):
    encoder = build_encoder(SPEC, size).eval()
    batch = _batch()
    with torch.no_grad():
        pooled = encoder(batch)
        dense = encoder.forward_dense(batch)
        decoded = encoder.dense_decoder(3)(dense)
    assert pooled.shape == (3, encoder.feature_dim)
    assert encoder.feature_dim == 2 * dense_dim
    assert dense.shape == (3, dense_dim, 24)
    assert decoded.shape == (3, 3, 24)


def test_padded_steps_do_not_change_output():
    torch.manual_seed(0)
    encoder = build_encoder(SPEC, "small")
    encoder.train()
    encoder(_batch(8, seed=1))  # one training pass, so the running statistics are not the defaults
    encoder.eval()
    values, mask = _batch()
    noisy = values + (1 - mask) * 100.0
    with torch.no_grad():
        clean_out = encoder((values, mask))
        noisy_out = encoder((noisy, mask))
        dense = encoder.forward_dense((values, mask))
    assert torch.allclose(clean_out, noisy_out)
    assert bool((dense[0, :, 16:] == 0).all())


def test_padded_series_equals_cropped_series():
    values, mask = _batch()
    torch.manual_seed(0)
    padded = build_encoder(SPEC, "small").train()
    torch.manual_seed(0)
    cropped = build_encoder(DatasetSpec("timeseries", shape=(2, 16)), "small").train()
    padded_out = padded((values[:1], mask[:1]))
    cropped_out = cropped((values[:1, :, :16], mask[:1, :, :16]))
    padded_norm, cropped_norm = padded.blocks[1].norms[2], cropped.blocks[1].norms[2]
    assert torch.allclose(padded_out, cropped_out, atol=1e-5)
    assert torch.allclose(padded_norm.running_mean, cropped_norm.running_mean, atol=1e-6)
    assert torch.allclose(padded_norm.running_var, cropped_norm.running_var, atol=1e-6)


def test_onnx_export_matches_pytorch(tmp_path):
    torch.manual_seed(0)
    encoder = build_encoder(SPEC, "small")
    encoder.train()
    encoder(_batch(8, seed=2))
    model = Classifier(encoder, LinearHead(encoder.feature_dim, 2)).eval()
    path = export_onnx(model, _batch(4), tmp_path / "series.onnx")
    differences = check_onnx(model, path, [_batch(1, seed=3), _batch(3, seed=4)])
    assert path.stat().st_size > 10_000
    assert max(differences) < 1e-4
