"""The Advisor page on digits whose labels are their orientation: ranking, messages and a full run of the top pick."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("pytestqt")

from sslstudio.evaluation.advisor import Advice, default_candidates  # noqa: E402
from sslstudio.gui.main_window import MainWindow  # noqa: E402
from sslstudio.gui.state import LoadedData  # noqa: E402
from sslstudio.project.store import Project  # noqa: E402
from sslstudio.training.config import TaskChoice  # noqa: E402
from tests.test_advisor import oriented_digits  # noqa: E402

RANKED = {"image.rotation", "column noise", "no pretraining (random encoder)"}


def wait_until(qapp, condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the page did not reach the expected state in time"
        qapp.processEvents()
        time.sleep(0.01)


def open_window(qapp, dataset, folder) -> MainWindow:
    window = MainWindow()
    project = Project(folder, create=True)
    source_id = project.add_source(dataset.source, dataset.modality, {"label_column": "orientation"})
    window.state.set_data(project, LoadedData(dataset, "orientation", "oriented digits", source_id))
    window.show_page("Advisor")
    return window


def rank(qapp, page, labels_per_class: int, steps: int, names: set[str]) -> None:
    page.set_checked(names)
    page.labels_per_class.setValue(labels_per_class)
    page.steps.setValue(steps)
    page.training_page.batch_size.setValue(32)
    page.rank_button.click()
    # The button comes back when the job's finished signal arrives, after the events it yielded.
    wait_until(qapp, page.rank_button.isEnabled)


@pytest.fixture(scope="module")
def ranked(qapp, digits, tmp_path_factory):
    """A window whose Advisor page ranked rotation, the noise proxy and the reference on oriented digits."""
    window = open_window(qapp, oriented_digits(digits, count=300), tmp_path_factory.mktemp("project"))
    rank(qapp, window.advisor_page, labels_per_class=12, steps=30, names=RANKED)
    yield window
    window.close()


def test_page_checks_every_candidate(qtbot, qapp, digits, tmp_path):
    dataset = oriented_digits(digits, count=40)
    window = open_window(qapp, dataset, tmp_path)
    qtbot.addWidget(window)
    page = window.advisor_page
    assert page.checked_candidates() == default_candidates(dataset, "orientation")
    assert page.label_column.currentText() == "orientation"


def test_page_ranks_rotation_first(ranked):
    page = ranked.advisor_page
    assert page.advice.top.name == "image.rotation"
    assert page.table.item(0, 1).text() == "image.rotation"


def test_progress_counts_candidates(ranked):
    page = ranked.advisor_page
    assert page.progress.value() == page.progress.maximum()
    assert page.progress.format() == "%v/%m candidates"


def test_table_matches_advice(ranked):
    page = ranked.advisor_page
    assert isinstance(page.advice, Advice)
    assert page.table.rowCount() == len(page.advice.scores)
    for row, score in enumerate(page.advice.scores):
        assert page.table.item(row, 0).text() == str(row + 1)
        assert page.table.item(row, 1).text() == score.candidate.name
        assert page.table.item(row, 3).text() == f"{score.mean:.3f} ± {score.std:.3f}"
        assert page.table.item(row, 4).text() == f"{score.seconds:.1f}"
        assert page.table.item(row, 3).toolTip().count(",") == len(score.fold_scores) - 1


def test_summary_names_top_pick(ranked):
    assert "Top pick: <b>image.rotation</b>" in ranked.advisor_page.summary.text()


def test_few_labels_not_significant(qtbot, qapp, digits, tmp_path):
    window = open_window(qapp, oriented_digits(digits, count=120), tmp_path)
    qtbot.addWidget(window)
    page = window.advisor_page
    rank(qapp, page, labels_per_class=3, steps=5, names={"image.rotation", "no pretraining (random encoder)"})
    assert page.advice.folds == 3
    assert not page.advice.significant
    assert "NOT significant" in page.summary.text()
    assert "label more samples" in page.summary.text()


def test_one_label_per_class_shows_error(qtbot, qapp, digits, tmp_path):
    window = open_window(qapp, oriented_digits(digits, count=120), tmp_path)
    qtbot.addWidget(window)
    page = window.advisor_page
    rank(qapp, page, labels_per_class=1, steps=5, names={"image.rotation"})
    assert "at least 2 labeled samples per class" in page.status.text()
    assert [candidate.name for candidate in page.checked_candidates()] == ["image.rotation"]
    assert page.labels_per_class.value() == 1


def test_cancel_keeps_page_usable(qtbot, qapp, digits, tmp_path):
    window = open_window(qapp, oriented_digits(digits, count=120), tmp_path)
    qtbot.addWidget(window)
    page = window.advisor_page
    page.set_checked({"image.rotation", "column noise"})
    page.steps.setValue(100_000)
    page.rank()
    page.cancel_button.click()
    wait_until(qapp, page.rank_button.isEnabled)
    assert page.advice.status == "cancelled"
    assert page.advice.scores == []


def test_top_pick_starts_training(qapp, ranked):
    page, training = ranked.advisor_page, ranked.training_page
    assert page.top_button.isEnabled()
    assert page.start_top()
    try:
        assert ranked.stack.currentWidget() is training
        assert training.is_running()
        assert training.config.strategy == "transfer"
        assert training.config.tasks == (TaskChoice("image.rotation"),)
        assert training.config.label_column == "orientation"
    finally:
        training.cancel()
        assert training.wait()


def test_selected_proxy_starts_proxy_run(qapp, ranked):
    page, training = ranked.advisor_page, ranked.training_page
    row = next(row for row in range(page.table.rowCount()) if page.table.item(row, 1).text() == "column noise")
    page.table.selectRow(row)
    assert page.start_selected()
    try:
        assert training.config.strategy == "proxy"
        assert (training.config.proxy_source, training.config.proxy_column) == ("column", "noise")
        assert training.strategy.currentText() == "proxy"
    finally:
        training.cancel()
        assert training.wait()
