"""A short real transfer run on the bundled video clips with both video tasks."""

from __future__ import annotations

import pytest
import torch

from sslstudio.data.samples import get_sample
from sslstudio.training.config import RunConfig, TaskChoice
from sslstudio.training.events import Finished, Progress
from sslstudio.workflow import start_run


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    sample = get_sample("clips")
    dataset = sample.open(image_size=16)
    config = RunConfig(tasks=(TaskChoice("video.order"), TaskChoice.make("video.next_frame", {"context": 3})),
                       pretrain_epochs=1, max_pretrain_steps=2, finetune_steps=4, batch_size=8, baseline=False,
                       label_column=sample.label_column, device="cpu")
    events = list(start_run(config, dataset, dataset.label_column(sample.label_column),
                            tmp_path_factory.mktemp("run")))
    return events


def test_run_finishes(finished_run):
    assert finished_run[-1].result.status == "finished"


def test_run_reports_accuracy(finished_run):
    accuracy = finished_run[-1].result.pretrained["accuracy"]
    assert 0.0 <= accuracy <= 1.0


def test_run_trains_both_tasks(finished_run):
    pretrain = [event for event in finished_run if isinstance(event, Progress) and event.phase == "pretrain"]
    assert len(pretrain) == 2
    assert {"video.order/accuracy", "video.next_frame/psnr"} <= set(pretrain[-1].metrics)


def test_run_classes_are_videos(finished_run):
    result = [event for event in finished_run if isinstance(event, Finished)][0].result
    assert result.class_names == ["bigbuckbunny", "bikes", "carphone_pristine"]


def test_run_pretext_loss_finite(finished_run):
    pretrain = [event for event in finished_run if isinstance(event, Progress) and event.phase == "pretrain"]
    assert all(torch.isfinite(torch.tensor(event.metrics["loss"])) for event in pretrain)
