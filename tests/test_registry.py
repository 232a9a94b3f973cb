"""The task registry and the rotation task."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from sslstudio.data.base import DatasetSpec
from sslstudio.tasks import list_tasks
from sslstudio.tasks.base import ClassificationTask, TaskParams, param
from sslstudio.tasks.registry import create_task, get_task, register_task

IMAGE_SPEC = DatasetSpec("image", (3, 16, 16))


def test_unknown_task_lists_known_names():
    with pytest.raises(KeyError) as error:
        get_task("image.nonexistent")
    assert "image.rotation" in str(error.value)


def test_list_by_modality():
    names = [cls.name for cls in list_tasks("image")]
    assert "image.rotation" in names
    assert all(name.startswith("image.") for name in names)


def test_unknown_modality_rejected():
    with pytest.raises(ValueError, match="unknown modality 'audio'"):
        list_tasks("audio")


def test_bad_task_name_rejected():
    class Nameless(ClassificationTask):
        name = "sound.beep"

    with pytest.raises(ValueError, match="must be 'modality.name'"):
        register_task(Nameless)


def test_task_for_other_modality_rejected():
    with pytest.raises(ValueError, match="for image data, but the dataset is text"):
        create_task("image.rotation", DatasetSpec("text"))


def test_param_bounds_name_parameter():
    @dataclass(frozen=True)
    class Params(TaskParams):
        strength: float = param(0.5, minimum=0.0, maximum=1.0)

    with pytest.raises(ValueError, match=r"strength=-1.0 is out of range; valid range is 0.0 to 1.0"):
        Params(strength=-1.0)


def test_rotation_target_is_applied_angle():
    task = create_task("image.rotation", IMAGE_SPEC)
    images = torch.rand(32, 3, 16, 16)
    inputs, targets = task.generate(images, torch.Generator().manual_seed(0))
    assert inputs.shape == images.shape
    assert targets.dtype == torch.int64
    for image, rotated, target in zip(images, inputs, targets):
        expected = torch.rot90(image, int(target), dims=(1, 2))
        assert torch.equal(rotated, expected)


def test_rotating_back_recovers_input():
    task = create_task("image.rotation", IMAGE_SPEC)
    images = torch.rand(16, 3, 16, 16)
    inputs, targets = task.generate(images, torch.Generator().manual_seed(1))
    restored = torch.stack([torch.rot90(x, -int(t), dims=(1, 2)) for x, t in zip(inputs, targets)])
    assert torch.equal(restored, images)


def test_rotation_uses_all_angles_and_is_seeded():
    task = create_task("image.rotation", IMAGE_SPEC)
    images = torch.rand(64, 3, 16, 16)
    _, first = task.generate(images, torch.Generator().manual_seed(5))
    _, second = task.generate(images, torch.Generator().manual_seed(5))
    assert torch.equal(first, second)
    assert set(first.tolist()) == {0, 1, 2, 3}


def test_rotation_subset_of_angles():
    task = create_task("image.rotation", IMAGE_SPEC, {"angles": (0, 180)})
    assert task.head.out_features == 2
    images = torch.rand(8, 3, 16, 16)
    inputs, targets = task.generate(images, torch.Generator().manual_seed(2))
    for image, rotated, target in zip(images, inputs, targets):
        assert torch.equal(rotated, torch.rot90(image, 2 * int(target), dims=(1, 2)))


def test_rotation_rejects_invalid_angle():
    with pytest.raises(ValueError, match="angles=45 is invalid"):
        create_task("image.rotation", IMAGE_SPEC, {"angles": (0, 45)})
