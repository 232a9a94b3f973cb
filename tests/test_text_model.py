"""The text encoder: presets, padding mask, gradients and ONNX export with tuple input."""

from __future__ import annotations

import pytest
import torch

from sslstudio.data.text import open_text
from sslstudio.export.onnx import check_onnx, export_onnx
from sslstudio.models.base import build_encoder
from sslstudio.models.heads import LinearHead
from sslstudio.models.model import Classifier
from tests.text_corpus import write_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return open_text(write_corpus(tmp_path_factory.mktemp("corpus"), copies=1), vocab_size=200, max_length=24)


@pytest.mark.parametrize("size, width", [("small", 128), ("base", 256)])
def test_presets_output_shapes(size, width, corpus):
    encoder = build_encoder(corpus.spec, size).eval()
    batch = corpus.batch([0, 1, 2])
    assert encoder(batch).shape == (3, width)
    assert encoder.forward_dense(batch).shape == (3, 24, width)
    assert encoder.dense_decoder(7)(encoder.forward_dense(batch)).shape == (3, 24, 7)


def test_padding_does_not_change_features(corpus):
    torch.manual_seed(0)
    encoder = build_encoder(corpus.spec, "small").eval()
    ids, mask = corpus.batch([1])
    noisy = torch.where(mask > 0, ids, torch.full_like(ids, 5))
    with torch.no_grad():
        clean = encoder((ids, mask))
        changed = encoder((noisy, mask))
    assert torch.allclose(clean, changed, atol=1e-5)


def test_every_parameter_gets_gradient(corpus):
    encoder = build_encoder(corpus.spec, "small")
    encoder(corpus.batch([0, 1, 2])).sum().backward()
    missing = [name for name, parameter in encoder.named_parameters()
               if parameter.grad is None or not torch.isfinite(parameter.grad).all()]
    assert missing == []


def test_onnx_export_dynamic_batch(tmp_path, corpus):
    torch.manual_seed(0)
    encoder = build_encoder(corpus.spec, "small")
    classifier = Classifier(encoder, LinearHead(encoder.feature_dim, 2)).eval()
    path = export_onnx(classifier, corpus.batch([0, 1, 2, 3]), tmp_path / "model.onnx")
    differences = check_onnx(classifier, path, [corpus.batch([0]), corpus.batch([1, 2, 3])])
    assert len(differences) == 2
    assert max(differences) < 1e-4
