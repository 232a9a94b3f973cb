"""The labeling page on the offscreen platform: keys, bulk labels, undo, skips, reopening, suggestions, the grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt  # noqa: E402

from sslstudio.data.image import ImageFolderDataset  # noqa: E402
from sslstudio.data.report import ImportReport  # noqa: E402
from sslstudio.gui.pages.labeling_page import LabelingPage  # noqa: E402
from sslstudio.gui.state import AppState, LoadedData  # noqa: E402
from sslstudio.gui.threads import BackgroundJob  # noqa: E402
from sslstudio.project.store import Project  # noqa: E402


def make_dataset(count: int, size: int = 16, seed: int = 0) -> ImageFolderDataset:
    """Random RGB images in memory, ``img00000.png``…, with a ``folder`` column of two classes."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (count, 3, size, size), dtype=np.uint8)
    ids = [f"img{index:05d}.png" for index in range(count)]
    folders = ["even" if index % 2 == 0 else "odd" for index in range(count)]
    metadata = pd.DataFrame({"sample_id": ids, "file_name": ids, "folder": folders})
    return ImageFolderDataset(pixels, ids, metadata, ImportReport(), "memory")


def open_page(qtbot, folder, dataset) -> tuple[LabelingPage, Project]:
    project = Project(folder, create=True)
    sources = project.sources()
    source_id = sources[0]["id"] if sources else project.add_source("memory", "image", {"label_column": "folder"})
    state = AppState()
    page = LabelingPage(state)
    qtbot.addWidget(page)
    page.resize(1100, 800)
    page.show()
    state.set_data(project, LoadedData(dataset, "folder", "memory", source_id))
    return page, project


@pytest.fixture
def page(qtbot, tmp_path):
    opened, project = open_page(qtbot, tmp_path / "project", make_dataset(40))
    opened.class_editor.add("cat")
    opened.class_editor.add("dog")
    opened.grid.setFocus()
    yield opened
    opened.shutdown()
    project.close()


def stored_labels(page) -> dict[str, str]:
    """Read the labels from a fresh connection, as another process would see them."""
    reopened = Project(page.state.project.folder)
    labels = reopened.labels(page.source_id)
    reopened.close()
    return labels


def test_key_presses_label_and_advance(qtbot, page):
    qtbot.keyClick(page.grid, Qt.Key.Key_1)
    qtbot.keyClick(page.grid, Qt.Key.Key_2)
    qtbot.keyClick(page.grid, Qt.Key.Key_2)
    assert stored_labels(page) == {"img00000.png": "cat", "img00001.png": "dog", "img00002.png": "dog"}
    assert page.current_row() == 3
    assert page.model.labels[:4] == ["cat", "dog", "dog", None]
    assert page.status.text().startswith("Saved: img00002.png → dog")


def test_unassigned_key_labels_nothing(qtbot, page):
    qtbot.keyClick(page.grid, Qt.Key.Key_7)
    assert stored_labels(page) == {}
    assert "Key 7 labels no class" in page.status.text()


