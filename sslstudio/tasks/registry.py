"""The task registry: tasks register under ``modality.name``; plug-ins add theirs via entry points.

Third-party packages register tasks through the ``sslstudio.tasks`` entry-point
group; each entry point names a module whose import registers its tasks.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from importlib.metadata import entry_points
from typing import Any

from sslstudio import MODALITIES
from sslstudio.data.base import DatasetSpec
from sslstudio.tasks.base import PretextTask

logger = logging.getLogger(__name__)

_TASKS: dict[str, type[PretextTask]] = {}
_loaded = False


def register_task(cls: type[PretextTask]) -> type[PretextTask]:
    """Register a task class under its ``name`` (class decorator).

    Raises:
        ValueError: if the name is not ``modality.short_name`` with a known
            modality, or is already taken by another class.
    """
    modality, _, short = cls.name.partition(".")
    if modality not in MODALITIES or not short:
        raise ValueError(f"task name {cls.name!r} must be 'modality.name' with modality one of {', '.join(MODALITIES)}")
    existing = _TASKS.get(cls.name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"task name {cls.name!r} is already registered by {existing.__module__}.{existing.__qualname__}")
    _TASKS[cls.name] = cls
    return cls


def _load_builtin_and_plugins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import sslstudio.tasks as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in {"base", "registry"}:
            importlib.import_module(f"sslstudio.tasks.{module.name}")
    for entry in entry_points(group="sslstudio.tasks"):
        try:
            entry.load()
        except Exception:  # A broken plug-in must not stop the app; it is logged with its traceback.
            logger.exception("Failed to load task plug-in %s", entry.value)


def list_tasks(modality: str | None = None) -> list[type[PretextTask]]:
    """Return registered task classes, sorted by name, optionally of one modality."""
    _load_builtin_and_plugins()
    if modality is not None and modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {', '.join(MODALITIES)}")
    return [cls for name, cls in sorted(_TASKS.items()) if modality is None or name.startswith(modality + ".")]


def get_task(name: str) -> type[PretextTask]:
    """Return the task class registered as ``name``.

    Raises:
        KeyError: if no task has that name; the message lists the known names.
    """
    _load_builtin_and_plugins()
    if name not in _TASKS:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]


def create_task(name: str, spec: DatasetSpec, params: dict[str, Any] | None = None) -> PretextTask:
    """Instantiate task ``name`` for data described by ``spec``.

    Raises:
        KeyError: for an unknown name. ValueError: for invalid parameters.
    """
    cls = get_task(name)
    if spec.modality != cls.name.split(".")[0]:
        raise ValueError(f"task {name!r} is for {cls.name.split('.')[0]} data, but the dataset is {spec.modality}")
    return cls(spec, params)
