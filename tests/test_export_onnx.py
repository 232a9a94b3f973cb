"""ONNX export with a dynamic batch axis, checked in ONNX Runtime; atomic files and safe checkpoints."""

from __future__ import annotations

import onnxruntime as ort
import pytest
import torch

from sslstudio.data.base import DatasetSpec
from sslstudio.export.onnx import check_onnx, export_onnx
from sslstudio.models.base import build_encoder
from sslstudio.models.heads import LinearHead
from sslstudio.models.model import Classifier
from sslstudio.training.checkpoints import atomic_write_text, load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    encoder = build_encoder(DatasetSpec("image", (3, 16, 16)), "small")
    model = Classifier(encoder, LinearHead(encoder.feature_dim, 10)).eval()
    path = export_onnx(model, torch.rand(4, 3, 16, 16), tmp_path_factory.mktemp("onnx") / "model.onnx")
    return model, path


def test_onnx_matches_at_batch_sizes_1_and_3(exported):
    model, path = exported
    differences = check_onnx(model, path, [torch.rand(1, 3, 16, 16), torch.rand(3, 3, 16, 16)])
    assert len(differences) == 2
    assert max(differences) < 1e-4


def test_onnx_batch_axis_is_dynamic(exported):
    _, path = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch_axis = session.get_inputs()[0].shape[0]
    assert isinstance(batch_axis, str)
    assert session.run(None, {"input": torch.rand(7, 3, 16, 16).numpy()})[0].shape == (7, 10)


def test_check_fails_on_other_model(exported):
    _, path = exported
    other = Classifier(build_encoder(DatasetSpec("image", (3, 16, 16)), "small"), LinearHead(512, 10)).eval()
    with pytest.raises(AssertionError, match="differs from PyTorch"):
        check_onnx(other, path, [torch.rand(2, 3, 16, 16)])


def test_example_batch_of_one_rejected(tmp_path):
    encoder = build_encoder(DatasetSpec("image", (3, 16, 16)), "small")
    with pytest.raises(ValueError, match="at least 2 samples"):
        export_onnx(Classifier(encoder, LinearHead(512, 2)), torch.rand(1, 3, 16, 16), tmp_path / "m.onnx")


def test_truncated_checkpoint_names_file(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"weights": torch.ones(1000), "step": 3})
    assert load_checkpoint(path)["step"] == 3
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="c.pt: not a valid checkpoint"):
        load_checkpoint(path)


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write_text(tmp_path / "card.json", "{}")
    atomic_write_text(tmp_path / "card.json", '{"a": 1}')
    assert [path.name for path in tmp_path.iterdir()] == ["card.json"]
    assert (tmp_path / "card.json").read_text() == '{"a": 1}'
