"""Encoders per modality and the heads tasks ask for (no Qt)."""

from sslstudio.models.base import Encoder, build_encoder, register_encoder
from sslstudio.models.heads import build_head
from sslstudio.models.model import Classifier, SSLModel

__all__ = ["Classifier", "Encoder", "SSLModel", "build_encoder", "build_head", "register_encoder"]
