"""Image classification pretext tasks: rotation, flips, perspective warp, jigsaw.

Batches are N×3×H×W float tensors in [0, 1] (square images).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from sslstudio.tasks.base import ClassificationTask, PreviewItem, TaskParams, param
from sslstudio.tasks.image_ops import (ImageClassificationTask, maximal_hamming_permutations, merge_tiles,
                                       perspective_warp, randint, select, split_tiles, uniform)
from sslstudio.tasks.registry import register_task


@dataclass(frozen=True)
class RotationParams(TaskParams):
    angles: tuple[int, ...] = param((0, 90, 180, 270), choices=(0, 90, 180, 270),
                                    help="Rotations to choose from, in degrees (counter-clockwise).")


@register_task
class RotationTask(ClassificationTask):
    """Predict which rotation was applied to the image.

    Gidaris, Singh and Komodakis, "Unsupervised Representation Learning by
    Predicting Image Rotations", ICLR 2018.
    """

    name = "image.rotation"
    default = True
    title = "Rotation prediction"
    description = ("Each image is rotated by 0°, 90°, 180° or 270°; the model predicts the angle. To do so it must "
                   "learn which way is up: the shape and pose of objects, strokes and text.")
    Params = RotationParams

    def check_spec(self, spec) -> None:
        if len(set(self.params.angles)) < 2:
            raise ValueError(f"angles={self.params.angles!r} is invalid; choose at least two distinct angles of 0, 90, 180, 270")

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        return len(self.params.angles)

    def generate(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotate each image by a random angle from ``angles``.

        Returns:
            inputs N×C×H×W, targets N (int64 index into ``angles``).
        """
        count = batch.shape[0]
        targets = torch.randint(len(self.params.angles), (count,), generator=generator, device=generator.device)
        targets = targets.to(batch.device)
        quarter_turns = torch.tensor([angle // 90 for angle in self.params.angles], device=batch.device)[targets]
        rotated = torch.stack([torch.rot90(batch, turns, dims=(2, 3)) for turns in range(4)])
        inputs = rotated[quarter_turns, torch.arange(count, device=batch.device)]
        return inputs, targets

    def preview(self, batch: torch.Tensor, generator: torch.Generator) -> list[PreviewItem]:
        inputs, targets = self.generate(batch, generator)
        return [PreviewItem(inputs[i], batch[i], f"rotated {self.params.angles[int(targets[i])]}°")
                for i in range(len(targets))]


class FlipDetectionTask(ImageClassificationTask):
    """Predict whether the image was mirrored along ``axis`` (class 1) or left as it is (class 0)."""

    Params = TaskParams
    num_classes = 2
    # Tensor dimension that the flip reverses: 3 mirrors left and right, 2 top and bottom.
    axis: ClassVar[int] = 3

    def make(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Return inputs N×C×H×W, targets N (int64, 1 = flipped) and no details."""
        targets = randint(2, (batch.shape[0],), generator, batch.device)
        inputs = select(targets.bool(), batch.flip(self.axis), batch)
        return inputs, targets, {}

    def caption(self, targets: torch.Tensor, details: dict, index: int) -> str:
        return "flipped" if int(targets[index]) else "unchanged"


@register_task
class HorizontalFlipTask(FlipDetectionTask):
    """Predict whether the image was mirrored left to right."""

    name = "image.hflip"
    title = "Horizontal-flip detection"
    description = ("Half of the images are mirrored left to right; the model tells which. It learns handedness: "
                   "the direction of text and strokes, and asymmetric anatomy or parts (a heart on the left).")
    axis = 3


@register_task
class VerticalFlipTask(FlipDetectionTask):
    """Predict whether the image was turned upside down by a vertical flip."""

    name = "image.vflip"
    title = "Vertical-flip detection"
    description = ("Half of the images are mirrored top to bottom; the model tells which. It learns gravity and "
                   "orientation cues: sky above ground, liquids and bleeding running downwards, shadows below objects.")
    axis = 2


@dataclass(frozen=True)
class PerspectiveParams(TaskParams):
    distortion: float = param(0.25, minimum=0.05, maximum=0.45,
                              help="Largest inward move of each source corner, as a fraction of the image side.")


@register_task
class PerspectiveWarpTask(ImageClassificationTask):
    """Predict whether the image went through a perspective warp (class 1) or a plain zoom (class 0).

    Both classes are resampled and magnified by moving the four source
    corners inwards by similar amounts: a zoom moves all corners alike, a
    perspective warp moves each one independently. Resampling blur and scale
    therefore give nothing away, and only the distortion of shapes does.
    """

    name = "image.perspective"
    title = "Perspective-warp detection"
    description = ("Half of the images are seen through a random perspective warp, the other half only zoomed; "
                   "the model tells which. It learns what undistorted shapes look like: straight, parallel lines, "
                   "right angles and true proportions.")
    Params = PerspectiveParams
    num_classes = 2

    def make(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Return inputs N×C×H×W, targets N (int64, 1 = warped) and the corner moves N×4×2 (fraction of the side).

        Each corner moves inwards by between half and all of ``distortion``;
        for class 0 every corner takes the mean of those moves.
        """
        count = batch.shape[0]
        targets = randint(2, (count,), generator, batch.device)
        offsets = self.params.distortion * (0.5 + 0.5 * uniform((count, 4, 2), generator, batch.device))
        zoom = offsets.mean(dim=(1, 2), keepdim=True).expand_as(offsets)
        offsets = select(targets.bool(), offsets, zoom)
        return perspective_warp(batch, offsets), targets, {"offsets": offsets}

    def caption(self, targets: torch.Tensor, details: dict, index: int) -> str:
        offsets = details["offsets"][index]
        if not int(targets[index]):
            return f"zoomed only, every corner moved {float(offsets.mean()):.0%} inwards"
        return f"perspective warp, corners moved {float(offsets.min()):.0%} to {float(offsets.max()):.0%} inwards"


@dataclass(frozen=True)
class JigsawParams(TaskParams):
    grid: int = param(3, choices=(2, 3), help="Tiles per side: 2 makes a 2×2 puzzle, 3 a 3×3 puzzle.")
    permutations: int = param(64, minimum=2, maximum=1000,
                              help="Size of the fixed permutation set, which is the number of classes.")
    permutation_seed: int = param(0, minimum=0, maximum=2**31 - 1, help="Seed that fixes the permutation set.")


@register_task
class JigsawTask(ImageClassificationTask):
    """Predict which permutation from a fixed set shuffled the image's tiles.

    Noroozi and Favaro, "Unsupervised Learning of Visual Representations by
    Solving Jigsaw Puzzles", ECCV 2016. The set is chosen greedily for a large
    minimum Hamming distance (``maximal_hamming_permutations``). When the
    image side is not a multiple of ``grid``, the remaining right and bottom
    pixels stay in place.
    """

    name = "image.jigsaw"
    title = "Jigsaw puzzle"
    description = ("The image is cut into a 2×2 or 3×3 grid and the tiles are shuffled by one of a fixed set of "
                   "permutations; the model predicts which. It must recognise parts and how they fit together: "
                   "which piece is a top, an edge or a centre.")
    Params = JigsawParams

    def check_spec(self, spec) -> None:
        side = min(spec.shape[-2:])
        if side // self.params.grid < 2:
            raise ValueError(f"grid={self.params.grid} is too large for {side}-px images; tiles must be at least "
                             f"2 px, so the valid range is 2 to {max(2, side // 2)}")
        maximum = math.factorial(self.params.grid ** 2)
        if self.params.permutations > maximum:
            raise ValueError(f"permutations={self.params.permutations} is out of range for a {self.params.grid}×"
                             f"{self.params.grid} grid; valid range is 2 to {maximum}")
        table = maximal_hamming_permutations(self.params.grid ** 2, self.params.permutations,
                                             self.params.permutation_seed)
        self.permutation_table = torch.from_numpy(table)

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        return self.params.permutations

    def make(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Return shuffled inputs N×C×H×W, targets N (int64 index into ``permutation_table``) and no details.

        Input tile position i shows original tile ``permutation_table[target][i]``.
        """
        count = batch.shape[0]
        targets = randint(self.params.permutations, (count,), generator, batch.device)
        order = self.permutation_table.to(batch.device)[targets]
        tiles = split_tiles(batch, self.params.grid)
        shuffled = tiles[torch.arange(count, device=batch.device).unsqueeze(1), order]
        return merge_tiles(shuffled, batch), targets, {}

    def caption(self, targets: torch.Tensor, details: dict, index: int) -> str:
        target = int(targets[index])
        return f"permutation {target}: tiles {tuple(self.permutation_table[target].tolist())}"
