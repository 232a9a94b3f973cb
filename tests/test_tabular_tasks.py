"""Table pretext tasks: every registered task on a real ordered table, and the invariants of each one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from sslstudio.data.tabular import MISSING_INDEX, open_table
from sslstudio.models.base import build_encoder
from sslstudio.models.model import SSLModel
from sslstudio.tasks.registry import create_task, list_tasks

TASKS = list_tasks("tabular")


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A 64-row table ordered by ``step``: four numeric columns (one with gaps), two categorical, a label."""
    rng = np.random.default_rng(0)
    count = 64
    base = rng.normal(size=count)
    frame = pd.DataFrame({
        "step": rng.permutation(count),
        "a": base,
        "b": 2 * base + rng.normal(scale=0.1, size=count),
        "c": np.where(rng.random(count) < 0.2, np.nan, rng.normal(size=count)),
        "d": rng.uniform(0, 10, size=count),
        "colour": rng.choice(["red", "green", "blue"], size=count),
        "shape": np.where(rng.random(count) < 0.1, None, rng.choice(["round", "square"], size=count)),
        "kind": np.where(base > 0, "pos", "neg"),
    })
    path = tmp_path_factory.mktemp("table") / "ordered.csv"
    frame.to_csv(path, index=False)
    return open_table(path, label_column="kind", order_column="step")


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def test_registry_has_four_tasks():
    assert [cls.name for cls in TASKS] == ["tabular.imputation", "tabular.next_value", "tabular.super_resolution",
                                           "tabular.swap"]


@pytest.mark.parametrize("cls", TASKS, ids=lambda cls: cls.name)
def test_task_deterministic(cls, table):
    task = cls(table.spec)
    batch = table.batch(range(16))
    first_inputs, first_targets = task.generate(batch, seeded())
    second_inputs, second_targets = task.generate(batch, seeded())
    assert torch.equal(first_targets, second_targets)
    assert all(torch.equal(left, right) for left, right in zip(first_inputs, second_inputs))


@pytest.mark.parametrize("cls", TASKS, ids=lambda cls: cls.name)
def test_task_trains_through_model(cls, table):
    torch.manual_seed(0)
    task = cls(table.spec)
    model = SSLModel(build_encoder(table.spec, "small"), [task])
    inputs, targets = task.generate(table.batch(range(32)), seeded())
    outputs = model.forward_task(task.name, inputs)
    loss = task.loss(outputs, targets)
    loss.backward()
    assert outputs.shape == (32, task.head.out_features)
    assert torch.isfinite(loss)
    assert all(parameter.grad is not None for parameter in model.heads.parameters())
    assert np.isfinite(list(task.metrics(outputs.detach(), targets).values())).all()


@pytest.mark.parametrize("cls", TASKS, ids=lambda cls: cls.name)
def test_task_preview_rows(cls, table):
    task = cls(table.spec)
    items = task.preview(table.batch(range(4)), seeded())
    assert len(items) == 4
    assert len(items[0].input["cells"]) == len(table.spec.extra["numeric_columns"]) + 2
    assert len(items[0].target["cells"]) == len(items[0].input["cells"])


@pytest.mark.parametrize("cls", TASKS, ids=lambda cls: cls.name)
def test_task_invalid_parameter_raises(cls, table):
    bounded = [row for row in cls.Params.describe() if row["maximum"] is not None or row["choices"] is not None]
    if not bounded:
        pytest.skip(f"{cls.name} has no bounded parameter")
    row = bounded[0]
    value = "not-a-choice" if row["choices"] is not None else row["maximum"] + 1
    with pytest.raises(ValueError, match=row["name"]):
        create_task(cls.name, table.spec, {row["name"]: value})


def test_imputation_unmasked_cells_unchanged(table):
    task = create_task("tabular.imputation", table.spec, {"mask_fraction": 0.5})
    batch = table.batch(range(64))
    (numeric, missing, categorical), targets = task.generate(batch, seeded())
    corrupt = targets[:, 1] > 0.5
    numeric_count = numeric.shape[1]
    assert torch.equal(numeric[~corrupt[:, :numeric_count]], batch[0][~corrupt[:, :numeric_count]])
    assert torch.equal(categorical[~corrupt[:, numeric_count:]], batch[2][~corrupt[:, numeric_count:]])


def test_imputation_masked_cells_marked_missing(table):
    task = create_task("tabular.imputation", table.spec, {"mask_fraction": 0.5})
    (numeric, missing, categorical), targets = task.generate(table.batch(range(64)), seeded())
    corrupt = targets[:, 1] > 0.5
    numeric_count = numeric.shape[1]
    assert missing[corrupt[:, :numeric_count]].eq(1.0).all()
    assert categorical[corrupt[:, numeric_count:]].eq(MISSING_INDEX).all()


