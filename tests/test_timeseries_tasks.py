"""Every registered time-series task: shapes, determinism, padding left alone and targets that invert."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sslstudio.data.timeseries import open_timeseries
from sslstudio.models.base import build_encoder
from sslstudio.models.model import SSLModel
from sslstudio.tasks.registry import create_task, list_tasks
from sslstudio.tasks.timeseries import segment_permutations, series_lengths

TASKS = list_tasks("timeseries")
NAMES = [cls.name for cls in TASKS]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Twelve two-channel series of 40 to 62 steps (NaN-padded in the file), so batches carry padding."""
    folder = tmp_path_factory.mktemp("series")
    rng = np.random.default_rng(3)
    cases = np.full((12, 2, 62), np.nan)
    for index in range(12):
        length = 40 + 2 * index
        steps = np.arange(length)
        cases[index, 0, :length] = np.sin(steps / (3 + index)) + 0.1 * rng.normal(size=length)
        cases[index, 1, :length] = np.cos(steps / 5) * (1 + index / 10)
    np.save(folder / "waves.npy", cases)
    return open_timeseries(folder / "waves.npy")


@pytest.fixture(scope="module")
def batch(dataset):
    return dataset.batch(range(len(dataset)))


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_registry_has_three_tasks_and_defaults():
    assert NAMES == ["timeseries.forecast", "timeseries.outliers", "timeseries.reorder"]
    assert [cls.name for cls in TASKS if getattr(cls, "default", False)] == ["timeseries.outliers",
                                                                              "timeseries.reorder"]


@pytest.mark.parametrize("name", NAMES)
def test_inputs_keep_pair_shape(name, dataset, batch):
    task = create_task(name, dataset.spec)
    (values, mask), _ = task.generate(batch, _generator())
    assert values.shape == batch[0].shape
    assert mask.shape == batch[1].shape
    assert values.dtype == torch.float32


@pytest.mark.parametrize("name", NAMES)
def test_outputs_fit_targets_and_loss_backpropagates(name, dataset, batch):
    task = create_task(name, dataset.spec)
    torch.manual_seed(0)
    model = SSLModel(build_encoder(dataset.spec, "small"), [task])
    inputs, targets = task.generate((batch[0][:4], batch[1][:4]), _generator())
    outputs = model.forward_task(name, inputs)
    loss = task.loss(outputs, targets)
    loss.backward()
    assert loss.dim() == 0
    assert math.isfinite(loss.item())
    assert all(parameter.grad is not None for parameter in model.encoder.parameters())
    assert set(task.metrics(outputs.detach(), targets)) >= {task.primary_metric} - {"loss"}


@pytest.mark.parametrize("name", NAMES)
def test_generation_is_deterministic(name, dataset, batch):
    task = create_task(name, dataset.spec)
    (first, _), first_targets = task.generate(batch, _generator(7))
    (second, _), second_targets = task.generate(batch, _generator(7))
    (other, _), _ = task.generate(batch, _generator(8))
    assert torch.equal(first, second)
    assert torch.equal(first_targets.nan_to_num(-9), second_targets.nan_to_num(-9))
    assert not torch.equal(first, other)


@pytest.mark.parametrize("name", NAMES)
def test_padding_stays_empty(name, dataset, batch):
    task = create_task(name, dataset.spec)
    (values, mask), _ = task.generate(batch, _generator())
    padding = batch[1] == 0
    assert bool((mask[padding] == 0).all())
    assert bool((values[padding] == 0).all())


@pytest.mark.parametrize("name", NAMES)
def test_preview_items_per_sample(name, dataset, batch):
    task = create_task(name, dataset.spec)
    items = task.preview((batch[0][:3], batch[1][:3]), _generator())
    assert len(items) == 3
    assert all(isinstance(item.target, dict) and "original" in item.target for item in items)
    assert all(item.caption for item in items)


def test_reorder_target_restores_series(dataset, batch):
    task = create_task("timeseries.reorder", dataset.spec, {"segments": 4})
    (shuffled, _), targets = task.generate(batch, _generator(1))
    orders = segment_permutations(4)[targets]
    restored = shuffled.clone()
    for index, length in enumerate(series_lengths(batch[1]).tolist()):
        size = length // 4
        for slot, original in enumerate(orders[index].tolist()):
            restored[index, :, original * size:(original + 1) * size] = shuffled[index, :, slot * size:(slot + 1) * size]
    assert torch.equal(restored, batch[0])
    assert targets.max() < 24
    assert len(set(targets.tolist())) > 1


def test_outliers_leave_clean_steps_unchanged(dataset, batch):
    task = create_task("timeseries.outliers", dataset.spec)
    (corrupted, _), targets = task.generate(batch, _generator(2))
    flags = targets[:, 0]
    clean = (flags == 0)[:, None, :].expand_as(corrupted)
    corrupted_steps = (flags == 1)[:, None, :].expand_as(corrupted)
    assert torch.equal(corrupted[clean], batch[0][clean])
    assert bool((corrupted[corrupted_steps] != batch[0][corrupted_steps]).any())
    assert bool((flags == 1).any(dim=1).all())
    assert bool(((flags == -1) == (series_lengths(batch[1])[:, None] <= torch.arange(62))).all())


def test_outlier_repair_targets_are_clean_values(dataset, batch):
    task = create_task("timeseries.outliers", dataset.spec, {"repair": True, "kinds": ("spike",)})
    _, targets = task.generate(batch, _generator(2))
    assert task.head.out_features == 3
    assert torch.equal(targets[:, 1:].nan_to_num(0.0), batch[0])


def test_forecast_context_and_targets_restore_series(dataset, batch):
    task = create_task("timeseries.forecast", dataset.spec, {"horizon": 5})
    points = task.forecast_points(batch[1], _generator(4))
    (context, context_mask), targets = task.cut(batch, points)
    for index, point in enumerate(points.tolist()):
        assert torch.equal(context[index, :, :point], batch[0][index, :, :point])
        assert bool((context_mask[index, :, point:] == 0).all())
        assert torch.equal(targets[index], batch[0][index, :, point:point + 5])
    assert bool((points + 5 <= series_lengths(batch[1])).all())


@pytest.mark.parametrize(("name", "params", "message"), [
    ("timeseries.reorder", {"segments": 6}, "segments=6 is out of range"),
    ("timeseries.forecast", {"horizon": 40}, "horizon=40 is out of range for this data; valid range is 1 to 39"),
    ("timeseries.outliers", {"max_width": 45}, "max_width=45 is out of range for this data"),
    ("timeseries.outliers", {"kinds": ("glitch",)}, "kinds='glitch' is invalid"),
])
def test_invalid_parameters_raise(name, params, message, dataset):
    with pytest.raises(ValueError, match=message):
        create_task(name, dataset.spec, params)
