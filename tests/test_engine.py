"""The training engine: resume after a kill, the out-of-memory fallback, schedules and distributed runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sslstudio.models.model import SSLModel
from sslstudio.training.checkpoints import load_checkpoint
from sslstudio.training.config import RunConfig
from sslstudio.training.context import RunContext
from sslstudio.training.events import Log, Progress
from sslstudio.training.records import read_metrics
from sslstudio.training.schedule import warmup_cosine
from sslstudio.training.strategies import run_strategy

TRAIN = ["-m", "sslstudio", "train", "--sample", "digits", "--device", "cpu", "--pretrain-epochs", "3",
         "--batch-size", "128", "--finetune-steps", "6", "--no-baseline", "--no-export", "-q"]


def train_command(*extra: str) -> list[str]:
    return [sys.executable, *TRAIN, *extra]


def environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "QT_QPA_PLATFORM": "offscreen"}


def only_run(project: Path) -> Path:
    runs = list((project / "runs").iterdir())
    assert len(runs) == 1
    return runs[0]


def test_killed_run_resumes_to_same_weights(tmp_path):
    reference = subprocess.run(train_command("--project", str(tmp_path / "reference")), capture_output=True,
                               text=True, env=environment(), timeout=1200)
    assert reference.returncode == 0, reference.stderr

    process = subprocess.Popen(train_command("--project", str(tmp_path / "killed")), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=environment())
    deadline = time.monotonic() + 1200
    run_dir = None
    while time.monotonic() < deadline:
        runs = list((tmp_path / "killed" / "runs").glob("*")) if (tmp_path / "killed" / "runs").exists() else []
        if runs and (runs[0] / "checkpoints" / "pretrain.pt").exists():
            run_dir = runs[0]
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert run_dir is not None, "the run wrote no pretraining checkpoint before the deadline"
    assert not (run_dir / "checkpoints" / "finetune.pt").exists(), "the kill came after pretraining ended"

    resumed = subprocess.run(train_command("--resume", str(run_dir)), capture_output=True, text=True,
                             env=environment(), timeout=1200)
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming pretrain at step" in resumed.stderr
    expected = load_checkpoint(only_run(tmp_path / "reference") / "checkpoints" / "finetune.pt")["model"]
    actual = load_checkpoint(run_dir / "checkpoints" / "finetune.pt")["model"]
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name


def test_ctrl_c_saves_checkpoint(tmp_path):
    """The first Ctrl-C stops the run after the current step with a checkpoint to resume from."""
    process = subprocess.Popen(train_command("--project", str(tmp_path)), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, env=environment())
    deadline = time.monotonic() + 600
    metrics = None
    while time.monotonic() < deadline and process.poll() is None:
        found = list(tmp_path.glob("runs/*/metrics.csv"))
        if found and len(found[0].read_text().splitlines()) > 2:
            metrics = found[0]
            break
        time.sleep(0.1)
    assert metrics is not None, "pretraining wrote no metrics before the deadline"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 130, stderr
    assert "Resume with: sslstudio train --resume" in stderr
    saved = load_checkpoint(metrics.parent / "checkpoints" / "pretrain.pt")
    assert saved["step"] > 0
    assert not saved["done"]


def test_resume_rejects_folder_without_run(tmp_path, capsys):
    from sslstudio.cli import main

    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "data.json: not found" in capsys.readouterr().err


def test_out_of_memory_halves_the_batch(digits, monkeypatch):
    original = SSLModel.forward_task
    calls = []

    def limited(self, task_name, inputs):
        calls.append(inputs.shape[0])
        if inputs.shape[0] > 8:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return original(self, task_name, inputs)

    monkeypatch.setattr(SSLModel, "forward_task", limited)
    config = RunConfig(pretrain_epochs=1, max_pretrain_steps=3, batch_size=32, finetune_steps=2, baseline=False)
    events = list(run_strategy(config, RunContext(digits, digits.label_column("folder"))))
    notices = [event.message for event in events if isinstance(event, Log) and "Out of memory" in event.message]
    assert len(notices) == 1
    assert "4 micro-batches" in notices[0]
    steps = [event for event in events if isinstance(event, Progress) and event.phase == "pretrain"]
    assert [event.step for event in steps] == [1, 2, 3]
    assert max(size for size in calls[-4:]) == 8
    assert events[-1].result.status == "finished"


def test_schedule_warms_up_then_decays():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    scheduler = warmup_cosine(optimizer, total_steps=100, warmup_fraction=0.1)
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(0.1)
    assert rates[9] == pytest.approx(1.0)
    assert rates[-1] < 0.05
    assert all(later <= earlier + 1e-12 for earlier, later in zip(rates[10:], rates[11:]))


def test_two_gloo_processes_agree_with_one(tmp_path):
    steps = ["--pretrain-epochs", "1", "--max-pretrain-steps", "8", "--batch-size", "64", "--finetune-steps", "4",
             "--no-baseline", "--no-export", "-q", "--device", "cpu", "--sample", "digits"]
    single = subprocess.run([sys.executable, "-m", "sslstudio", "train", *steps, "--project", str(tmp_path / "one")],
                            capture_output=True, text=True, env=environment(), timeout=1200)
    assert single.returncode == 0, single.stderr
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    double = subprocess.run([*torchrun, "-m", "sslstudio", "train", *steps, "--project", str(tmp_path / "two")],
                            capture_output=True, text=True, env=environment(), timeout=1200)
    assert double.returncode == 0, double.stderr[-3000:]
    assert "Pretrained accuracy" in double.stdout
    single_rows = read_metrics(only_run(tmp_path / "one") / "metrics.csv")
    double_rows = read_metrics(only_run(tmp_path / "two") / "metrics.csv")

    def final_loss(rows):
        losses = [float(row["value"]) for row in rows if row["phase"] == "pretrain" and row["name"] == "loss"]
        assert len(losses) == 8
        return sum(losses[-3:]) / 3

    assert abs(final_loss(single_rows) - final_loss(double_rows)) < 0.3


def test_early_stopping_ends_pretraining(digits, monkeypatch):
    from sslstudio.training import loop

    monkeypatch.setattr(loop, "validation_pretext_loss", lambda *args, **kwargs: 1.0)
    config = RunConfig(pretrain_epochs=5, batch_size=256, finetune_steps=2, baseline=False,
                       early_stopping_patience=1)
    events = list(run_strategy(config, RunContext(digits, digits.label_column("folder"))))
    epochs = {event.epoch for event in events if isinstance(event, Progress) and event.phase == "pretrain"}
    assert epochs == {1, 2}
    assert any(isinstance(event, Log) and event.message.startswith("Early stopping after epoch 2") for event in events)
    validation = [event for event in events if isinstance(event, Progress) and event.phase == "pretrain validation"]
    assert [event.metrics["loss"] for event in validation] == [1.0, 1.0]
    assert events[-1].result.status == "finished"
