"""The text reader on each format and bad case, and the tokenizer round trip."""

from __future__ import annotations

import codecs
import json

import pytest
import torch

from sslstudio.data.base import DataError, open_dataset
from sslstudio.data.text import decode_bytes, open_text
from sslstudio.data.text_tokenizer import TextTokenizer, normalize
from tests.text_corpus import DOCUMENTS, write_corpus


def test_folder_reads_folder_column(tmp_path):
    dataset = open_text(write_corpus(tmp_path, copies=1), vocab_size=300, max_length=48)
    assert len(dataset) == len(DOCUMENTS)
    assert set(dataset.label_column("folder")) == {"good", "bad"}
    assert dataset.metadata["sample_id"].iloc[0] == "bad/doc_0_1.txt"


def test_open_dataset_detects_text_folder(tmp_path):
    dataset = open_dataset(write_corpus(tmp_path, copies=1), vocab_size=300)
    assert dataset.modality == "text"


def test_batch_shapes_and_padding(tmp_path):
    dataset = open_text(write_corpus(tmp_path, copies=1), vocab_size=300, max_length=48)
    ids, mask = dataset.batch([0, 1, 2])
    assert ids.shape == (3, 48)
    assert ids.dtype == torch.int64
    assert mask.dtype == torch.int64
    assert torch.equal(mask, (ids != 0).long())
    assert int(mask[1].sum()) == int(dataset.lengths[1])


def test_long_documents_are_cut_and_reported(tmp_path):
    dataset = open_text(write_corpus(tmp_path, copies=1), vocab_size=300, max_length=8)
    assert int(dataset.lengths.max()) == 8
    assert "longer than max_length=8" in dataset.report.issues[-1].reason


def test_utf8_bom_is_stripped(tmp_path):
    (tmp_path / "bom.txt").write_bytes(codecs.BOM_UTF8 + "Café au lait. Très bien!".encode("utf-8"))
    (tmp_path / "plain.txt").write_text("Another document here.", encoding="utf-8")
    dataset = open_text(tmp_path, vocab_size=100)
    assert dataset.texts[0] == "Café au lait. Très bien!"
    assert len(dataset.report) == 0


def test_utf16_with_bom_is_decoded(tmp_path):
    (tmp_path / "wide.txt").write_bytes("Naïve text in UTF-16.".encode("utf-16"))
    dataset = open_text(tmp_path, vocab_size=100)
    assert dataset.texts[0] == "Naïve text in UTF-16."


def test_cp1252_is_decoded_and_reported(tmp_path):
    (tmp_path / "windows.txt").write_bytes("It’s a “quote” – fine.".encode("cp1252"))
    dataset = open_text(tmp_path, vocab_size=100)
    assert dataset.texts[0] == "It’s a “quote” – fine."
    assert dataset.report.repaired[0].source == "windows.txt"
    assert "cp1252" in dataset.report.repaired[0].reason


def test_latin1_is_last_resort():
    text, encoding = decode_bytes(bytes([0x81, 0x41]))
    assert encoding == "latin-1"
    assert text == "\x81A"


def test_empty_documents_are_reported(tmp_path):
    write_corpus(tmp_path, copies=1)
    (tmp_path / "empty.txt").write_text("   \n\n ", encoding="utf-8")
    dataset = open_text(tmp_path, vocab_size=300)
    assert len(dataset) == len(DOCUMENTS)
    assert dataset.report.skipped[0].source == "empty.txt"
    assert dataset.report.skipped[0].reason == "empty document"


def test_only_empty_documents_raise(tmp_path):
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="no document with text"):
        open_text(tmp_path)


