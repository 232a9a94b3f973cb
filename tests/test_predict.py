"""``sslstudio predict`` and ``predict_folder`` reproduce the in-app predictions and reject damaged exports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from sslstudio import cli
from sslstudio.export.bundle import FILE_NAMES, FORMATS
from sslstudio.export.card import CARD_NAME, ExportError, file_entry, read_card, write_card
from sslstudio.export.predict import load_export, predict_folder
from sslstudio.training.loop import predict_proba

pytest_plugins = ["tests.export_fixtures"]

IMAGES_PER_CLASS = 3


@pytest.fixture(scope="module")
def new_images(trained_export, tmp_path_factory) -> Path:
    """A folder of digit PNGs copied from the sample (three per class) plus one file that is not an image."""
    folder = tmp_path_factory.mktemp("new-images")
    metadata = trained_export.dataset.metadata
    for _, rows in metadata.groupby("folder"):
        for _, row in rows.head(IMAGES_PER_CLASS).iterrows():
            target = folder / row["sample_id"]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(row["path"], target)
    (folder / "3" / "broken.png").write_bytes(b"not a png")
    return folder


def _in_app_probabilities(trained_export, sample_ids) -> np.ndarray:
    position = {sample_id: index for index, sample_id in enumerate(trained_export.dataset.ids)}
    indices = [position[sample_id] for sample_id in sample_ids]
    return predict_proba(trained_export.result.model, trained_export.dataset, indices, torch.device("cpu"))


def _probability_columns(trained_export) -> list[str]:
    return [f"prob_{name}" for name in trained_export.result.class_names]


def _copy_export(trained_export, destination: Path, names) -> Path:
    destination.mkdir()
    for name in [CARD_NAME, *names]:
        shutil.copyfile(trained_export.folder / name, destination / name)
    return destination


def test_cli_predict_matches_in_app(trained_export, new_images, tmp_path, capsys):
    out = tmp_path / "predictions.csv"

    code = cli.main(["predict", str(trained_export.folder), str(new_images), "--out", str(out)])

    captured = capsys.readouterr()
    frame = pd.read_csv(out, dtype={"predicted": str})
    expected = _in_app_probabilities(trained_export, frame["sample_id"])
    class_names = trained_export.result.class_names
    assert code == 0
    assert len(frame) == 10 * IMAGES_PER_CLASS
    assert list(frame.columns) == ["sample_id", "predicted", *_probability_columns(trained_export)]
    assert np.max(np.abs(frame[_probability_columns(trained_export)].to_numpy() - expected)) <= 1e-4
    assert frame["predicted"].tolist() == [class_names[index] for index in expected.argmax(axis=1)]
    assert "30 loaded, 1 skipped" in captured.err
    assert "3/broken.png" in captured.err
    assert f"wrote {out}" in captured.out


@pytest.mark.parametrize("file_format", FORMATS)
def test_predict_folder_matches_in_app(trained_export, new_images, file_format):
    frame = predict_folder(trained_export.folder, new_images, file_format)

    expected = _in_app_probabilities(trained_export, frame["sample_id"])
    assert np.max(np.abs(frame[_probability_columns(trained_export)].to_numpy() - expected)) <= 1e-4
    assert len(frame.attrs["import_report"].skipped) == 1


def test_predict_probabilities_sum_to_one(trained_export, new_images):
    frame = predict_folder(trained_export.folder, new_images)

    sums = frame[_probability_columns(trained_export)].sum(axis=1).to_numpy()
    assert np.allclose(sums, 1.0, atol=1e-5)


def test_cli_predict_reports_label_agreement(trained_export, new_images, tmp_path, capsys):
    cli.main(["predict", str(trained_export.folder), str(new_images), "--out", str(tmp_path / "p.csv"),
              "--format", "safetensors"])

    assert "Agreement with the labels in 'folder':" in capsys.readouterr().out


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _tamper(path: Path) -> None:
    if path.name == CARD_NAME:
        card = json.loads(path.read_text(encoding="utf-8"))
        card["class_names"] = list(reversed(card["class_names"]))
        path.write_text(json.dumps(card, indent=2), encoding="utf-8")
        return
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGED = [(FILE_NAMES[name], name) for name in FORMATS] + [(CARD_NAME, "onnx")]


@pytest.mark.parametrize("damage", [_truncate, _tamper], ids=["truncated", "tampered"])
@pytest.mark.parametrize(("file_name", "file_format"), DAMAGED)
def test_damaged_file_named_in_error(trained_export, tmp_path, damage, file_name, file_format):
    folder = _copy_export(trained_export, tmp_path / "export", [FILE_NAMES[file_format]])
    damage(folder / file_name)

    with pytest.raises(ExportError) as error:
        load_export(folder, file_format)

    assert str(folder / file_name) in str(error.value)


def test_cli_predict_damaged_file_exits_2(trained_export, new_images, tmp_path, capsys):
    folder = _copy_export(trained_export, tmp_path / "export", [FILE_NAMES["pt2"]])
    _truncate(folder / "model.pt2")

    code = cli.main(["predict", str(folder), str(new_images), "--out", str(tmp_path / "p.csv"), "--format", "pt2"])

    assert code == 2
    assert "model.pt2" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


def test_missing_format_file_named(trained_export, tmp_path):
    folder = _copy_export(trained_export, tmp_path / "export", [])

    with pytest.raises(ExportError, match="model.safetensors: missing"):
        load_export(folder, "safetensors")


def test_pickled_pt2_rejected_even_with_matching_sums(trained_export, tmp_path):
    folder = _copy_export(trained_export, tmp_path / "export", [])
    program = torch.export.export(torch.nn.Linear(3, 2).eval(), (torch.rand(2, 3),))
    torch.export.save(program, folder / "model.pt2")
    card = read_card(folder)
    card["files"]["model.pt2"] = file_entry(folder / "model.pt2")
    write_card(folder, {key: value for key, value in card.items() if key != "card_sha256"})

    with pytest.raises(ExportError, match="pickled"):
        load_export(folder, "pt2")


def test_input_shape_mismatch_rejected(trained_export, new_images, tmp_path):
    folder = _copy_export(trained_export, tmp_path / "export", [FILE_NAMES["onnx"]])
    card = read_card(folder)
    card["reader"]["options"]["image_size"] = 8
    write_card(folder, {key: value for key, value in card.items() if key != "card_sha256"})
    exported = load_export(folder, "onnx")
    dataset = exported.open_data(new_images)

    with pytest.raises(ValueError, match=r"per-sample shape \[3, 8, 8\]"):
        exported.predict_dataset(dataset)


def test_cli_predict_without_images_exits_2(trained_export, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()

    code = cli.main(["predict", str(trained_export.folder), str(empty), "--out", str(tmp_path / "p.csv")])

    assert code == 2
    assert "no image files found" in capsys.readouterr().err


def test_unknown_format_rejected(trained_export):
    with pytest.raises(ValueError, match="tflite"):
        load_export(trained_export.folder, "tflite")
