"""Every bundled sample opens in the main window and previews every task of its modality."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from sslstudio.data.samples import list_samples  # noqa: E402
from sslstudio.gui import loading  # noqa: E402
from sslstudio.gui.main_window import MainWindow  # noqa: E402
from sslstudio.tasks.registry import list_tasks  # noqa: E402

SAMPLES = [sample.name for sample in list_samples()]


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_opens_and_previews_every_task(qtbot, tmp_path, monkeypatch, name):
    monkeypatch.setattr(loading, "sample_project_folder", lambda sample: tmp_path / sample)
    window = MainWindow()
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.state.data_changed, timeout=300_000):
        window._load(loading.open_sample_project, name)
    page = window.tasks_page
    modality = window.state.data.dataset.modality
    names = [cls.name for cls in list_tasks(modality)]
    assert page.task_list.count() == len(names)
    previewed = []
    for row, task_name in enumerate(names):
        page.wait_for_preview()
        page.preview_status.setText("")
        page.task_list.setCurrentRow(row)
        qtbot.waitUntil(lambda: page.preview_status.text().startswith(("Preview of", "<span")), timeout=120_000)
        text = page.preview_status.text()
        if text.startswith("Preview of"):
            assert page.preview_grid.count() > 0
            previewed.append(task_name)
        else:
            # A task that does not fit this data explains why, for example a table without an order column.
            assert "ValueError" in text, f"{task_name}: {text}"
            assert task_name in text, f"{task_name}: {text}"
    assert previewed, f"no task of {modality} previewed on {name}"
    window.close()


def test_table_column_types_apply_and_reopen(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "sample_project_folder", lambda sample: tmp_path / sample)
    window = MainWindow()
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.state.data_changed, timeout=300_000):
        window._load(loading.open_sample_project, "penguins")
    custom = window.dataset_page.views.currentWidget()
    editor = custom.type_editor
    assert editor.label_choice.currentText() == "species"
    editor.choosers["year"].setCurrentText("categorical")
    with qtbot.waitSignal(window.state.data_changed, timeout=300_000):
        custom.apply_button.click()
    dataset = window.state.data.dataset
    assert dataset.column_types["year"] == "categorical"
    assert window.state.data.label_column == "species"
    assert window.state.labels()[0] == "Adelie"
    window.close()
