"""Image pretext tasks, driven by the registry: generation, inversions, parameters and short training runs."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
import torch

from sslstudio.data.base import DatasetSpec
from sslstudio.models.base import build_encoder
from sslstudio.models.model import SSLModel
from sslstudio.tasks.image_ops import luma, maximal_hamming_permutations, perspective_warp, split_tiles, merge_tiles
from sslstudio.tasks.registry import create_task, list_tasks
from sslstudio.training.config import RunConfig, TaskChoice
from sslstudio.training.context import RunContext
from sslstudio.training.events import Progress
from sslstudio.training.loop import pretext_step, pretrain

TASKS = list_tasks("image")
TASK_IDS = [cls.name for cls in TASKS]
CLASSIFICATION_TASKS = [cls for cls in TASKS if cls.primary_metric == "accuracy"]
RECONSTRUCTION_TASKS = [cls for cls in TASKS if cls.primary_metric == "loss"]
# Tasks whose generation draws nothing at random; every other task must depend on the seed.
DETERMINISTIC_TASKS = {"image.colorization", "image.superres"}
RANDOM_TASKS = [cls for cls in TASKS if cls.name not in DETERMINISTIC_TASKS]
TINY_SPEC = DatasetSpec("image", shape=(3, 4, 4), extra={"image_size": 4})


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def batch(digits) -> torch.Tensor:
    return digits.batch(range(24))


def test_registry_lists_every_image_task():
    expected = {"image.colorization", "image.denoising", "image.hflip", "image.inpainting", "image.jigsaw",
                "image.perspective", "image.perturbation", "image.rotation", "image.superres", "image.vflip"}
    assert expected <= set(TASK_IDS)


@pytest.mark.parametrize("cls", TASKS, ids=TASK_IDS)
def test_parameters_declare_bounds(cls):
    for row in cls.Params.describe():
        if row["type"] in {"int", "float"} and row["choices"] is None:
            assert row["minimum"] is not None and row["maximum"] is not None, row["name"]


@pytest.mark.parametrize("cls", TASKS, ids=TASK_IDS)
def test_generate_shapes_and_dtypes(cls, digits, batch):
    task = cls(digits.spec)
    inputs, targets = task.generate(batch, seeded(0))
    assert inputs.shape == batch.shape
    assert inputs.dtype == torch.float32
    assert float(inputs.min()) >= 0.0
    assert float(inputs.max()) <= 1.0
    assert targets.shape[0] == batch.shape[0]
    if task.head.kind == "classification":
        assert targets.dtype == torch.int64
        assert targets.dim() == 1
        assert 0 <= int(targets.min())
        assert int(targets.max()) < task.head.out_features
    else:
        assert task.head.kind == "dense"
        assert targets.dtype == torch.float32
        assert targets.shape[-2:] == batch.shape[-2:]


@pytest.mark.parametrize("cls", TASKS, ids=TASK_IDS)
def test_same_seed_same_batch(cls, digits, batch):
    task = cls(digits.spec)
    first_inputs, first_targets = task.generate(batch, seeded(7))
    second_inputs, second_targets = task.generate(batch, seeded(7))
    assert torch.equal(first_inputs, second_inputs)
    assert torch.equal(first_targets, second_targets)


@pytest.mark.parametrize("cls", RANDOM_TASKS, ids=[cls.name for cls in RANDOM_TASKS])
def test_other_seed_other_batch(cls, digits, batch):
    task = cls(digits.spec)
    first_inputs, _ = task.generate(batch, seeded(1))
    second_inputs, _ = task.generate(batch, seeded(2))
    assert not torch.equal(first_inputs, second_inputs)


@pytest.mark.parametrize("cls", TASKS, ids=TASK_IDS)
def test_loss_and_metrics_on_model_output(cls, digits, batch):
    task = cls(digits.spec)
    model = SSLModel(build_encoder(digits.spec, "small"), [task])
    inputs, targets = task.generate(batch[:4], seeded(0))
    outputs = model.forward_task(task.name, inputs)
    loss = task.loss(outputs, targets)
    assert loss.dim() == 0
    assert math.isfinite(loss.item())
    assert task.primary_metric in task.metrics(outputs.detach(), targets)


@pytest.mark.parametrize("cls", TASKS, ids=TASK_IDS)
def test_preview_items_are_images(cls, digits, batch):
    task = cls(digits.spec)
    items = task.preview(batch[:4], seeded(0))
    assert len(items) == 4
    for item in items:
        assert item.input.shape == batch.shape[1:]
        assert item.target.shape == batch.shape[1:]
        assert 0.0 <= float(item.input.min())
        assert float(item.input.max()) <= 1.0
        assert item.caption.strip()


@pytest.mark.parametrize("grid", [2, 3])
def test_jigsaw_unshuffle_rebuilds_image(digits, batch, grid):
    task = create_task("image.jigsaw", digits.spec, {"grid": grid, "permutations": 20})
    inputs, targets = task.generate(batch, seeded(0))
    order = task.permutation_table[targets]
    restored = torch.empty_like(split_tiles(inputs, grid))
    restored[torch.arange(len(targets)).unsqueeze(1), order] = split_tiles(inputs, grid)
    assert torch.equal(merge_tiles(restored, inputs), batch)


def test_jigsaw_shuffles_most_images(digits, batch):
    task = create_task("image.jigsaw", digits.spec)
    inputs, _ = task.generate(batch, seeded(0))
    changed = (inputs != batch).flatten(1).any(dim=1).float().mean()
    assert float(changed) > 0.9


def test_permutation_set_is_deterministic_and_distinct():
    first = maximal_hamming_permutations(9, 30, 4)
    second = maximal_hamming_permutations.__wrapped__(9, 30, 4)
    assert (first == second).all()
    assert len({tuple(row) for row in first.tolist()}) == 30
    assert all(sorted(row) == list(range(9)) for row in first.tolist())


def test_permutation_set_beats_random_choice():
    chosen = maximal_hamming_permutations(9, 30, 0)
    generator = torch.Generator().manual_seed(0)
    random_rows = torch.stack([torch.randperm(9, generator=generator) for _ in range(30)]).numpy()

    def min_distance(rows):
        return min(int((a != b).sum()) for a, b in itertools.combinations(rows, 2))

    assert min_distance(chosen) > min_distance(random_rows)


@pytest.mark.parametrize("mask", ["center", "random_block", "random_patches"])
def test_inpainting_keeps_visible_pixels(digits, batch, mask):
    task = create_task("image.inpainting", digits.spec, {"mask": mask})
    inputs, targets = task.generate(batch, seeded(0))
    visible = targets[:, 3:].expand_as(batch) == 0
    assert torch.equal(inputs[visible], batch[visible])
    assert torch.equal(targets[:, :3], batch)
    assert 0.0 < float(targets[:, 3].mean()) < 1.0


def test_inpainting_loss_ignores_visible_pixels(digits, batch):
    task = create_task("image.inpainting", digits.spec)
    _, targets = task.generate(batch, seeded(0))
    hidden = targets[:, 3:].expand_as(batch).bool()
    outputs = batch.clone()
    outputs[~hidden] = 1.0 - outputs[~hidden]
    assert float(task.loss(outputs, targets)) == 0.0


@pytest.mark.parametrize("name, dims", [("image.hflip", 3), ("image.vflip", 2)])
def test_flip_back_recovers_input(digits, batch, name, dims):
    task = create_task(name, digits.spec)
    inputs, targets = task.generate(batch, seeded(0))
    flipped = targets.bool()
    restored = torch.where(flipped.view(-1, 1, 1, 1), inputs.flip(dims), inputs)
    assert torch.equal(restored, batch)
    assert 0 < int(flipped.sum()) < len(targets)


def test_rotation_back_recovers_input(digits, batch):
    task = create_task("image.rotation", digits.spec)
    inputs, targets = task.generate(batch, seeded(0))
    for index, target in enumerate(targets.tolist()):
        turns = task.params.angles[target] // 90
        assert torch.equal(torch.rot90(inputs[index], -turns, dims=(1, 2)), batch[index])


def test_colorization_input_is_lightness(digits, batch):
    task = create_task("image.colorization", digits.spec)
    inputs, targets = task.generate(batch, seeded(0))
    assert torch.allclose(inputs, luma(targets).expand_as(targets))


def test_perturbation_vertical_flip_inverts(digits, batch):
    task = create_task("image.perturbation", digits.spec, {"perturbations": ("vertical_flip",)})
    inputs, targets = task.generate(batch, seeded(0))
    restored = torch.where(targets.bool().view(-1, 1, 1, 1), inputs.flip(2), inputs)
    assert torch.equal(restored, batch)


def test_perturbation_unchanged_class_is_original(digits, batch):
    task = create_task("image.perturbation", digits.spec)
    inputs, targets = task.generate(batch, seeded(0))
    unchanged = targets == 0
    assert int(unchanged.sum()) > 0
    assert torch.equal(inputs[unchanged], batch[unchanged])


def test_perspective_warp_without_offsets_is_identity(batch):
    warped = perspective_warp(batch, torch.zeros(batch.shape[0], 4, 2))
    assert torch.allclose(warped, batch, atol=1e-5)


def test_perspective_zoom_class_moves_corners_alike(digits, batch):
    task = create_task("image.perspective", digits.spec)
    _, targets, details = task.make(batch, seeded(0))
    zoomed = details["offsets"][targets == 0].flatten(1)
    assert torch.allclose(zoomed.min(dim=1).values, zoomed.max(dim=1).values)


def test_superres_input_loses_detail(digits, batch):
    task = create_task("image.superres", digits.spec, {"factor": 4})
    inputs, targets = task.generate(batch, seeded(0))
    assert torch.equal(targets, batch)
    assert float((inputs - batch).abs().mean()) > 0.01


@pytest.mark.parametrize("noise", ["gaussian", "salt_and_pepper"])
def test_denoising_target_is_clean(digits, batch, noise):
    task = create_task("image.denoising", digits.spec, {"noise": noise})
    inputs, targets = task.generate(batch, seeded(0))
    assert torch.equal(targets, batch)
    assert float((inputs - batch).abs().mean()) > 0.01


INVALID_PARAMETERS = [
    ("image.jigsaw", {"grid": 3}, TINY_SPEC, r"grid=3 .*valid range is 2 to 2"),
    ("image.jigsaw", {"grid": 5}, None, r"grid=5 is invalid; choose from 2, 3"),
    ("image.jigsaw", {"grid": 2, "permutations": 30}, None, r"permutations=30 .*valid range is 2 to 24"),
    ("image.jigsaw", {"permutations": 1}, None, r"permutations=1 is out of range; valid range is 2 to 1000"),
    ("image.inpainting", {"size": 1.5}, None, r"size=1.5 is out of range; valid range is 0.05 to 0.9"),
    ("image.inpainting", {"mask": "center", "size": 0.9}, TINY_SPEC, r"size=0.9 hides .*valid range is 0.05 to 0.75"),
    ("image.inpainting", {"mask": "ring"}, None, r"mask='ring' is invalid; choose from center"),
    ("image.perturbation", {"perturbations": ()}, None, r"perturbations=\(\) is invalid; choose at least one of blur"),
    ("image.perturbation", {"perturbations": ("blur", "rain")}, None, r"perturbations='rain' is invalid; choose from"),
    ("image.perturbation", {"blur_sigma": -1.0}, None, r"blur_sigma=-1.0 is out of range; valid range is 0.3 to 10"),
    ("image.perturbation", {"contrast": -0.5}, None, r"contrast=-0.5 is out of range; valid range is 0.05 to 4"),
    ("image.perturbation", {"occlusion_size": 0.9}, TINY_SPEC, r"occlusion_size=0.9 hides .*valid range is 0.05"),
    ("image.denoising", {"strength": -0.1}, None, r"strength=-0.1 is out of range; valid range is 0.01 to 1"),
    ("image.superres", {"factor": 4}, TINY_SPEC, r"factor=4 is too large .*valid range is 2 to 2"),
    ("image.perspective", {"distortion": -0.2}, None, r"distortion=-0.2 is out of range; valid range is 0.05"),
    ("image.rotation", {"angles": (90,)}, None, r"angles=\(90,\) is invalid"),
]


@pytest.mark.parametrize("name, params, spec, message", INVALID_PARAMETERS,
                         ids=[f"{case[0]}-{'-'.join(case[1])}" for case in INVALID_PARAMETERS])
def test_invalid_parameters_rejected(digits, name, params, spec, message):
    with pytest.raises(ValueError, match=message):
        create_task(name, spec or digits.spec, params)


def test_task_parameters_are_frozen(digits):
    task = create_task("image.jigsaw", digits.spec)
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.params.grid = 2  # type: ignore[misc]


# Held-out samples for the training checks: 400 gives a standard error of 0.025 on a binary accuracy.
HELD_OUT = range(1397, 1797)
TRAIN = range(0, 1397)


@pytest.fixture(scope="module")
def digits_8px():
    """The digits at their native 8×8 resolution, which makes a training step about twice as fast as at 16 px."""
    from sslstudio.data.samples import get_sample

    return get_sample("digits").open(image_size=8)


def held_out_score(model: SSLModel, task, dataset) -> float:
    """Return the task's primary metric on the held-out digits, with a fixed generator, in eval mode."""
    model.eval()
    with torch.no_grad():
        inputs, targets = task.generate(dataset.batch(HELD_OUT), seeded(99))
        score = task.metrics(model.forward_task(task.name, inputs), targets)[task.primary_metric]
    model.train()
    return score


