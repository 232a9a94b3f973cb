"""Image reconstruction pretext tasks: colorization, inpainting, super-resolution, denoising.

Each predicts pixels with the encoder's dense decoder (``HeadSpec("dense", 3)``)
from a degraded copy of the image. Batches are N×3×H×W float tensors in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional

from sslstudio.tasks.base import TaskParams, param
from sslstudio.tasks.image_ops import (FILL_VALUE, ImageReconstructionTask, block_mask, luma, normal,
                                       random_block_mask, uniform)
from sslstudio.tasks.registry import register_task


@register_task
class ColorizationTask(ImageReconstructionTask):
    """Predict the RGB image from its grey lightness.

    Zhang, Isola and Efros, "Colorful Image Colorization", ECCV 2016, predict
    the a/b channels of Lab; this task regresses RGB with mean squared error,
    so the output is directly an image. The input is the BT.601 luma repeated
    on three channels.
    """

    name = "image.colorization"
    title = "Colorization"
    description = ("The model sees the grey (lightness) image and paints its colors back. It learns which colors "
                   "objects and tissues have, and so what they are: stains, skin, sky, vegetation.")

    def make(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Return grey inputs N×3×H×W, the color targets N×3×H×W (the batch itself) and no details."""
        return luma(batch).expand_as(batch).contiguous(), batch, {}

    def caption(self, targets: torch.Tensor, details: dict, index: int) -> str:
        return "grey input, color target"


INPAINTING_MASKS = ("center", "random_block", "random_patches")
# Random patch masks hide cells of about 1/8 of the image side.
PATCH_GRID = 8


@dataclass(frozen=True)
class InpaintingParams(TaskParams):
    mask: str = param("random_block", choices=INPAINTING_MASKS,
                      help="center: one central square; random_block: one square anywhere; "
                           "random_patches: scattered square cells.")
    size: float = param(0.4, minimum=0.05, maximum=0.9,
                        help="Square side as a fraction of the image side, or, for random_patches, "
                             "the fraction of cells hidden.")


