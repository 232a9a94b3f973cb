"""Time-series pretext tasks. Batches are ``(values, mask)`` pairs, both N×C×L float32 (mask 1 = observed).

Every task keeps the pair form for its inputs, so the encoder always sees
which steps are real. A series' length is its last observed step plus one;
padding after it is never corrupted, shuffled or forecast.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch.nn import functional

from sslstudio.tasks.base import ClassificationTask, HeadSpec, PretextTask, PreviewItem, TaskParams, param
from sslstudio.tasks.registry import register_task

Batch = tuple[torch.Tensor, torch.Tensor]
OUTLIER_KINDS = ("spike", "level_shift", "dropout")


def series_lengths(mask: torch.Tensor) -> torch.Tensor:
    """Return N int64 lengths: the index of the last step observed in any channel, plus one."""
    present = mask.amax(dim=1) > 0
    steps = torch.arange(1, mask.shape[-1] + 1, device=mask.device)
    return (present * steps).amax(dim=1)


def _uniform(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def _integers(high: int, shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randint(high, shape, generator=generator, device=generator.device).to(device)


def _min_length(spec) -> int:
    return int(spec.extra.get("min_length", spec.shape[-1]))


def _masked_nan(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask > 0, values, torch.full_like(values, float("nan")))


def _masked_std(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return the N×C standard deviation of each channel over its observed steps."""
    count = mask.sum(dim=2).clamp_min(1.0)
    mean = (values * mask).sum(dim=2) / count
    return ((((values - mean[:, :, None]) * mask) ** 2).sum(dim=2) / count).sqrt()


@dataclass(frozen=True)
class OutlierParams(TaskParams):
    kinds: tuple[str, ...] = param(OUTLIER_KINDS, choices=OUTLIER_KINDS,
                                   help="Corruptions to inject: single-step spikes, level shifts over a run of "
                                        "steps, dropouts (a run of steps reads 0).")
    max_events: int = param(3, minimum=1, maximum=32, help="Corruptions per series: 1 to this many.")
    magnitude: float = param(3.0, minimum=0.5, maximum=20.0,
                             help="Size of spikes and level shifts, in standard deviations of the series (×0.5–1.5).")
    max_width: int = param(10, minimum=1, maximum=10_000, help="Maximum length of a level shift or dropout, in steps.")
    repair: bool = param(False, help="Also predict the clean value of every corrupted step.")


