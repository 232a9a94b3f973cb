"""Registry-driven tests of the text pretext tasks: shapes, determinism, inversion, training signal."""

from __future__ import annotations

import pytest
import torch

from sslstudio.data.text import open_text
from sslstudio.models.base import build_encoder
from sslstudio.models.model import SSLModel
from sslstudio.tasks.registry import create_task, list_tasks
from sslstudio.tasks.text import IGNORE, PAR_ID, Span, word_index
from tests.text_corpus import write_corpus

TASKS = list_tasks("text")
STRONG = {"fraction": 0.4}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return open_text(write_corpus(tmp_path_factory.mktemp("corpus")), vocab_size=300, max_length=32)


def make(cls, spec):
    names = {row["name"] for row in cls.Params.describe()}
    return create_task(cls.name, spec, {key: value for key, value in STRONG.items() if key in names})


def test_five_text_tasks_registered():
    assert {cls.name for cls in TASKS} == {"text.masked_word", "text.next_word", "text.punctuation",
                                            "text.sentence_split", "text.missing_word"}


@pytest.mark.parametrize("cls", TASKS, ids=lambda cls: cls.name)
def test_generate_shapes_and_determinism(cls, corpus):
    task = make(cls, corpus.spec)
    batch = corpus.batch(range(24))
    (ids, mask), targets = task.generate(batch, torch.Generator().manual_seed(3))
    (again, _), targets_again = task.generate(batch, torch.Generator().manual_seed(3))
    assert ids.shape == batch[0].shape
    assert targets.shape == batch[0].shape
    assert torch.equal(mask, (ids != 0).long())
    assert torch.equal(ids, again)
    assert torch.equal(targets, targets_again)
    assert int((targets != IGNORE).sum()) > 0
    assert int(targets.max()) < task.head.out_features


@pytest.mark.parametrize("cls", TASKS, ids=lambda cls: cls.name)
def test_loss_trains_model(cls, corpus):
    torch.manual_seed(0)
    task = make(cls, corpus.spec)
    model = SSLModel(build_encoder(corpus.spec, "small"), [task])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = corpus.batch(range(8, 16))
    inputs, targets = task.generate(batch, torch.Generator().manual_seed(0))
    losses = []
    for _ in range(8):
        optimizer.zero_grad()
        outputs = model.forward_task(task.name, inputs)
        loss = task.loss(outputs, targets)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    metrics = task.metrics(outputs.detach(), targets)
    assert outputs.shape == (*targets.shape, task.head.out_features)
    assert losses[-1] < losses[0]
    assert 0.0 <= metrics["accuracy"] <= 1.0


@pytest.mark.parametrize("cls", TASKS, ids=lambda cls: cls.name)
def test_preview_spans(cls, corpus):
    items = make(cls, corpus.spec).preview(corpus.batch([0, 1]), torch.Generator().manual_seed(1))
    assert len(items) == 2
    assert all(isinstance(span, Span) for span in items[0].input + items[0].target)
    assert any(span.role for span in items[0].input + items[0].target)


def test_masked_word_fill_restores_ids(corpus):
    task = create_task("text.masked_word", corpus.spec, STRONG)
    batch = corpus.batch(range(24))
    (ids, _), targets = task.generate(batch, torch.Generator().manual_seed(5))
    filled = torch.where(targets != IGNORE, targets, ids)
    assert int((ids == 2).sum()) == int((targets != IGNORE).sum())
    assert torch.equal(filled, batch[0])


def test_masked_word_masks_whole_words(corpus):
    task = create_task("text.masked_word", corpus.spec, STRONG)
    original = corpus.batch(range(24))[0]
    (ids, _), _ = task.generate(corpus.batch(range(24)), torch.Generator().manual_seed(5))
    words = word_index(original, task.tables)
    for row in range(ids.shape[0]):
        masked_words = set(words[row][ids[row] == 2].tolist())
        for word in masked_words:
            assert bool((ids[row][words[row] == word] == 2).all())


