"""Table encoders (every preset): forward, backward, ONNX export, and a short real run on penguins."""

from __future__ import annotations

import threading

import pytest
import torch

from sslstudio.data.samples import get_sample
from sslstudio.export.onnx import check_onnx, export_onnx
from sslstudio.models.base import SIZE_PRESETS, build_encoder
from sslstudio.models.heads import LinearHead
from sslstudio.models.model import Classifier
from sslstudio.training.config import RunConfig, TaskChoice
from sslstudio.training.context import RunContext
from sslstudio.training.events import Finished
from sslstudio.training.strategies import run_strategy


@pytest.fixture(scope="module")
def penguins():
    return get_sample("penguins").open()


@pytest.fixture(scope="module")
def breast_cancer():
    return get_sample("breast-cancer").open()


@pytest.mark.parametrize("size", SIZE_PRESETS)
def test_encoder_forward_backward(size, penguins):
    torch.manual_seed(0)
    encoder = build_encoder(penguins.spec, size)
    features = encoder(penguins.batch(range(8)))
    features.sum().backward()
    assert features.shape == (8, encoder.feature_dim)
    assert torch.isfinite(features).all()
    assert all(parameter.grad is not None for parameter in encoder.parameters())


@pytest.mark.parametrize("size", ["small", "large"])
def test_dense_decoder_width(size, penguins):
    encoder = build_encoder(penguins.spec, size)
    decoder = encoder.dense_decoder(11)
    assert decoder(encoder.forward_dense(penguins.batch(range(5)))).shape == (5, 11)


@pytest.mark.parametrize("size", ["small", "large"])
def test_onnx_export_with_categories(size, penguins, tmp_path):
    torch.manual_seed(0)
    encoder = build_encoder(penguins.spec, size)
    model = Classifier(encoder, LinearHead(encoder.feature_dim, 3))
    path = export_onnx(model, penguins.batch(range(4)), tmp_path / "model.onnx")
    differences = check_onnx(model, path, [penguins.batch([3]), penguins.batch(range(5))])
    assert max(differences) < 1e-4


def test_onnx_export_without_categories(breast_cancer, tmp_path):
    torch.manual_seed(0)
    encoder = build_encoder(breast_cancer.spec, "small")
    model = Classifier(encoder, LinearHead(encoder.feature_dim, 2))
    path = export_onnx(model, breast_cancer.batch(range(4)), tmp_path / "model.onnx")
    differences = check_onnx(model, path, [breast_cancer.batch([0]), breast_cancer.batch(range(3))])
    assert max(differences) < 1e-4


def test_short_run_on_penguins(penguins, tmp_path):
    config = RunConfig(tasks=(TaskChoice("tabular.imputation"), TaskChoice("tabular.swap")), pretrain_epochs=2,
                       finetune_steps=60, batch_size=64, labels_per_class=5, label_column="species")
    context = RunContext(dataset=penguins, labels=penguins.label_column("species"), cancel=threading.Event(),
                         run_dir=tmp_path)
    events = list(run_strategy(config, context))
    result = events[-1].result
    assert isinstance(events[-1], Finished)
    assert result.extras["label_counts"] == {"Adelie": 5, "Chinstrap": 5, "Gentoo": 5}
    assert result.pretrained["accuracy"] > 0.6
    assert result.scratch["accuracy"] > 0.6
    assert (tmp_path / "metrics.csv").is_file()
