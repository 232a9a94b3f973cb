"""Tiny real training runs on the bundled graphs: held-out links and few-label node classification."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
import torch

from sslstudio.data.samples import get_sample
from sslstudio.models.base import build_encoder
from sslstudio.models.model import SSLModel
from sslstudio.tasks.graph import roc_auc, score_pairs, split_links
from sslstudio.tasks.registry import create_task
from sslstudio.training.config import RunConfig, TaskChoice
from sslstudio.training.context import RunContext
from sslstudio.training.loop import fit_classifier, predict_proba, pretrain

logger = logging.getLogger(__name__)


def _drain(generator):
    """Run a training generator to its end and return its summary."""
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return stop.value


@pytest.mark.slow
def test_connectome_heldout_link_auc(record_property):
    connectome = get_sample("drosophila").open()
    training_graph, pairs, labels = split_links(connectome, test_fraction=0.1, seed=0)
    config = RunConfig(tasks=(TaskChoice("graph.missing_link"),), learning_rate=3e-3, max_pretrain_steps=80)
    task = create_task("graph.missing_link", training_graph.spec)
    torch.manual_seed(0)
    model = SSLModel(build_encoder(training_graph.spec, "small"), [task])
    before = roc_auc(score_pairs(model, task.name, training_graph, pairs), labels)
    context = RunContext(dataset=training_graph, labels=[None] * len(training_graph), cancel=threading.Event())
    _drain(pretrain(model, [task], [1.0], range(len(training_graph)), config, context, epochs=2))
    after = roc_auc(score_pairs(model, task.name, training_graph, pairs), labels)
    record_property("heldout_link_auc", after)
    logger.info("Connectome held-out link ROC AUC: %.3f before training, %.3f after", before, after)
    assert training_graph.spec.extra["edge_count"] < connectome.spec.extra["edge_count"]
    assert after > 0.5
    assert after > before


@pytest.mark.slow
def test_karate_two_labels_per_class(record_property):
    karate = get_sample("karate").open()
    labels = karate.label_column("club")
    class_names = sorted(set(labels))
    targets = np.array([class_names.index(label) for label in labels])
    rng = np.random.default_rng(0)
    labeled = sorted(int(index) for name in range(2) for index in rng.choice(np.flatnonzero(targets == name), 2,
                                                                              replace=False))
    unlabeled = [index for index in range(len(karate)) if index not in labeled]
    config = RunConfig(tasks=(TaskChoice("graph.missing_link"),), finetune_steps=150, max_pretrain_steps=200)
    context = RunContext(dataset=karate, labels=labels, cancel=threading.Event())
    task = create_task("graph.missing_link", karate.spec)
    torch.manual_seed(0)
    model = SSLModel(build_encoder(karate.spec, "small"), [task])
    _drain(pretrain(model, [task], [1.0], range(len(karate)), config, context, epochs=4))
    model.add_classifier(2)
    parameters_before = [parameter.detach().clone() for parameter in model.encoder.parameters()]
    _drain(fit_classifier(model, labeled, targets[labeled].tolist(), config, context, "finetune",
                          encoder_lr_scale=0.1))
    accuracy = float((predict_proba(model, karate, unlabeled, torch.device("cpu")).argmax(1)
                      == targets[unlabeled]).mean())
    record_property("karate_accuracy", accuracy)
    logger.info("Karate club, 2 labels per class: accuracy %.3f on the other %d members", accuracy, len(unlabeled))
    changed = any(not torch.equal(before, after) for before, after in zip(parameters_before,
                                                                         model.encoder.parameters()))
    assert len(labeled) == 4
    assert changed
    assert accuracy > 0.6


def test_graph_epoch_has_fixed_steps():
    from sslstudio.data.graph import GRAPH_EPOCH_STEPS

    karate = get_sample("karate").open()
    task = create_task("graph.missing_link", karate.spec)
    model = SSLModel(build_encoder(karate.spec, "small"), [task])
    context = RunContext(dataset=karate, labels=[None] * len(karate), cancel=threading.Event())
    events = list(pretrain(model, [task], [1.0], range(len(karate)), RunConfig(batch_size=8), context, epochs=1))
    assert karate.steps_per_epoch(len(karate), 8) == GRAPH_EPOCH_STEPS
    assert len(events) == GRAPH_EPOCH_STEPS
    assert events[-1].step == GRAPH_EPOCH_STEPS
