"""The metrics CSV of a run folder: one row per metric value per step."""

from __future__ import annotations

import csv
from pathlib import Path

from sslstudio.training.events import Progress

COLUMNS = ("phase", "epoch", "step", "name", "value")


class MetricsLog:
    """Append-only ``metrics.csv``; each ``write`` flushes so a crash keeps every finished step.

    A resumed run repeats the steps after its last checkpoint, so their rows
    are appended again; ``read_metrics`` keeps the later row of each.
    """

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
    """Return the rows of a metrics CSV as dicts, one per (phase, step, name).

    Where a resumed run logged a step again, the later row's value is kept at
    the earlier row's position.
    """
    rows: dict[tuple[str, str, str], dict[str, str]] = {}
    with open(path, newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            rows[(row["phase"], row["step"], row["name"])] = row
    return list(rows.values())