def test_csv_text_and_label_columns(tmp_path):
    path = tmp_path / "reviews.csv"
    rows = ["review,stars,score"] + [f'"{text}",{"good" if i % 2 else "bad"},{i}' for i, text in
                                     enumerate(text.replace("\n", " ") for text in DOCUMENTS)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    dataset = open_text(path, text_column="review", label_column="stars", vocab_size=300)
    assert len(dataset) == len(DOCUMENTS)
    assert dataset.label_column("stars")[:2] == ["bad", "good"]
    assert dataset.metadata["row"].tolist()[:2] == [2, 3]
    assert "review" not in dataset.metadata.columns


def test_csv_guesses_text_column_and_warns(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("id,body\n1,A long review about a film.\n2,Another long review here.\n", encoding="utf-8")
    dataset = open_text(path, vocab_size=100)
    assert dataset.texts[1] == "Another long review here."
    assert "using 'body'" in dataset.report.issues[0].reason


def test_csv_missing_column_raises(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\nFine film.,good\n", encoding="utf-8")
    with pytest.raises(DataError, match="label_column 'stars' not found; columns are text, label"):
        open_text(path, label_column="stars", vocab_size=100)


def test_csv_bad_rows_and_empty_cells_reported(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\nFine film.,good\nToo,many,fields\n,bad\nDull film.,bad\n", encoding="utf-8")
    dataset = open_text(path, vocab_size=100)
    assert dataset.texts == ["Fine film.", "Dull film."]
    locations = [issue.location for issue in dataset.report.skipped]
    assert locations == ["line 3", "line 4, column 'text'"]


def test_tsv_reads_tabs(tmp_path):
    path = tmp_path / "reviews.tsv"
    path.write_text("text\tlabel\nFine, warm film.\tgood\nDull film.\tbad\n", encoding="utf-8")
    dataset = open_text(path, vocab_size=100)
    assert dataset.texts == ["Fine, warm film.", "Dull film."]


def test_jsonl_field_and_bad_lines(tmp_path):
    path = tmp_path / "reviews.jsonl"
    lines = [json.dumps({"body": "Fine film.", "stars": 4}), "{not json", json.dumps({"other": "x"}),
             json.dumps({"body": 5}), json.dumps({"body": "Dull film.", "stars": 1})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dataset = open_text(path, field="body", vocab_size=100)
    assert dataset.texts == ["Fine film.", "Dull film."]
    assert dataset.label_column("stars") == ["4", "1"]
    assert [issue.location for issue in dataset.report.skipped] == ["line 2", "line 3", "line 4"]


def test_invalid_options_raise(tmp_path):
    write_corpus(tmp_path, copies=1)
    with pytest.raises(ValueError, match="max_length=4 is out of range"):
        open_text(tmp_path, max_length=4)
    with pytest.raises(ValueError, match="tokenizer='char' is invalid"):
        open_text(tmp_path, tokenizer="char")


@pytest.mark.parametrize("model", ["wordpiece", "bpe"])
def test_tokenizer_round_trip(model):
    tokenizer = TextTokenizer.train(DOCUMENTS * 3, vocab_size=300, model=model)
    for text in DOCUMENTS:
        assert tokenizer.decode(tokenizer.encode(text)) == normalize(text)


def test_tokenizer_keeps_punctuation_and_paragraphs():
    tokenizer = TextTokenizer.train(DOCUMENTS, vocab_size=300)
    vocabulary = tokenizer.vocabulary()
    tokens = [vocabulary[index] for index in tokenizer.encode("It's long.\n\nA new one?")]
    assert tokens.count("[PAR]") == 1
    assert "." in tokens
    assert "?" in tokens


def test_tokenizer_lowercase_round_trip():
    tokenizer = TextTokenizer.train(DOCUMENTS, vocab_size=300, lowercase=True)
    assert tokenizer.decode(tokenizer.encode(DOCUMENTS[1])) == DOCUMENTS[1].lower()


def test_tokenizer_training_is_deterministic():
    first = TextTokenizer.train(DOCUMENTS, vocab_size=200, model="bpe")
    second = TextTokenizer.train(DOCUMENTS, vocab_size=200, model="bpe")
    assert first.to_json() == second.to_json()


def test_tokenizer_saved_and_reused(tmp_path):
    write_corpus(tmp_path / "data", copies=1)
    saved = tmp_path / "tokenizer.json"
    first = open_text(tmp_path / "data", vocab_size=300, tokenizer="bpe", tokenizer_path=saved)
    (tmp_path / "data" / "good" / "doc_0_0.txt").write_text("Completely new words appear.", encoding="utf-8")
    second = open_text(tmp_path / "data", vocab_size=300, tokenizer_path=saved)
    assert second.tokenizer.model == "bpe"
    assert second.spec.extra["vocabulary"] == first.spec.extra["vocabulary"]


def test_export_assets_writes_tokenizer(tmp_path):
    dataset = open_text(write_corpus(tmp_path / "data", copies=1), vocab_size=300)
    assets = dataset.export_assets(tmp_path / "export")
    assert list(assets) == ["tokenizer_path"]
    loaded = TextTokenizer.load(assets["tokenizer_path"])
    assert loaded.encode(DOCUMENTS[0]) == dataset.tokenizer.encode(DOCUMENTS[0])
