"""Text pretext tasks on batches of token ids.

A batch is ``(token_ids, attention_mask)``, both N×L int64, padded with
``[PAD]`` (id 0); see ``sslstudio.data.text``. Every task returns inputs of
the same form and per-token targets N×L int64 with -100 where nothing is
asked (padding, untouched tokens). Targets describe the perturbation exactly,
so it can be undone: masked and next-word targets are the hidden token ids;
the punctuation, boundary and missing-word targets sit on the token after
which something was removed.

A "word" is a run of tokens that starts at a token beginning with ``▁``
(the tokenizer's mark for a preceding space): ``▁It ' s`` or ``▁day ...``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch.nn import functional

from sslstudio.data.base import DatasetSpec
from sslstudio.data.text_tokenizer import WORD_START
from sslstudio.tasks.base import HeadSpec, PretextTask, PreviewItem, TaskParams, param
from sslstudio.tasks.registry import register_task

IGNORE = -100
PAD_ID, MASK_ID, PAR_ID = 0, 2, 3
PUNCTUATION_MARKS = (",", ".", "?", "!", ";", ":")
SENTENCE_MARKS = (".", "!", "?")


@dataclass(frozen=True)
class Span:
    """A piece of previewed text; ``role`` names a highlight (mask, answer, inserted, split, missing) or is empty."""

    text: str
    role: str = ""


def _is_punctuation(text: str) -> bool:
    """Return whether a token (without ``▁``) is only punctuation or symbols; a bare ``▁`` counts too."""
    return all(unicodedata.category(char)[0] in "PS" for char in text)


class VocabularyTables:
    """Per-id lookup tables (V,) built once from the dataset's vocabulary."""

    def __init__(self, spec: DatasetSpec):
        vocabulary = spec.extra.get("vocabulary")
        if not vocabulary:
            raise ValueError("the dataset spec has no vocabulary; open the text with sslstudio.data.text")
        self.vocabulary = tuple(vocabulary)
        specials = set(spec.extra.get("special_tokens", {}).values())
        self.special = torch.tensor([index in specials for index in range(len(vocabulary))])
        self.word_start = torch.tensor([token.startswith(WORD_START) for token in vocabulary])
        self.capital_start = torch.tensor([token.startswith(WORD_START) and token[1:2].isupper()
                                           for token in vocabulary])
        self.punctuation = torch.tensor([_is_punctuation(token.lstrip(WORD_START)) for token in vocabulary])

    def mark_classes(self, marks: tuple[str, ...]) -> torch.Tensor:
        """Return (V,) int64: 1 + the index in ``marks`` for a token that is exactly that mark, else 0."""
        classes = torch.zeros(len(self.vocabulary), dtype=torch.long)
        for position, mark in enumerate(marks):
            for index, token in enumerate(self.vocabulary):
                if token == mark:
                    classes[index] = position + 1
        return classes

    def mark_ids(self, marks: tuple[str, ...]) -> torch.Tensor:
        """Return (len(marks) + 1,) int64: the token id of each mark after a 0 for "no mark" (0 where absent)."""
        lookup = {token: index for index, token in enumerate(self.vocabulary)}
        return torch.tensor([0] + [lookup.get(mark, 0) for mark in marks], dtype=torch.long)


def word_index(ids: torch.Tensor, tables: VocabularyTables) -> torch.Tensor:
    """Return N×L int64: the index of the word each token belongs to (special tokens are words of their own)."""
    starts = tables.word_start.to(ids.device)[ids] | tables.special.to(ids.device)[ids]
    return (starts.long().cumsum(dim=1) - 1).clamp(min=0)


