"""Open data for the GUI (on a worker thread): a sample, a new project from a folder, or a project."""

from __future__ import annotations

from pathlib import Path

import platformdirs

from sslstudio.gui.state import LoadedData
from sslstudio.project.sources import open_source, project_source
from sslstudio.project.store import Project
from sslstudio.workflow import DataChoice, open_data


def sample_project_folder(name: str) -> Path:
    """Return the project folder the GUI uses for a bundled sample (in the user data folder)."""
    return Path(platformdirs.user_data_dir("sslstudio", appauthor=False)) / "projects" / name


def open_sample_project(name: str, project_root: Path | None = None) -> tuple[Project, LoadedData]:
    """Open sample ``name`` and its project (created on first use)."""
    dataset, label_column = open_data(DataChoice(sample=name))
    project = Project(project_root or sample_project_folder(name), create=True)
    sources = [source for source in project.sources() if source["path"] == dataset.source]
    source_id = sources[0]["id"] if sources else project.add_source(dataset.source, dataset.modality,
                                                                     {"sample": name, "label_column": label_column})
    return project, LoadedData(dataset, label_column, name, source_id)


def create_folder_project(data_folder: str, project_folder: str) -> tuple[Project, LoadedData]:
    """Create a project in ``project_folder`` for the data in ``data_folder``."""
    dataset, label_column = open_data(DataChoice(path=data_folder))
    project = Project(project_folder, create=True)
    source_id = project.add_source(dataset.source, dataset.modality, {"label_column": label_column})
    return project, LoadedData(dataset, label_column, Path(data_folder).name, source_id)


def open_existing_project(folder: str) -> tuple[Project, LoadedData]:
    """Open a project folder and its first data source.

    Raises:
        ProjectError: if the folder is not a project. DataError: if it has no source or the data moved.
    """
    project = Project(folder)
    source = project_source(project)
    dataset, label_column = open_source(source)
    return project, LoadedData(dataset, label_column, Path(folder).name, source["id"])


def reopen_with_options(project: Project, data: LoadedData, changes: dict) -> tuple[Project, LoadedData]:
    """Reopen the loaded data with changed reader options (``label_column`` moves the label column)."""
    options = dict(getattr(data.dataset, "open_options", {}))
    label_column = changes.get("label_column") or data.label_column
    options.pop("label_column", None)
    options.update({key: value for key, value in changes.items() if key != "label_column"})
    dataset, label_column = open_data(DataChoice(path=data.dataset.source, modality=data.dataset.modality,
                                                 label_column=label_column, options=options))
    return project, LoadedData(dataset, label_column, data.name, data.source_id)
