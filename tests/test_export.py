"""Export of a trained classifier: every format reloads with the same outputs, and the card describes it."""

from __future__ import annotations

import copy
import json
import zipfile
from datetime import datetime
from importlib import metadata

import numpy as np
import onnxruntime as ort
import pytest
import torch

from sslstudio.export.bundle import FILE_NAMES, FORMATS, export_run
from sslstudio.export.card import CARD_NAME, ExportError, read_card, sha256_file, spec_from_card, write_card
from sslstudio.export.predict import load_export
from sslstudio.export.program import find_pickles
from sslstudio.export.weights import build_head_from
from sslstudio.models.base import build_encoder
from sslstudio.models.model import Classifier

pytest_plugins = ["tests.export_fixtures"]


def _pytorch_logits(trained, batch) -> np.ndarray:
    model = trained.result.model
    classifier = copy.deepcopy(Classifier(model.encoder, model.classifier)).cpu().eval()
    with torch.no_grad():
        return classifier(batch).numpy()


@pytest.fixture(scope="module")
def card(trained_export):
    return json.loads((trained_export.folder / CARD_NAME).read_text(encoding="utf-8"))


def test_export_writes_every_format(trained_export):
    for name in FORMATS:
        assert trained_export.written[name] == trained_export.folder / FILE_NAMES[name]
        assert trained_export.written[name].stat().st_size > 0
    assert trained_export.written["model_card"].name == CARD_NAME


@pytest.mark.parametrize("file_format", FORMATS)
def test_round_trip_same_outputs(trained_export, file_format):
    batch = trained_export.dataset.batch(list(range(0, 50, 10)), "cpu")
    expected = _pytorch_logits(trained_export, batch)

    exported = load_export(trained_export.folder, file_format)
    actual = exported.predict_logits(batch)

    assert actual.shape == (5, len(trained_export.result.class_names))
    assert np.max(np.abs(actual - expected)) <= 1e-4


def test_onnx_batch_axis_dynamic(trained_export):
    session = ort.InferenceSession(str(trained_export.written["onnx"]), providers=["CPUExecutionProvider"])
    assert isinstance(session.get_inputs()[0].shape[0], str)
    for size in (2, 7):
        batch = trained_export.dataset.batch(list(range(100, 100 + size)), "cpu")
        expected = _pytorch_logits(trained_export, batch)
        actual = session.run(None, {session.get_inputs()[0].name: batch.numpy()})[0]
        assert actual.shape == expected.shape
        assert np.max(np.abs(actual - expected)) <= 1e-4


def test_card_records_checks_per_format(card):
    for name in FORMATS:
        assert card["checks"][name]["batch_sizes"] == [1, 3]
        assert len(card["checks"][name]["max_abs_difference"]) == 2
        assert max(card["checks"][name]["max_abs_difference"]) <= 1e-4


def test_pt2_archive_has_no_pickles(trained_export):
    assert find_pickles(trained_export.written["pt2"]) == []
    with zipfile.ZipFile(trained_export.written["pt2"]) as archive:
        assert not [info.filename for info in archive.infolist() if info.filename.endswith(".pkl")]


def test_find_pickles_flags_example_inputs(tmp_path):
    module = torch.nn.Linear(3, 2).eval()
    program = torch.export.export(module, (torch.rand(2, 3),))
    path = tmp_path / "pickled.pt2"
    torch.export.save(program, path)

    found = find_pickles(path)

    assert len(found) == 1
    assert "sample_inputs" in found[0]


def test_safetensors_rebuilds_from_card(trained_export, card):
    from safetensors.torch import load_file

    spec = spec_from_card(card["input_spec"])
    rebuilt = Classifier(build_encoder(spec, card["model"]["encoder"]["size"]), build_head_from(card["model"]["head"]))
    state = load_file(str(trained_export.written["safetensors"]))
    rebuilt.load_state_dict(state, strict=True)
    rebuilt.eval()
    batch = trained_export.dataset.batch([3, 4, 5], "cpu")
    with torch.no_grad():
        actual = rebuilt(batch).numpy()
    assert spec == trained_export.dataset.spec
    assert np.max(np.abs(actual - _pytorch_logits(trained_export, batch))) <= 1e-5