def beats_chance(accuracy: float, chance: float, margin_sigmas: float = 3.0) -> bool:
    """Return whether ``accuracy`` exceeds ``chance`` by ``margin_sigmas`` standard errors on the held-out set."""
    return accuracy > chance + margin_sigmas * math.sqrt(chance * (1 - chance) / len(HELD_OUT))


def train_until(task, dataset, max_steps: int, check_every: int, done, batch_size: int = 32,
                learning_rate: float = 2e-3) -> tuple[float, float, int]:
    """Train one task on the digits until ``done(initial, score)`` or ``max_steps``.

    Returns the held-out score before training, the last one, and the steps taken.
    """
    torch.manual_seed(0)
    model = SSLModel(build_encoder(dataset.spec, "small"), [task])
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    generator = seeded(0)
    order = torch.randperm(len(TRAIN), generator=seeded(1))
    initial = score = held_out_score(model, task, dataset)
    for step in range(1, max_steps + 1):
        start = (step * batch_size) % (len(TRAIN) - batch_size)
        pretext_step(model, [task], [1.0], dataset.batch(order[start:start + batch_size].tolist()), generator,
                     optimizer)
        if step % check_every == 0:
            score = held_out_score(model, task, dataset)
            if done(initial, score):
                return initial, score, step
    return initial, score, max_steps


