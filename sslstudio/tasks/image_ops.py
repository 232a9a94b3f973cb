"""Vectorized image operations shared by the image pretext tasks (no tasks are registered here).

Every function takes N×C×H×W float batches in [0, 1] and works on the
batch's device. Random draws come from the caller's ``torch.Generator`` (on
its own device, then moved), so a seeded generator gives the same batch on
any device.
"""

from __future__ import annotations

import functools
import itertools
import math
from abc import abstractmethod
from typing import Any

import numpy as np
import torch
from torch.nn import functional

from sslstudio.tasks.base import ClassificationTask, HeadSpec, PretextTask, PreviewItem

# ITU-R BT.601 luma weights for R, G, B.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
# Hidden and occluded pixels are set to mid-grey, which the image encoder maps to 0 after normalization.
FILL_VALUE = 0.5


def uniform(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Return uniform [0, 1) float32 samples of ``shape`` drawn from ``generator``, on ``device``."""
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def randint(high: int, shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Return int64 samples in [0, high) of ``shape`` drawn from ``generator``, on ``device``."""
    return torch.randint(high, shape, generator=generator, device=generator.device).to(device)


def normal(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Return standard normal float32 samples of ``shape`` drawn from ``generator``, on ``device``."""
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


def select(condition: torch.Tensor, changed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Pick ``changed`` where the per-sample boolean ``condition`` (N) is True, else ``original``."""
    return torch.where(condition.view(-1, *([1] * (original.dim() - 1))), changed, original)


def luma(images: torch.Tensor) -> torch.Tensor:
    """Return the BT.601 luma (N×1×H×W) of RGB images N×3×H×W."""
    weights = torch.tensor(LUMA_WEIGHTS, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur with a separable Gaussian of standard deviation ``sigma`` pixels (radius 3σ, edges replicated)."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    padded = functional.pad(images, (radius, radius, radius, radius), mode="replicate")
    rows = functional.conv2d(padded, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return functional.conv2d(rows, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def block_mask(size: int, side: int, top: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
    """Return a float mask N×1×size×size that is 1 inside the ``side``×``side`` block at (``top``, ``left``)."""
    positions = torch.arange(size, device=top.device)
    rows = (positions >= top.view(-1, 1)) & (positions < top.view(-1, 1) + side)
    columns = (positions >= left.view(-1, 1)) & (positions < left.view(-1, 1) + side)
    return (rows[:, :, None] & columns[:, None, :]).unsqueeze(1).float()


def random_block_mask(count: int, size: int, side: int, generator: torch.Generator,
                      device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Place one ``side``-pixel square per sample uniformly inside a ``size``-pixel image.

    Returns:
        mask N×1×size×size (float, 1 = inside), top N and left N (int64 pixel offsets).
    """
    top = randint(size - side + 1, (count,), generator, device)
    left = randint(size - side + 1, (count,), generator, device)
    return block_mask(size, side, top, left), top, left


def perspective_warp(images: torch.Tensor, corner_offsets: torch.Tensor) -> torch.Tensor:
    """Warp each image so that its four corners sample from inward-moved source corners.

    ``corner_offsets`` is N×4×2 in [0, 1]: for the corners top-left,
    top-right, bottom-right, bottom-left, how far (as a fraction of the image
    side) the source point moves towards the centre along x and y. The
    homography through the four point pairs is solved per sample, and the
    image is resampled bilinearly, so every output pixel shows image content.
    """
    count, device, dtype = images.shape[0], images.device, images.dtype
    corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], device=device, dtype=dtype)
    inward = -corners.sign()
    sources = corners + 2.0 * corner_offsets.to(dtype) * inward
    x, y = corners[:, 0].expand(count, 4), corners[:, 1].expand(count, 4)
    u, v = sources[..., 0], sources[..., 1]
    ones, zeros = torch.ones_like(x), torch.zeros_like(x)
    # Each point pair gives two rows of the 8×8 system for h0..h7 (h8 = 1).
    rows_u = torch.stack([x, y, ones, zeros, zeros, zeros, -u * x, -u * y], dim=-1)
    rows_v = torch.stack([zeros, zeros, zeros, x, y, ones, -v * x, -v * y], dim=-1)
    system = torch.cat([rows_u, rows_v], dim=1)
    values = torch.cat([u, v], dim=1)
    solution = torch.linalg.solve(system.float(), values.float()).to(dtype)
    homography = torch.cat([solution, torch.ones(count, 1, device=device, dtype=dtype)], dim=1).view(count, 3, 3)
    height, width = images.shape[-2:]
    ys = (torch.arange(height, device=device, dtype=dtype) + 0.5) / height * 2 - 1
    xs = (torch.arange(width, device=device, dtype=dtype) + 0.5) / width * 2 - 1
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([grid_x, grid_y, torch.ones_like(grid_x)], dim=-1).view(1, -1, 3)
    mapped = points @ homography.transpose(1, 2)
    grid = (mapped[..., :2] / mapped[..., 2:]).view(count, height, width, 2)
    return functional.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


@functools.lru_cache(maxsize=16)
def maximal_hamming_permutations(tiles: int, count: int, seed: int) -> np.ndarray:
    """Choose ``count`` permutations of ``tiles`` items that are far apart in Hamming distance.

    Greedy selection as in Noroozi and Favaro, "Unsupervised Learning of
    Visual Representations by Solving Jigsaw Puzzles", ECCV 2016: start from a
    random permutation, then repeatedly add the permutation whose minimum
    Hamming distance to the chosen set is largest (ties broken by ``seed``).

    Returns:
        int64 array count×tiles; row k maps output tile position i to the
        source tile ``row[i]``.

    Raises:
        ValueError: if ``count`` exceeds ``tiles!``.
    """
    if count > math.factorial(tiles):
        raise ValueError(f"count={count} is out of range for {tiles} tiles; valid range is 1 to {math.factorial(tiles)}")
    candidates = np.array(list(itertools.permutations(range(tiles))), dtype=np.int8)
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(candidates)))]
    min_distance = (candidates != candidates[chosen[0]]).sum(axis=1)
    for _ in range(count - 1):
        farthest = np.flatnonzero(min_distance == min_distance.max())
        pick = int(farthest[rng.integers(len(farthest))])
        chosen.append(pick)
        min_distance = np.minimum(min_distance, (candidates != candidates[pick]).sum(axis=1))
    return candidates[chosen].astype(np.int64)


def split_tiles(images: torch.Tensor, grid: int) -> torch.Tensor:
    """Cut the top-left ``grid``·t square of each image into tiles: N×grid²×C×t×t, row-major, t = H // grid."""
    count, channels, height, _ = images.shape
    tile = height // grid
    area = images[:, :, :grid * tile, :grid * tile]
    tiles = area.reshape(count, channels, grid, tile, grid, tile).permute(0, 2, 4, 1, 3, 5)
    return tiles.reshape(count, grid * grid, channels, tile, tile)


def merge_tiles(tiles: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Write tiles N×grid²×C×t×t back over the top-left square of a copy of ``images``; the border is kept."""
    count, positions, channels, tile, _ = tiles.shape
    grid = math.isqrt(positions)
    area = tiles.reshape(count, grid, grid, channels, tile, tile).permute(0, 3, 1, 4, 2, 5)
    merged = images.clone()
    merged[:, :, :grid * tile, :grid * tile] = area.reshape(count, channels, grid * tile, grid * tile)
    return merged


class ImageTaskMixin:
    """Shared ``generate`` and ``preview`` for image tasks built on ``make``.

    ``make`` returns ``(inputs, targets, details)``, where ``details`` holds
    per-sample tensors (a permutation index, a hole position) that only the
    preview caption reads.
    """

    @abstractmethod
    def make(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Return inputs N×3×H×W, targets and per-sample details for ``batch``."""

    @abstractmethod
    def caption(self, targets: torch.Tensor, details: dict[str, Any], index: int) -> str:
        """Describe what was done to sample ``index``."""

    def generate(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets, _ = self.make(batch, generator)
        return inputs, targets

    def preview(self, batch: torch.Tensor, generator: torch.Generator) -> list[PreviewItem]:
        """Return per sample the task input and the original image (both 3×H×W in [0, 1]) with a caption."""
        inputs, targets, details = self.make(batch, generator)
        return [PreviewItem(inputs[index].clamp(0, 1), batch[index], self.caption(targets, details, index))
                for index in range(batch.shape[0])]


class ImageClassificationTask(ImageTaskMixin, ClassificationTask):
    """An image task whose target is one class index per sample (N, int64)."""


class ImageReconstructionTask(ImageTaskMixin, PretextTask):
    """An image task whose target is the clean image N×3×H×W; dense head, mean squared error.

    Metrics: ``loss`` (MSE) and ``psnr`` in dB for images in [0, 1].
    """

    primary_metric = "loss"

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("dense", 3)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return functional.mse_loss(outputs, targets)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        error = float(self.loss(outputs, targets))
        return {"loss": error, "psnr": 10.0 * math.log10(1.0 / max(error, 1e-10))}
