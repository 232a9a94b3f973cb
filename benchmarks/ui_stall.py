"""The longest stall of the UI event loop while a run trains in the GUI.

A 5 ms timer runs on the UI thread during a short digits run started from the
training page; every gap between ticks beyond the interval is a stall. The
script prints the longest gap and its ratio to the 50 ms goal (under 1.0 passes).

Usage: QT_QPA_PLATFORM=offscreen python benchmarks/ui_stall.py [--epochs 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from sslstudio.gui import loading  # noqa: E402
from sslstudio.gui.main_window import MainWindow  # noqa: E402

GOAL_MS = 50.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--finetune-steps", type=int, default=40)
    args = parser.parse_args()
    app = QApplication([])
    folder = Path(tempfile.mkdtemp())
    loading.sample_project_folder = lambda name: folder / name
    window = MainWindow()
    window.show()
    window._load(loading.open_sample_project, "digits")
    while window.state.data is None:
        app.processEvents()
        time.sleep(0.01)
    page = window.training_page
    page.pretrain_epochs.setValue(args.epochs)
    page.finetune_steps.setValue(args.finetune_steps)
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append((now - last[0]) * 1000)
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()
    page.start()
    while page.result is None or page.is_running():
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    window.close()
    gaps.sort()
    longest = gaps[-1]
    print(f"{len(gaps)} timer ticks during the run; median gap {gaps[len(gaps) // 2]:.1f} ms, "
          f"99th percentile {gaps[int(len(gaps) * 0.99)]:.1f} ms")
    print(f"longest UI stall: {longest:.1f} ms; ratio to the {GOAL_MS:.0f} ms goal: {longest / GOAL_MS:.2f}")


if __name__ == "__main__":
    main()
