"""``sslstudio --self-test``: open the main window offscreen, train briefly on the digits, export to ONNX.

It checks what an installed bundle needs at run time (Qt plugins, the bundled
samples, PyTorch and ONNX Runtime) without a display or a network.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 900


def run_self_test() -> int:
    """Return 0 when the whole path works, 1 otherwise; progress goes to the log and standard error."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from sslstudio.gui import loading
    from sslstudio.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(["sslstudio"])
    work_dir = Path(tempfile.mkdtemp(prefix="sslstudio-self-test-"))
    loading.sample_project_folder = lambda name: work_dir / name
    window = MainWindow()
    window.show()
    failures: list[str] = []

    def wait_for(condition, what: str) -> bool:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while not condition():
            if failures:
                return False
            if time.monotonic() > deadline:
                failures.append(f"timed out waiting for {what}")
                return False
            app.processEvents()
            time.sleep(0.01)
        return True

    job = window._load(loading.open_sample_project, "digits")
    job.errored.connect(lambda message, _details: failures.append(f"opening the digits failed: {message}"))
    if not wait_for(lambda: window.state.data is not None, "the digits sample"):
        return _finish(window, failures)
    page = window.training_page
    page.device.setCurrentText("cpu")
    page.pretrain_epochs.setValue(1)
    page.finetune_steps.setValue(5)
    page.batch_size.setValue(64)
    page.labels_per_class.setValue(2)
    page.start()
    if page.job is None:
        failures.append("the training page did not start a run")
        return _finish(window, failures)
    page.job.errored.connect(lambda message, _details: failures.append(f"training failed: {message}"))
    if not wait_for(lambda: page.result is not None and not page.is_running(), "the training run"):
        return _finish(window, failures)
    export_dir = work_dir / "export"
    export_job = page.export(str(export_dir))
    export_job.errored.connect(lambda message, _details: failures.append(f"export failed: {message}"))
    wait_for(lambda: (export_dir / "model_card.json").exists() and not export_job.is_running(), "the ONNX export")
    return _finish(window, failures, export_dir)


def _finish(window, failures: list[str], export_dir: Path | None = None) -> int:
    window.close()
    work_dir = window.state.project.folder.parent if window.state.project is not None else None
    if failures:
        for failure in failures:
            logger.error("Self-test: %s", failure)
        print("self-test FAILED: " + "; ".join(failures), flush=True)
        return 1
    print("self-test passed: trained on the digits, exported to ONNX and checked it in ONNX Runtime", flush=True)
    if work_dir is not None and work_dir.name.startswith("sslstudio-self-test-"):
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0