def test_undo_and_redo_write_through(qtbot, page):
    qtbot.keyClick(page.grid, Qt.Key.Key_1)
    qtbot.keyClick(page.grid, Qt.Key.Key_2)
    qtbot.keyClick(page.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert stored_labels(page) == {"img00000.png": "cat"}
    qtbot.keyClick(page.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert stored_labels(page) == {}
    qtbot.keyClick(page.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert stored_labels(page) == {"img00000.png": "cat"}
    assert page.model.labels[:2] == ["cat", None]


def test_relabel_undo_restores_previous_class(qtbot, page):
    qtbot.keyClick(page.grid, Qt.Key.Key_1)
    page.go_to(0)
    qtbot.keyClick(page.grid, Qt.Key.Key_2)
    page.undo_stack.undo()
    assert stored_labels(page) == {"img00000.png": "cat"}


def test_bulk_label_grid_selection(qtbot, page):
    selection = QItemSelection(page.model.index(5), page.model.index(9))
    page.grid.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
    qtbot.keyClick(page.grid, Qt.Key.Key_2)
    assert stored_labels(page) == {f"img{index:05d}.png": "dog" for index in range(5, 10)}
    assert page.current_row() == 10
    assert page.undo_stack.undoText() == "Label 5 samples as dog"
    page.undo_stack.undo()
    assert stored_labels(page) == {}


def test_class_button_click_and_remove(qtbot, page):
    dog_button = page.class_buttons.itemAt(1).widget()
    assert dog_button.text() == "2: dog"
    qtbot.mouseClick(dog_button, Qt.MouseButton.LeftButton)
    assert stored_labels(page) == {"img00000.png": "dog"}
    page.go_to(0)
    qtbot.keyClick(page.grid, Qt.Key.Key_0)
    assert stored_labels(page) == {}


def test_skip_is_stored_and_advances(qtbot, page):
    qtbot.keyClick(page.grid, Qt.Key.Key_S)
    assert page.state.project.skipped(page.source_id) == {"img00000.png"}
    assert page.current_row() == 1
    assert stored_labels(page) == {}


def test_position_and_selection_restored(qtbot, tmp_path):
    dataset = make_dataset(40)
    first, project = open_page(qtbot, tmp_path / "project", dataset)
    first.go_to(17)
    first.grid.selectionModel().select(QItemSelection(first.model.index(20), first.model.index(24)),
                                       QItemSelectionModel.SelectionFlag.Select)
    first.shutdown()
    project.close()

    second, reopened = open_page(qtbot, tmp_path / "project", dataset)
    selected = sorted(index.row() for index in second.grid.selectionModel().selectedIndexes())
    assert second.current_row() == 17
    assert selected == [17, 20, 21, 22, 23, 24]
    second.shutdown()
    reopened.close()


def test_class_editor_operations(qtbot, page):
    qtbot.keyClick(page.grid, Qt.Key.Key_1)
    qtbot.keyClick(page.grid, Qt.Key.Key_2)
    editor = page.class_editor
    editor.select("cat")
    assert editor.rename("kitten")
    assert stored_labels(page) == {"img00000.png": "kitten", "img00001.png": "dog"}
    assert page.class_buttons.itemAt(0).widget().text() == "1: kitten"
    assert not page.undo_stack.canUndo()

    editor.select("dog")
    assert editor.choose_key("5")
    assert editor.choose_color("#123456")
    qtbot.keyClick(page.grid, Qt.Key.Key_5)
    assert stored_labels(page)["img00002.png"] == "dog"

    editor.select("kitten")
    assert editor.merge("dog")
    assert set(stored_labels(page).values()) == {"dog"}
    assert page.model.labels[0] == "dog"
    editor.select("dog")
    assert editor.delete(confirmed=True)
    assert stored_labels(page) == {}
    assert page.model.labels[:3] == [None, None, None]
    assert page.progress.rowCount() == 0


def test_progress_hints(qtbot, page):
    for _ in range(3):
        qtbot.keyClick(page.grid, Qt.Key.Key_1)
    hints = {page.progress.item(row, 0).text(): (page.progress.item(row, 1).text(), page.progress.item(row, 2).text())
             for row in range(page.progress.rowCount())}
    assert hints["cat"][0] == "3"
    assert hints["cat"][1] != ""
    assert hints["dog"] == ("0", "no labels yet")


def test_ui_and_worker_write_at_once(qtbot, page):
    project = page.state.project

    def write_from_worker():
        for index in range(20, 40):
            project.set_label(page.source_id, f"img{index:05d}.png", "dog")

    job = BackgroundJob(write_from_worker)
    with qtbot.waitSignal(job.finished, timeout=30_000):
        job.start()
        for _ in range(15):
            qtbot.keyClick(page.grid, Qt.Key.Key_1)
    labels = stored_labels(page)
    assert sum(label == "cat" for label in labels.values()) == 15
    assert sum(label == "dog" for label in labels.values()) == 20


def test_import_folder_names(qtbot, page):
    page.import_label_column()
    labels = stored_labels(page)
    assert len(labels) == 40
    assert labels["img00003.png"] == "odd"
    assert page.last_import.created_classes == ["even", "odd"]
    assert page.model.labels[2] == "even"


def test_suggestions_exclude_labeled(qtbot, page):
    for _ in range(4):
        qtbot.keyClick(page.grid, Qt.Key.Key_1)
    with qtbot.waitSignal(page.request_suggestions().finished, timeout=60_000):
        pass
    suggested = [page.suggestions.item(row).data(Qt.ItemDataRole.UserRole) for row in range(page.suggestions.count())]
    assert len(suggested) == 20
    assert len(set(suggested)) == 20
    assert set(suggested).isdisjoint({f"img{index:05d}.png" for index in range(4)})
    assert "untrained encoder" in page.suggestions.item(0).text()
    assert page.current_row() == page.rows_by_id[suggested[0]]
    qtbot.keyClick(page.grid, Qt.Key.Key_2)
    assert stored_labels(page)[suggested[0]] == "dog"
    assert page.current_row() == page.rows_by_id[suggested[1]]


def test_grid_renders_only_visible_thumbnails(qtbot, tmp_path):
    grid_page, project = open_page(qtbot, tmp_path / "big", make_dataset(20_000, size=8))
    grid_page.go_to(19_999)
    qtbot.waitUntil(lambda: grid_page.model.is_cached(19_999), timeout=30_000)
    cached = sum(grid_page.model.is_cached(row) for row in range(20_000))
    assert cached < 2_000
    assert not grid_page.model.is_cached(10_000)
    grid_page.shutdown()
    project.close()
