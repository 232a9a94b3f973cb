"""The training page's per-strategy settings reach the run: probe, supervised weight, proxy target."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from sslstudio.gui import loading  # noqa: E402
from sslstudio.gui.main_window import MainWindow  # noqa: E402
from sslstudio.gui.strategy_options import FIRST_CLASSIFICATION_TASK, StrategyOptions  # noqa: E402
from sslstudio.training.config import RunConfig  # noqa: E402


def test_feature_extraction_options(qtbot):
    options = StrategyOptions()
    qtbot.addWidget(options)
    options.probe.setCurrentText("knn")
    options.neighbors.setValue(3)
    assert options.changes("feature-extraction") == {"probe": "knn", "knn_neighbors": 3}


def test_neighbors_only_for_knn(qtbot):
    options = StrategyOptions()
    qtbot.addWidget(options)
    options.probe.setCurrentText("logistic")
    assert not options.neighbors.isEnabled()


def test_multitask_options(qtbot):
    options = StrategyOptions()
    qtbot.addWidget(options)
    options.supervised_weight.setValue(0.5)
    assert options.changes("multitask") == {"supervised_weight": 0.5}


def test_proxy_task_defaults_to_first_classification_task(qtbot):
    options = StrategyOptions()
    qtbot.addWidget(options)
    options.set_tasks(["image.rotation", "image.jigsaw"])
    assert options.proxy_task.currentText() == FIRST_CLASSIFICATION_TASK
    assert options.changes("proxy")["proxy_task"] == ""


def test_proxy_pattern_options(qtbot):
    options = StrategyOptions()
    qtbot.addWidget(options)
    options.set_columns(["file_name", "folder"])
    options.proxy_source.setCurrentText("pattern")
    options.proxy_column.setCurrentText("file_name")
    options.proxy_pattern.setText(r"digit_\d{3}(\d)")
    changes = options.changes("proxy")
    assert changes == {"proxy_source": "pattern", "proxy_task": "", "proxy_column": "file_name",
                       "proxy_pattern": r"digit_\d{3}(\d)"}
    assert RunConfig(strategy="proxy", **changes).proxy_pattern == r"digit_\d{3}(\d)"


def test_unknown_strategy_rejected(qtbot):
    options = StrategyOptions()
    qtbot.addWidget(options)
    with pytest.raises(ValueError, match="strategy='finetune' is invalid"):
        options.changes("finetune")


def test_page_shows_form_of_strategy(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    page = window.training_page
    page.strategy.setCurrentText("multitask")
    assert page.strategy_options.currentWidget().isAncestorOf(page.strategy_options.supervised_weight)


def test_proxy_pattern_run_from_page(qtbot, tmp_path, monkeypatch):
    """A proxy on a file-name pattern, chosen on the page, is what the run trains on."""
    monkeypatch.setattr(loading, "sample_project_folder", lambda name: tmp_path / name)
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.state.data_changed, timeout=60_000):
        window._load(loading.open_sample_project, "digits")
    page = window.training_page
    page.strategy.setCurrentText("proxy")
    page.strategy_options.proxy_source.setCurrentText("pattern")
    page.strategy_options.proxy_column.setCurrentText("file_name")
    # The last digit of the file number: ten meaningless classes, which is what a pattern proxy may be.
    page.strategy_options.proxy_pattern.setText(r"digit_\d{3}(\d)")
    page.pretrain_epochs.setValue(0)
    page.finetune_steps.setValue(5)
    with qtbot.waitSignal(page.run_finished, timeout=240_000) as blocker:
        page.start()
    result = blocker.args[0]
    assert page.config.proxy_pattern == r"digit_\d{3}(\d)"
    assert page.config.proxy_column == "file_name"
    assert "file_name" in result.extras["proxy_report"]
    assert 0.0 <= result.pretrained["accuracy"] <= 1.0
    window.close()


def test_label_column_not_offered_as_proxy(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "sample_project_folder", lambda name: tmp_path / name)
    window = MainWindow()
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.state.data_changed, timeout=60_000):
        window._load(loading.open_sample_project, "digits")
    combo = window.training_page.strategy_options.proxy_column
    offered = [combo.itemText(row) for row in range(combo.count())]
    assert offered == ["file_name"]
    window.training_page.label_column.setCurrentText("file_name")
    offered = [combo.itemText(row) for row in range(combo.count())]
    assert offered == ["folder"]
    window.close()


@pytest.mark.parametrize(("strategy", "option", "value"), [("feature-extraction", "probe", "knn"),
                                                           ("multitask", "supervised_weight", 0.5)])
def test_strategy_runs_from_page(qtbot, tmp_path, monkeypatch, strategy, option, value):
    monkeypatch.setattr(loading, "sample_project_folder", lambda name: tmp_path / name)
    window = MainWindow()
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.state.data_changed, timeout=60_000):
        window._load(loading.open_sample_project, "digits")
    page = window.training_page
    page.strategy.setCurrentText(strategy)
    options = page.strategy_options
    if option == "probe":
        options.probe.setCurrentText(value)
    else:
        options.supervised_weight.setValue(value)
    page.pretrain_epochs.setValue(0)
    page.finetune_steps.setValue(5)
    with qtbot.waitSignal(page.run_finished, timeout=240_000) as blocker:
        page.start()
    assert blocker.args[0].status == "finished"
    assert getattr(page.config, option) == value
    assert 0.0 <= blocker.args[0].pretrained["accuracy"] <= 1.0
    window.close()