@register_task
class OutlierTask(PretextTask):
    """Find the time steps where spikes, level shifts or dropouts were injected, and optionally repair them.

    Targets are N×(1+C)×L: row 0 is 1.0 at corrupted steps, 0.0 at clean ones
    and -1.0 after the end of the series; rows 1..C are the clean values (NaN
    where nothing was observed). The head outputs one logit per step, plus C
    repaired values per step when ``repair`` is on.
    """

    name = "timeseries.outliers"
    title = "Outlier removal"
    description = ("Spikes, level shifts and dropouts are injected at random steps; the model marks which steps were "
                   "corrupted (and, as an option, repairs them). It must learn what a normal stretch of the signal "
                   "looks like.")
    Params = OutlierParams
    primary_metric = "f1"
    default = True

    def check_spec(self, spec) -> None:
        if not self.params.kinds:
            raise ValueError(f"kinds={self.params.kinds!r} is invalid; choose one or more of {', '.join(OUTLIER_KINDS)}")
        shortest = _min_length(spec)
        if self.params.max_width >= shortest:
            raise ValueError(f"max_width={self.params.max_width} is out of range for this data; valid range is 1 to "
                             f"{max(1, shortest - 1)} (the shortest series has {shortest} steps)")

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("token", 1 + (self.spec.shape[0] if self.params.repair else 0))

    def generate(self, batch: Batch, generator: torch.Generator) -> tuple[Batch, torch.Tensor]:
        """Inject 1 to ``max_events`` corruptions per series, each in one random channel.

        Returns ``((corrupted values, mask), targets)``, see the class docstring.
        """
        values, mask = batch
        count, channels, steps = values.shape
        device = values.device
        events = self.params.max_events
        lengths = series_lengths(mask)
        active = torch.arange(events, device=device) < (1 + _integers(events, (count, 1), generator, device))
        kind_codes = torch.tensor([OUTLIER_KINDS.index(kind) for kind in self.params.kinds], device=device)
        kinds = kind_codes[_integers(len(self.params.kinds), (count, events), generator, device)]
        widths = 1 + (_uniform((count, events), generator, device) * self.params.max_width).long()
        widths = torch.where(kinds == OUTLIER_KINDS.index("spike"), torch.ones_like(widths), widths)
        widths = torch.minimum(widths, lengths[:, None])
        starts = (_uniform((count, events), generator, device) * (lengths[:, None] - widths + 1)).long()
        channel = _integers(channels, (count, events), generator, device)
        signs = _integers(2, (count, events), generator, device) * 2 - 1
        sizes = self.params.magnitude * (0.5 + _uniform((count, events), generator, device)) * signs

        observed = mask > 0
        spread = _masked_std(values, mask)
        spread = torch.where(spread > 0, spread, torch.ones_like(spread))
        position = torch.arange(steps, device=device)
        corrupted = values.clone()
        flags = torch.zeros(count, steps, dtype=torch.bool, device=device)
        for event in range(events):
            span = (position >= starts[:, event, None]) & (position < (starts + widths)[:, event, None])
            span &= active[:, event, None]
            in_channel = functional.one_hot(channel[:, event], channels).bool()
            region = in_channel[:, :, None] & span[:, None, :] & observed
            dropout = (kinds[:, event] == OUTLIER_KINDS.index("dropout"))[:, None, None]
            offset = (sizes[:, event, None] * spread.gather(1, channel[:, event, None]))[:, :, None]
            corrupted = torch.where(region & dropout, torch.zeros_like(corrupted), corrupted)
            corrupted = torch.where(region & ~dropout, corrupted + offset, corrupted)
            flags |= region.any(dim=1)
        valid = position[None, :] < lengths[:, None]
        flag_row = torch.where(valid, flags.float(), torch.full_like(flags, -1, dtype=torch.float32))
        targets = torch.cat([flag_row[:, None, :], _masked_nan(values, mask)], dim=1)
        return (corrupted, mask), targets

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        flags = targets[:, 0]
        valid = flags >= 0
        loss = functional.binary_cross_entropy_with_logits(outputs[:, 0][valid], flags[valid])
        if self.params.repair:
            clean = targets[:, 1:]
            repaired = (flags > 0)[:, None, :] & torch.isfinite(clean)
            if repaired.any():
                loss = loss + functional.mse_loss(outputs[:, 1:][repaired], clean[repaired])
        return loss

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """Return step accuracy and precision, recall and F1 of the corrupted steps."""
        flags = targets[:, 0]
        valid = flags >= 0
        truth = flags[valid] > 0
        predicted = outputs[:, 0][valid] > 0
        hits = float((truth & predicted).sum())
        precision = hits / max(float(predicted.sum()), 1.0)
        recall = hits / max(float(truth.sum()), 1.0)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        result = {"accuracy": float((truth == predicted).float().mean()), "precision": precision, "recall": recall,
                  "f1": f1}
        if self.params.repair:
            clean = targets[:, 1:]
            repaired = (flags > 0)[:, None, :] & torch.isfinite(clean)
            if repaired.any():
                result["repair_mse"] = float(functional.mse_loss(outputs[:, 1:][repaired], clean[repaired]))
        return result

    def preview(self, batch: Batch, generator: torch.Generator) -> list[PreviewItem]:
        (corrupted, mask), targets = self.generate(batch, generator)
        items = []
        for index in range(len(targets)):
            flags = targets[index, 0] > 0
            target = {"original": batch[0][index], "marked_steps": flags}
            items.append(PreviewItem((corrupted[index], mask[index]), target,
                                     f"{int(flags.sum())} corrupted steps (red)"))
        return items


