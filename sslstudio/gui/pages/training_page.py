"""Training page: strategy settings, start and cancel, progress with ETA, live curves, log and export."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QPlainTextEdit, QProgressBar, QPushButton, QSpinBox, QSplitter, QVBoxLayout, QWidget)
from PySide6.QtCore import Qt

from sslstudio.export.bundle import export_classifier
from sslstudio.export.predict import predict_folder
from sslstudio.training.checkpoints import atomic_write_text
from sslstudio.gui.curves import CurvePlot
from sslstudio.gui.errors import show_error
from sslstudio.gui.state import AppState
from sslstudio.gui.strategy_options import StrategyOptions
from sslstudio.gui.threads import BackgroundJob, CancellableJobOwner
from sslstudio.training.config import RunConfig
from sslstudio.training.events import Finished, Log, Progress
from sslstudio.training.strategies import STRATEGY_FUNCTIONS
from sslstudio.workflow import start_run, write_run_inputs

logger = logging.getLogger(__name__)


def _spin(low: int, high: int, value: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    return box


class TrainingPage(CancellableJobOwner, QWidget):
    """Runs one strategy at a time on a ``BackgroundJob``; ``run_finished`` carries the ``RunResult``."""

    run_finished = Signal(object)

    def __init__(self, state: AppState, tasks_provider, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.tasks_provider = tasks_provider
        self.job: BackgroundJob | None = None
        self.cancel_event = threading.Event()
        self.result = None
        self.config: RunConfig | None = None
        self.run_id: str | None = None
        self.run_dir: Path | None = None
        self._phase_started: dict[str, float] = {}

        settings = QGroupBox("Settings")
        form = QFormLayout(settings)
        self.strategy = QComboBox()
        self.strategy.addItems(sorted(STRATEGY_FUNCTIONS))
        self.strategy.setCurrentText("transfer")
        self.strategy_options = StrategyOptions()
        self.strategy.currentTextChanged.connect(self.strategy_options.show_strategy)
        self.strategy_options.show_strategy(self.strategy.currentText())
        self.label_column = QComboBox()
        self.label_column.currentTextChanged.connect(lambda _text: self._offer_proxy_columns())
        self.labels_per_class = _spin(0, 100_000, 5)
        self.labels_per_class.setToolTip("Labeled samples per class used for fine-tuning (0 = all labeled samples)")
        self.pretrain_epochs = _spin(0, 1000, 4)
        self.finetune_steps = _spin(1, 100_000, 150)
        self.batch_size = _spin(1, 4096, 64)
        self.learning_rate = QDoubleSpinBox()
        self.learning_rate.setDecimals(5)
        self.learning_rate.setRange(1e-5, 1.0)
        self.learning_rate.setSingleStep(1e-4)
        self.learning_rate.setValue(1e-3)
        self.seed = _spin(0, 2**31 - 1, 0)
        self.loader_workers = _spin(0, 64, 0)
        self.loader_workers.setToolTip("Worker processes that load batches ahead of each step (0 = load on the "
                                       "training thread); starting them takes a few seconds per phase")
        self.encoder_size = QComboBox()
        self.encoder_size.addItems(["small", "base", "large"])
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else []))
        for label, widget in (("strategy", self.strategy), ("", self.strategy_options),
                              ("label column", self.label_column),
                              ("labels per class", self.labels_per_class), ("pretrain epochs", self.pretrain_epochs),
                              ("fine-tune steps", self.finetune_steps), ("batch size", self.batch_size),
                              ("learning rate", self.learning_rate), ("seed", self.seed),
                              ("loader workers", self.loader_workers),
                              ("encoder size", self.encoder_size), ("device", self.device)):
            form.addRow(label, widget)

        self.start_button = QPushButton("Start training")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button = QPushButton("Export model…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.export)
        buttons = QHBoxLayout()
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the last cancelled or failed run from its checkpoints")
        self.resume_button.setEnabled(False)
        self.resume_button.clicked.connect(self.resume)
        self.launch_button = QPushButton("Launch command…")
        self.launch_button.setToolTip("Write this run's config and a torchrun command to run it on a bigger machine")
        self.launch_button.clicked.connect(lambda: self.write_launch_command())
        for button in (self.start_button, self.cancel_button, self.resume_button, self.export_button):
            buttons.addWidget(button)
        self.predict_button = QPushButton("Predict on files…")
        self.predict_button.setToolTip("Run the exported model on a file or folder and write a predictions CSV")
        self.predict_button.setEnabled(False)
        self.predict_button.clicked.connect(lambda: self.predict())
        self.export_dir: Path | None = None

        self.progress = QProgressBar()
        self.progress.setFormat("%p%")
        self.status = QLabel("Idle")
        self.results = QLabel()
        self.results.setTextFormat(Qt.TextFormat.RichText)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(settings)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.launch_button)
        left_layout.addWidget(self.predict_button)
        left_layout.addWidget(self.progress)
        left_layout.addWidget(self.status)
        left_layout.addWidget(self.results)
        left_layout.addStretch(1)

        self.loss_plot = CurvePlot("Loss", "loss")
        # Accuracy rises towards the top right, so its legend sits at the bottom right.
        self.accuracy_plot = CurvePlot("Accuracy", "accuracy", legend_offset=(-10, -40))
        self.log_panel = QPlainTextEdit()
        self.log_panel.setReadOnly(True)
        self.log_panel.setMaximumBlockCount(5000)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.loss_plot)
        right.addWidget(self.accuracy_plot)
        log_box = QGroupBox("Log")
        log_layout = QVBoxLayout(log_box)
        log_layout.setContentsMargins(4, 4, 4, 4)
        log_layout.addWidget(self.log_panel)
        right.addWidget(log_box)
        right.setSizes([300, 300, 150])

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([320, 700])
        layout = QHBoxLayout(self)
        layout.addWidget(splitter)
        state.data_changed.connect(self._data_changed)

    def _data_changed(self) -> None:
        self.label_column.clear()
        if self.state.data is None:
            return
        columns = [column for column in self.state.data.dataset.metadata.columns
                   if column not in {"sample_id", "path"}]
        self.label_column.addItems(columns)
        self.label_column.setCurrentText(self.state.data.label_column)
        self._offer_proxy_columns()

    def _offer_proxy_columns(self) -> None:
        """Offer every metadata column but the label column as a proxy target: the label is no shortcut."""
        label = self.label_column.currentText()
        self.strategy_options.set_columns([self.label_column.itemText(row) for row in range(self.label_column.count())
                                           if self.label_column.itemText(row) != label])

    def showEvent(self, event) -> None:
        """Offer the tasks checked now on the Tasks page as proxy tasks."""
        try:
            self.strategy_options.set_tasks([choice.name for choice in self.tasks_provider()])
        except ValueError:
            self.strategy_options.set_tasks([])
        super().showEvent(event)

    def build_config(self) -> RunConfig:
        """Freeze the current settings into a ``RunConfig`` (read on the UI thread only)."""
        data = self.state.data
        return RunConfig(strategy=self.strategy.currentText(), tasks=self.tasks_provider(),
                         **self.strategy_options.changes(self.strategy.currentText()),
                         encoder_size=self.encoder_size.currentText(), pretrain_epochs=self.pretrain_epochs.value(),
                         finetune_steps=self.finetune_steps.value(), batch_size=self.batch_size.value(),
                         learning_rate=self.learning_rate.value(), labels_per_class=self.labels_per_class.value(),
                         seed=self.seed.value(), device=self.device.currentText(),
                         loader_workers=self.loader_workers.value(),
                         label_column=self.label_column.currentText() or (data.label_column if data else "folder"))

    def _new_run(self, adjust: Callable[[RunConfig], RunConfig] = lambda config: config
                 ) -> tuple[RunConfig, Path] | None:
        """Freeze the settings and record a new run with its inputs; None (after a message) when invalid."""
        if self.state.data is None or self.state.project is None:
            show_error(self, "No data", "Open a sample or a project first.")
            return None
        try:
            config = adjust(self.build_config())
        except ValueError as error:
            show_error(self, "Invalid settings", str(error))
            return None
        self.strategy.setCurrentText(config.strategy)
        self.strategy_options.apply(config)
        self.label_column.setCurrentText(config.label_column)
        data = self.state.data
        if config.label_column != data.label_column:
            data.label_column = config.label_column
        self.config = config
        self.run_id, run_dir = self.state.project.create_run(config.strategy, config.to_json())
        write_run_inputs(run_dir, self.state.data_choice(), config)
        return config, run_dir

    def start(self) -> None:
        self.start_with(lambda config: config)

    def start_with(self, adjust: Callable[[RunConfig], RunConfig]) -> bool:
        """Start a run of the page's settings changed by ``adjust``; return whether it started.

        The strategy and label column boxes are set to the adjusted values, so the page shows what runs.
        """
        if self.is_running():
            return False
        created = self._new_run(adjust)
        if created is not None:
            self._launch(*created, resume=False)
        return created is not None

    def resume(self) -> None:
        """Continue the last run from its checkpoints with the settings it started with."""
        if self.is_running() or self.config is None or self.run_dir is None:
            return
        self._launch(self.config, self.run_dir, resume=True)

    def write_launch_command(self, processes: int = 2) -> Path | None:
        """Record a run for another machine; return the ``launch.sh`` written in its run folder."""
        created = self._new_run()
        if created is None:
            return None
        _, run_dir = created
        script = run_dir / "launch.sh"
        script.write_text("#!/usr/bin/env bash\n"
                          "# Run on a machine with SSL Studio installed and the same data path; set N to its GPUs.\n"
                          f"N=${{N:-{processes}}}\n"
                          f'torchrun --nproc_per_node="$N" -m sslstudio train --resume "{run_dir}"\n',
                          encoding="utf-8")
        script.chmod(0o755)
        self.append_log(f"Wrote {script}: copy the project folder and run it there")
        self.state.project.finish_run(self.run_id, "prepared", {})
        return script

    def _launch(self, config: RunConfig, run_dir: Path, resume: bool) -> None:
        data = self.state.data
        labels = self.state.labels()
        self.run_dir = run_dir
        self.cancel_event = threading.Event()
        self.result = None
        self.loss_plot.clear()
        self.accuracy_plot.clear()
        self.log_panel.clear()
        self.results.clear()
        self._phase_started.clear()
        self.progress.setValue(0)
        self.append_log(f"Run {self.run_id}: {config.strategy} with {', '.join(c.name for c in config.tasks)}")
        self.job = BackgroundJob(start_run, config, data.dataset, labels, run_dir, self.cancel_event, resume=resume,
                                 parent=self)
        self.job.yielded.connect(self.handle_event)
        self.job.errored.connect(self._failed)
        self.job.finished.connect(self._job_finished)
        self.start_button.setEnabled(False)
        self.resume_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.export_button.setEnabled(False)
        self.status.setText("Starting…")
        self.job.start()

    def append_log(self, message: str) -> None:
        self.log_panel.appendPlainText(time.strftime("%H:%M:%S ") + message)

    def handle_event(self, event) -> None:
        if isinstance(event, Progress):
            self._show_progress(event)
        elif isinstance(event, Log):
            self.append_log(event.message)
        elif isinstance(event, Finished):
            self._show_result(event.result)

    def _show_progress(self, event: Progress) -> None:
        started = self._phase_started.setdefault(event.phase, time.monotonic())
        self.progress.setMaximum(event.total)
        self.progress.setValue(event.step)
        elapsed = time.monotonic() - started
        remaining = elapsed / max(event.step, 1) * (event.total - event.step)
        self.status.setText(f"{event.phase}: step {event.step}/{event.total}, about {remaining:.0f} s left in this phase")
        for name, value in event.metrics.items():
            if name == "loss" or name.endswith("/loss"):
                label = event.phase if name == "loss" else f"{event.phase} {name.removesuffix('/loss')}"
                if name == "loss" or len([key for key in event.metrics if key.endswith("/loss")]) > 1:
                    self.loss_plot.add_point(label, event.step, value)
            elif name.endswith("accuracy"):
                self.accuracy_plot.add_point(f"{event.phase} {name}", event.step, value)

    def _show_result(self, result) -> None:
        self.result = result
        if result.status != "finished":
            self.resume_button.setEnabled(True)
            self.status.setText(f"Run {result.status}; checkpoints are in {result.run_dir}")
            self.state.project.finish_run(self.run_id, result.status, {})
            return
        self.state.project.finish_run(self.run_id, "finished", {"pretrained": result.pretrained,
                                                                 "scratch": result.scratch})
        rows = [("Pretrained", result.pretrained), ("Scratch baseline", result.scratch)]
        table = "".join(f"<tr><td>{name}</td><td>{metrics.get('accuracy', float('nan')):.3f}</td>"
                        f"<td>{metrics.get('balanced_accuracy', float('nan')):.3f}</td>"
                        f"<td>{metrics.get('macro_f1', float('nan')):.3f}</td></tr>" for name, metrics in rows if metrics)
        self.results.setText("<b>Held-out results</b><table cellpadding=3><tr><th></th><th>accuracy</th>"
                             f"<th>balanced</th><th>macro-F1</th></tr>{table}</table>")
        self.status.setText("Finished")
        self.export_button.setEnabled(True)
        self.run_finished.emit(result)

    def _failed(self, message: str, details: str) -> None:
        if self.state.project is not None and self.run_id is not None:
            self.state.project.finish_run(self.run_id, "failed", {})
        self.append_log("Failed: " + message)
        self.status.setText("Failed")
        self.resume_button.setEnabled(self.run_dir is not None)
        show_error(self, "Training failed", message, details)

    def _job_finished(self) -> None:
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def export(self, folder: str | None = None) -> BackgroundJob | None:
        """Export the finished model to ``folder`` (asked for when None) on a worker thread."""
        if self.result is None or self.result.model is None:
            return None
        if folder is None:
            default = str(self.state.project.folder / "exports" / (self.run_id or "model"))
            folder = QFileDialog.getExistingDirectory(self, "Export the model to", default) or None
            if folder is None:
                return None
        self.export_button.setEnabled(False)
        self.status.setText("Exporting…")
        job = BackgroundJob(export_classifier, self.result, self.state.data.dataset, self.config, folder, parent=self)
        job.returned.connect(lambda written: (self.append_log(
            f"Exported {written['onnx']} (checked in ONNX Runtime, max difference "
            f"{max(written['differences']):.1e})"), self.status.setText(f"Exported to {folder}")))
        job.errored.connect(lambda message, details: show_error(self, "Export failed", message, details))
        job.returned.connect(lambda _written: self._exported(Path(folder)))
        job.finished.connect(lambda: self.export_button.setEnabled(True))
        self.export_job = job
        job.start()
        return job

    def _exported(self, folder: Path) -> None:
        self.export_dir = folder
        self.predict_button.setEnabled(True)

    def predict(self, data_path: str | None = None, out_path: str | None = None) -> BackgroundJob | None:
        """Run the last export on new data (the training reader and preprocessing) and write a CSV."""
        if self.export_dir is None:
            return None
        if data_path is None:
            data_path = QFileDialog.getExistingDirectory(self, "Data to predict (a folder)") or None
        if data_path is None:
            return None
        if out_path is None:
            out_path = QFileDialog.getSaveFileName(self, "Write predictions to", str(self.export_dir / "predictions.csv"),
                                                   "CSV files (*.csv)")[0] or None
        if out_path is None:
            return None
        self.status.setText("Predicting…")
        job = BackgroundJob(predict_to_csv, self.export_dir, data_path, out_path, parent=self)
        job.returned.connect(lambda summary: (self.append_log(summary), self.status.setText("Predictions written")))
        job.errored.connect(lambda message, details: show_error(self, "Prediction failed", message, details))
        self.predict_job = job
        job.start()
        return job


def predict_to_csv(model_dir: Path, data_path: str, out_path: str) -> str:
    """Predict ``data_path`` with the export in ``model_dir``, write ``out_path``; return a summary line."""
    frame = predict_folder(model_dir, data_path)
    atomic_write_text(Path(out_path), frame.to_csv(index=False))
    report = frame.attrs["import_report"]
    return f"Wrote {len(frame)} predictions to {out_path} ({report.summary(len(frame))})"