@pytest.mark.parametrize("cls", CLASSIFICATION_TASKS, ids=[cls.name for cls in CLASSIFICATION_TASKS])
def test_short_training_beats_chance(cls, digits_8px):
    task = cls(digits_8px.spec)
    chance = 1.0 / task.head.out_features
    _, accuracy, steps = train_until(task, digits_8px, max_steps=150, check_every=25,
                                     done=lambda initial, score: beats_chance(score, chance))
    assert beats_chance(accuracy, chance), f"held-out accuracy {accuracy:.3f} after {steps} steps, chance {chance:.3f}"


@pytest.mark.parametrize("cls", RECONSTRUCTION_TASKS, ids=[cls.name for cls in RECONSTRUCTION_TASKS])
def test_short_training_lowers_loss(cls, digits_8px):
    task = cls(digits_8px.spec)
    initial, loss, steps = train_until(task, digits_8px, max_steps=75, check_every=25,
                                       done=lambda initial, score: score < 0.5 * initial)
    assert loss < 0.5 * initial, f"held-out loss {initial:.4f} -> {loss:.4f} after {steps} steps"


@pytest.mark.slow
@pytest.mark.parametrize("cls", TASKS, ids=TASK_IDS)
def test_full_training_learns_task(cls, digits):
    task = cls(digits.spec)
    initial, score, _ = train_until(task, digits, max_steps=400, check_every=400, done=lambda *_: False,
                                    batch_size=64, learning_rate=1e-3)
    if task.primary_metric == "accuracy":
        chance = 1.0 / task.head.out_features
        assert score > chance + 0.3 * (1 - chance), f"held-out accuracy {score:.3f}, chance {chance:.3f}"
    else:
        assert score < 0.2 * initial, f"held-out loss {initial:.4f} -> {score:.4f}"