def per_word_draws(ids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Return N×L uniform draws indexed by word index (one draw per possible word)."""
    return torch.rand(ids.shape, generator=generator, device=generator.device).to(ids.device)


def remove_tokens(ids: torch.Tensor, remove: torch.Tensor, values: torch.Tensor,
                  reduce: str = "sum") -> tuple[torch.Tensor, torch.Tensor]:
    """Delete the tokens where ``remove`` is True and shift the rest left.

    Each removed token's ``values`` entry is combined (``sum`` or ``amax``)
    into the target of the last kept token before it. The first token is
    never removed, so every removed token has one.

    Returns:
        ids N×L (padded with 0) and targets N×L int64 (-100 on padding).
    """
    count, length = ids.shape
    remove = remove.clone()
    remove[:, 0] = False
    keep = (ids != PAD_ID) & ~remove
    positions = torch.arange(length, device=ids.device).expand(count, length)
    new_position = keep.long().cumsum(dim=1) - 1
    rows = torch.arange(count, device=ids.device).unsqueeze(1).expand(count, length)
    compact = torch.zeros_like(ids)
    compact[rows[keep], new_position[keep]] = ids[keep]
    anchor = torch.where(keep, positions, torch.full_like(positions, -1)).cummax(dim=1).values.clamp(min=0)
    anchor_target = new_position.gather(1, anchor)
    collected = torch.zeros_like(ids)
    contribution = torch.where(remove, values, torch.zeros_like(values))
    if reduce == "sum":
        collected.scatter_add_(1, anchor_target.clamp(min=0), contribution)
    else:
        collected.scatter_reduce_(1, anchor_target.clamp(min=0), contribution, reduce="amax")
    targets = torch.where(compact != PAD_ID, collected, torch.full_like(collected, IGNORE))
    return compact, targets


def with_mask(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return ids, (ids != PAD_ID).long()


def token_text(token: str) -> str:
    """Return how a token reads in running text (``▁`` becomes a space, ``[PAR]`` a blank line)."""
    return "\n\n" if token == "[PAR]" else token.replace(WORD_START, " ")


class TokenTask(PretextTask):
    """A task with one class per token position; cross-entropy over the positions whose target is not -100."""

    num_classes: ClassVar[int] = 2
    # Tasks whose class 0 means "nothing here" also report F1 over the other classes.
    detection: ClassVar[bool] = True

    def __init__(self, spec: DatasetSpec, params=None):
        self.tables = VocabularyTables(spec)
        super().__init__(spec, params)

    @property
    def classes(self) -> int:
        return self.num_classes

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("token", self.classes)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over target positions (0 when a batch has none); outputs N×L×C, targets N×L."""
        total = functional.cross_entropy(outputs.flatten(0, 1), targets.flatten(), ignore_index=IGNORE,
                                         reduction="sum")
        return total / (targets != IGNORE).sum().clamp(min=1)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        asked = targets != IGNORE
        predicted = outputs.argmax(dim=-1)
        correct = (predicted == targets) & asked
        result = {"accuracy": float(correct.sum() / asked.sum().clamp(min=1))}
        if self.detection:
            true_positive = float((correct & (targets > 0)).sum())
            predicted_positive = float(((predicted > 0) & asked).sum())
            actual_positive = float((targets > 0).sum())
            result["f1"] = 2 * true_positive / max(predicted_positive + actual_positive, 1.0)
        return result

    def _spans(self, ids: torch.Tensor, roles: dict[int, str] | None = None) -> list[Span]:
        """Return the spans of one row of ids (padding dropped), with ``roles`` by position."""
        roles = roles or {}
        spans = []
        for position, index in enumerate(ids.tolist()):
            if index == PAD_ID:
                continue
            spans.append(Span(token_text(self.tables.vocabulary[index]), roles.get(position, "")))
        if spans:
            spans[0] = Span(spans[0].text.lstrip(" "), spans[0].role)
        return spans

    def _spans_with_markers(self, ids: torch.Tensor, positions: set[int], marker: str, role: str) -> list[Span]:
        """Return the spans of one row with a ``marker`` span after each token in ``positions``."""
        spans = []
        for position, span in enumerate(self._spans(ids)):
            spans.append(span)
            if position in positions:
                spans.append(Span(marker, role))
        return spans


def _reinsert(ids: torch.Tensor, targets: torch.Tensor, insert_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Insert ``insert_ids[n, t]`` (when not 0) after token t of each row; return ids and a mask of inserted tokens.

    Inserting is the inverse of ``remove_tokens`` for tasks whose targets name the removed token.
    """
    count, length = ids.shape
    inserted = (insert_ids != 0).long()
    # Every token shifts right by the number of insertions before it.
    shift = inserted.cumsum(dim=1) - inserted
    width = length + int(inserted.sum(dim=1).max()) if count else length
    out = torch.zeros((count, width), dtype=ids.dtype, device=ids.device)
    flags = torch.zeros((count, width), dtype=torch.bool, device=ids.device)
    rows = torch.arange(count, device=ids.device).unsqueeze(1).expand(count, length)
    positions = torch.arange(length, device=ids.device).expand(count, length) + shift
    present = ids != PAD_ID
    out[rows[present], positions[present]] = ids[present]
    extra = present & (insert_ids != 0)
    out[rows[extra], positions[extra] + 1] = insert_ids[extra]
    flags[rows[extra], positions[extra] + 1] = True
    return out, flags


@dataclass(frozen=True)
class MaskedWordParams(TaskParams):
    fraction: float = param(0.15, minimum=0.01, maximum=0.8, help="Share of words whose tokens are masked.")


@register_task
class MaskedWordTask(TokenTask):
    """Predict the tokens of whole words replaced by ``[MASK]``.

    Masked language modelling with whole-word masking: Devlin et al., "BERT:
    Pre-training of Deep Bidirectional Transformers for Language
    Understanding", NAACL 2019.
    """

    name = "text.masked_word"
    title = "Masked word"
    description = ("Some words are replaced by [MASK]; the model predicts them from the words around them, "
                   "so it must learn vocabulary, grammar and what usually goes together.")
    Params = MaskedWordParams
    default = True
    detection = False

    @property
    def classes(self) -> int:
        return len(self.tables.vocabulary)

    def generate(self, batch, generator: torch.Generator):
        """Return ``((ids, mask), targets)``: targets N×L are the original ids at masked tokens, else -100."""
        ids, _ = batch
        words = word_index(ids, self.tables)
        chosen = per_word_draws(ids, generator).gather(1, words) < self.params.fraction
        chosen &= (ids != PAD_ID) & ~self.tables.special.to(ids.device)[ids]
        inputs = torch.where(chosen, torch.full_like(ids, MASK_ID), ids)
        targets = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
        return with_mask(inputs), targets

    def preview(self, batch, generator: torch.Generator) -> list[PreviewItem]:
        (inputs, _), targets = self.generate(batch, generator)
        items = []
        for row in range(inputs.shape[0]):
            masked = {position: "mask" for position in (targets[row] != IGNORE).nonzero().flatten().tolist()}
            filled = torch.where(targets[row] != IGNORE, targets[row], inputs[row])
            answer = self._spans(filled, {key: "answer" for key in masked})
            # Keep the space before a masked word so the masked text reads like the original.
            shown = [Span(" [MASK]" if span.text.startswith(" ") else "[MASK]", "mask") if span.role else span
                     for span in answer]
            items.append(PreviewItem(shown, answer, f"{len(masked)} masked tokens"))
        return items


@dataclass(frozen=True)
class NextWordParams(TaskParams):
    min_prefix: int = param(1, minimum=1, maximum=4095, help="Fewest tokens shown before the token to predict.")


@register_task
class NextWordTask(TokenTask):
    """Predict the token that follows a prefix of the document (the rest is hidden as padding)."""

    name = "text.next_word"
    title = "Next word"
    description = ("The document is cut after a random number of tokens; the model predicts the token that comes "
                   "next, which needs the meaning and grammar of what came before.")
    Params = NextWordParams
    detection = False

    def check_spec(self, spec: DatasetSpec) -> None:
        if self.params.min_prefix >= spec.shape[0]:
            raise ValueError(f"min_prefix={self.params.min_prefix} is out of range; valid range for this data is "
                             f"1 to {spec.shape[0] - 1} (max_length - 1)")

    @property
    def classes(self) -> int:
        return len(self.tables.vocabulary)

    def generate(self, batch, generator: torch.Generator):
        """Return ``((prefix ids, mask), targets)``: targets are -100 except the next id at the prefix's last token.

        Documents shorter than ``min_prefix + 1`` tokens are kept whole and ask nothing.
        """
        ids, _ = batch
        count, length = ids.shape
        lengths = (ids != PAD_ID).sum(dim=1)
        low = self.params.min_prefix
        choices = (lengths - low).clamp(min=1)
        draws = torch.rand(count, generator=generator, device=generator.device).to(ids.device)
        prefix = low + (draws * choices).long().clamp(max=choices - 1)
        asked = lengths > low
        prefix = torch.where(asked, prefix, lengths)
        positions = torch.arange(length, device=ids.device).expand(count, length)
        inputs = torch.where(positions < prefix.unsqueeze(1), ids, torch.zeros_like(ids))
        targets = torch.full_like(ids, IGNORE)
        rows = asked.nonzero().flatten()
        targets[rows, prefix[rows] - 1] = ids[rows, prefix[rows]]
        return with_mask(inputs), targets

    def preview(self, batch, generator: torch.Generator) -> list[PreviewItem]:
        (inputs, _), targets = self.generate(batch, generator)
        items = []
        for row in range(inputs.shape[0]):
            asked = (targets[row] != IGNORE).nonzero().flatten().tolist()
            if not asked:
                items.append(PreviewItem(self._spans(inputs[row]), self._spans(inputs[row]), "too short to cut"))
                continue
            last = asked[0]
            shown = self._spans(inputs[row]) + [Span(" [?]", "mask")]
            answer = self._spans(inputs[row]) + [Span(token_text(self.tables.vocabulary[int(targets[row, last])]),
                                                      "answer")]
            items.append(PreviewItem(shown, answer, f"next token after {last + 1} tokens"))
        return items


class _RemovalTask(TokenTask):
    """A task that deletes tokens and asks, on the token before each gap, what was deleted there."""

    def _restore_preview(self, inputs: torch.Tensor, targets: torch.Tensor, insert_ids: torch.Tensor,
                         caption: str, role: str = "inserted") -> list[PreviewItem]:
        restored, flags = _reinsert(inputs, targets, insert_ids)
        items = []
        for row in range(inputs.shape[0]):
            marks = {position: role for position in flags[row].nonzero().flatten().tolist()}
            count = len(marks)
            items.append(PreviewItem(self._spans(inputs[row]), self._spans(restored[row], marks),
                                     caption.format(count=count)))
        return items


@dataclass(frozen=True)
class PunctuationParams(TaskParams):
    marks: tuple[str, ...] = param(PUNCTUATION_MARKS, choices=PUNCTUATION_MARKS,
                                   help="Marks that are stripped and must be restored.")


@register_task
class PunctuationTask(_RemovalTask):
    """Restore stripped punctuation: for each token, predict the mark that followed it (or none)."""

    name = "text.punctuation"
    title = "Punctuation restoration"
    description = ("Commas, full stops, question and exclamation marks, semicolons and colons are removed; the "
                   "model predicts which mark followed each word, which needs sentence structure and tone.")
    Params = PunctuationParams

    def check_spec(self, spec: DatasetSpec) -> None:
        if not self.params.marks:
            raise ValueError(f"marks=() is invalid; choose at least one of {', '.join(PUNCTUATION_MARKS)}")
        self.classes_by_id = self.tables.mark_classes(self.params.marks)
        self.ids_by_class = self.tables.mark_ids(self.params.marks)

    @property
    def classes(self) -> int:
        return len(self.params.marks) + 1

    def generate(self, batch, generator: torch.Generator):
        """Strip each mark token that directly follows a word token.

        Returns ``((ids, mask), targets)``: targets are 1 + the mark's index in
        ``marks`` on the token the mark followed, 0 on other tokens, -100 on padding.
        """
        ids, _ = batch
        device = ids.device
        classes = self.classes_by_id.to(device)[ids]
        previous = torch.nn.functional.pad(ids[:, :-1], (1, 0), value=PAD_ID)
        after_word = (previous != PAD_ID) & ~self.tables.punctuation.to(device)[previous] \
            & ~self.tables.special.to(device)[previous]
        inputs, targets = remove_tokens(ids, (classes > 0) & after_word, classes)
        return with_mask(inputs), targets

    def preview(self, batch, generator: torch.Generator) -> list[PreviewItem]:
        (inputs, _), targets = self.generate(batch, generator)
        insert = self.ids_by_class.to(inputs.device)[targets.clamp(min=0)]
        return self._restore_preview(inputs, targets, insert, "{count} marks restored")

    def restore(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Return the original ids from the stripped ids N×L and the targets (for checks and previews)."""
        insert = self.ids_by_class.to(inputs.device)[targets.clamp(min=0)]
        return _reinsert(inputs, targets, insert)[0]


@dataclass(frozen=True)
class SentenceSplitParams(TaskParams):
    paragraphs: bool = param(True, help="Also remove paragraph breaks and ask where they were.")


@register_task
class SentenceSplitTask(_RemovalTask):
    """Find sentence and paragraph boundaries after their marks are removed.

    A sentence boundary is a ``.``, ``!`` or ``?`` token after a word that is
    followed by a capitalized word, a paragraph break or the end of the
    document. Targets per token: ``mark + 4 * paragraph``, where mark is 0
    (none), 1 (``.``), 2 (``!``) or 3 (``?``) and paragraph is 1 when a
    paragraph break followed.
    """

    name = "text.sentence_split"
    title = "Sentence and paragraph splitting"
    description = ("Sentence-ending marks and paragraph breaks are removed, leaving one run of words; the model "
                   "predicts where each sentence and paragraph ended.")
    Params = SentenceSplitParams

    def check_spec(self, spec: DatasetSpec) -> None:
        self.classes_by_id = self.tables.mark_classes(SENTENCE_MARKS)
        self.ids_by_class = self.tables.mark_ids(SENTENCE_MARKS)

    @property
    def classes(self) -> int:
        return 2 * (len(SENTENCE_MARKS) + 1)

    def generate(self, batch, generator: torch.Generator):
        """Return ``((ids, mask), targets)`` with boundaries removed; see the class docstring for the targets."""
        ids, _ = batch
        device = ids.device
        classes = self.classes_by_id.to(device)[ids]
        following = torch.nn.functional.pad(ids[:, 1:], (0, 1), value=PAD_ID)
        previous = torch.nn.functional.pad(ids[:, :-1], (1, 0), value=PAD_ID)
        ends = (following == PAD_ID) | (following == PAR_ID) | self.tables.capital_start.to(device)[following]
        after_word = (previous != PAD_ID) & ~self.tables.punctuation.to(device)[previous] \
            & ~self.tables.special.to(device)[previous]
        sentence_end = (classes > 0) & ends & after_word
        paragraph = (ids == PAR_ID) if self.params.paragraphs else torch.zeros_like(ids, dtype=torch.bool)
        values = torch.where(paragraph, torch.full_like(ids, len(SENTENCE_MARKS) + 1), classes)
        inputs, targets = remove_tokens(ids, sentence_end | paragraph, values)
        return with_mask(inputs), targets

    def restore(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Return the original ids: re-insert each sentence mark, then each paragraph break."""
        marks = self.ids_by_class.to(inputs.device)[targets.clamp(min=0) % (len(SENTENCE_MARKS) + 1)]
        with_marks, _ = _reinsert(inputs, targets, marks)
        paragraph = (targets.clamp(min=0) // (len(SENTENCE_MARKS) + 1)) > 0
        # After inserting a mark the paragraph break belongs after that mark, so move the flag along.
        shifted = torch.zeros_like(with_marks, dtype=torch.bool)
        inserted = (marks != 0).long()
        positions = torch.arange(inputs.shape[1], device=inputs.device) + inserted.cumsum(dim=1)
        rows = torch.arange(inputs.shape[0], device=inputs.device).unsqueeze(1).expand_as(inputs)
        shifted[rows[paragraph], positions[paragraph]] = True
        breaks = torch.where(shifted, torch.full_like(with_marks, PAR_ID), torch.zeros_like(with_marks))
        return _reinsert(with_marks, torch.zeros_like(with_marks), breaks)[0]

    def preview(self, batch, generator: torch.Generator) -> list[PreviewItem]:
        (inputs, _), targets = self.generate(batch, generator)
        restored = self.restore(inputs, targets)
        items = []
        for row in range(inputs.shape[0]):
            splits = set((targets[row] > 0).nonzero().flatten().tolist())
            shown = self._spans_with_markers(inputs[row], splits, " |", "split")
            items.append(PreviewItem(shown, self._spans(restored[row]), f"{len(splits)} boundaries removed"))
        return items


@dataclass(frozen=True)
class MissingWordParams(TaskParams):
    fraction: float = param(0.15, minimum=0.01, maximum=0.5, help="Share of words deleted (never two in a row).")


@register_task
class MissingWordTask(_RemovalTask):
    """Detect where words were deleted: target 1 on the token right before a gap, 0 elsewhere.

    The first word and special tokens are never deleted, nor two neighbouring
    words, so each gap contains exactly one word.
    """

    name = "text.missing_word"
    title = "Missing-word detection"
    description = ("Some words are deleted from the text; the model marks the places where a word is missing, "
                   "which needs a sense of what a complete sentence looks like.")
    Params = MissingWordParams

    def choose(self, ids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return N×L bool: the tokens of the words to delete."""
        words = word_index(ids, self.tables)
        special = self.tables.special.to(ids.device)[ids]
        # A word is deletable when it is not special and not the first; decide per word index.
        deletable = torch.zeros_like(ids)
        deletable.scatter_reduce_(1, words, (~special & (ids != PAD_ID) & (words > 0)).long(), reduce="amax")
        drawn = (per_word_draws(ids, generator) < self.params.fraction) & (deletable > 0)
        previous = torch.nn.functional.pad(drawn[:, :-1], (1, 0), value=False)
        chosen = drawn & ~previous
        return chosen.gather(1, words) & (ids != PAD_ID)

    def generate(self, batch, generator: torch.Generator):
        """Return ``((ids, mask), targets)``: targets 1 on the token before each deleted word, 0 on others."""
        ids, _ = batch
        inputs, targets = remove_tokens(ids, self.choose(ids, generator), torch.ones_like(ids), reduce="amax")
        return with_mask(inputs), targets

    def preview(self, batch, generator: torch.Generator) -> list[PreviewItem]:
        ids, _ = batch
        removed = self.choose(ids, generator)
        inputs, targets = remove_tokens(ids, removed, torch.ones_like(ids), reduce="amax")
        items = []
        for row in range(inputs.shape[0]):
            gaps = set((targets[row] == 1).nonzero().flatten().tolist())
            shown = self._spans_with_markers(inputs[row], gaps, " ‸", "missing")
            deleted = {position: "answer" for position in removed[row].nonzero().flatten().tolist()}
            items.append(PreviewItem(shown, self._spans(ids[row], deleted), f"{len(gaps)} words missing"))
        return items
