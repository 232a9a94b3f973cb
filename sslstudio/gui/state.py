"""The application state shared by the pages: the open project, dataset and labels."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from sslstudio.data.base import Dataset
from sslstudio.project.store import Project


@dataclass
class LoadedData:
    """A dataset opened for a project, with the metadata column used as labels."""

    dataset: Dataset
    label_column: str
    name: str
    source_id: int


class AppState(QObject):
    """Holds what is open; pages listen to ``data_changed`` instead of reaching into each other."""

    data_changed = Signal()

    def __init__(self):
        super().__init__()
        self.project: Project | None = None
        self.data: LoadedData | None = None

    def set_data(self, project: Project, data: LoadedData) -> None:
        self.project = project
        self.data = data
        self.data_changed.emit()

    def data_choice(self):
        """Return how to reopen the loaded data (a sample name, or a path with its reader options)."""
        from sslstudio.workflow import DataChoice

        data = self.data
        sources = self.project.sources() if self.project is not None else []
        source = next((entry for entry in sources if entry["id"] == data.source_id), {})
        sample = source.get("options", {}).get("sample")
        if sample:
            return DataChoice(sample=sample, label_column=data.label_column)
        options = dict(getattr(data.dataset, "open_options", {}))
        options.pop("label_column", None)
        return DataChoice(path=data.dataset.source, modality=data.dataset.modality, label_column=data.label_column,
                          options=options)

    def labels(self) -> list[str | None]:
        """Return one label per sample: the project's stored labels, else the label column's values."""
        if self.data is None:
            return []
        column = self.data.dataset.label_column(self.data.label_column) \
            if self.data.label_column in self.data.dataset.metadata.columns else [None] * len(self.data.dataset)
        stored = self.project.labels(self.data.source_id) if self.project is not None else {}
        return [stored.get(sample_id, value) for sample_id, value in zip(self.data.dataset.ids, column)]
