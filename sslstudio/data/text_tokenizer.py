"""A subword tokenizer trained on the user's own corpus with the ``tokenizers`` library.

The tokenizer keeps everything the text tasks need to recover from the ids:

- Unicode NFKC, then runs of blank lines become the ``[PAR]`` token (a
  paragraph break); other white space collapses to one space.
- Pre-tokenization is SentencePiece-style ``Metaspace`` (a word that follows a
  space starts with ``▁``) followed by splitting off runs of punctuation, so
  every punctuation mark is a token of its own and sentence ends stay visible.
- Decoding replaces ``▁`` with a space, so ``decode(encode(text))`` returns
  the normalized text (see ``normalize``) for characters seen in training.

Nothing is downloaded: the vocabulary is learned from the corpus passed to
``train``, and the whole tokenizer is one JSON file (``save``/``load``).
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

logger = logging.getLogger(__name__)

PAD, UNK, MASK, PAR = "[PAD]", "[UNK]", "[MASK]", "[PAR]"
SPECIAL_TOKENS = (PAD, UNK, MASK, PAR)
WORD_START = "▁"
TOKENIZER_MODELS = ("wordpiece", "bpe")
MIN_VOCAB_SIZE, MAX_VOCAB_SIZE = 64, 200_000

_BLANK_LINES = r"\s*\n\s*\n\s*"


def _build_pipeline(tokenizer: Tokenizer, lowercase: bool) -> None:
    steps = [normalizers.NFKC()]
    if lowercase:
        steps.append(normalizers.Lowercase())
    # No spaces around [PAR]: the text on each side of the added token is pre-tokenized
    # on its own, and Metaspace then starts the next paragraph with "▁" as it should.
    steps += [normalizers.Replace(Regex(_BLANK_LINES), PAR), normalizers.Replace(Regex(r"\s+"), " "),
              normalizers.Strip()]
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(prepend_scheme="always"),
                                                       pre_tokenizers.Punctuation("contiguous")])
    tokenizer.decoder = decoders.Metaspace(prepend_scheme="always")


def normalize(text: str, lowercase: bool = False) -> str:
    """Return ``text`` as ``decode(encode(text))`` gives it back.

    That is NFKC, optionally lowercased, paragraphs separated by one blank
    line and all other white space collapsed to one space.
    """
    text = unicodedata.normalize("NFKC", text)
    if lowercase:
        text = text.lower()
    paragraphs = (re.sub(r"\s+", " ", part).strip() for part in re.split(_BLANK_LINES, text.strip()))
    return "\n\n".join(part for part in paragraphs if part)


class TextTokenizer:
    """A trained WordPiece or BPE tokenizer with the special tokens ``[PAD]``, ``[UNK]``, ``[MASK]``, ``[PAR]``.

    The special tokens have the ids 0, 1, 2 and 3 in that order.
    """

    def __init__(self, tokenizer: Tokenizer, model: str, lowercase: bool):
        self.tokenizer = tokenizer
        self.model = model
        self.lowercase = lowercase
        for expected, token in enumerate(SPECIAL_TOKENS):
            if tokenizer.token_to_id(token) != expected:
                raise ValueError(f"tokenizer has {token} at id {tokenizer.token_to_id(token)}, expected {expected}; "
                                 "train a new tokenizer for this corpus")

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8000, model: str = "wordpiece",
              lowercase: bool = False) -> "TextTokenizer":
        """Learn a vocabulary of at most ``vocab_size`` tokens from ``texts``.

        The result depends only on the texts and the arguments.

        Raises:
            ValueError: for an unknown model or a vocabulary size outside 64..200000.
        """
        if model not in TOKENIZER_MODELS:
            raise ValueError(f"tokenizer={model!r} is invalid; choose from {', '.join(TOKENIZER_MODELS)}")
        if not MIN_VOCAB_SIZE <= vocab_size <= MAX_VOCAB_SIZE:
            raise ValueError(f"vocab_size={vocab_size} is out of range; valid range is {MIN_VOCAB_SIZE} to "
                             f"{MAX_VOCAB_SIZE}")
        specials = list(SPECIAL_TOKENS)
        # Word starts carry "▁", so continuation pieces need no "##" prefix of their own.
        if model == "wordpiece":
            tokenizer = Tokenizer(models.WordPiece(unk_token=UNK, continuing_subword_prefix="",
                                                   max_input_chars_per_word=100))
            trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                continuing_subword_prefix="", show_progress=False)
        else:
            tokenizer = Tokenizer(models.BPE(unk_token=UNK))
            trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
        _build_pipeline(tokenizer, lowercase)
        # Training sees one paragraph at a time, as encoding does once [PAR] splits the text.
        paragraphs = (part for text in texts for part in re.split(_BLANK_LINES, text) if part.strip())
        tokenizer.train_from_iterator(paragraphs, trainer)
        # Matched after normalization, where the normalizer has written [PAR] for blank lines.
        tokenizer.add_special_tokens([AddedToken(PAR, special=True, normalized=True)])
        logger.info("Trained a %s tokenizer with %d tokens", model, tokenizer.get_vocab_size())
        return cls(tokenizer, model, lowercase)

    @classmethod
    def from_json(cls, text: str) -> "TextTokenizer":
        """Rebuild a tokenizer from the JSON that ``to_json`` wrote.

        Raises:
            ValueError: if the JSON is not a tokenizer of this kind.
        """
        try:
            tokenizer = Tokenizer.from_str(text)
        except Exception as error:  # the Rust side raises plain Exception for malformed JSON
            raise ValueError(f"not a valid tokenizer JSON: {error}") from error
        model = "wordpiece" if isinstance(tokenizer.model, models.WordPiece) else "bpe"
        steps = json.loads(text).get("normalizer", {}).get("normalizers", [])
        lowercase = any(step.get("type") == "Lowercase" for step in steps)
        return cls(tokenizer, model, lowercase)

    @classmethod
    def load(cls, path: str | Path) -> "TextTokenizer":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def to_json(self) -> str:
        return self.tokenizer.to_str()

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def vocabulary(self) -> tuple[str, ...]:
        """Return the token string of every id, indexed by id."""
        by_id = {index: token for token, index in self.tokenizer.get_vocab().items()}
        return tuple(by_id.get(index, UNK) for index in range(self.vocab_size))

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]

    def decode(self, ids: Sequence[int]) -> str:
        """Return the text of ``ids``: ``[PAR]`` becomes a blank line, ``[PAD]`` is dropped."""
        ids = [int(index) for index in ids if int(index) != 0]
        paragraphs, current = [], []
        for index in ids:
            if index == 3:
                paragraphs.append(current)
                current = []
            else:
                current.append(index)
        paragraphs.append(current)
        return "\n\n".join(self.tokenizer.decode(part, skip_special_tokens=False) for part in paragraphs)
