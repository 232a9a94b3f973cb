"""Image encoder: a torchvision ResNet whose stem adapts to the image size.

Small images (up to 32 px, such as 8×8 digits) get a 3×3 stride-1 stem and no
max-pool, so the last stage still has spatial extent; larger ones keep the
7×7 stride-2 stem and max-pool of the ImageNet design.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from sslstudio.data.base import DatasetSpec
from sslstudio.models.base import Encoder, register_encoder

# Blocks per stage: "small" is ResNet-10, "base" ResNet-18, "large" ResNet-50.
_PRESETS = {"small": (BasicBlock, [1, 1, 1, 1]), "base": (BasicBlock, [2, 2, 2, 2]), "large": (Bottleneck, [3, 4, 6, 3])}
SMALL_IMAGE_MAX = 32

# Images come in as [0, 1]; the encoder normalizes them itself, so exports take plain [0, 1] input.
INPUT_MEAN = (0.5, 0.5, 0.5)
INPUT_STD = (0.25, 0.25, 0.25)


class ResNetEncoder(Encoder):
    """ResNet backbone: N×3×H×W in [0, 1] → N×D pooled features; ``forward_dense`` gives N×D×h×w."""

    def __init__(self, image_size: int, size: str = "small", in_channels: int = 3):
        super().__init__()
        block, layers = _PRESETS[size]
        backbone = ResNet(block, layers)
        if image_size <= SMALL_IMAGE_MAX:
            backbone.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            backbone.maxpool = nn.Identity()
        elif in_channels != 3:
            backbone.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.stem = nn.Sequential(backbone.conv1, backbone.bn1, backbone.relu, backbone.maxpool)
        self.stages = nn.Sequential(backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.feature_dim = 512 * block.expansion
        self.dense_dim = self.feature_dim
        self.image_size = image_size
        self.register_buffer("mean", torch.tensor(INPUT_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(INPUT_STD).view(1, 3, 1, 1), persistent=False)

    def forward_dense(self, images: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem((images - self.mean) / self.std))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.pool(self.forward_dense(images)).flatten(1)

    def dense_decoder(self, out_channels: int) -> nn.Module:
        return ImageDecoder(self.dense_dim, out_channels, self.image_size)


class ImageDecoder(nn.Module):
    """Upsample N×D×h×w features to N×out_channels×S×S with two convolutions (bilinear resize to S)."""

    def __init__(self, in_channels: int, out_channels: int, image_size: int, hidden: int = 64):
        super().__init__()
        self.image_size = image_size
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, hidden, 1), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True))
        self.refine = nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(inplace=True),
                                    nn.Conv2d(hidden, out_channels, 3, padding=1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        reduced = self.reduce(features)
        upsampled = nn.functional.interpolate(reduced, size=(self.image_size, self.image_size), mode="bilinear",
                                              align_corners=False)
        return self.refine(upsampled)


@register_encoder("image")
def build_image_encoder(spec: DatasetSpec, size: str) -> ResNetEncoder:
    channels, height, width = spec.shape
    return ResNetEncoder(image_size=max(height, width), size=size, in_channels=channels)
