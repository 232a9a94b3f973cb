"""The label-efficiency curve: held-out metric against labels per class, pretrained vs scratch, over seeds.

For each seed the encoder is pretrained once on the pool. Then, for each
label count, a copy is fine-tuned as in the transfer strategy, and a model of
the same shape is trained from scratch on the same labeled samples. Each seed
draws its own labeled samples, so the spread covers both the initialization
and the choice of labels.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from sslstudio.models.base import build_encoder
from sslstudio.models.model import SSLModel
from sslstudio.training.config import RunConfig
from sslstudio.training.context import RunContext
from sslstudio.training.events import Finished, Log, RunResult
from sslstudio.training.loop import fit_classifier
from sslstudio.training.strategies.common import evaluate, plan_labels, pretrained_model, train_scratch_baseline
from sslstudio.training.strategies.transfer import ENCODER_LR_SCALE

logger = logging.getLogger(__name__)

DEFAULT_COUNTS = (1, 2, 5, 10, 0)
DEFAULT_SEEDS = (0, 1, 2)


@dataclass
class CurvePoint:
    """One label count: the metric of each seed for the pretrained and the scratch model."""

    labels_per_class: int
    labeled_count: int
    pretrained: list[float] = field(default_factory=list)
    scratch: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "all" if self.labels_per_class == 0 else str(self.labels_per_class)

    @staticmethod
    def _spread(values: Sequence[float]) -> tuple[float, float]:
        if not values:
            return float("nan"), float("nan")
        return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0

    def pretrained_summary(self) -> tuple[float, float]:
        """Return the mean and the sample standard deviation over seeds of the pretrained model's metric."""
        return self._spread(self.pretrained)

    def scratch_summary(self) -> tuple[float, float]:
        """Return the mean and the sample standard deviation over seeds of the scratch model's metric."""
        return self._spread(self.scratch)


@dataclass
class LabelEfficiency:
    """The whole curve: one point per label count, in the order of the requested counts."""

    metric: str
    seeds: tuple[int, ...]
    points: list[CurvePoint] = field(default_factory=list)

    def markdown(self) -> str:
        """Return the curve as a markdown table: mean ± standard deviation over seeds."""
        lines = [f"| labels per class | labeled samples | pretrained {self.metric} | scratch {self.metric} |",
                 "|---|---|---|---|"]
        for point in self.points:
            pretrained_mean, pretrained_std = point.pretrained_summary()
            scratch_mean, scratch_std = point.scratch_summary()
            lines.append(f"| {point.name} | {point.labeled_count} | {pretrained_mean:.3f} ± {pretrained_std:.3f} "
                         f"| {scratch_mean:.3f} ± {scratch_std:.3f} |")
        return "\n".join(lines)


def label_efficiency_curve(config: RunConfig, context: RunContext, counts: Sequence[int] = DEFAULT_COUNTS,
                           seeds: Sequence[int] = DEFAULT_SEEDS, metric: str = "accuracy") -> Iterator:
    """Yield progress while computing the curve; the last event is ``Finished`` with ``extras["curve"]``.

    ``counts`` are labeled samples per class, 0 meaning every labeled sample
    outside the held-out split. A class with fewer labels than a count
    contributes all of its labels.

    Raises:
        DataError: from ``plan_labels`` when the labels cannot be split.
        KeyError: if ``metric`` is not a key of ``classification_metrics``.
    """
    curve = LabelEfficiency(metric, tuple(seeds))
    points: dict[int, CurvePoint] = {}
    for seed in seeds:
        seeded = config.with_changes(seed=seed)
        pool_plan = plan_labels(seeded.with_changes(labels_per_class=0), context)
        yield Log(f"Seed {seed}: pretraining once on {len(pool_plan.pool)} samples")
        model, _, _ = yield from pretrained_model(seeded, context, pool_plan.pool)
        pretrained_state = copy.deepcopy(model.encoder.state_dict())
        for count in counts:
            plan = plan_labels(seeded.with_changes(labels_per_class=count), context)
            point = points.setdefault(count, CurvePoint(count, len(plan.labeled)))
            run_config = seeded.with_changes(labels_per_class=count)
            torch.manual_seed(seed)
            tuned = SSLModel(build_encoder(context.dataset.spec, config.encoder_size))
            tuned.encoder.load_state_dict(pretrained_state)
            tuned.add_classifier(len(plan.class_names))
            yield from fit_classifier(tuned, plan.labeled, plan.targets, run_config, context, phase="finetune",
                                      encoder_lr_scale=ENCODER_LR_SCALE)
            point.pretrained.append(float(evaluate(tuned, plan, context, run_config)[metric]))
            _, scratch_metrics = yield from train_scratch_baseline(run_config, context, plan)
            point.scratch.append(float(scratch_metrics[metric]))
            yield Log(f"Seed {seed}, {point.name} labels per class: pretrained {point.pretrained[-1]:.3f}, "
                      f"scratch {point.scratch[-1]:.3f}")
    curve.points = [points[count] for count in counts if count in points]
    yield Finished(RunResult(status="finished", extras={"curve": curve}))
