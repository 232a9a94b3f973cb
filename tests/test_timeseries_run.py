"""A short real run on GunPoint: pretrain, fine-tune on 5 labels per class, compare with scratch."""

from __future__ import annotations

import logging
import threading

from sslstudio.data.samples import get_sample
from sslstudio.training.config import RunConfig
from sslstudio.training.context import RunContext
from sslstudio.training.events import Finished
from sslstudio.training.records import read_metrics
from sslstudio.training.strategies import run_strategy
from sslstudio.workflow import default_task_choices

logger = logging.getLogger(__name__)


def test_gunpoint_transfer_against_scratch(tmp_path):
    sample = get_sample("gunpoint")
    dataset = sample.open()
    config = RunConfig(tasks=default_task_choices("timeseries"), pretrain_epochs=1, max_pretrain_steps=3,
                       finetune_steps=8, batch_size=32, labels_per_class=5, label_column=sample.label_column)
    context = RunContext(dataset=dataset, labels=dataset.label_column(sample.label_column),
                         cancel=threading.Event(), run_dir=tmp_path)
    events = list(run_strategy(config, context))
    result = events[-1].result
    logger.info("GunPoint: pretrained accuracy %.3f, scratch accuracy %.3f", result.pretrained["accuracy"],
                result.scratch["accuracy"])
    phases = {row["phase"] for row in read_metrics(tmp_path / "metrics.csv")}
    assert isinstance(events[-1], Finished)
    assert result.status == "finished"
    assert result.extras["label_counts"] == {"gun": 5, "point": 5}
    assert result.pretrained["count"] == result.extras["holdout_count"]
    assert 0.0 <= result.pretrained["accuracy"] <= 1.0
    assert 0.0 <= result.scratch["accuracy"] <= 1.0
    assert "timeseries.outliers/f1" in result.pretext
    assert "timeseries.reorder/accuracy" in result.pretext
    assert phases == {"pretrain", "finetune", "scratch"}
