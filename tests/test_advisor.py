"""The task advisor on digits whose labels are their orientation, where rotation must be the top pick."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from sslstudio.data.base import DataError
from sslstudio.data.image import ImageFolderDataset
from sslstudio.data.report import ImportReport
from sslstudio.evaluation.advisor import (Candidate, CandidateScore, advise, default_candidates, explain,
                                          paired_fold_test)
from sslstudio.evaluation.splits import holdout_mask
from sslstudio.training.config import RunConfig, TaskChoice
from sslstudio.training.context import RunContext

ROTATION = Candidate("task", "image.rotation", task=TaskChoice("image.rotation"))
NOISE = Candidate("proxy", "column noise", column="noise")


def oriented_digits(digits, count: int = 600, labeled_fraction: float = 0.5, image_size: int = 8):
    """Digits where a labeled half is turned by 0/90/180/270° and labeled by that angle; the rest stay upright.

    The ``noise`` column is a random category per sample: a metadata proxy unrelated to the label.
    """
    rng = np.random.default_rng(0)
    pixels = torch.nn.functional.interpolate(digits.pixels[:count].float(), size=(image_size, image_size),
                                             mode="area").round().to(torch.uint8).numpy()
    labeled = rng.random(count) < labeled_fraction
    turns = np.where(labeled, rng.integers(0, 4, count), 0)
    pixels = np.stack([np.rot90(image, turn, axes=(1, 2)) for image, turn in zip(pixels, turns)])
    ids = [f"img{index:04d}.png" for index in range(count)]
    metadata = pd.DataFrame({"sample_id": ids, "file_name": ids,
                             "orientation": [f"{turn * 90}" if flag else None for turn, flag in zip(turns, labeled)],
                             "noise": [f"n{value}" for value in rng.integers(0, 4, count)]})
    return ImageFolderDataset(np.ascontiguousarray(pixels), ids, metadata, ImportReport(), "oriented digits")


@pytest.fixture(scope="module")
def ranking(digits):
    """Advice on the oriented digits, and every sample index the advisor fetched."""
    dataset = oriented_digits(digits)
    fetched: set[int] = set()
    original = dataset.batch

    def recording_batch(indices, device="cpu"):
        fetched.update(int(index) for index in indices)
        return original(indices, device)

    dataset.batch = recording_batch
    config = RunConfig(max_pretrain_steps=80, pretrain_epochs=50, batch_size=32, labels_per_class=25,
                       label_column="orientation")
    context = RunContext(dataset=dataset, labels=dataset.label_column("orientation"))
    events = list(advise(config, context, [NOISE, ROTATION]))
    return events[-1].result.extras["advice"], fetched, dataset


def test_advisor_ranks_rotation_first(ranking):
    advice = ranking[0]
    assert advice.top == ROTATION


def test_advisor_rotation_beats_noise(ranking):
    scores = {score.candidate.name: score for score in ranking[0].scores}
    assert scores["image.rotation"].mean > scores["column noise"].mean


def test_advisor_reports_spread_and_time(ranking):
    for score in ranking[0].scores:
        assert len(score.fold_scores) == 5
        assert score.std >= 0.0
        assert score.seconds > 0.0


def test_advisor_never_fetches_holdout(ranking):
    _, fetched, dataset = ranking
    held_out = set(np.flatnonzero(holdout_mask(dataset.ids, 0.2)).tolist())
    assert fetched.isdisjoint(held_out)


def test_advisor_table_lists_candidates(ranking):
    table = ranking[0].table()
    assert "image.rotation" in table
    assert "column noise" in table


def test_advisor_needs_two_labels_per_class(digits):
    dataset = oriented_digits(digits, count=200)
    config = RunConfig(labels_per_class=1, label_column="orientation", max_pretrain_steps=1)
    context = RunContext(dataset=dataset, labels=dataset.label_column("orientation"))
    with pytest.raises(DataError, match="at least 2 labeled samples per class"):
        list(advise(config, context, [ROTATION]))


def test_advisor_cancel_keeps_partial(digits):
    dataset = oriented_digits(digits, count=200)
    context = RunContext(dataset=dataset, labels=dataset.label_column("orientation"))
    context.cancel.set()
    config = RunConfig(labels_per_class=3, label_column="orientation", max_pretrain_steps=1)
    advice = list(advise(config, context, [ROTATION]))[-1].result.extras["advice"]
    assert advice.status == "cancelled"
    assert advice.scores == []


def test_default_candidates(digits):
    dataset = oriented_digits(digits, count=40)
    names = [candidate.name for candidate in default_candidates(dataset, "orientation")]
    assert "image.rotation" in names
    assert "column noise" in names
    assert "column file_name" not in names
    assert names[-1].startswith("no pretraining")


def test_candidate_apply_proxy():
    config = NOISE.apply(RunConfig())
    assert (config.strategy, config.proxy_source, config.proxy_column) == ("proxy", "column", "noise")


def test_paired_fold_test_consistent_win():
    assert paired_fold_test([0.9, 0.8, 0.85, 0.9, 0.95], [0.5, 0.45, 0.5, 0.55, 0.5]) < 0.01


def test_paired_fold_test_tie():
    assert paired_fold_test([0.5, 0.6, 0.7], [0.5, 0.6, 0.7]) == 1.0


def test_paired_fold_test_equal_wins_on_two_folds():
    """Two folds won by the same margin are no evidence: the sign test gives 0.25."""
    assert paired_fold_test([0.75, 0.75], [0.5, 0.5]) == 0.25


def test_paired_fold_test_equal_wins_on_five_folds():
    assert paired_fold_test([0.8] * 5, [0.7] * 5) == 0.5 ** 5


def test_explain_two_equal_folds_not_significant():
    first = CandidateScore(ROTATION, (0.75, 0.75))
    second = CandidateScore(NOISE, (0.5, 0.5))
    significant, _, text = explain([first, second], label_count=8, folds=2)
    assert not significant
    assert "NOT significant" in text


def test_explain_flags_noisy_ranking():
    first = CandidateScore(ROTATION, (0.6, 0.4, 0.7, 0.5, 0.5))
    second = CandidateScore(NOISE, (0.5, 0.5, 0.6, 0.5, 0.4))
    significant, p_value, text = explain([first, second], label_count=20, folds=5)
    assert not significant
    assert p_value > 0.05
    assert "NOT significant" in text


def test_candidates_leave_out_unfit_tasks():
    from sslstudio.data.samples import get_sample

    names = [candidate.name for candidate in default_candidates(get_sample("penguins").open(), "species")]
    assert "tabular.next_value" not in names
    assert "tabular.imputation" in names
