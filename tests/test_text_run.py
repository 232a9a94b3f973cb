"""A short real run on the bundled movie reviews with 5 labels per class, exported to ONNX."""

from __future__ import annotations

import json

import pytest

from sslstudio.data.samples import get_sample
from sslstudio.export.bundle import export_classifier
from sslstudio.training.config import RunConfig, TaskChoice
from sslstudio.training.events import Finished
from sslstudio.workflow import default_task_choices, start_run


@pytest.fixture(scope="module")
def reviews():
    return get_sample("movie-reviews").open()


def test_reviews_sample_loads(reviews):
    assert len(reviews) == 4866
    assert set(reviews.label_column("label")) == {"fresh", "rotten"}
    assert reviews.spec.shape == (48,)


def test_masked_word_is_default():
    assert default_task_choices("text") == (TaskChoice("text.masked_word"),)


@pytest.mark.slow
def test_short_run_and_export(tmp_path, reviews):
    config = RunConfig(tasks=(TaskChoice("text.masked_word"), TaskChoice("text.punctuation")), pretrain_epochs=1,
                       max_pretrain_steps=6, finetune_steps=10, batch_size=16, labels_per_class=5,
                       label_column="label", device="cpu")
    events = list(start_run(config, reviews, reviews.label_column("label"), tmp_path / "run"))
    result = next(event.result for event in events if isinstance(event, Finished))
    exported = export_classifier(result, reviews, config, tmp_path / "export")
    card = json.loads(exported["model_card"].read_text(encoding="utf-8"))
    assert result.status == "finished"
    assert result.extras["label_counts"] == {"fresh": 5, "rotten": 5}
    assert 0.0 <= result.pretrained["accuracy"] <= 1.0
    assert 0.0 <= result.scratch["accuracy"] <= 1.0
    assert "text.punctuation/accuracy" in result.pretext
    assert (tmp_path / "run" / "tokenizer.json").is_file()
    assert card["files"]["assets"] == ["tokenizer.json"]
    assert (tmp_path / "export" / "tokenizer.json").is_file()
    assert max(exported["differences"]) < 1e-4
