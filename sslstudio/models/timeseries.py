"""Time-series encoder: a 1-D residual CNN that respects the mask of padded and missing steps.

The design follows the fully convolutional ResNet of Wang, Yan and Oates,
"Time Series Classification from Scratch with Deep Neural Networks: A Strong
Baseline", IJCNN 2017: blocks of three convolutions (kernels 7, 5, 3) with
batch normalization and a residual shortcut. Each block here is dilated
(1, 2, 4, …) so the receptive field grows with depth, and the input is the
pair ``(values, mask)`` of ``TimeSeriesDataset.batch``:

- the network sees ``values × mask`` and the mask itself as input channels, so
  a masked value is known to be missing rather than zero;
- a step counts as present when any channel is observed there; features at
  absent steps (padding, or gaps in every channel) are zero at the input and
  after every normalization, so every convolution sees them as it sees the
  zero padding at the series' edges;
- batch normalization computes its statistics over present steps only;
- pooling averages and takes the maximum over present steps only.
"""

from __future__ import annotations

import torch
from torch import nn

from sslstudio.data.base import DatasetSpec
from sslstudio.models.base import Encoder, register_encoder

# Channels per residual block; "large" also adds a fourth, wider-reaching block.
_PRESETS = {"small": (32, 64, 64), "base": (64, 128, 128), "large": (128, 256, 256, 256)}
_KERNELS = (7, 5, 3)
# Stands in for minus infinity in the masked maximum, so exported graphs carry no infinities.
_MASKED_MAX_FILL = -1e4


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """Batch normalization over N and L that ignores absent steps; outputs are zero at absent steps.

    ``forward(features N×C×L, present N×1×L in {0, 1})``. In eval mode it
    uses the running statistics, as ``nn.BatchNorm1d`` does.
    """

    def forward(self, features: torch.Tensor, present: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if self.training:
            count = present.sum().clamp_min(2.0)
            present_features = features * present
            mean = present_features.sum(dim=(0, 2)) / count
            variance = ((present_features * features).sum(dim=(0, 2)) / count - mean ** 2).clamp_min(0.0)
            with torch.no_grad():
                unbiased = variance * count / (count - 1)
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(unbiased, self.momentum)
                self.num_batches_tracked.add_(1)
        else:
            mean, variance = self.running_mean, self.running_var
        scale = self.weight / torch.sqrt(variance + self.eps)
        shift = self.bias - mean * scale
        return (features * scale[None, :, None] + shift[None, :, None]) * present


class ResidualBlock(nn.Module):
    """Three dilated convolutions (kernels 7, 5, 3) and a residual shortcut: N×C_in×L → N×C_out×L.

    Inputs must be zero at absent steps; outputs are zero there too.
    """

    def __init__(self, in_channels: int, out_channels: int, dilation: int):
        super().__init__()
        self.convolutions = nn.ModuleList()
        self.norms = nn.ModuleList()
        channels = in_channels
        for kernel in _KERNELS:
            self.convolutions.append(nn.Conv1d(channels, out_channels, kernel, dilation=dilation,
                                               padding=dilation * (kernel // 2), bias=False))
            self.norms.append(MaskedBatchNorm1d(out_channels))
            channels = out_channels
        # A 1×1 convolution matches the widths where they differ; otherwise the input is added as it is.
        self.shortcut = nn.Conv1d(in_channels, out_channels, 1, bias=False) if in_channels != out_channels else None
        self.shortcut_norm = MaskedBatchNorm1d(out_channels) if self.shortcut is not None else None

    def forward(self, features: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        hidden = features
        for position, (convolution, norm) in enumerate(zip(self.convolutions, self.norms)):
            hidden = norm(convolution(hidden), present)
            if position < len(self.convolutions) - 1:
                hidden = torch.relu(hidden)
        shortcut = features if self.shortcut is None else self.shortcut_norm(self.shortcut(features), present)
        return torch.relu(hidden + shortcut)


class TimeSeriesEncoder(Encoder):
    """Masked residual CNN over ``(values, mask)``, both N×C×L.

    ``forward`` returns N×(2·D): the mean and the maximum of the last block's
    features over present steps. ``forward_dense`` returns per-step features
    N×D×L (zero at absent steps), and ``dense_decoder`` maps them to
    N×out×L for per-step tasks.
    """

    def __init__(self, channels: int, size: str = "small"):
        super().__init__()
        widths = _PRESETS[size]
        self.blocks = nn.ModuleList()
        in_channels = 2 * channels
        for index, width in enumerate(widths):
            self.blocks.append(ResidualBlock(in_channels, width, dilation=2 ** index))
            in_channels = width
        self.dense_dim = widths[-1]
        self.feature_dim = 2 * widths[-1]
        self.channels = channels

    @staticmethod
    def present_steps(mask: torch.Tensor) -> torch.Tensor:
        """Return N×1×L, 1.0 where any channel is observed."""
        return mask.amax(dim=1, keepdim=True)

    def forward_dense(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        values, mask = inputs
        present = self.present_steps(mask)
        features = torch.cat([values * mask, mask], dim=1)
        for block in self.blocks:
            features = block(features, present)
        return features

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        features = self.forward_dense(inputs)
        present = self.present_steps(inputs[1])
        mean = features.sum(dim=2) / present.sum(dim=2).clamp_min(1.0)
        maximum = torch.where(present > 0, features, torch.full_like(features, _MASKED_MAX_FILL)).amax(dim=2)
        return torch.cat([mean, maximum], dim=1)

    def dense_decoder(self, out_channels: int) -> nn.Module:
        return StepDecoder(self.dense_dim, out_channels)


class StepDecoder(nn.Module):
    """Per-step features N×D×L → N×out_channels×L (a 1×1 and a 3-wide convolution)."""

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 64):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv1d(in_channels, hidden, 1), nn.ReLU(inplace=True),
                                    nn.Conv1d(hidden, out_channels, 3, padding=1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


@register_encoder("timeseries")
def build_timeseries_encoder(spec: DatasetSpec, size: str) -> TimeSeriesEncoder:
    channels = spec.shape[0]
    return TimeSeriesEncoder(channels=channels, size=size)