def test_card_describes_data_and_run(trained_export, card):
    result, dataset = trained_export.result, trained_export.dataset
    assert card["schema_version"] == 2
    assert card["modality"] == "image"
    assert card["input_spec"]["shape"] == [3, 16, 16]
    assert card["inputs"] == [{"name": "input", "shape": ["batch", 3, 16, 16], "dtype": "float32"}]
    assert card["preprocessing"]["image_size"] == 16
    assert card["preprocessing"]["mean"] == list(dataset.mean)
    assert card["reader"] == {"modality": "image", "options": {"image_size": 16}, "assets": {}}
    assert card["class_names"] == result.class_names
    assert card["strategy"] == "transfer"
    assert [task["name"] for task in card["pretext_tasks"]] == ["image.rotation"]
    assert card["training"]["finetune_steps"] == trained_export.config.finetune_steps
    assert card["metrics"]["pretrained"]["accuracy"] == result.pretrained["accuracy"]
    assert card["metrics"]["scratch"] == {}
    assert card["dataset"]["size"] == len(dataset)
    assert sum(card["dataset"]["label_counts"].values()) == len(dataset)
    assert card["dataset"]["training_label_counts"] == result.extras["label_counts"]
    assert card["library_versions"]["torch"] == metadata.version("torch")
    assert "onnxruntime" in card["library_versions"]
    assert datetime.fromisoformat(card["created_at"]).tzinfo is not None


def test_card_sums_match_files(trained_export, card):
    for name in FORMATS:
        path = trained_export.written[name]
        assert card["files"][path.name]["sha256"] == sha256_file(path)
        assert card["files"][path.name]["bytes"] == path.stat().st_size


def test_card_is_strict_json(trained_export):
    def reject(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    text = (trained_export.folder / CARD_NAME).read_text(encoding="utf-8")
    assert isinstance(json.loads(text, parse_constant=reject), dict)


def test_card_reads_back_verified(trained_export, card):
    assert read_card(trained_export.folder) == card


def test_card_rejects_other_schema(trained_export, card, tmp_path):
    write_card(tmp_path, {**{key: value for key, value in card.items() if key != "card_sha256"},
                          "schema_version": 1})
    with pytest.raises(ExportError, match="schema version 1"):
        read_card(tmp_path)


def test_export_assets_listed_and_checked(trained_export, tmp_path):
    dataset = copy.copy(trained_export.dataset)

    def export_assets(out_dir):
        path = out_dir / "vocabulary.json"
        path.write_text('{"a": 0}', encoding="utf-8")
        return {"vocabulary": path}

    dataset.export_assets = export_assets
    written = export_run(trained_export.result, dataset, trained_export.config, tmp_path, formats=("onnx",))
    card = read_card(tmp_path)
    assert written["vocabulary"] == tmp_path / "vocabulary.json"
    assert card["reader"]["assets"] == {"vocabulary": "vocabulary.json"}
    assert card["files"]["vocabulary.json"]["sha256"] == sha256_file(tmp_path / "vocabulary.json")
    assert set(card["formats"]) == {"onnx"}

    (tmp_path / "vocabulary.json").write_text('{"b": 1}', encoding="utf-8")
    exported = load_export(tmp_path, "onnx")
    with pytest.raises(ExportError, match="vocabulary.json"):
        exported.open_data(trained_export.dataset.source)


def test_export_rejects_unknown_format(trained_export, tmp_path):
    with pytest.raises(ValueError, match="tflite"):
        export_run(trained_export.result, trained_export.dataset, trained_export.config, tmp_path, formats=("tflite",))

