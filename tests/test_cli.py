"""The ``sslstudio`` command: listings, errors and a short headless run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from sslstudio.cli import main


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sslstudio", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_samples_lists_digits(capsys):
    assert main(["samples"]) == 0
    assert "digits" in capsys.readouterr().out


def test_tasks_lists_parameters(capsys):
    assert main(["tasks", "--modality", "image"]) == 0
    output = capsys.readouterr().out
    assert "image.rotation" in output
    assert "angles" in output


def test_tasks_unknown_modality(capsys):
    assert main(["tasks", "--modality", "sound"]) == 2
    assert "unknown modality 'sound'" in capsys.readouterr().err


def test_missing_folder_exits_nonzero(tmp_path, capsys):
    assert main(["run", "--data", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err


def test_empty_folder_exits_nonzero(tmp_path, capsys):
    assert main(["run", "--data", str(tmp_path), "--modality", "image"]) == 2
    assert "no image files found" in capsys.readouterr().err


def test_folder_without_images_exits_nonzero(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not an image")
    assert main(["run", "--data", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err


def test_unknown_task_exits_nonzero(capsys):
    assert main(["run", "--sample", "digits", "--tasks", "image.nothing"]) == 2
    assert "unknown task 'image.nothing'" in capsys.readouterr().err


def test_run_on_folder_prints_both_accuracies(tmp_path):
    for label, color in (("red", (230, 20, 20)), ("blue", (20, 20, 230))):
        for index in range(12):
            image = Image.new("RGB", (16, 16), color)
            image.putpixel((index % 16, 3), (255, 255, 255))
            (tmp_path / "data" / label).mkdir(parents=True, exist_ok=True)
            image.save(tmp_path / "data" / label / f"{index}.png")
    completed = run_cli("run", "--data", str(tmp_path / "data"), "--pretrain-epochs", "1", "--finetune-steps", "5",
                        "--batch-size", "8", "--labels-per-class", "3", "--project", str(tmp_path / "project"), "-q")
    assert completed.returncode == 0, completed.stderr
    assert "Pretrained accuracy: " in completed.stdout
    assert "Scratch accuracy: " in completed.stdout
    assert "ONNX model: " in completed.stdout
    exports = list((tmp_path / "project" / "exports").iterdir())
    card = json.loads((exports[0] / "model_card.json").read_text())
    assert card["class_names"] == ["blue", "red"]
    assert max(card["checks"]["onnx"]["max_abs_difference"]) < 1e-4


def test_advise_ranks_table_tasks(capsys):
    assert main(["advise", "--sample", "penguins", "--steps", "3", "--folds", "3"]) == 0
    output = capsys.readouterr().out
    rows = [line.split() for line in output.splitlines() if line[:1].isdigit()]
    assert rows[0][0] == "1"
    assert "Top pick: " + rows[0][1] in output
    assert "significant" in output



def test_negative_workers_named(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["run", "--sample", "digits", "--workers", "-1"])
    assert caught.value.code == 2
    assert "argument --workers: '-1' is invalid" in capsys.readouterr().err


def test_missing_proxy_column_message_unquoted(tmp_path, capsys):
    code = main(["run", "--sample", "penguins", "--strategy", "proxy", "--proxy-source", "column",
                 "--proxy-column", "islnd", "--project", str(tmp_path), "--no-export", "--quiet"])
    assert code == 2
    assert "error: metadata column 'islnd' not found" in capsys.readouterr().err
