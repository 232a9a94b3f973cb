"""GUI end to end on the offscreen platform: open the sample, preview, train through the worker, export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from sslstudio.gui import loading  # noqa: E402
from sslstudio.gui.main_window import MainWindow  # noqa: E402
from sslstudio.training.events import Finished  # noqa: E402


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "sample_project_folder", lambda name: tmp_path / "projects" / name)
    main = MainWindow()
    qtbot.addWidget(main)
    main.show()
    yield main
    main.close()


def open_digits(qtbot, window):
    with qtbot.waitSignal(window.state.data_changed, timeout=60_000):
        window.start_page.sample_combo.setCurrentIndex(window.start_page.sample_combo.findData("digits"))
        window.start_page.sample_button.click()


def test_sample_opens_in_dataset_page(qtbot, window):
    open_digits(qtbot, window)
    assert window.stack.currentWidget() is window.dataset_page
    assert window.dataset_page.model.rowCount() == 1797
    assert window.dataset_page.model.data(window.dataset_page.model.index(0), 0) == "0"


def test_tasks_page_previews_rotation(qtbot, window):
    open_digits(qtbot, window)
    page = window.tasks_page
    qtbot.waitUntil(lambda: page.preview_grid.count() == 8, timeout=30_000)
    assert page.current_task_name() == "image.rotation"
    captions = [page.preview_grid.itemAt(i).widget().findChildren(type(page.preview_status))[-1].text()
                for i in range(page.preview_grid.count())]
    assert all(caption.startswith("rotated ") for caption in captions)


def test_invalid_parameter_shows_message(qtbot, window):
    open_digits(qtbot, window)
    page = window.tasks_page
    qtbot.waitUntil(lambda: page.preview_grid.count() == 8, timeout=30_000)
    page.wait_for_preview()
    page.forms["image.rotation"].editors["angles"].setText("0, 45")
    page.refresh_preview()
    qtbot.waitUntil(lambda: "angles=45 is invalid" in page.preview_status.text(), timeout=30_000)
    assert "choose from 0, 90, 180, 270" in page.preview_status.text()


def test_training_runs_and_exports(qtbot, window, tmp_path):
    open_digits(qtbot, window)
    page = window.training_page
    page.pretrain_epochs.setValue(1)
    page.finetune_steps.setValue(20)
    page.batch_size.setValue(128)
    with qtbot.waitSignal(page.run_finished, timeout=240_000) as blocker:
        page.start_button.click()
        assert page.cancel_button.isEnabled()
    result = blocker.args[0]
    assert result.status == "finished"
    assert 0.0 <= result.pretrained["accuracy"] <= 1.0
    assert page.loss_plot.series["pretrain"][1], "the pretrain loss curve has points"
    assert page.export_button.isEnabled()
    runs = window.state.project.runs()
    assert runs[-1]["status"] == "finished"
    job = page.export(str(tmp_path / "export"))
    with qtbot.waitSignal(job.finished, timeout=120_000):
        pass
    card = json.loads((tmp_path / "export" / "model_card.json").read_text())
    assert card["class_names"] == [str(digit) for digit in range(10)]
    qtbot.waitUntil(page.predict_button.isEnabled, timeout=10_000)
    images = tmp_path / "new"
    images.mkdir()
    source = Path(window.state.data.dataset.source)
    for name in ("0/digit_0000.png", "1/digit_0001.png"):
        (images / name.replace("/", "_")).write_bytes((source / name).read_bytes())
    predict_job = page.predict(str(images), str(tmp_path / "predictions.csv"))
    with qtbot.waitSignal(predict_job.finished, timeout=120_000):
        pass
    rows = (tmp_path / "predictions.csv").read_text().splitlines()
    assert rows[0].startswith("sample_id,predicted")
    assert len(rows) == 3
    assert max(card["checks"]["onnx"]["max_abs_difference"]) < 1e-4


def test_close_during_run_cancels_and_keeps_checkpoint(qtbot, window):
    open_digits(qtbot, window)
    page = window.training_page
    page.pretrain_epochs.setValue(50)
    page.batch_size.setValue(32)
    page.start_button.click()
    qtbot.waitUntil(lambda: page.progress.value() >= 3, timeout=60_000)
    window.close()
    assert not page.is_running()
    run_dir = window.state.project.folder / "runs" / page.run_id
    assert (run_dir / "checkpoints" / "pretrain.pt").is_file()
    assert (run_dir / "metrics.csv").is_file()


def test_worker_error_reaches_user(qtbot, window, monkeypatch):
    open_digits(qtbot, window)
    page = window.training_page
    page.labels_per_class.setValue(1)
    page.label_column.setCurrentText("file_name")
    shown = []
    monkeypatch.setattr("sslstudio.gui.pages.training_page.show_error",
                        lambda parent, title, message, details="": shown.append((title, message, details)))
    page.start_button.click()
    qtbot.waitUntil(lambda: bool(shown), timeout=60_000)
    title, message, details = shown[0]
    assert title == "Training failed"
    assert "held-out" in message
    assert "Traceback" in details


def test_cancelled_run_resumes_in_gui(qtbot, window):
    open_digits(qtbot, window)
    page = window.training_page
    page.pretrain_epochs.setValue(2)
    page.finetune_steps.setValue(5)
    page.batch_size.setValue(128)
    page.start_button.click()
    qtbot.waitUntil(lambda: page.progress.value() >= 2, timeout=120_000)
    page.cancel()
    qtbot.waitUntil(lambda: page.result is not None and not page.is_running(), timeout=120_000)
    assert page.result.status == "cancelled"
    assert page.resume_button.isEnabled()
    with qtbot.waitSignal(page.run_finished, timeout=300_000) as blocker:
        page.resume_button.click()
    assert blocker.args[0].status == "finished"
    assert "Resuming pretrain at step" in page.log_panel.toPlainText()


def test_launch_command_written(qtbot, window):
    open_digits(qtbot, window)
    script = window.training_page.write_launch_command(processes=4)
    text = script.read_text()
    assert "torchrun --nproc_per_node=\"$N\" -m sslstudio train --resume" in text
    assert "N=${N:-4}" in text
    assert (script.parent / "data.json").is_file()
    assert (script.parent / "config.json").is_file()


def test_task_forms_survive_switching(qtbot, window):
    open_digits(qtbot, window)
    page = window.tasks_page
    rotation = page.current_task_name()
    page.forms[rotation].editors["angles"].setText("0, 180")
    for row in (0, 1, 0):
        page.wait_for_preview()
        page.task_list.setCurrentRow(row)
    page.wait_for_preview()
    rotation_row = next(row for row in range(page.task_list.count())
                        if page.task_list.item(row).data(Qt.ItemDataRole.UserRole) == rotation)
    page.task_list.setCurrentRow(rotation_row)
    assert page.forms[rotation].values()["angles"] == (0, 180)
    qtbot.waitUntil(lambda: page.preview_status.text().startswith("Preview of"), timeout=60_000)
    choices = page.selected_tasks()
    assert dict(choices[0].params)["angles"] == (0, 180)