MULTITASK = (TaskChoice.make("image.rotation", weight=1.0), TaskChoice.make("image.inpainting", weight=0.5),
             TaskChoice.make("image.jigsaw", {"grid": 2, "permutations": 12}, weight=2.0))


def test_multitask_pretraining_one_head_per_task(digits_8px):
    config = RunConfig(tasks=MULTITASK, batch_size=32, max_pretrain_steps=4, pretrain_epochs=1)
    tasks = [create_task(choice.name, digits_8px.spec, choice.params_dict) for choice in MULTITASK]
    torch.manual_seed(0)
    model = SSLModel(build_encoder(digits_8px.spec, "small"), tasks)
    heads_before = {key: [parameter.detach().clone() for parameter in head.parameters()]
                    for key, head in model.heads.items()}
    encoder_before = next(model.encoder.parameters()).detach().clone()
    context = RunContext(dataset=digits_8px, labels=[None] * len(digits_8px))
    events = [event for event in pretrain(model, tasks, [choice.weight for choice in MULTITASK], list(TRAIN),
                                          config, context, epochs=1) if isinstance(event, Progress)]
    assert len(model.heads) == 3
    assert len(events) == 4
    last = events[-1].metrics
    for choice in MULTITASK:
        assert math.isfinite(last[f"{choice.name}/loss"]), choice.name
    weighted = sum(choice.weight * last[f"{choice.name}/loss"] for choice in MULTITASK)
    assert last["loss"] == pytest.approx(weighted, rel=1e-5)
    for key, head in model.heads.items():
        changed = any(not torch.equal(old, new) for old, new in zip(heads_before[key], head.parameters()))
        assert changed, key
    assert not torch.equal(encoder_before, next(model.encoder.parameters()))
