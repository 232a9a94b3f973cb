"""Video pretext tasks. Batches are N×T×3×S×S float tensors in [0, 1] (clips of square frames)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch.nn import functional

from sslstudio.tasks.base import ClassificationTask, HeadSpec, PretextTask, PreviewItem, TaskParams, param
from sslstudio.tasks.registry import register_task

MAX_SEGMENTS = 5  # 5! = 120 permutation classes; 6 would give 720.


@lru_cache(maxsize=None)
def permutations(count: int) -> torch.Tensor:
    """Return every permutation of ``range(count)`` in lexicographic order (count!×count int64); row 0 is identity."""
    return torch.tensor(list(itertools.permutations(range(count))), dtype=torch.long)


@dataclass(frozen=True)
class OrderParams(TaskParams):
    segments: int = param(4, minimum=2, maximum=MAX_SEGMENTS,
                          help="Parts the clip is cut into and shuffled: single frames, or short runs of frames "
                               "when the clip is longer than this.")
    mode: str = param("permutation", choices=("permutation", "verification"),
                      help="permutation: predict which of the k! orders (k = segments) was applied. "
                           "verification: predict only whether the clip is in order.")


@register_task
class SequenceOrderTask(ClassificationTask):
    """Shuffle the segments of a clip and predict the order (or only whether it is in order).

    Misra, Zitnick and Hebert, "Shuffle and Learn: Unsupervised Learning using
    Temporal Order Verification", ECCV 2016 (verification); Lee, Huang, Singh
    and Yang, "Unsupervised Representation Learning by Sorting Sequences",
    ICCV 2017 (permutation).
    """

    name = "video.order"
    title = "Sequence ordering"
    description = ("Each clip is cut into a few parts that are shuffled, and the model predicts the order they were "
                   "shuffled in, or in verification mode only whether the clip plays forward. To do so it must learn "
                   "how things change over time: which way a motion goes, how a scene evolves, how a tissue responds "
                   "over the minutes after a reagent is applied.")
    Params = OrderParams
    default = True

    def check_spec(self, spec) -> None:
        clip_length = spec.shape[0]
        if self.params.segments > clip_length:
            raise ValueError(f"segments={self.params.segments} is out of range for clips of {clip_length} frames; "
                             f"valid range is 2 to {min(clip_length, MAX_SEGMENTS)}")

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        return math.factorial(self.params.segments) if self.params.mode == "permutation" else 2

    def shuffle(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Shuffle the segments of each clip.

        Returns:
            inputs N×(k·L)×3×S×S, targets N (int64), and order N×k: segment
            ``order[n, j]`` of the original clip is shown at position j.
        """
        count, clip_length = batch.shape[:2]
        segments = self.params.segments
        run = clip_length // segments
        table = permutations(segments).to(batch.device)
        if self.params.mode == "permutation":
            targets = torch.randint(len(table), (count,), generator=generator, device=generator.device).to(batch.device)
            order = table[targets]
        else:
            in_order = torch.randint(2, (count,), generator=generator, device=generator.device).to(batch.device)
            # Row 0 is the identity, so 1..k!-1 is always a real shuffle.
            shuffled = torch.randint(1, len(table), (count,), generator=generator, device=generator.device)
            order = torch.where(in_order[:, None].bool(), table[0], table[shuffled.to(batch.device)])
            targets = in_order
        parts = batch[:, :segments * run].reshape(count, segments, run, *batch.shape[2:])
        inputs = parts[torch.arange(count, device=batch.device)[:, None], order]
        return inputs.reshape(count, segments * run, *batch.shape[2:]), targets, order

    def generate(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Return shuffled clips N×(k·L)×3×S×S and targets N: the permutation index, or 1 for in order."""
        inputs, targets, _ = self.shuffle(batch, generator)
        return inputs, targets

    def preview(self, batch: torch.Tensor, generator: torch.Generator) -> list[PreviewItem]:
        """Show each shuffled clip; the target is the true position (from 0) of every shown frame."""
        inputs, targets, order = self.shuffle(batch, generator)
        run = inputs.shape[1] // self.params.segments
        positions = (order[:, :, None] * run + torch.arange(run, device=order.device)).flatten(1)
        items = []
        for index in range(len(targets)):
            if self.params.mode == "permutation":
                caption = f"order {' '.join(str(int(part)) for part in order[index])}"
            else:
                caption = "in order" if int(targets[index]) else "shuffled"
            items.append(PreviewItem(inputs[index], positions[index], caption))
        return items


@dataclass(frozen=True)
class NextFrameParams(TaskParams):
    context: int = param(3, minimum=1, maximum=255, help="Frames the model sees before the one it predicts.")
    target: str = param("frame", choices=("frame", "pooled"),
                        help="frame: predict every pixel of the next frame. pooled: predict its colours averaged "
                             "over a grid × grid layout, which asks for the coarse motion only.")
    grid: int = param(4, minimum=1, maximum=32, help="Cells per side of the pooled target.")


@register_task
class NextFrameTask(PretextTask):
    """Predict the next frame of a clip (its pixels, or its grid-pooled colours) from the frames before it.

    Srivastava, Mansimov and Salakhutdinov, "Unsupervised Learning of Video
    Representations using LSTMs", ICML 2015 (future-frame prediction).
    """

    name = "video.next_frame"
    title = "Next-frame prediction"
    description = ("The model sees a few consecutive frames and predicts the one that follows. To do so it must "
                   "learn what moves, in which direction and how fast: a cell that divides, a wound that closes, "
                   "a car that turns.")
    Params = NextFrameParams
    primary_metric = "loss"

    def check_spec(self, spec) -> None:
        clip_length, size = spec.shape[0], spec.shape[-1]
        if self.params.context >= clip_length:
            raise ValueError(f"context={self.params.context} is out of range for clips of {clip_length} frames; "
                             f"valid range is 1 to {clip_length - 1}")
        if self.params.target == "pooled" and self.params.grid > size:
            raise ValueError(f"grid={self.params.grid} is out of range for {size}-pixel frames; "
                             f"valid range is 1 to {size}")

    @property
    def head(self) -> HeadSpec:
        if self.params.target == "frame":
            return HeadSpec("dense", 3)
        return HeadSpec("regression", 3 * self.params.grid ** 2)

    def split(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Return context clips N×C×3×S×S and the frame after each, N×3×S×S, from a random start per clip."""
        count, clip_length = batch.shape[:2]
        context = self.params.context
        starts = torch.randint(clip_length - context, (count,), generator=generator, device=generator.device)
        frames = starts.to(batch.device)[:, None] + torch.arange(context + 1, device=batch.device)
        window = batch[torch.arange(count, device=batch.device)[:, None], frames]
        return window[:, :context], window[:, context]

    def generate(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Return context clips N×C×3×S×S and targets: N×3×S×S frames, or N×(3·grid²) pooled colours."""
        inputs, following = self.split(batch, generator)
        if self.params.target == "frame":
            return inputs, following
        return inputs, functional.adaptive_avg_pool2d(following, self.params.grid).flatten(1)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return functional.mse_loss(outputs, targets)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """Return the mean squared error and the PSNR in dB (targets in [0, 1], so the peak is 1)."""
        error = float(functional.mse_loss(outputs, targets))
        return {"loss": error, "psnr": 10.0 * math.log10(1.0 / max(error, 1e-10))}

    def preview(self, batch: torch.Tensor, generator: torch.Generator) -> list[PreviewItem]:
        """Show the context frames with the true next frame as the target."""
        inputs, following = self.split(batch, generator)
        return [PreviewItem(inputs[index], following[index], f"{self.params.context} frames → next frame")
                for index in range(len(inputs))]
