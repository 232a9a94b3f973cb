"""Per-modality views. Each module ``<modality>.py`` here defines:

- ``sample_widget(dataset, index, parent=None) -> QWidget``: one sample in the
  modality's own view (an image, a series plot, a document, a graph, a clip, a row);
- ``preview_widget(item, task, parent=None) -> QWidget``: one ``PreviewItem``
  of a pretext task, showing input, target and caption;
- ``thumbnail(dataset, index, size) -> QImage | None``: a small picture for
  grids, or None where the modality has none.

The pages call these through ``view_for``, so they never special-case a modality.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def view_for(modality: str) -> ModuleType:
    """Return the view module of ``modality``.

    Raises:
        ValueError: if the modality has no view module.
    """
    try:
        return importlib.import_module(f"sslstudio.gui.views.{modality}")
    except ModuleNotFoundError as error:
        raise ValueError(f"no view for {modality!r} data yet") from error
