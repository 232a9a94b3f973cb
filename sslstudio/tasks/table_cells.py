"""Shared pieces of the table tasks: the per-cell output layout, its loss and metrics, and cell text for previews.

A per-cell prediction of every input column is one flat vector per row:
F regression values for the numeric columns, then the logits of each
categorical column in column order (``category_counts[g]`` logits each), so
its width is F + sum(category_counts).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from sslstudio.data.base import DatasetSpec
from sslstudio.data.tabular import MISSING_INDEX, RESERVED_INDICES, UNKNOWN_INDEX

SECONDS_PER_DAY = 86_400.0


class CellLayout:
    """Column counts of a table spec and the gather index that pads categorical logits to N×G×K."""

    def __init__(self, spec: DatasetSpec):
        self.numeric_columns: list[str] = list(spec.extra["numeric_columns"])
        self.categorical_columns: list[str] = list(spec.extra["categorical_columns"])
        self.counts: list[int] = [int(count) for count in spec.extra["category_counts"]]
        self.numeric_count = len(self.numeric_columns)
        self.categorical_count = len(self.categorical_columns)
        self.column_count = self.numeric_count + self.categorical_count
        self.value_width = self.numeric_count + sum(self.counts)
        widest = max(self.counts, default=1)
        index = torch.zeros(self.categorical_count, widest, dtype=torch.long)
        valid = torch.zeros(self.categorical_count, widest, dtype=torch.bool)
        start = self.numeric_count
        for position, count in enumerate(self.counts):
            index[position, :count] = torch.arange(start, start + count)
            valid[position, :count] = True
            start += count
        self.logit_index = index
        self.logit_valid = valid

    @property
    def columns(self) -> list[str]:
        return self.numeric_columns + self.categorical_columns

    def category_logits(self, outputs: torch.Tensor) -> torch.Tensor:
        """Return N×G×K logits from N×value_width outputs; padding positions are -inf."""
        index = self.logit_index.to(outputs.device)
        logits = outputs[:, index]
        return logits.masked_fill(~self.logit_valid.to(outputs.device), -math.inf)


def value_loss(layout: CellLayout, outputs: torch.Tensor, values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Return MSE over weighted numeric cells plus cross-entropy over weighted categorical cells.

    ``outputs`` is N×value_width; ``values`` N×C contains standardized numbers
    then category indices (as floats); ``weights`` N×C is 1 for the cells
    that count. Each term is a mean over its counted cells (0 when none).
    """
    numeric_count = layout.numeric_count
    numeric_weights = weights[:, :numeric_count]
    squared = (outputs[:, :numeric_count] - values[:, :numeric_count]) ** 2
    loss = (squared * numeric_weights).sum() / numeric_weights.sum().clamp(min=1.0)
    if layout.categorical_count:
        logits = layout.category_logits(outputs)
        targets = values[:, numeric_count:].long()
        entropy = nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        categorical_weights = weights[:, numeric_count:]
        loss = loss + (entropy * categorical_weights).sum() / categorical_weights.sum().clamp(min=1.0)
    return loss


def value_metrics(layout: CellLayout, outputs: torch.Tensor, values: torch.Tensor,
                  weights: torch.Tensor) -> dict[str, float]:
    """Return ``rmse`` over weighted numeric cells (standardized units) and ``accuracy`` over categorical ones."""
    metrics: dict[str, float] = {}
    numeric_count = layout.numeric_count
    if numeric_count:
        numeric_weights = weights[:, :numeric_count]
        squared = (outputs[:, :numeric_count] - values[:, :numeric_count]) ** 2
        metrics["rmse"] = float(((squared * numeric_weights).sum() / numeric_weights.sum().clamp(min=1.0)).sqrt())
    if layout.categorical_count:
        predicted = layout.category_logits(outputs).argmax(dim=2)
        categorical_weights = weights[:, numeric_count:]
        hits = (predicted == values[:, numeric_count:].long()).float() * categorical_weights
        metrics["accuracy"] = float(hits.sum() / categorical_weights.sum().clamp(min=1.0))
    return metrics


def uniform(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Return uniform [0, 1) numbers drawn on the generator's device and moved to ``device``."""
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def observed_cells(batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Return N×C float: 1 where the cell has a value (numeric not missing, category not missing)."""
    _, missing, categorical = batch
    return torch.cat([1.0 - missing, (categorical != MISSING_INDEX).float()], dim=1)


def cell_values(batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Return N×C float: standardized numbers, then category indices."""
    numeric, _, categorical = batch
    return torch.cat([numeric, categorical.float()], dim=1)


def cell_texts(spec: DatasetSpec, numeric: torch.Tensor, missing: torch.Tensor, categorical: torch.Tensor) -> list[str]:
    """Return one row's cells as text in the column's own units (numbers de-standardized, dates as ISO dates).

    ``numeric`` and ``missing`` are F, ``categorical`` is G; missing cells read ``(missing)``.
    """
    extra = spec.extra
    texts = []
    for position, name in enumerate(extra["numeric_columns"]):
        if missing[position] > 0.5:
            texts.append("(missing)")
            continue
        value = float(numeric[position]) * extra["numeric_std"][position] + extra["numeric_mean"][position]
        texts.append(_format_number(value, extra["column_types"].get(name, "numeric")))
    for position, vocabulary in enumerate(extra["vocabularies"]):
        index = int(categorical[position])
        if index == MISSING_INDEX:
            texts.append("(missing)")
        elif index == UNKNOWN_INDEX or index - RESERVED_INDICES >= len(vocabulary):
            texts.append("(unknown)")
        else:
            texts.append(vocabulary[index - RESERVED_INDICES])
    return texts


def _format_number(value: float, column_type: str) -> str:
    if column_type == "date":
        import datetime

        moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=round(value * SECONDS_PER_DAY))
        return moment.isoformat(sep=" ").removesuffix(" 00:00:00")
    return f"{value:.4g}"


def preview_row(columns: list[str], cells: list[str], marked: list[bool]) -> dict[str, Any]:
    """Return the displayable form of one previewed row: column names, cell texts and which cells to highlight."""
    return {"columns": list(columns), "cells": list(cells), "marked": [bool(flag) for flag in marked]}
