"""The task advisor: rank candidate pretext tasks and metadata proxies before a long run.

Each candidate pretrains a fresh encoder for a few steps on the pool (never
on held-out samples). The labeled pool samples are embedded with it, and a
cross-validated logistic-regression probe scores how well the embeddings
predict the labels. The ranking reports whether the top pick beats the runner-up
by more than the fold-to-fold noise, using the corrected resampled t-test of
Nadeau and Bengio ("Inference for the Generalization Error", Machine Learning
52, 2003), because a plain paired t-test over cross-validation folds is too
confident when the training sets overlap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sslstudio.data.base import DataError, Dataset
from sslstudio.models.base import build_encoder
from sslstudio.tasks.registry import create_task, list_tasks
from sslstudio.training.config import RunConfig, TaskChoice
from sslstudio.training.context import Cancelled, RunContext
from sslstudio.training.events import Finished, Log, Progress, RunResult
from sslstudio.training.strategies.common import embed_samples, plan_labels, pretrained_model
from sslstudio.training.strategies.proxy import MAX_PROXY_CLASSES, train_column_proxy

logger = logging.getLogger(__name__)

DEFAULT_ADVICE_STEPS = 200
# Enough epochs that the step budget, not the epoch count, ends each candidate's pretraining.
ADVICE_EPOCHS = 10_000
SIGNIFICANCE_LEVEL = 0.05
# Metadata columns that identify a sample or its file and so are never proxies.
IDENTITY_COLUMNS = frozenset({"sample_id", "path", "file_name"})


@dataclass(frozen=True)
class Candidate:
    """A candidate of the advisor: a pretext task, a metadata-column proxy, or the untrained encoder as reference."""

    kind: str
    name: str
    task: TaskChoice | None = None
    column: str = ""

    def apply(self, config: RunConfig) -> RunConfig:
        """Return ``config`` changed to a full run of this candidate (the reference leaves it unchanged)."""
        if self.kind == "task" and self.task is not None:
            return config.with_changes(tasks=(self.task,))
        if self.kind == "proxy":
            return config.with_changes(strategy="proxy", proxy_source="column", proxy_column=self.column)
        return config


@dataclass(frozen=True)
class CandidateScore:
    """Cross-validated balanced accuracy of one candidate's probe: per fold, mean, std and seconds taken."""

    candidate: Candidate
    fold_scores: tuple[float, ...] = ()
    seconds: float = 0.0
    error: str = ""

    @property
    def mean(self) -> float:
        return float(np.mean(self.fold_scores)) if self.fold_scores else float("nan")

    @property
    def std(self) -> float:
        return float(np.std(self.fold_scores, ddof=1)) if len(self.fold_scores) > 1 else float("nan")


@dataclass
class Advice:
    """The ranking, best first, and whether the top pick is significantly ahead of the runner-up."""

    scores: list[CandidateScore] = field(default_factory=list)
    significant: bool = False
    p_value: float = float("nan")
    explanation: str = ""
    label_count: int = 0
    folds: int = 0
    status: str = "finished"

    @property
    def top(self) -> Candidate | None:
        ranked = [score for score in self.scores if not score.error]
        return ranked[0].candidate if ranked else None

    def table(self) -> str:
        """Return the ranking as a fixed-width text table followed by the explanation."""
        lines = [f"{'rank':<5}{'candidate':<36}{'kind':<10}{'balanced acc.':>14}{'± std':>8}{'seconds':>9}"]
        for rank, score in enumerate(self.scores, start=1):
            if score.error:
                lines.append(f"{rank:<5}{score.candidate.name:<36}{score.candidate.kind:<10}  failed: {score.error}")
                continue
            lines.append(f"{rank:<5}{score.candidate.name:<36}{score.candidate.kind:<10}{score.mean:>14.3f}"
                         f"{score.std:>8.3f}{score.seconds:>9.1f}")
        return "\n".join(lines + ["", self.explanation])


def default_candidates(dataset: Dataset, label_column: str) -> list[Candidate]:
    """Return every registered task of the dataset's modality, each categorical metadata column, and the reference.

    A task is left out when its default parameters do not fit the data (such
    as next-row prediction on a table without an order column). A column is
    a proxy candidate when it is not the label column or a sample identity
    column and has 2 to ``MAX_PROXY_CLASSES`` distinct values.
    """
    candidates = []
    for cls in list_tasks(dataset.modality):
        try:
            create_task(cls.name, dataset.spec)
        except ValueError as error:
            logger.info("Advisor leaves out %s: %s", cls.name, error)
            continue
        candidates.append(Candidate("task", cls.name, task=TaskChoice(cls.name)))
    for column in dataset.metadata.columns:
        if column in IDENTITY_COLUMNS or column == label_column:
            continue
        distinct = dataset.metadata[column].dropna().nunique()
        if 2 <= distinct <= MAX_PROXY_CLASSES:
            candidates.append(Candidate("proxy", f"column {column}", column=column))
    candidates.append(Candidate("reference", "no pretraining (random encoder)"))
    return candidates


def paired_fold_test(first: Sequence[float], second: Sequence[float]) -> float:
    """Return the one-sided p-value that ``first`` scores higher than ``second`` on the same k folds.

    Uses the corrected resampled t statistic: the variance of the fold
    differences is scaled by ``1/k + 1/(k-1)`` (test over training size for
    k-fold) and the statistic has k-1 degrees of freedom. When every fold
    differs by the same amount the t statistic is undefined, so the exact
    one-sided sign test is used instead: ``0.5**k`` when ``first`` wins every
    fold. Two folds can then never reach p < 0.05.
    """
    differences = np.asarray(first, dtype=float) - np.asarray(second, dtype=float)
    folds = len(differences)
    if folds < 2:
        return float("nan")
    variance = differences.var(ddof=1) * (1.0 / folds + 1.0 / (folds - 1))
    mean = differences.mean()
    if variance == 0:
        return 0.5 ** folds if mean > 0 else 1.0
    statistic = mean / np.sqrt(variance)
    return float(stats.t.sf(statistic, df=folds - 1))


