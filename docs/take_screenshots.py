"""Take a screenshot of each main-window page on the digits sample (run under Xvfb).

Usage: xvfb-run -s "-screen 0 1280x800x24" python docs/take_screenshots.py docs/screenshots
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtWidgets import QApplication

from sslstudio.gui import loading
from sslstudio.gui.main_window import MainWindow


def wait_until(app: QApplication, condition, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not reach the expected state in time")
        app.processEvents()
        time.sleep(0.02)


def settle(app: QApplication, seconds: float = 0.6) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def shoot(app: QApplication, window: MainWindow, path: Path) -> None:
    settle(app)
    app.primaryScreen().grabWindow(window.winId()).save(str(path))


def shoot_advisor(app: QApplication, window: MainWindow, out: Path) -> None:
    """Rank rotation, one other task and the reference with a short budget and shoot the Advisor page."""
    window.show_page("Advisor")
    page = window.advisor_page
    page.set_checked({"image.rotation", "image.jigsaw", "no pretraining (random encoder)"})
    page.steps.setValue(30)
    page.labels_per_class.setValue(10)
    page.rank()
    wait_until(app, lambda: page.advice is not None and page.rank_button.isEnabled(), timeout=1800)
    shoot(app, window, out / "advisor.png")


def main(out_dir: str, sample: str = "digits") -> int:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    projects = Path(tempfile.mkdtemp())
    loading.sample_project_folder = lambda name: projects / name
    window = MainWindow()
    window.show()
    shoot(app, window, out / "start.png")
    window._load(loading.open_sample_project, sample)
    wait_until(app, lambda: window.state.data is not None)
    shoot(app, window, out / "dataset.png")
    window.show_page("Tasks")
    wait_until(app, lambda: window.tasks_page.preview_grid.count() > 0)
    shoot(app, window, out / "tasks.png")
    shoot_advisor(app, window, out)
    window.show_page("Training")
    page = window.training_page
    page.pretrain_epochs.setValue(2)
    page.finetune_steps.setValue(60)
    page.start()
    wait_until(app, lambda: page.result is not None and not page.is_running(), timeout=1800)
    shoot(app, window, out / "training.png")
    window.show_page("Evaluation")
    evaluation = window.evaluation_page
    wait_until(app, lambda: len(evaluation.scatter.scatter.data) > 0)
    if evaluation.mistakes.rowCount():
        evaluation.mistakes.selectRow(0)
    shoot(app, window, out / "evaluation.png")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
