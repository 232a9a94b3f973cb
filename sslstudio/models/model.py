"""The model trained by every strategy: one shared encoder, one head per pretext task, a classifier."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sslstudio.models.base import Encoder
from sslstudio.models.heads import LinearHead, build_head, uses_dense_features
from sslstudio.tasks.base import PretextTask


class SSLModel(nn.Module):
    """Encoder plus pretext heads (``heads[task.name]``) and an optional downstream classifier."""

    def __init__(self, encoder: Encoder, tasks: list[PretextTask] | tuple[()] = ()):
        super().__init__()
        self.encoder = encoder
        self.heads = nn.ModuleDict()
        self._dense: dict[str, bool] = {}
        for task in tasks:
            key = task.name.replace(".", "__")
            self.heads[key] = build_head(task.head, encoder)
            self._dense[key] = uses_dense_features(task.head)
        self.classifier: nn.Module | None = None

    def add_classifier(self, num_classes: int) -> nn.Module:
        self.classifier = LinearHead(self.encoder.feature_dim, num_classes)
        return self.classifier

    def forward_task(self, task_name: str, inputs: Any) -> torch.Tensor:
        """Run the encoder and the head of ``task_name`` on the task's inputs."""
        key = task_name.replace(".", "__")
        if self._dense[key]:
            return self.heads[key](self.encoder.forward_dense(inputs))
        return self.heads[key](self.encoder(inputs))

    def forward(self, inputs: Any, tasks: list[str] | None = None) -> torch.Tensor | list[torch.Tensor]:
        """Return class logits N×K (requires ``add_classifier``).

        With ``tasks``, ``inputs`` is a list of task inputs and the result is
        the list of those tasks' head outputs: one call covers every pretext
        task of a step, which is what DistributedDataParallel expects.
        """
        if tasks is not None:
            return [self.forward_task(name, task_inputs) for name, task_inputs in zip(tasks, inputs)]
        if self.classifier is None:
            raise RuntimeError("the model has no classifier yet; call add_classifier first")
        return self.classifier(self.encoder(inputs))


class Classifier(nn.Module):
    """The exported model: the encoder and the downstream head, without the pretext heads."""

    def __init__(self, encoder: Encoder, head: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(inputs))
