"""Feature extraction: pretrain, freeze the encoder, embed every sample, fit a light classifier on the labeled ones.

The classifier is scikit-learn's logistic regression or k-nearest neighbours
(``config.probe``), converted to a PyTorch head (``sslstudio.models.probes``)
so that evaluation and ONNX export treat it like any other classifier.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sslstudio.models.probes import build_probe
from sslstudio.training.config import RunConfig
from sslstudio.training.context import RunContext
from sslstudio.training.events import Finished, Log
from sslstudio.training.strategies.common import (add_baseline, describe_plan, embed_samples, evaluate, plan_labels,
                                                  pretrained_model, run_result)


def run(config: RunConfig, context: RunContext) -> Iterator:
    """Yield progress while pretraining, embedding, fitting the probe and (optionally) the scratch baseline.

    The result's ``extras["embeddings"]`` contains the frozen features of every
    sample (N×D float32, in dataset order) for export and plots.
    """
    plan = plan_labels(config, context)
    yield Log(describe_plan(plan))
    model, _, pretext = yield from pretrained_model(config, context, plan.pool)
    model.encoder.requires_grad_(False)
    yield Log(f"Embedding all {len(context.dataset)} samples with the frozen encoder")
    embeddings = yield from embed_samples(model.encoder, range(len(context.dataset)), context, config.batch_size * 4)
    features = embeddings[np.asarray(plan.labeled)]
    yield Log(f"Fitting a {config.probe} classifier on {len(plan.labeled)} labeled embeddings")
    head, _ = build_probe(config.probe, features, np.asarray(plan.targets), len(plan.class_names),
                          neighbors=config.knn_neighbors, seed=config.seed)
    model.classifier = head
    pretrained_metrics = evaluate(model, plan, context, config)
    yield Log(f"Frozen features + {config.probe}: held-out accuracy {pretrained_metrics['accuracy']:.3f}")
    result = run_result(config, plan, model, pretrained_metrics, pretext, embeddings=embeddings, probe=config.probe)
    yield from add_baseline(result, config, context, plan)
    yield Finished(result)
