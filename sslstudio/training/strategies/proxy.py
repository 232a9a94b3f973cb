"""Proxy model: train on a target that needs no labels and use its score for the real target.

The proxy target is a pretext task's output (``proxy_source="task"``), a
metadata column such as the folder, a recording's direction or a table
column (``"column"``), or a pattern in a metadata column such as the file name
(``"pattern"``). The proxy is trained on the pool (never on held-out samples).
Its classes are mapped to the real classes with the labeled training samples,
and its agreement with the real labels is measured on the held-out samples.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from sslstudio.data.base import DataError, Dataset
from sslstudio.evaluation.metrics import best_mapping_accuracy, proxy_agreement
from sslstudio.models.base import build_encoder
from sslstudio.models.model import Classifier, SSLModel
from sslstudio.tasks.base import PretextTask
from sslstudio.tasks.registry import create_task, list_tasks
from sslstudio.training.config import RunConfig, TaskChoice
from sslstudio.training.context import RunContext
from sslstudio.training.events import Finished, Log, Progress
from sslstudio.training.loop import fit_classifier, predict_proba, pretrain, pretrain_step_count
from sslstudio.training.strategies.common import add_baseline, describe_plan, evaluate, plan_labels, run_result

# A metadata proxy with more distinct values than this is not categorical; the user should pick another column.
MAX_PROXY_CLASSES = 100
SHORTCUT_WARNING = ("A proxy is a shortcut: it predicts the real target only as far as the proxy and the target "
                    "happen to agree on these samples, and that agreement may not transfer to new data.")


class MappedHead(nn.Module):
    """Proxy head followed by a fixed proxy-class → real-class mapping.

    ``forward`` maps N×D features to N×K log probabilities:
    ``log(softmax(proxy logits) @ mapping)``, floored at 1e-6 before the logarithm.
    """

    def __init__(self, proxy_head: nn.Module, mapping: np.ndarray):
        super().__init__()
        self.proxy_head = proxy_head
        self.register_buffer("mapping", torch.as_tensor(mapping, dtype=torch.float32))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        probabilities = torch.softmax(self.proxy_head(features), dim=1) @ self.mapping
        return torch.log(probabilities.clamp_min(1e-6))


def proxy_column_values(dataset: Dataset, config: RunConfig) -> tuple[list[str | None], str]:
    """Return the metadata proxy target per sample (None where missing or unmatched) and a description.

    For ``proxy_source="pattern"`` the regular expression is searched in
    ``proxy_column`` (default ``file_name`` when present, else ``sample_id``);
    the target is its first group, or the whole match when it has no group.

    Raises:
        KeyError: if the column does not exist; the message lists the columns.
    """
    if config.proxy_source == "column":
        return dataset.label_column(config.proxy_column), f"metadata column {config.proxy_column!r}"
    column = config.proxy_column or ("file_name" if "file_name" in dataset.metadata.columns else "sample_id")
    pattern = re.compile(config.proxy_pattern)
    values: list[str | None] = []
    for text in dataset.label_column(column):
        match = pattern.search(text) if text is not None else None
        if match is None:
            values.append(None)
        else:
            values.append(match.group(1) if pattern.groups else match.group(0))
    return values, f"pattern {config.proxy_pattern!r} in metadata column {column!r}"


def proxy_task_choice(config: RunConfig, dataset: Dataset) -> tuple[TaskChoice, PretextTask]:
    """Return the selected task that serves as proxy and its instance: ``proxy_task``, or else the first
    selected task with a classification head.

    Raises:
        ValueError: if ``proxy_task`` is not among the selected tasks, or if the
            chosen task (or, without ``proxy_task``, every selected task) has
            no classification head, whose output on an untransformed sample
            can serve as a score. The message lists the alternatives.
    """
    if config.proxy_task and config.proxy_task not in [choice.name for choice in config.tasks]:
        raise ValueError(f"proxy_task={config.proxy_task!r} is not among the selected tasks "
                         f"({', '.join(choice.name for choice in config.tasks)}); select it or leave proxy_task empty")
    candidates = [choice for choice in config.tasks if not config.proxy_task or choice.name == config.proxy_task]
    for choice in candidates:
        task = create_task(choice.name, dataset.spec, choice.params_dict)
        if task.head.kind == "classification":
            return choice, task
    heads = ", ".join(f"{choice.name} ({create_task(choice.name, dataset.spec, choice.params_dict).head.kind})"
                      for choice in candidates)
    raise ValueError(f"a proxy from a pretext task needs a task with a classification head, but the selected "
                     f"task(s) have other heads: {heads}. {proxy_alternatives(dataset)}")


def proxy_alternatives(dataset: Dataset) -> str:
    """Return a sentence naming the classification tasks of the dataset's modality and the metadata columns
    with 2 to ``MAX_PROXY_CLASSES`` distinct values, which can serve as proxies instead."""
    tasks = []
    for cls in list_tasks(dataset.modality):
        try:
            if create_task(cls.name, dataset.spec, {}).head.kind == "classification":
                tasks.append(cls.name)
        except ValueError:  # the task does not fit this dataset (see ``check_spec``)
            continue
    columns = [name for name in dataset.metadata.columns
               if name != "sample_id" and 2 <= dataset.metadata[name].nunique() <= MAX_PROXY_CLASSES]
    choices = []
    if tasks:
        choices.append(f"select a classification task ({', '.join(tasks)})")
    if columns:
        choices.append(f"use --proxy-source column with one of the metadata columns {', '.join(columns)}")
    choices.append("use --proxy-source pattern with a regular expression over a metadata column")
    if dataset.modality == "tabular":
        choices.append("move a categorical input column into the metadata with the reader option "
                       "ignore_columns=COLUMN and use it as proxy column")
    return "Instead, " + "; or ".join(choices) + "."


def train_task_proxy(config: RunConfig, context: RunContext, pool: Sequence[int]) -> Iterator[Progress | Log]:
    """Pretrain an encoder on one classification task; return ``(model, proxy head, description, metrics)``.

    Raises:
        ValueError: see ``proxy_task_choice``.
    """
    _, task = proxy_task_choice(config, context.dataset)
    torch.manual_seed(config.seed)
    model = SSLModel(build_encoder(context.dataset.spec, config.encoder_size), [task])
    yield Log(f"Training the proxy model on the pretext task {task.name}")
    metrics = yield from pretrain(model, [task], [1.0], pool, config, context, config.pretrain_epochs, phase="proxy")
    return model, model.heads[task.name.replace(".", "__")], f"pretext task {task.name}", metrics


def train_column_proxy(config: RunConfig, context: RunContext, pool: Sequence[int]) -> Iterator[Progress | Log]:
    """Train an encoder and classifier on a metadata target over the pool; return like ``train_task_proxy``.

    Raises:
        DataError: if fewer than two or more than ``MAX_PROXY_CLASSES`` values occur.
    """
    values, description = proxy_column_values(context.dataset, config)
    usable = [index for index in pool if values[index] is not None]
    names = sorted({values[index] for index in usable})
    if not 2 <= len(names) <= MAX_PROXY_CLASSES:
        raise DataError(f"the proxy {description} has {len(names)} distinct value(s) on the training samples; "
                        f"a proxy needs 2 to {MAX_PROXY_CLASSES} categories. Choose another column or pattern.")
    if config.proxy_column and config.proxy_column == config.label_column:
        yield Log(f"The proxy column {config.proxy_column!r} is the label column, so the proxy is the label itself",
                  level="warning")
    index_of = {name: position for position, name in enumerate(names)}
    torch.manual_seed(config.seed)
    model = SSLModel(build_encoder(context.dataset.spec, config.encoder_size))
    head = model.add_classifier(len(names))
    steps = max(1, pretrain_step_count(config, len(usable), config.pretrain_epochs, context.dataset))
    yield Log(f"Training the proxy model on the {description} ({len(names)} values, {len(usable)} samples)")
    loss = yield from fit_classifier(model, usable, [index_of[values[index]] for index in usable],
                                     config.with_changes(finetune_steps=steps), context, phase="proxy")
    return model, head, description, {"loss": loss}


def class_mapping(proxy_predictions: Sequence[int], targets: Sequence[int], proxy_count: int,
                  class_count: int) -> np.ndarray:
    """Return a proxy-class → real-class matrix (proxy_count×class_count, one 1 per row).

    Proxy classes matched by the Hungarian assignment on the labeled training
    samples take their matched class. Each other proxy class takes the most
    frequent real class among the samples predicted as it, or the most
    frequent class overall when no sample is.
    """
    targets = np.asarray(targets, dtype=int)
    predictions = np.asarray(proxy_predictions, dtype=int)
    _, matched = best_mapping_accuracy(targets, predictions)
    overall = Counter(targets.tolist()).most_common(1)[0][0]
    mapping = np.zeros((proxy_count, class_count), dtype=np.float32)
    for proxy_class in range(proxy_count):
        members = targets[predictions == proxy_class]
        fallback = Counter(members.tolist()).most_common(1)[0][0] if len(members) else overall
        mapping[proxy_class, matched.get(proxy_class, fallback)] = 1.0
    return mapping


def proxy_scores(probabilities: np.ndarray) -> np.ndarray:
    """Return one scalar per sample from N×K' proxy probabilities.

    Two proxy classes give the probability of the second; more give the
    expected proxy class index, sum over k of k * p_k.
    """
    if probabilities.shape[1] == 2:
        return probabilities[:, 1]
    return probabilities @ np.arange(probabilities.shape[1], dtype=np.float64)


def agreement_report(agreement: dict, description: str) -> str:
    """Return the plain-text agreement report of a proxy on the held-out samples."""
    parts = [f"Proxy: {description}. On {agreement['count']} labeled held-out samples:",
             f"best-mapping accuracy {agreement.get('best_mapping_accuracy', float('nan')):.3f}",
             f"Spearman rank correlation {agreement.get('spearman', float('nan')):.3f}"]
    if "roc_auc" in agreement:
        below = agreement["roc_auc"] < 0.5
        parts.append(f"ROC AUC {agreement['roc_auc']:.3f}" + (" (below 0.5: the score runs opposite to the labels)"
                                                               if below else ""))
    return "; ".join(parts[:1]) + " " + ", ".join(parts[1:]) + ". " + SHORTCUT_WARNING


def run(config: RunConfig, context: RunContext) -> Iterator:
    """Yield progress while training the proxy, mapping it to the classes, evaluating and training the baseline.

    The result's ``extras`` hold ``proxy_agreement`` (see
    ``sslstudio.evaluation.metrics.proxy_agreement``) and ``proxy_report``.
    """
    plan = plan_labels(config, context)
    yield Log(describe_plan(plan))
    trainer = train_task_proxy if config.proxy_source == "task" else train_column_proxy
    model, proxy_head, description, proxy_metrics = yield from trainer(config, context, plan.pool)
    proxy_model = Classifier(model.encoder, proxy_head)

    train_probabilities = predict_proba(proxy_model, context.dataset, plan.labeled, context.device)
    proxy_count = train_probabilities.shape[1]
    mapping = class_mapping(train_probabilities.argmax(1), plan.targets, proxy_count, len(plan.class_names))
    model.classifier = MappedHead(proxy_head, mapping)

    holdout_probabilities = predict_proba(proxy_model, context.dataset, plan.holdout, context.device)
    agreement = proxy_agreement(plan.holdout_targets, holdout_probabilities.argmax(1),
                                proxy_scores(holdout_probabilities), len(plan.class_names))
    report = agreement_report(agreement, description)
    yield Log(report)
    pretrained_metrics = evaluate(model, plan, context, config)
    pretrained_metrics.update({f"proxy_{name}": value for name, value in agreement.items() if name != "count"})
    yield Log(f"Proxy model mapped to the classes: held-out accuracy {pretrained_metrics['accuracy']:.3f}")
    result = run_result(config, plan, model, pretrained_metrics, proxy_metrics, proxy_agreement=agreement,
                        proxy_report=report, proxy_mapping=mapping.argmax(1).tolist())
    yield from add_baseline(result, config, context, plan)
    yield Finished(result)

