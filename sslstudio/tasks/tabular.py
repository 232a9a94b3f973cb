"""Table pretext tasks on ``TableBatch`` tuples (numeric N×F, missing N×F, categorical N×G).

Every task is vectorized over the batch and draws its randomness from the
given generator, so a seeded generator gives the same inputs and targets.
Targets are one tensor per batch:

- imputation: N×3×C (C = F + G) with the original cell values (standardized
  numbers, then category indices), a flag for corrupted cells and a flag for
  cells that had a value;
- swap: N×F int64, the column each numeric cell's value came from
  (``targets[i, j] == j`` where nothing moved);
- super-resolution: N×2×F with the exact standardized values and a flag for
  quantized cells;
- next value: N×2×C with the next row's values and a flag for cells that
  have a next value.

Previews return ``PreviewItem`` objects whose ``input`` and ``target`` are
dicts made by ``table_cells.preview_row`` (column names, cell texts in the
column's units, and the highlighted cells).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sslstudio.data.tabular import MISSING_INDEX
from sslstudio.tasks.base import HeadSpec, PretextTask, PreviewItem, TaskParams, param
from sslstudio.tasks.registry import register_task
from sslstudio.tasks.table_cells import (CellLayout, cell_texts, cell_values, observed_cells, preview_row, uniform,
                                         value_loss, value_metrics)

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class TableTask(PretextTask):
    """Base of the table tasks: the cell layout of the spec and row previews."""

    def __init__(self, spec, params=None):
        self.layout = CellLayout(spec)
        super().__init__(spec, params)

    def _require_numeric(self, minimum: int) -> None:
        if self.layout.numeric_count < minimum:
            raise ValueError(f"{self.name} needs at least {minimum} numeric or date column(s), but the table has "
                             f"{self.layout.numeric_count}; change the column types or choose another task")

    def _row_texts(self, batch: Batch, row: int) -> list[str]:
        numeric, missing, categorical = batch
        return cell_texts(self.spec, numeric[row], missing[row], categorical[row])


@dataclass(frozen=True)
class ImputationParams(TaskParams):
    mask_fraction: float = param(0.3, minimum=0.05, maximum=0.9, help="Share of cells corrupted per row.")
    corruption: str = param("missing", choices=("missing", "resample"),
                            help="missing: corrupted cells are marked missing; resample: they take the value of "
                                 "the same column in another row of the batch, unmarked (as in VIME).")
    predict_mask: bool = param(False, help="Also predict which cells were corrupted (needs corruption=resample).")


@register_task
class ImputationTask(TableTask):
    """Corrupt a share of the cells and predict their original values (and optionally which cells were corrupted).

    With ``corruption="resample"`` and ``predict_mask`` this is the VIME
    pretext task: Yoon, Zhang, Jordon and van der Schaar, "VIME: Extending
    the Success of Self- and Semi-supervised Learning to Tabular Domain",
    NeurIPS 2020.
    """

    name = "tabular.imputation"
    title = "Missing-value imputation"
    description = ("A share of the cells in each row is hidden; the model predicts the hidden numbers and categories "
                   "from the rest of the row, so it must learn how the columns depend on each other.")
    Params = ImputationParams
    primary_metric = "loss"
    default = True

    def check_spec(self, spec) -> None:
        if self.params.predict_mask and self.params.corruption == "missing":
            raise ValueError("predict_mask=True is invalid with corruption='missing', because cells marked missing "
                             "reveal the mask; choose corruption='resample'")

    @property
    def head(self) -> HeadSpec:
        width = self.layout.value_width + (self.layout.column_count if self.params.predict_mask else 0)
        return HeadSpec("dense", width)

    def generate(self, batch: Batch, generator: torch.Generator) -> tuple[Batch, torch.Tensor]:
        numeric, missing, categorical = batch
        count, numeric_count = numeric.shape
        corrupt = uniform((count, self.layout.column_count), generator, numeric.device) < self.params.mask_fraction
        numeric_corrupt, categorical_corrupt = corrupt[:, :numeric_count], corrupt[:, numeric_count:]
        if self.params.corruption == "missing":
            inputs = (numeric.masked_fill(numeric_corrupt, 0.0), missing.masked_fill(numeric_corrupt, 1.0),
                      categorical.masked_fill(categorical_corrupt, MISSING_INDEX))
        else:
            donors = (uniform(corrupt.shape, generator, numeric.device) * count).long().clamp(max=count - 1)
            numeric_donors, categorical_donors = donors[:, :numeric_count], donors[:, numeric_count:]
            inputs = (torch.where(numeric_corrupt, numeric.gather(0, numeric_donors), numeric),
                      torch.where(numeric_corrupt, missing.gather(0, numeric_donors), missing),
                      torch.where(categorical_corrupt, categorical.gather(0, categorical_donors), categorical))
        targets = torch.stack([cell_values(batch), corrupt.float(), observed_cells(batch)], dim=1)
        return inputs, targets

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        values, corrupt, observed = targets.unbind(dim=1)
        loss = value_loss(self.layout, outputs[:, :self.layout.value_width], values, corrupt * observed)
        if self.params.predict_mask:
            mask_logits = outputs[:, self.layout.value_width:]
            loss = loss + nn.functional.binary_cross_entropy_with_logits(mask_logits, corrupt)
        return loss

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        values, corrupt, observed = targets.unbind(dim=1)
        metrics = value_metrics(self.layout, outputs[:, :self.layout.value_width], values, corrupt * observed)
        if self.params.predict_mask:
            predicted = outputs[:, self.layout.value_width:] > 0
            metrics["mask_accuracy"] = float((predicted == (corrupt > 0.5)).float().mean())
        metrics["loss"] = float(self.loss(outputs, targets))
        return metrics

    def preview(self, batch: Batch, generator: torch.Generator) -> list[PreviewItem]:
        inputs, targets = self.generate(batch, generator)
        items = []
        for row in range(len(targets)):
            corrupt = (targets[row, 1] > 0.5).tolist()
            corrupted_texts = self._row_texts(inputs, row)
            original = self._row_texts(batch, row)
            expected = [text if flag else "" for text, flag in zip(original, corrupt)]
            items.append(PreviewItem(preview_row(self.layout.columns, corrupted_texts, corrupt),
                                     preview_row(self.layout.columns, expected, corrupt),
                                     f"{sum(corrupt)} of {len(corrupt)} cells corrupted"))
        return items


@dataclass(frozen=True)
class SwapParams(TaskParams):
    row_fraction: float = param(0.5, minimum=0.0, maximum=1.0, help="Share of rows that get swapped columns.")
    pairs: int = param(1, minimum=1, maximum=16, help="Pairs of numeric columns swapped in a chosen row.")


@register_task
class SwapTask(TableTask):
    """Swap the values of pairs of numeric columns within some rows; predict which columns were swapped.

    Columns are standardized, so a swap shows only through the relations
    between columns. The target records where each value came from, so the
    original row can be restored from the swapped one.
    """

    name = "tabular.swap"
    title = "Column swap detection"
    description = ("In half of the rows, the values of two numeric columns trade places; the model predicts, for "
                   "every column, whether its value belongs there.")
    Params = SwapParams
    default = True

    def check_spec(self, spec) -> None:
        self._require_numeric(2)
        if 2 * self.params.pairs > self.layout.numeric_count:
            raise ValueError(f"pairs={self.params.pairs} is out of range for this table; valid range is 1 to "
                             f"{self.layout.numeric_count // 2} ({self.layout.numeric_count} numeric columns)")

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("dense", self.layout.numeric_count)

    def generate(self, batch: Batch, generator: torch.Generator) -> tuple[Batch, torch.Tensor]:
        numeric, missing, categorical = batch
        count, numeric_count = numeric.shape
        device = numeric.device
        chosen = uniform((count,), generator, device) < self.params.row_fraction
        picked = uniform((count, numeric_count), generator, device).argsort(dim=1)[:, :2 * self.params.pairs]
        first, second = picked[:, 0::2], picked[:, 1::2]
        identity = torch.arange(numeric_count, device=device).expand(count, numeric_count)
        source = identity.clone().scatter_(1, first, second).scatter_(1, second, first)
        source = torch.where(chosen.unsqueeze(1), source, identity)
        return (numeric.gather(1, source), missing.gather(1, source), categorical), source

    def _swapped(self, targets: torch.Tensor) -> torch.Tensor:
        return (targets != torch.arange(targets.shape[1], device=targets.device)).float()

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(outputs, self._swapped(targets))

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        swapped = self._swapped(targets)
        correct = ((outputs > 0).float() == swapped).float()
        share = float(swapped.mean())
        return {"accuracy": float(correct.mean()), "row_accuracy": float(correct.min(dim=1).values.mean()),
                "chance": max(share, 1.0 - share)}

    def preview(self, batch: Batch, generator: torch.Generator) -> list[PreviewItem]:
        inputs, targets = self.generate(batch, generator)
        swapped = self._swapped(targets) > 0.5
        columns = self.layout.columns
        items = []
        for row in range(len(targets)):
            marked = swapped[row].tolist() + [False] * self.layout.categorical_count
            original = self._row_texts(batch, row)
            expected = [text if flag else "" for text, flag in zip(original, marked)]
            pairs = sorted({tuple(sorted((column, int(targets[row, column]))))
                            for column in range(self.layout.numeric_count) if marked[column]})
            caption = ", ".join(f"{columns[a]} ↔ {columns[b]}" for a, b in pairs) or "no swap"
            items.append(PreviewItem(preview_row(columns, self._row_texts(inputs, row), marked),
                                     preview_row(columns, expected, marked), caption))
        return items


@dataclass(frozen=True)
class SuperResolutionParams(TaskParams):
    bins: int = param(4, minimum=2, maximum=64, help="Number of bins each numeric cell is quantized to.")
    fraction: float = param(1.0, minimum=0.05, maximum=1.0, help="Share of numeric cells quantized.")


@register_task
class SuperResolutionTask(TableTask):
    """Quantize numeric cells to a few bins and predict the exact values.

    Bins have equal probability under a standard normal (the standardized
    scale): edges at Φ⁻¹(k / bins), each cell replaced by its bin's median
    Φ⁻¹((k + 0.5) / bins).
    """

    name = "tabular.super_resolution"
    title = "Super-resolution"
    description = ("Numeric cells are rounded to a few coarse levels; the model predicts the exact values from the "
                   "coarse row, learning the fine structure that the other columns imply.")
    Params = SuperResolutionParams
    primary_metric = "loss"

    def check_spec(self, spec) -> None:
        self._require_numeric(1)

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("dense", self.layout.numeric_count)

    def _quantize(self, values: torch.Tensor) -> torch.Tensor:
        bins = self.params.bins
        steps = torch.arange(1, bins, device=values.device, dtype=values.dtype) / bins
        edges = torch.special.ndtri(steps)
        centers = torch.special.ndtri((torch.arange(bins, device=values.device, dtype=values.dtype) + 0.5) / bins)
        return centers[torch.bucketize(values.contiguous(), edges)]

    def generate(self, batch: Batch, generator: torch.Generator) -> tuple[Batch, torch.Tensor]:
        numeric, missing, categorical = batch
        chosen = (uniform(numeric.shape, generator, numeric.device) < self.params.fraction) & (missing < 0.5)
        inputs = (torch.where(chosen, self._quantize(numeric), numeric), missing, categorical)
        return inputs, torch.stack([numeric, chosen.float()], dim=1)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        values, chosen = targets.unbind(dim=1)
        return (((outputs - values) ** 2) * chosen).sum() / chosen.sum().clamp(min=1.0)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        values, chosen = targets.unbind(dim=1)
        quantized_error = ((self._quantize(values) - values) ** 2 * chosen).sum() / chosen.sum().clamp(min=1.0)
        loss = self.loss(outputs, targets)
        return {"loss": float(loss), "rmse": float(loss.sqrt()), "quantized_rmse": float(quantized_error.sqrt())}

    def preview(self, batch: Batch, generator: torch.Generator) -> list[PreviewItem]:
        inputs, targets = self.generate(batch, generator)
        items = []
        for row in range(len(targets)):
            marked = (targets[row, 1] > 0.5).tolist() + [False] * self.layout.categorical_count
            original = self._row_texts(batch, row)
            expected = [text if flag else "" for text, flag in zip(original, marked)]
            items.append(PreviewItem(preview_row(self.layout.columns, self._row_texts(inputs, row), marked),
                                     preview_row(self.layout.columns, expected, marked),
                                     f"{sum(marked)} cells quantized to {self.params.bins} bins"))
        return items


@dataclass(frozen=True)
class NextValueParams(TaskParams):
    pass


@register_task
class NextValueTask(TableTask):
    """Predict every feature of the next row, for tables sorted by an order column such as a timestamp."""

    name = "tabular.next_value"
    title = "Next value per feature"
    description = ("For tables with an order column (a timestamp or sequence number), the model predicts each "
                   "number and category of the following row from the current one.")
    Params = NextValueParams
    primary_metric = "loss"

    def check_spec(self, spec) -> None:
        if not spec.extra.get("order_column"):
            raise ValueError(f"{self.name} needs a table opened with the reader option order_column=COLUMN "
                             "(a timestamp or sequence number); this table has no order column")

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("dense", self.layout.value_width)

    def generate(self, batch: Batch, generator: torch.Generator) -> tuple[Batch, torch.Tensor]:
        following = getattr(batch, "following", None)
        if following is None:
            raise ValueError(f"{self.name} needs batches of an ordered table (TableBatch with following rows)")
        present = observed_cells(following) * batch.has_following.unsqueeze(1).float()
        inputs = (batch[0], batch[1], batch[2])
        return inputs, torch.stack([cell_values(following), present], dim=1)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        values, present = targets.unbind(dim=1)
        return value_loss(self.layout, outputs, values, present)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        values, present = targets.unbind(dim=1)
        return {**value_metrics(self.layout, outputs, values, present), "loss": float(self.loss(outputs, targets))}

    def preview(self, batch: Batch, generator: torch.Generator) -> list[PreviewItem]:
        inputs, targets = self.generate(batch, generator)
        items = []
        for row in range(len(targets)):
            present = (targets[row, 1] > 0.5).tolist()
            following = self._row_texts(batch.following, row) if any(present) else [""] * len(present)
            items.append(PreviewItem(preview_row(self.layout.columns, self._row_texts(inputs, row), present),
                                     preview_row(self.layout.columns, following, present),
                                     "next row" if any(present) else "last row: nothing follows"))
        return items
