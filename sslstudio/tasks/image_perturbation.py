"""Perturbation detection: which of a chosen set of domain-motivated changes, if any, was applied.

Class 0 is "unchanged"; class k is ``perturbations[k - 1]``. Each perturbation
has its own strength parameter, so an expert can make a cue subtle or obvious.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sslstudio.tasks.base import TaskParams, param
from sslstudio.tasks.image_ops import (FILL_VALUE, ImageClassificationTask, gaussian_blur, random_block_mask,
                                       randint, select, uniform)
from sslstudio.tasks.registry import register_task

PERTURBATIONS = ("blur", "vertical_flip", "occlusion", "color_shift", "contrast")


@dataclass(frozen=True)
class PerturbationParams(TaskParams):
    perturbations: tuple[str, ...] = param(PERTURBATIONS, choices=PERTURBATIONS,
                                           help="Perturbations to detect; each one is a class next to 'unchanged'.")
    blur_sigma: float = param(1.0, minimum=0.3, maximum=10.0, help="Gaussian blur standard deviation σ, in pixels.")
    occlusion_size: float = param(0.3, minimum=0.05, maximum=0.9,
                                  help="Side of the grey occluding square, as a fraction of the image side.")
    color_shift: float = param(0.15, minimum=0.01, maximum=1.0,
                               help="Largest offset added to each RGB channel, on the [0, 1] scale.")
    contrast: float = param(0.5, minimum=0.05, maximum=4.0,
                            help="Contrast change: the deviation from the mean is scaled by 1 + c or 1 / (1 + c).")

    def __post_init__(self) -> None:
        # A single name, as the command line passes it, means a list of one.
        if isinstance(self.perturbations, str):
            object.__setattr__(self, "perturbations", (self.perturbations,))
        super().__post_init__()
        if not self.perturbations:
            raise ValueError(f"perturbations=() is invalid; choose at least one of {', '.join(PERTURBATIONS)}")
        if len(set(self.perturbations)) != len(self.perturbations):
            raise ValueError(f"perturbations={self.perturbations!r} is invalid; list each perturbation once")


@register_task
class PerturbationTask(ImageClassificationTask):
    """Classify images as unchanged or as changed by one of the chosen perturbations."""

    name = "image.perturbation"
    title = "Perturbation detection"
    description = ("Each image is left unchanged or altered by one of the chosen perturbations, and the model "
                   "tells which. Blur detection teaches texture and focus cues. Vertical-flip detection teaches "
                   "gravity cues: bleeding and fluids run downwards, lesions and round objects do not, so only a "
                   "model that knows up from down can tell. Occlusion teaches what a complete object looks like. "
                   "Color shift teaches the true colors of stains, skin or materials. Contrast change teaches "
                   "the normal intensity range of the scanner or camera.")
    Params = PerturbationParams

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        return 1 + len(self.params.perturbations)

    def check_spec(self, spec) -> None:
        side = min(spec.shape[-2:])
        if "occlusion" in self.params.perturbations and round(self.params.occlusion_size * side) >= side:
            raise ValueError(f"occlusion_size={self.params.occlusion_size} hides the whole {side}-px image; "
                             f"valid range is 0.05 to {(side - 1) / side:.2f} for this image size")

    def make(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Return inputs N×C×H×W, targets N (int64, 0 = unchanged) and the drawn per-sample amounts.

        Every perturbation is computed for the whole batch and kept where the
        target selects it, which keeps generation free of per-sample loops.
        """
        count, device = batch.shape[0], batch.device
        targets = randint(self.num_classes, (count,), generator, device)
        inputs = batch
        details: dict = {}
        for position, kind in enumerate(self.params.perturbations, start=1):
            changed = getattr(self, f"_{kind}")(batch, generator, details)
            inputs = select(targets == position, changed, inputs)
        return inputs, targets, details

    def _blur(self, batch: torch.Tensor, generator: torch.Generator, details: dict) -> torch.Tensor:
        return gaussian_blur(batch, self.params.blur_sigma)

    def _vertical_flip(self, batch: torch.Tensor, generator: torch.Generator, details: dict) -> torch.Tensor:
        return batch.flip(2)

    def _occlusion(self, batch: torch.Tensor, generator: torch.Generator, details: dict) -> torch.Tensor:
        side = batch.shape[-1]
        hole = max(1, round(self.params.occlusion_size * side))
        mask, top, left = random_block_mask(batch.shape[0], side, hole, generator, batch.device)
        details.update(hole=hole, top=top, left=left)
        return batch * (1 - mask) + FILL_VALUE * mask

    def _color_shift(self, batch: torch.Tensor, generator: torch.Generator, details: dict) -> torch.Tensor:
        # Offsets in [-s, -s/2] ∪ [s/2, s] per channel, so every shifted image is visibly off.
        draws = uniform((batch.shape[0], batch.shape[1], 2), generator, batch.device)
        sign = torch.where(draws[..., 0] < 0.5, -1.0, 1.0)
        offsets = sign * self.params.color_shift * (0.5 + 0.5 * draws[..., 1])
        details["color_offsets"] = offsets
        return (batch + offsets[:, :, None, None]).clamp(0.0, 1.0)

    def _contrast(self, batch: torch.Tensor, generator: torch.Generator, details: dict) -> torch.Tensor:
        stronger = uniform((batch.shape[0],), generator, batch.device) < 0.5
        factor = torch.where(stronger, 1.0 + self.params.contrast, 1.0 / (1.0 + self.params.contrast))
        details["contrast_factor"] = factor
        mean = batch.mean(dim=(1, 2, 3), keepdim=True)
        return ((batch - mean) * factor.view(-1, 1, 1, 1) + mean).clamp(0.0, 1.0)

    def caption(self, targets: torch.Tensor, details: dict, index: int) -> str:
        target = int(targets[index])
        if target == 0:
            return "unchanged"
        kind = self.params.perturbations[target - 1]
        if kind == "blur":
            return f"blurred, σ={self.params.blur_sigma:g} px"
        if kind == "vertical_flip":
            return "flipped upside down"
        if kind == "occlusion":
            hole = details["hole"]
            return (f"occluded {hole}×{hole} px at row {int(details['top'][index])}, "
                    f"column {int(details['left'][index])}")
        if kind == "color_shift":
            offsets = ", ".join(f"{float(value):+.2f}" for value in details["color_offsets"][index])
            return f"color shifted by RGB ({offsets})"
        return f"contrast ×{float(details['contrast_factor'][index]):.2f}"