def test_imputation_targets_are_originals(table):
    task = create_task("tabular.imputation", table.spec)
    batch = table.batch(range(64))
    _, targets = task.generate(batch, seeded())
    numeric_count = batch[0].shape[1]
    assert torch.equal(targets[:, 0, :numeric_count], batch[0])
    assert torch.equal(targets[:, 0, numeric_count:].long(), batch[2])


def test_imputation_mask_fraction(table):
    task = create_task("tabular.imputation", table.spec, {"mask_fraction": 0.3})
    _, targets = task.generate(table.batch(range(64)), seeded())
    assert 0.2 < targets[:, 1].mean().item() < 0.4


def test_imputation_resample_takes_batch_values(table):
    task = create_task("tabular.imputation", table.spec, {"corruption": "resample", "predict_mask": True})
    batch = table.batch(range(64))
    (numeric, _, _), targets = task.generate(batch, seeded())
    for column in range(numeric.shape[1]):
        assert set(numeric[:, column].tolist()) <= set(batch[0][:, column].tolist())
    assert task.head.out_features == task.layout.value_width + task.layout.column_count


def test_imputation_mask_needs_resample(table):
    with pytest.raises(ValueError, match="predict_mask"):
        create_task("tabular.imputation", table.spec, {"predict_mask": True})


def test_imputation_perfect_prediction_zero_loss(table):
    task = create_task("tabular.imputation", table.spec)
    batch = table.batch(range(64))
    _, targets = task.generate(batch, seeded())
    layout = task.layout
    outputs = torch.full((64, layout.value_width), -50.0)
    outputs[:, :layout.numeric_count] = batch[0]
    for column, start in enumerate(layout.logit_index[:, 0].tolist()):
        outputs[torch.arange(64), start + batch[2][:, column]] = 50.0
    assert task.loss(outputs, targets).item() == pytest.approx(0.0, abs=1e-6)
    assert task.metrics(outputs, targets)["accuracy"] == 1.0


def test_swap_unswapping_restores_row(table):
    task = create_task("tabular.swap", table.spec, {"row_fraction": 1.0, "pairs": 2})
    batch = table.batch(range(64))
    (numeric, missing, categorical), source = task.generate(batch, seeded())
    restored = torch.empty_like(numeric).scatter_(1, source, numeric)
    restored_missing = torch.empty_like(missing).scatter_(1, source, missing)
    assert torch.equal(restored, batch[0])
    assert torch.equal(restored_missing, batch[1])
    assert torch.equal(categorical, batch[2])


def test_swap_moves_two_pairs_per_row(table):
    task = create_task("tabular.swap", table.spec, {"row_fraction": 1.0, "pairs": 2})
    _, source = task.generate(table.batch(range(64)), seeded())
    moved = (source != torch.arange(source.shape[1])).sum(dim=1)
    assert moved.eq(4).all()


def test_swap_row_fraction_zero_changes_nothing(table):
    task = create_task("tabular.swap", table.spec, {"row_fraction": 0.0})
    batch = table.batch(range(64))
    (numeric, _, _), _ = task.generate(batch, seeded())
    assert torch.equal(numeric, batch[0])


def test_swap_too_many_pairs_raises(table):
    with pytest.raises(ValueError, match="pairs=3"):
        create_task("tabular.swap", table.spec, {"pairs": 3})


def test_super_resolution_quantizes_chosen_cells(table):
    task = create_task("tabular.super_resolution", table.spec, {"bins": 4, "fraction": 0.5})
    batch = table.batch(range(64))
    (numeric, missing, _), targets = task.generate(batch, seeded())
    chosen = targets[:, 1] > 0.5
    levels = set(torch.special.ndtri((torch.arange(4) + 0.5) / 4).tolist())
    assert set(numeric[chosen].tolist()) <= levels
    assert torch.equal(numeric[~chosen], batch[0][~chosen])
    assert torch.equal(targets[:, 0], batch[0])
    assert not chosen[missing > 0.5].any()


def test_super_resolution_beats_quantization_error_when_exact(table):
    task = create_task("tabular.super_resolution", table.spec)
    batch = table.batch(range(64))
    _, targets = task.generate(batch, seeded())
    metrics = task.metrics(batch[0].clone(), targets)
    assert metrics["rmse"] == 0.0
    assert metrics["quantized_rmse"] > 0.1


def test_next_value_targets_next_row(table):
    task = create_task("tabular.next_value", table.spec)
    batch = table.batch([0, 10, 63])
    _, targets = task.generate(batch, seeded())
    following = table.batch([1, 11, 63])
    numeric_count = following[0].shape[1]
    assert torch.equal(targets[:2, 0, :numeric_count], following[0][:2])
    assert targets[2, 1].sum().item() == 0.0


def test_next_value_needs_order_column():
    from sslstudio.data.samples import get_sample

    with pytest.raises(ValueError, match="order_column"):
        create_task("tabular.next_value", get_sample("penguins").open().spec)
