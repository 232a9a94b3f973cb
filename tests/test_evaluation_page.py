"""The Evaluation page on real tiny runs: digits (ten classes) and GunPoint (two classes, a time series)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from sslstudio.data.samples import get_sample  # noqa: E402
from sslstudio.gui.embedding_scatter import choose_points  # noqa: E402
from sslstudio.gui.main_window import PAGES, MainWindow  # noqa: E402
from sslstudio.gui.pages.evaluation_page import DASH, NO_RUN, EvaluationPage  # noqa: E402
from sslstudio.gui.state import AppState, LoadedData  # noqa: E402
from sslstudio.gui.views import view_for  # noqa: E402
from sslstudio.training.config import RunConfig, TaskChoice  # noqa: E402
from sslstudio.training.context import RunContext  # noqa: E402
from sslstudio.training.strategies import run_strategy  # noqa: E402
from tests.test_strategies import TINY, digits_slice  # noqa: E402


def finished_run(dataset, label_column: str, **options):
    labels = dataset.label_column(label_column)
    config = RunConfig(**{**TINY, "max_pretrain_steps": 2, "finetune_steps": 2, "batch_size": 16,
                          "label_column": label_column, **options})
    return list(run_strategy(config, RunContext(dataset=dataset, labels=labels)))[-1].result


@pytest.fixture(scope="module")
def digits_run(digits):
    dataset = digits_slice(digits)
    return dataset, finished_run(dataset, "folder")


@pytest.fixture(scope="module")
def gunpoint_run():
    dataset = get_sample("gunpoint").open()
    return dataset, finished_run(dataset, "label", tasks=(TaskChoice("timeseries.outliers"),))


def make_page(qtbot, dataset, label_column: str) -> EvaluationPage:
    state = AppState()
    state.data = LoadedData(dataset=dataset, label_column=label_column, name=dataset.modality, source_id=0)
    page = EvaluationPage(state)
    qtbot.addWidget(page)
    return page


def shown(qtbot, page: EvaluationPage, result) -> EvaluationPage:
    """Show ``result`` and wait for the first scatter."""
    with qtbot.waitSignal(page.scatter.points_ready, timeout=60_000):
        page.show_result(result)
    return page


@pytest.fixture
def digits_page(qtbot, digits_run):
    dataset, result = digits_run
    page = shown(qtbot, make_page(qtbot, dataset, "folder"), result)
    yield page
    page.wait()


def table_rows(table) -> dict[str, list[str]]:
    return {table.item(row, 0).text(): [table.item(row, column).text() for column in range(1, table.columnCount())]
            for row in range(table.rowCount())}


def test_page_without_run_shows_hint(qtbot, digits_run):
    page = make_page(qtbot, digits_run[0], "folder")
    assert page.message.text() == NO_RUN
    assert page.content.isHidden()


def test_metrics_table_matches_result(digits_page, digits_run):
    result = digits_run[1]
    rows = table_rows(digits_page.metrics_table)
    assert rows["accuracy"] == [f"{result.pretrained['accuracy']:.3f}", f"{result.scratch['accuracy']:.3f}"]
    assert rows["macro-F1"][0] == f"{result.pretrained['macro_f1']:.3f}"
    assert rows["recall of 7"][1] == f"{result.scratch['per_class_recall']['7']:.3f}"
    assert "ROC AUC" not in rows
    assert len(rows) == 3 + len(result.class_names)
    assert f"{result.extras['holdout_count']} held-out samples" in digits_page.counts.text()


def test_confusion_matrix_matches_result(digits_page, digits_run):
    result = digits_run[1]
    assert digits_page.confusion.counts() == result.pretrained["confusion_matrix"]
    assert sum(map(sum, digits_page.confusion.counts())) == result.extras["holdout_count"]
    assert digits_page.confusion.table.horizontalHeaderItem(3).text() == result.class_names[3]
    digits_page.model_choice.setCurrentText("Scratch baseline")
    assert digits_page.confusion.counts() == result.scratch["confusion_matrix"]


def test_misclassified_list_shows_sample(digits_page, digits_run):
    result = digits_run[1]
    mistakes = result.pretrained["misclassified"]
    assert digits_page.mistakes.rowCount() == len(mistakes)
    assert digits_page.mistakes.item(0, 0).text() == mistakes[0]["sample_id"]
    digits_page.mistakes.selectRow(0)
    assert digits_page.sample_view is not None
    assert digits_page.sample_caption.text().startswith(mistakes[0]["sample_id"])
    digits_page.model_choice.setCurrentText("Scratch baseline")
    assert digits_page.mistakes.rowCount() == len(result.scratch["misclassified"])


def test_scatter_plots_each_sample(qtbot, digits_page, digits_run):
    extras = digits_run[1].extras
    expected = len(extras["labeled_indices"]) + len(extras["holdout_indices"])
    scatter = digits_page.scatter
    assert len(scatter.scatter.data) == expected
    assert sorted(scatter.scatter.data["data"]) == sorted(extras["labeled_indices"] + extras["holdout_indices"])
    assert len(scatter.legend.items) == len(digits_run[1].class_names)
    pca = np.column_stack([scatter.scatter.data["x"], scatter.scatter.data["y"]])
    with qtbot.waitSignal(scatter.points_ready, timeout=60_000):
        scatter.projection.setCurrentText("t-SNE")
    tsne = np.column_stack([scatter.scatter.data["x"], scatter.scatter.data["y"]])
    assert len(tsne) == expected
    assert not np.allclose(pca, tsne)


def test_scatter_click_shows_sample(digits_page):
    point = digits_page.scatter.scatter.points()[5]
    digits_page.scatter.scatter.sigClicked.emit(digits_page.scatter.scatter, [point], None)
    dataset = digits_page.state.data.dataset
    assert digits_page.sample_caption.text().startswith(dataset.ids[point.data()])


def test_missing_baseline_shows_dash(qtbot, digits_run):
    dataset, result = digits_run
    page = shown(qtbot, make_page(qtbot, dataset, "folder"), dataclasses.replace(result, scratch={}))
    assert table_rows(page.metrics_table)["accuracy"][1] == DASH
    assert not page.model_choice.isEnabled()
    page.wait()


def test_timeseries_run_shows_roc_auc_and_series(qtbot, gunpoint_run):
    dataset, result = gunpoint_run
    page = shown(qtbot, make_page(qtbot, dataset, "label"), result)
    assert table_rows(page.metrics_table)["ROC AUC"][0] == f"{result.pretrained['roc_auc']:.3f}"
    assert sum(map(sum, page.confusion.counts())) == result.extras["holdout_count"]
    assert len(page.scatter.scatter.data) == len(choose_points(result.extras["labeled_indices"],
                                                               result.extras["holdout_indices"]))
    page.show_sample(result.extras["holdout_indices"][0])
    assert isinstance(page.sample_view, view_for("timeseries").SeriesPlot)
    page.wait()


def test_choose_points_caps_deterministically():
    chosen = choose_points([5, 1], range(100), limit=12)
    assert chosen[:2] == [5, 1]
    assert len(chosen) == 12
    assert len(set(chosen)) == 12
    assert chosen == choose_points([5, 1], range(100), limit=12)


def test_main_window_routes_run_to_page(qtbot, digits_run):
    dataset, result = digits_run
    window = MainWindow()
    qtbot.addWidget(window)
    window.state.data = LoadedData(dataset=dataset, label_column="folder", name="digits", source_id=0)
    assert PAGES[PAGES.index("Training") + 1] == "Evaluation"
    with qtbot.waitSignal(window.evaluation_page.scatter.points_ready, timeout=60_000):
        window.training_page.run_finished.emit(result)
    assert window.evaluation_page.confusion.counts() == result.pretrained["confusion_matrix"]
    window.show_page("Evaluation")
    assert window.stack.currentWidget() is window.evaluation_page
    window.close()


def test_curve_needs_run_settings(qtbot, digits_page):
    assert not digits_page.label_efficiency.start_button.isEnabled()


def test_curve_plots_both_models(qtbot, digits_run):
    dataset, result = digits_run
    config = RunConfig(**{**TINY, "max_pretrain_steps": 2, "finetune_steps": 2, "batch_size": 16,
                          "label_column": "folder"})
    page = make_page(qtbot, dataset, "folder")
    with qtbot.waitSignal(page.scatter.points_ready, timeout=60_000):
        page.show_result(result, config)
    panel = page.label_efficiency
    panel.seeds.setValue(2)
    job = panel.start()
    with qtbot.waitSignal(job.finished, timeout=240_000):
        pass
    names = [point.name for point in panel.curve.points]
    assert names == ["1", "2", "5", "10", "all"]
    assert all(len(point.pretrained) == 2 for point in panel.curve.points)
    assert [item.name() for item in panel.plot.getPlotItem().listDataItems()] == ["pretrained", "scratch"]
    assert "over seeds 0, 1" in panel.status.text()
    page.wait()


def test_curve_cancel_keeps_page(qtbot, digits_run):
    dataset, result = digits_run
    config = RunConfig(**{**TINY, "max_pretrain_steps": 2, "finetune_steps": 2, "label_column": "folder"})
    page = make_page(qtbot, dataset, "folder")
    with qtbot.waitSignal(page.scatter.points_ready, timeout=60_000):
        page.show_result(result, config)
    job = page.label_efficiency.start()
    page.label_efficiency.cancel()
    with qtbot.waitSignal(job.finished, timeout=240_000):
        pass
    assert page.label_efficiency.curve is None
    assert page.label_efficiency.start_button.isEnabled()
    page.wait()