def explain(scores: Sequence[CandidateScore], label_count: int, folds: int) -> tuple[bool, float, str]:
    """Return ``(significant, p_value, explanation)`` for the top two of ``scores`` (ranked)."""
    ranked = [score for score in scores if not score.error]
    if len(ranked) < 2:
        return False, float("nan"), "Fewer than two candidates finished, so there is nothing to rank."
    top, runner_up = ranked[0], ranked[1]
    p_value = paired_fold_test(top.fold_scores, runner_up.fold_scores)
    overlap = top.mean - top.std <= runner_up.mean + runner_up.std
    summary = (f"{top.candidate.name} ({top.mean:.3f} ± {top.std:.3f}) vs {runner_up.candidate.name} "
               f"({runner_up.mean:.3f} ± {runner_up.std:.3f}) over {folds} folds of {label_count} labeled samples: "
               f"corrected paired t-test p = {p_value:.3f}")
    if p_value < SIGNIFICANCE_LEVEL:
        return True, p_value, f"The ranking is significant. {summary}."
    detail = " and their fold spreads overlap" if overlap else ""
    return False, p_value, (f"The ranking is NOT significant: the top two differ by less than the fold-to-fold noise"
                            f"{detail}. {summary}. Treat them as tied; label more samples or pretrain longer "
                            "for a clearer ranking.")


def _encoder_for(candidate: Candidate, config: RunConfig, context: RunContext, pool: Sequence[int]) -> Iterator:
    if candidate.kind == "task":
        plan_config = config.with_changes(tasks=(candidate.task,))
        model, _, _ = yield from pretrained_model(plan_config, context, pool)
        return model.encoder
    if candidate.kind == "proxy":
        proxy_config = config.with_changes(proxy_source="column", proxy_column=candidate.column)
        model, _, _, _ = yield from train_column_proxy(proxy_config, context, pool)
        return model.encoder
    torch.manual_seed(config.seed)
    return build_encoder(context.dataset.spec, config.encoder_size)


def advise(config: RunConfig, context: RunContext, candidates: Sequence[Candidate] | None = None,
           folds: int = 5) -> Iterator:
    """Score each candidate and yield progress; the last event is ``Finished`` with ``extras["advice"]``.

    Each candidate pretrains for ``config.max_pretrain_steps`` steps
    (``DEFAULT_ADVICE_STEPS`` when 0) from the same seed. The probe uses the
    labeled pool samples of ``plan_labels`` (``labels_per_class`` per class)
    in stratified folds shared by all candidates. A cancel stops at the next
    step and returns the candidates scored so far, with status ``cancelled``.

    Raises:
        DataError: if some class has fewer than 2 labeled samples outside the held-out split.
    """
    plan = plan_labels(config, context)
    targets = np.asarray(plan.targets)
    smallest = int(np.bincount(targets).min())
    if smallest < 2:
        raise DataError(f"the advisor needs at least 2 labeled samples per class outside the held-out split for "
                        f"cross-validation; one class has {smallest}. Label more samples.")
    fold_count = min(folds, smallest)
    splitter = StratifiedKFold(n_splits=fold_count, shuffle=True, random_state=config.seed)
    short = config.with_changes(max_pretrain_steps=config.max_pretrain_steps or DEFAULT_ADVICE_STEPS)
    candidates = list(candidates) if candidates is not None else default_candidates(context.dataset, config.label_column)
    yield Log(f"Advisor: {len(candidates)} candidates, {short.max_pretrain_steps} pretraining steps each, "
              f"{fold_count}-fold probe on {len(plan.labeled)} labeled samples")
    scores: list[CandidateScore] = []
    status = "finished"
    try:
        for number, candidate in enumerate(candidates, start=1):
            yield Log(f"Candidate {number}/{len(candidates)}: {candidate.name}")
            started = time.perf_counter()
            try:
                encoder = yield from _encoder_for(candidate, short, context, plan.pool)
            except (ValueError, DataError, FloatingPointError) as error:
                logger.warning("Advisor candidate %s failed: %s", candidate.name, error)
                scores.append(CandidateScore(candidate, error=str(error)))
                continue
            features = yield from embed_samples(encoder, plan.labeled, context, short.batch_size * 4)
            probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
            fold_scores = cross_val_score(probe, features, targets, cv=splitter, scoring="balanced_accuracy")
            score = CandidateScore(candidate, tuple(float(value) for value in fold_scores),
                                   time.perf_counter() - started)
            scores.append(score)
            yield Progress("advise", number, len(candidates), 0, {"mean": score.mean, "std": score.std})
    except Cancelled:
        status = "cancelled"
        yield Log("Advisor cancelled; showing the candidates scored so far", level="warning")
    scores.sort(key=lambda score: (bool(score.error), -score.mean if not score.error else 0.0))
    significant, p_value, explanation = explain(scores, len(plan.labeled), fold_count)
    advice = Advice(scores, significant, p_value, explanation, len(plan.labeled), fold_count, status)
    yield Log(explanation)
    yield Finished(RunResult(status=status, extras={"advice": advice}))
