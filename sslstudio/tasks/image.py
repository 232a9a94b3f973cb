"""Image pretext tasks. Batches are N×3×H×W float tensors in [0, 1] (square images)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sslstudio.tasks.base import ClassificationTask, PreviewItem, TaskParams, param
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
