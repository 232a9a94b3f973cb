"""Video pretext tasks from the registry: shapes, determinism, targets that undo the task, training steps."""

from __future__ import annotations

import pytest
import torch

from sslstudio.data.base import DatasetSpec
from sslstudio.models.base import build_encoder
from sslstudio.models.model import SSLModel
from sslstudio.tasks.registry import create_task, list_tasks
from sslstudio.tasks.video import NextFrameTask, SequenceOrderTask, permutations

SPEC = DatasetSpec("video", shape=(8, 3, 16, 16))
VIDEO_TASKS = list_tasks("video")
# Parameter sets each task is run with, besides its defaults.
VARIANTS = {
    "video.order": [{}, {"mode": "verification"}, {"segments": 3}, {"segments": 2}],
    "video.next_frame": [{}, {"target": "pooled", "grid": 2}, {"context": 7}],
}
# Training steps run on smaller clips, once per head kind.
SMALL_SPEC = DatasetSpec("video", shape=(4, 3, 8, 8))
TRAIN_VARIANTS = {
    "video.order": [{}, {"mode": "verification"}],
    "video.next_frame": [{}, {"target": "pooled", "grid": 2}],
}


def numbered_clips(count: int = 6, length: int = 8, size: int = 16) -> torch.Tensor:
    """Return N×T×3×S×S clips in which every pixel is (clip index · 100 + frame index) / 1000."""
    values = (torch.arange(count)[:, None] * 100 + torch.arange(length)[None, :]).float() / 1000
    return values[:, :, None, None, None].expand(count, length, 3, size, size).clone()


def frame_numbers(clips: torch.Tensor) -> torch.Tensor:
    """Return N×T frame indices read back from ``numbered_clips`` values."""
    return (clips[:, :, 0, 0, 0] * 1000).round().long() % 100


def cases(variants=None):
    for cls in VIDEO_TASKS:
        for params in (variants or VARIANTS).get(cls.name, [{}]):
            yield pytest.param(cls.name, params, id=f"{cls.name}-{params}")


def test_registry_has_both_tasks():
    assert {cls.name for cls in VIDEO_TASKS} == {"video.order", "video.next_frame"}


@pytest.mark.parametrize(("name", "params"), list(cases()))
def test_generate_deterministic(name, params):
    task = create_task(name, SPEC, params)
    first = task.generate(numbered_clips(), torch.Generator().manual_seed(3))
    second = task.generate(numbered_clips(), torch.Generator().manual_seed(3))
    assert torch.equal(first[0], second[0])
    assert torch.equal(first[1], second[1])


@pytest.fixture(scope="module")
def small_encoder():
    torch.manual_seed(0)
    return build_encoder(SMALL_SPEC, "small")


@pytest.mark.parametrize(("name", "params"), list(cases(TRAIN_VARIANTS)))
def test_training_step_finite(name, params, small_encoder):
    task = create_task(name, SMALL_SPEC, params)
    model = SSLModel(small_encoder, [task])
    inputs, targets = task.generate(numbered_clips(2, 4, 8), torch.Generator().manual_seed(0))
    outputs = model.forward_task(task.name, inputs)
    loss = task.loss(outputs, targets)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(parameter.grad is not None for parameter in model.heads.parameters())
    assert all(isinstance(value, float) for value in task.metrics(outputs.detach(), targets).values())


@pytest.mark.parametrize(("name", "params"), list(cases()))
def test_preview_one_item_per_clip(name, params):
    task = create_task(name, SPEC, params)
    items = task.preview(numbered_clips(3), torch.Generator().manual_seed(0))
    assert len(items) == 3
    assert all(item.caption for item in items)


@pytest.mark.parametrize("segments", [2, 3, 4, 5])
def test_order_target_restores_clip(segments):
    task = SequenceOrderTask(SPEC, {"segments": segments})
    clips = numbered_clips()
    inputs, targets = task.generate(clips, torch.Generator().manual_seed(1))
    run = 8 // segments
    order = permutations(segments)[targets]
    shown = inputs.reshape(len(inputs), segments, run, *inputs.shape[2:])
    restored = shown[torch.arange(len(inputs))[:, None], order.argsort(dim=1)].flatten(1, 2)
    assert torch.equal(restored, clips[:, :segments * run])


def test_order_shuffles_some_clips():
    task = SequenceOrderTask(SPEC)
    inputs, targets = task.generate(numbered_clips(16), torch.Generator().manual_seed(0))
    assert int((targets != 0).sum()) > 0
    assert not torch.equal(frame_numbers(inputs), frame_numbers(numbered_clips(16)[:, :8]))


def test_order_class_count():
    assert SequenceOrderTask(SPEC, {"segments": 4}).head.out_features == 24


def test_verification_targets_match_order():
    task = SequenceOrderTask(SPEC, {"mode": "verification"})
    inputs, targets = task.generate(numbered_clips(32), torch.Generator().manual_seed(0))
    forward = (frame_numbers(inputs) == torch.arange(8)).all(dim=1)
    assert torch.equal(forward.long(), targets)


def test_verification_has_both_classes():
    task = SequenceOrderTask(SPEC, {"mode": "verification"})
    _, targets = task.generate(numbered_clips(32), torch.Generator().manual_seed(0))
    assert set(targets.tolist()) == {0, 1}


def test_order_preview_positions():
    task = SequenceOrderTask(SPEC, {"segments": 4})
    clips = numbered_clips(3)
    items = task.preview(clips, torch.Generator().manual_seed(2))
    for index, item in enumerate(items):
        assert torch.equal(frame_numbers(item.input[None])[0], item.target)


def test_next_frame_target_follows_context():
    task = NextFrameTask(SPEC, {"context": 3})
    inputs, targets = task.generate(numbered_clips(), torch.Generator().manual_seed(5))
    context = frame_numbers(inputs)
    following = frame_numbers(targets[:, None])[:, 0]
    assert torch.equal(context[:, 1:] - context[:, :-1], torch.ones(6, 2, dtype=torch.long))
    assert torch.equal(following, context[:, -1] + 1)


def test_next_frame_same_clip():
    task = NextFrameTask(SPEC, {"context": 3})
    clips = numbered_clips()
    inputs, targets = task.generate(clips, torch.Generator().manual_seed(5))
    assert torch.equal((targets[:, 0, 0, 0] * 1000).round().long() // 100, torch.arange(6))


def test_next_frame_pooled_target_shape():
    task = NextFrameTask(SPEC, {"target": "pooled", "grid": 2})
    _, targets = task.generate(numbered_clips(), torch.Generator().manual_seed(0))
    assert targets.shape == (6, 12)


def test_next_frame_psnr_of_perfect_guess():
    task = NextFrameTask(SPEC)
    frames = torch.rand(2, 3, 16, 16)
    assert task.metrics(frames, frames)["psnr"] == pytest.approx(100.0)


@pytest.mark.parametrize(("name", "params", "parameter"), [
    ("video.order", {"segments": 9}, "segments"),
    ("video.order", {"mode": "sideways"}, "mode"),
    ("video.next_frame", {"context": 8}, "context"),
    ("video.next_frame", {"target": "pooled", "grid": 17}, "grid"),
])
def test_invalid_parameter_named(name, params, parameter):
    with pytest.raises(ValueError, match=parameter):
        create_task(name, SPEC, params)


def test_segments_longer_than_clip_rejected():
    with pytest.raises(ValueError, match="valid range is 2 to 3"):
        create_task("video.order", DatasetSpec("video", shape=(3, 3, 16, 16)), {"segments": 4})
