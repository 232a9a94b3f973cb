"""Video encoders: a 2-D frame encoder with temporal mixing and pooling, and torchvision's R(2+1)D-18.

``small`` and ``base`` run the image ResNet (ResNet-10, ResNet-18) on every
frame, add a learned embedding of each frame's position in time, mix
neighbouring frames with a temporal convolution, and average over time. The
position embedding lets the pooled features depend on frame order, which
sequence ordering needs. ``large`` is torchvision's R(2+1)D-18 (Tran et al.,
"A Closer Look at Spatiotemporal Convolutions for Action Recognition", CVPR
2018) with random weights.

Every encoder takes clips N×T×3×S×S in [0, 1] with any T up to the dataset's
clip length and normalizes them itself.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.video import r2plus1d_18

from sslstudio.data.base import DatasetSpec
from sslstudio.models.base import Encoder, register_encoder
from sslstudio.models.image import INPUT_MEAN, INPUT_STD, ImageDecoder, ResNetEncoder


class FrameEncoder(Encoder):
    """Per-frame ResNet, time embedding and temporal convolution: N×T×3×S×S → N×D (dense: N×D×h×w)."""

    def __init__(self, clip_length: int, image_size: int, size: str = "small"):
        super().__init__()
        self.frames = ResNetEncoder(image_size, size)
        self.feature_dim = self.dense_dim = self.frames.feature_dim
        self.image_size = image_size
        self.time_embedding = nn.Parameter(torch.zeros(1, clip_length, self.feature_dim, 1, 1))
        nn.init.normal_(self.time_embedding, std=0.02)
        self.temporal = nn.Sequential(
            nn.Conv3d(self.feature_dim, self.feature_dim, kernel_size=(3, 1, 1), padding=(1, 0, 0), bias=False),
            nn.BatchNorm3d(self.feature_dim), nn.ReLU(inplace=True))

    def forward_dense(self, clips: torch.Tensor) -> torch.Tensor:
        """Return N×D×h×w features: per-frame maps mixed over time, then averaged over time."""
        count, length = clips.shape[:2]
        maps = self.frames.forward_dense(clips.flatten(0, 1))
        maps = maps.view(count, length, *maps.shape[1:]) + self.time_embedding[:, :length]
        mixed = self.temporal(maps.transpose(1, 2))  # N×D×T×h×w for the 3-D convolution
        return (mixed + maps.transpose(1, 2)).mean(dim=2)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.forward_dense(clips).mean(dim=(2, 3))

    def dense_decoder(self, out_channels: int) -> nn.Module:
        return ImageDecoder(self.dense_dim, out_channels, self.image_size)


class R2Plus1DEncoder(Encoder):
    """torchvision R(2+1)D-18 without its classifier: N×T×3×S×S → N×512 (dense: N×512×h×w, time averaged)."""

    def __init__(self, image_size: int):
        super().__init__()
        network = r2plus1d_18(weights=None)
        self.body = nn.Sequential(network.stem, network.layer1, network.layer2, network.layer3, network.layer4)
        self.feature_dim = self.dense_dim = 512
        self.image_size = image_size
        self.register_buffer("mean", torch.tensor(INPUT_MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(INPUT_STD).view(1, 3, 1, 1, 1), persistent=False)

    def forward_dense(self, clips: torch.Tensor) -> torch.Tensor:
        volume = (clips.transpose(1, 2) - self.mean) / self.std  # N×3×T×S×S, as torchvision's video models expect
        return self.body(volume).mean(dim=2)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.forward_dense(clips).mean(dim=(2, 3))

    def dense_decoder(self, out_channels: int) -> nn.Module:
        return ImageDecoder(self.dense_dim, out_channels, self.image_size)


@register_encoder("video")
def build_video_encoder(spec: DatasetSpec, size: str) -> Encoder:
    clip_length, _, height, width = spec.shape
    if size == "large":
        return R2Plus1DEncoder(image_size=max(height, width))
    return FrameEncoder(clip_length, max(height, width), size)
