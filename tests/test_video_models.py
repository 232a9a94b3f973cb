"""Video encoders: shapes per preset, order sensitivity, dense decoding and ONNX export."""

from __future__ import annotations

import pytest
import torch

from sslstudio.data.base import DatasetSpec
from sslstudio.export.onnx import check_onnx, export_onnx
from sslstudio.models.base import build_encoder
from sslstudio.models.heads import LinearHead
from sslstudio.models.model import Classifier
from sslstudio.models.video import FrameEncoder, R2Plus1DEncoder

SPEC = DatasetSpec("video", shape=(4, 3, 16, 16))


@pytest.fixture(scope="module")
def frame_encoder():
    torch.manual_seed(0)
    return build_encoder(SPEC, "small").eval()


def test_small_is_frame_encoder(frame_encoder):
    assert isinstance(frame_encoder, FrameEncoder)


def test_features_shape(frame_encoder):
    with torch.no_grad():
        assert frame_encoder(torch.rand(2, 4, 3, 16, 16)).shape == (2, frame_encoder.feature_dim)


def test_shorter_clip_accepted(frame_encoder):
    with torch.no_grad():
        assert frame_encoder(torch.rand(2, 3, 3, 16, 16)).shape == (2, frame_encoder.feature_dim)


def test_features_depend_on_order(frame_encoder):
    clips = torch.rand(1, 4, 3, 16, 16)
    with torch.no_grad():
        forward = frame_encoder(clips)
        backward = frame_encoder(clips.flip(1))
    assert float((forward - backward).abs().max()) > 1e-4


def test_dense_decoder_gives_frame(frame_encoder):
    decoder = frame_encoder.dense_decoder(3).eval()
    with torch.no_grad():
        assert decoder(frame_encoder.forward_dense(torch.rand(2, 3, 3, 16, 16))).shape == (2, 3, 16, 16)


def test_frame_encoder_onnx_matches(tmp_path, frame_encoder):
    classifier = Classifier(frame_encoder, LinearHead(frame_encoder.feature_dim, 3)).eval()
    clips = torch.rand(4, 4, 3, 16, 16)
    path = export_onnx(classifier, clips, tmp_path / "video.onnx")
    differences = check_onnx(classifier, path, [clips[:1], clips[:3]])
    assert max(differences) < 1e-4


@pytest.mark.slow
def test_large_preset_onnx_matches(tmp_path):
    torch.manual_seed(0)
    encoder = build_encoder(SPEC, "large")
    assert isinstance(encoder, R2Plus1DEncoder)
    classifier = Classifier(encoder, LinearHead(encoder.feature_dim, 3)).eval()
    clips = torch.rand(2, 4, 3, 16, 16)
    path = export_onnx(classifier, clips, tmp_path / "large.onnx")
    assert max(check_onnx(classifier, path, [clips[:1], clips])) < 1e-4


def test_large_preset_shapes():
    torch.manual_seed(0)
    encoder = build_encoder(SPEC, "large").eval()
    with torch.no_grad():
        features = encoder(torch.rand(1, 4, 3, 16, 16))
        dense = encoder.forward_dense(torch.rand(1, 4, 3, 16, 16))
    assert features.shape == (1, 512)
    assert dense.shape[:2] == (1, 512)
