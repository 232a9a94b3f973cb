"""The metrics CSV of a run folder: one row per metric value per step."""

from __future__ import annotations

import csv
from pathlib import Path

from sslstudio.training.events import Progress

COLUMNS = ("phase", "epoch", "step", "name", "value")


class MetricsLog:
    """Append-only ``metrics.csv``; each ``write`` flushes so a crash keeps every finished step."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        self._file = open(self.path, "a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        if new:
            self._writer.writerow(COLUMNS)

    def write(self, event: Progress) -> None:
        for name, value in event.metrics.items():
            self._writer.writerow((event.phase, event.epoch, event.step, name, f"{value:.6g}"))
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_metrics(path: Path) -> list[dict[str, str]]:
    """Return the rows of a metrics CSV as dicts."""
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))
