"""Tiny real training runs on the bundled digits."""

from __future__ import annotations

import threading

import torch

from sslstudio.models.base import build_encoder
from sslstudio.models.model import SSLModel
from sslstudio.training.checkpoints import load_checkpoint
from sslstudio.training.config import RunConfig
from sslstudio.training.context import RunContext
from sslstudio.training.events import Finished, Log, Progress
from sslstudio.training.loop import build_tasks, pretrain
from sslstudio.training.records import MetricsLog, read_metrics
from sslstudio.training.strategies import run_strategy


def test_pretext_loss_falls(digits):
    torch.manual_seed(0)
    config = RunConfig(batch_size=64, seed=0)
    context = RunContext(digits, digits.label_column("folder"))
    tasks = build_tasks(config, digits)
    model = SSLModel(build_encoder(digits.spec, "small"), tasks)
    events = list(pretrain(model, tasks, [1.0], list(range(0, 1797, 3)), config, context, epochs=3))
    losses = [event.metrics["loss"] for event in events]
    assert len(losses) == 27
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5
    assert events[-1].metrics["image.rotation/accuracy"] > 0.5


def test_transfer_run_end_to_end(digits, tmp_path):
    config = RunConfig(pretrain_epochs=1, max_pretrain_steps=6, finetune_steps=10, batch_size=32, seed=3)
    context = RunContext(digits, digits.label_column("folder"), run_dir=tmp_path)
    events = list(run_strategy(config, context))
    result = events[-1].result
    assert isinstance(events[-1], Finished)
    assert result.status == "finished"
    assert result.class_names == [str(digit) for digit in range(10)]
    assert result.extras["label_counts"] == {str(digit): 5 for digit in range(10)}
    assert 0.0 <= result.pretrained["accuracy"] <= 1.0
    assert result.pretrained["count"] == result.scratch["count"] == result.extras["holdout_count"]
    phases = {event.phase for event in events if isinstance(event, Progress)}
    assert phases == {"pretrain", "finetune", "scratch"}
    rows = read_metrics(tmp_path / "metrics.csv")
    assert {row["phase"] for row in rows} == phases
    checkpoint = load_checkpoint(tmp_path / "checkpoints" / "finetune.pt")
    assert checkpoint["step"] == 10


def test_same_seed_same_result(digits):
    config = RunConfig(pretrain_epochs=1, max_pretrain_steps=3, finetune_steps=3, batch_size=16, seed=7,
                       baseline=False)
    first = list(run_strategy(config, RunContext(digits, digits.label_column("folder"))))
    second = list(run_strategy(config, RunContext(digits, digits.label_column("folder"))))
    first_losses = [event.metrics["loss"] for event in first if isinstance(event, Progress)]
    second_losses = [event.metrics["loss"] for event in second if isinstance(event, Progress)]
    assert first_losses == second_losses


def test_cancel_ends_with_cancelled_result(digits, tmp_path):
    cancel = threading.Event()
    config = RunConfig(pretrain_epochs=5, batch_size=16)
    context = RunContext(digits, digits.label_column("folder"), cancel=cancel, run_dir=tmp_path)
    events = []
    for event in run_strategy(config, context):
        events.append(event)
        if isinstance(event, Progress) and event.step == 2:
            cancel.set()
    assert events[-1].result.status == "cancelled"
    assert any(isinstance(event, Log) and "cancelled" in event.message for event in events)
    assert load_checkpoint(tmp_path / "checkpoints" / "pretrain.pt")["step"] == 2


def test_read_metrics_keeps_resumed_rows(tmp_path):
    path = tmp_path / "metrics.csv"
    first = MetricsLog(path)
    for step in (1, 2, 3):
        first.write(Progress("pretrain", step, 4, 1, {"loss": 1.0 / step}))
    first.close()
    resumed = MetricsLog(path)
    for step in (3, 4):
        resumed.write(Progress("pretrain", step, 4, 1, {"loss": 0.1 * step}))
    resumed.close()
    rows = read_metrics(path)
    assert [row["step"] for row in rows] == ["1", "2", "3", "4"]
    assert float(rows[2]["value"]) == 0.3
