"""Open the data source recorded in a project, with the options it was imported with."""

from __future__ import annotations

from typing import Any

from sslstudio.data.base import DataError, Dataset
from sslstudio.project.store import Project
from sslstudio.workflow import DataChoice, open_data


def project_source(project: Project, source_id: int | None = None) -> dict[str, Any]:
    """Return the source ``source_id`` of ``project`` (default: its first source).

    Raises:
        DataError: if the project has no source, or none with that id.
    """
    sources = project.sources()
    if not sources:
        raise DataError(f"{project.folder}: the project has no data source; create a new project from a data folder")
    if source_id is None:
        return sources[0]
    for source in sources:
        if source["id"] == source_id:
            return source
    known = ", ".join(str(source["id"]) for source in sources)
    raise DataError(f"{project.folder}: no data source with id {source_id}; the project's sources are {known}")


def open_source(source: dict[str, Any]) -> tuple[Dataset, str]:
    """Open a project source (a bundled sample or a path); return the dataset and its label column.

    Raises:
        DataError: if the data moved, or cannot be read.
    """
    options = dict(source["options"])
    label_column = options.pop("label_column", None)
    if "sample" in options:
        return open_data(DataChoice(sample=options["sample"], label_column=label_column))
    return open_data(DataChoice(path=source["path"], modality=source["modality"], label_column=label_column,
                                options=options))