@dataclass(frozen=True)
class ForecastParams(TaskParams):
    horizon: int = param(8, minimum=1, maximum=4096, help="Steps to forecast after the end of the context.")
    min_context: float = param(0.5, minimum=0.05, maximum=0.95,
                               help="Shortest context, as a fraction of the series length.")


@register_task
class ForecastTask(PretextTask):
    """Forecast the next ``horizon`` values of every channel from the series up to a random step.

    Inputs keep the steps before the forecast point t and mask the rest;
    targets are N×C×h with NaN where the future value was not observed. The
    head regresses C·h values from the pooled features; the loss is the mean
    squared error over observed targets.

    NOTE: the pooled features (mean and maximum over steps) do not say where
    the context ends, so the head must infer the cut from the signal itself.
    """

    name = "timeseries.forecast"
    title = "Next-step forecast"
    description = ("The series is cut at a random step and the model predicts the next few values. It must learn the "
                   "dynamics of the signal: trends, cycles and how one phase leads to the next.")
    Params = ForecastParams
    primary_metric = "loss"

    def check_spec(self, spec) -> None:
        shortest = _min_length(spec)
        if self.params.horizon > shortest - 1:
            raise ValueError(f"horizon={self.params.horizon} is out of range for this data; valid range is 1 to "
                             f"{max(1, shortest - 1)} (the shortest series has {shortest} steps)")

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("regression", self.spec.shape[0] * self.params.horizon)

    def forecast_points(self, mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return N int64 forecast points t: context is steps [0, t), the target steps [t, t + horizon)."""
        horizon = self.params.horizon
        lengths = series_lengths(mask)
        low = torch.ceil(lengths * self.params.min_context).long().clamp_min(1)
        high = torch.maximum(lengths - horizon, low)
        points = low + (_uniform((len(lengths),), generator, mask.device) * (high - low + 1)).long()
        return points.clamp(max=mask.shape[-1] - horizon)

    def generate(self, batch: Batch, generator: torch.Generator) -> tuple[Batch, torch.Tensor]:
        """Return ``((values, mask) up to t, targets N×C×horizon)``."""
        return self.cut(batch, self.forecast_points(batch[1], generator))

    def cut(self, batch: Batch, points: torch.Tensor) -> tuple[Batch, torch.Tensor]:
        """Split each series at ``points`` (N int64) into the masked context and the N×C×horizon targets."""
        values, mask = batch
        position = torch.arange(values.shape[-1], device=values.device)
        keep = (position[None, :] < points[:, None]).float()[:, None, :]
        future = (points[:, None] + torch.arange(self.params.horizon, device=values.device))[:, None, :]
        future = future.expand(-1, values.shape[1], -1)
        targets = _masked_nan(values.gather(2, future), mask.gather(2, future))
        return (values * keep, mask * keep), targets

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        predicted = outputs.view_as(targets)
        known = torch.isfinite(targets)
        if not known.any():
            return predicted.sum() * 0.0
        return functional.mse_loss(predicted[known], targets[known])

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        predicted = outputs.view_as(targets)
        known = torch.isfinite(targets)
        error = (predicted - targets)[known]
        if error.numel() == 0:
            return {"loss": float("nan"), "mae": float("nan")}
        return {"loss": float(error.pow(2).mean()), "mae": float(error.abs().mean())}

    def preview(self, batch: Batch, generator: torch.Generator) -> list[PreviewItem]:
        points = self.forecast_points(batch[1], generator)
        (context, context_mask), targets = self.cut(batch, points)
        items = []
        for index in range(len(targets)):
            start = int(points[index])
            target = {"original": batch[0][index], "horizon": (start, start + self.params.horizon),
                      "future": targets[index]}
            items.append(PreviewItem((context[index], context_mask[index]), target,
                                     f"forecast steps {start}–{start + self.params.horizon - 1} (shaded)"))
        return items


@dataclass(frozen=True)
class ReorderParams(TaskParams):
    segments: int = param(3, minimum=2, maximum=5,
                          help="Segments the series is cut into; the model chooses among segments! orders.")


def segment_permutations(count: int) -> torch.Tensor:
    """Return every order of ``count`` segments, (count!)×count int64, in lexicographic order (identity first)."""
    return torch.tensor(list(itertools.permutations(range(count))), dtype=torch.long)


def reorder_segments(values: torch.Tensor, mask: torch.Tensor, orders: torch.Tensor) -> Batch:
    """Cut each series into k equal segments and place original segment ``orders[i, j]`` at position j.

    ``orders`` is N×k. Segments are ``length // k`` steps long; the remainder
    at the end of a series and its padding stay in place. Applying the inverse
    order (``orders.argsort(dim=1)``) restores the series.
    """
    count, channels, steps = values.shape
    segments = orders.shape[1]
    size = (series_lengths(mask) // segments)[:, None]
    position = torch.arange(steps, device=values.device)[None, :].expand(count, -1)
    slot = torch.div(position, size.clamp_min(1), rounding_mode="floor").clamp(max=segments - 1)
    inside = position < size * segments
    source = orders.gather(1, slot) * size + (position - slot * size)
    source = torch.where(inside, source, position)[:, None, :].expand(-1, channels, -1)
    return values.gather(2, source), mask.gather(2, source)


@register_task
class ReorderTask(ClassificationTask):
    """Cut the series into k segments, shuffle them, and predict which of the k! orders was applied.

    The target indexes ``segment_permutations(k)``; order ``p`` puts original
    segment ``p[j]`` at position j.

    NOTE: the cuts leave jumps in the signal that the model can use to find
    the segment ends; on GunPoint it reaches about 98% accuracy within 80
    steps, so the task may teach less about shape than its accuracy suggests.
    """

    name = "timeseries.reorder"
    title = "Segment re-ordering"
    description = ("The series is cut into a few segments that are shuffled; the model predicts their order. It must "
                   "learn how a signal unfolds over time, which phase comes first and which follows.")
    Params = ReorderParams
    default = True

    def check_spec(self, spec) -> None:
        shortest = _min_length(spec)
        if self.params.segments * 2 > shortest:
            raise ValueError(f"segments={self.params.segments} is out of range for this data; valid range is 2 to "
                             f"{max(2, min(5, shortest // 2))} (each segment needs 2 steps, the shortest series has "
                             f"{shortest})")

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        return math.factorial(self.params.segments)

    def generate(self, batch: Batch, generator: torch.Generator) -> tuple[Batch, torch.Tensor]:
        """Return ``((shuffled values, mask), targets N)`` with int64 targets indexing ``segment_permutations``."""
        values, mask = batch
        targets = _integers(self.num_classes, (values.shape[0],), generator, values.device)
        orders = segment_permutations(self.params.segments).to(values.device)[targets]
        return reorder_segments(values, mask, orders), targets

    def preview(self, batch: Batch, generator: torch.Generator) -> list[PreviewItem]:
        (shuffled, mask), targets = self.generate(batch, generator)
        orders = segment_permutations(self.params.segments)[targets.cpu()]
        sizes = (series_lengths(batch[1]) // self.params.segments).cpu()
        items = []
        for index in range(len(targets)):
            size = int(sizes[index])
            numbers = [int(number) + 1 for number in orders[index]]
            spans = [(slot * size, (slot + 1) * size, numbers[slot]) for slot in range(self.params.segments)]
            target = {"original": batch[0][index], "segments": spans}
            items.append(PreviewItem((shuffled[index], mask[index]), target,
                                     f"segment order {', '.join(map(str, numbers))}"))
        return items