@register_task
class InpaintingTask(ImageReconstructionTask):
    """Predict hidden pixels from their surroundings; the loss covers the hidden region only.

    Pathak et al., "Context Encoders: Feature Learning by Inpainting", CVPR
    2016. Hidden pixels are set to mid-grey. The target is N×4×H×W: the
    original RGB image followed by the mask (1 = hidden), so that ``loss``
    can restrict the error to the hole.
    """

    name = "image.inpainting"
    title = "Inpainting"
    description = ("A region of the image is hidden and the model paints it back. It learns what usually "
                   "surrounds what: how strokes continue, how textures and structures extend behind a hole.")
    Params = InpaintingParams

    def check_spec(self, spec) -> None:
        side = min(spec.shape[-2:])
        if self.params.mask != "random_patches" and self._hole_side(side) >= side:
            raise ValueError(f"size={self.params.size} hides the whole {side}-px image; valid range is "
                             f"0.05 to {(side - 1) / side:.2f} for this image size")

    def _hole_side(self, side: int) -> int:
        return max(1, round(self.params.size * side))

    def make(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Return masked inputs N×3×H×W, targets N×4×H×W (image, then mask) and the block corner for previews."""
        count, side = batch.shape[0], batch.shape[-1]
        details: dict = {}
        if self.params.mask == "random_patches":
            cells = uniform((count, 1, PATCH_GRID, PATCH_GRID), generator, batch.device) < self.params.size
            mask = functional.interpolate(cells.float(), size=batch.shape[-2:], mode="nearest")
        elif self.params.mask == "center":
            hole = self._hole_side(side)
            corner = torch.full((count,), (side - hole) // 2, device=batch.device, dtype=torch.long)
            mask = block_mask(side, hole, corner, corner)
            details = {"top": corner, "left": corner, "hole": hole}
        else:
            hole = self._hole_side(side)
            mask, top, left = random_block_mask(count, side, hole, generator, batch.device)
            details = {"top": top, "left": left, "hole": hole}
        inputs = batch * (1 - mask) + FILL_VALUE * mask
        return inputs, torch.cat([batch, mask], dim=1), details

    def caption(self, targets: torch.Tensor, details: dict, index: int) -> str:
        if "hole" not in details:
            return f"{float(targets[index, 3].mean()):.0%} of pixels hidden"
        hole = details["hole"]
        return f"hole {hole}×{hole} px at row {int(details['top'][index])}, column {int(details['left'][index])}"

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Return the mean squared error over hidden pixels (outputs N×3×H×W, targets N×4×H×W)."""
        images, mask = targets[:, :3], targets[:, 3:]
        squared = (outputs - images) ** 2 * mask
        return squared.sum() / (mask.sum() * images.shape[1]).clamp_min(1.0)


@dataclass(frozen=True)
class SuperResolutionParams(TaskParams):
    factor: int = param(2, choices=(2, 4), help="Downscaling factor before the image is brought back to size.")


@register_task
class SuperResolutionTask(ImageReconstructionTask):
    """Predict the full-resolution image from a copy downscaled by ``factor`` and upscaled bilinearly."""

    name = "image.superres"
    title = "Super-resolution"
    description = ("The image is shrunk by 2 or 4 and enlarged back, losing fine detail; the model restores it. "
                   "It learns what sharp edges and fine textures look like at full resolution.")
    Params = SuperResolutionParams

    def check_spec(self, spec) -> None:
        side = min(spec.shape[-2:])
        if side // self.params.factor < 2:
            raise ValueError(f"factor={self.params.factor} is too large for {side}-px images; the downscaled "
                             f"image must keep 2 px, so the valid range is 2 to {max(2, side // 2)}")

    def make(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Return blurred inputs N×3×H×W, the original targets N×3×H×W and no details."""
        height, width = batch.shape[-2:]
        small = functional.interpolate(batch, size=(height // self.params.factor, width // self.params.factor),
                                       mode="area")
        inputs = functional.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)
        return inputs, batch, {}

    def caption(self, targets: torch.Tensor, details: dict, index: int) -> str:
        height, width = targets.shape[-2:]
        factor = self.params.factor
        return f"downscaled ×{factor} to {width // factor}×{height // factor} px, then upscaled"


@dataclass(frozen=True)
class DenoisingParams(TaskParams):
    noise: str = param("gaussian", choices=("gaussian", "salt_and_pepper"), help="Kind of noise added.")
    strength: float = param(0.2, minimum=0.01, maximum=1.0,
                            help="Gaussian: standard deviation σ on the [0, 1] scale; "
                                 "salt_and_pepper: fraction of pixels set to black or white.")


@register_task
class DenoisingTask(ImageReconstructionTask):
    """Predict the clean image from a noisy copy (Vincent et al., denoising autoencoders, ICML 2008)."""

    name = "image.denoising"
    title = "Denoising"
    description = ("Gaussian or salt-and-pepper noise is added and the model removes it. It learns which "
                   "patterns are real structure and which are sensor or scanning noise.")
    Params = DenoisingParams

    def make(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Return noisy inputs N×3×H×W clipped to [0, 1], the clean targets N×3×H×W and no details."""
        if self.params.noise == "gaussian":
            noisy = batch + self.params.strength * normal(tuple(batch.shape), generator, batch.device)
            return noisy.clamp(0.0, 1.0), batch, {}
        count, _, height, width = batch.shape
        draws = uniform((count, 2, height, width), generator, batch.device)
        hit = (draws[:, :1] < self.params.strength).float()
        salt = (draws[:, 1:] < 0.5).float()
        return batch * (1 - hit) + salt * hit, batch, {}

    def caption(self, targets: torch.Tensor, details: dict, index: int) -> str:
        if self.params.noise == "gaussian":
            return f"Gaussian noise σ={self.params.strength:g}"
        return f"salt-and-pepper noise on {self.params.strength:.0%} of pixels"