def test_next_word_prefix_and_target(corpus):
    task = create_task("text.next_word", corpus.spec)
    original = corpus.batch(range(24))[0]
    (ids, mask), targets = task.generate(corpus.batch(range(24)), torch.Generator().manual_seed(2))
    for row in range(ids.shape[0]):
        position = int((targets[row] != IGNORE).nonzero().flatten()[0])
        assert int(mask[row].sum()) == position + 1
        assert torch.equal(ids[row, :position + 1], original[row, :position + 1])
        assert int(targets[row, position]) == int(original[row, position + 1])


@pytest.mark.parametrize("name", ["text.punctuation", "text.sentence_split"])
def test_reinserting_removed_marks_restores_ids(name, corpus):
    task = create_task(name, corpus.spec)
    original = corpus.batch(range(24))[0]
    (ids, _), targets = task.generate(corpus.batch(range(24)), torch.Generator().manual_seed(0))
    restored = task.restore(ids, targets)
    assert int((ids != 0).sum()) < int((original != 0).sum())
    assert torch.equal(restored[:, :original.shape[1]], original)
    assert int(restored[:, original.shape[1]:].abs().sum()) == 0


def test_sentence_split_removes_paragraphs(corpus):
    task = create_task("text.sentence_split", corpus.spec)
    original = corpus.batch(range(24))[0]
    (ids, _), targets = task.generate(corpus.batch(range(24)), torch.Generator().manual_seed(0))
    assert int((original == PAR_ID).sum()) > 0
    assert int((ids == PAR_ID).sum()) == 0
    assert int((targets >= 4).sum()) == int((original == PAR_ID).sum())


def test_missing_word_reinsertion_restores_text(corpus):
    task = create_task("text.missing_word", corpus.spec, {"fraction": 0.3})
    original = corpus.batch(range(24))[0]
    (ids, _), targets = task.generate(corpus.batch(range(24)), torch.Generator().manual_seed(4))
    assert int((targets == 1).sum()) > 0
    for row in range(ids.shape[0]):
        # Walk the original words; a target of 1 after a kept token means the next original word was deleted.
        original_words = _words(original[row], task)
        kept_words = _words(ids[row], task)
        gaps_after = _word_gaps(ids[row], targets[row], task)
        rebuilt, pointer = [], 0
        for number, word in enumerate(kept_words):
            assert word == original_words[pointer]
            rebuilt.append(word)
            pointer += 1
            if number in gaps_after:
                rebuilt.append(original_words[pointer])
                pointer += 1
        restored = torch.tensor([index for word in rebuilt for index in word])
        assert corpus.tokenizer.decode(restored) == corpus.tokenizer.decode(original[row])


def _words(ids, task):
    present = ids[ids != 0]
    words = word_index(present.unsqueeze(0), task.tables)[0]
    return [tuple(present[words == word].tolist()) for word in range(int(words.max()) + 1)]


def _word_gaps(ids, targets, task):
    """Return the indices of kept words whose last token carries target 1."""
    present = ids[ids != 0]
    words = word_index(present.unsqueeze(0), task.tables)[0]
    return {int(words[position]) for position in (targets[:len(present)] == 1).nonzero().flatten().tolist()}


@pytest.mark.parametrize("name, params, message", [
    ("text.masked_word", {"fraction": 0.0}, "fraction=0.0 is out of range"),
    ("text.missing_word", {"fraction": 0.9}, "fraction=0.9 is out of range"),
    ("text.punctuation", {"marks": ("#",)}, "marks='#' is invalid"),
    ("text.punctuation", {"marks": ()}, "marks=\\(\\) is invalid"),
    ("text.next_word", {"min_prefix": 32}, "min_prefix=32 is out of range"),
])
def test_invalid_params_raise(name, params, message, corpus):
    with pytest.raises(ValueError, match=message):
        create_task(name, corpus.spec, params)
