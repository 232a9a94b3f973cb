"""``torch.export`` programs (``.pt2``) with a dynamic batch axis and no pickled parts.

``torch.export.save`` stores weights as raw bytes with a JSON index, but it
pickles the example inputs (and would pickle tensor subclasses and script
objects). The example inputs are dropped before saving. ``find_pickles``
rejects an archive that still contains a pickled part, after saving and
before loading, because ``torch.export.load`` falls back to a full unpickle
(``weights_only=False``) when a pickled part fails the safe loader (PyTorch 2.14).
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from sslstudio.export.inputs import (TOLERANCE, PositionalInputs, as_tuple, compare_outputs, dynamic_shapes,
                                    is_tuple_batch)

logger = logging.getLogger(__name__)


def export_program(model: nn.Module, example_batch, path: Path,
                   dynamic_axes: Sequence[dict[int, str]] | None = None) -> Path:
    """Export ``model`` (eval mode, CPU) with ``torch.export`` to ``path`` with dynamic axes.

    ``dynamic_axes`` gives one ``{axis: dimension name}`` per input, as for
    the ONNX export; by default axis 0 of every input is the batch axis. The
    saved program takes the batch's tensors as positional inputs and returns
    N×K logits.

    Raises:
        ValueError: if a dynamic axis of the example batch has fewer than 2 entries, or the saved archive
            contains a pickle.
    """
    inputs = as_tuple(example_batch)
    shapes = dynamic_shapes(inputs, dynamic_axes, "torch.export")
    wrapper = PositionalInputs(model.cpu().eval(), is_tuple_batch(example_batch)).eval()
    with torch.no_grad():
        program = torch.export.export(wrapper, inputs, dynamic_shapes=(shapes,))
    # Without example inputs the archive's sample-inputs entry is empty instead of a torch.save pickle.
    program.example_inputs = None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, path)
    pickled = find_pickles(path)
    if pickled:
        raise ValueError(f"{path}: torch.export wrote pickled entries ({', '.join(pickled)}); "
                         "the model holds tensor subclasses or script objects that cannot be exported without pickles")
    logger.info("Exported torch.export program to %s", path)
    return path


def find_pickles(path: Path) -> list[str]:
    """Return the entries of a ``.pt2`` archive that are (or would be loaded as) pickles.

    Flags a non-empty sample-inputs entry, any custom-object entry, and any
    tensor whose JSON index sets ``use_pickle``.

    Raises:
        ValueError: if ``path`` is not a zip archive.
    """
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise ValueError(f"{path}: not a valid .pt2 archive ({error}). The file may be truncated or modified.") from error
    found = []
    with archive:
        for info in archive.infolist():
            name = info.filename
            if "/sample_inputs/" in name and info.file_size > 0:
                found.append(name)
            elif "/custom_objects/" in name:
                found.append(name)
            elif name.endswith("_config.json") and "/data/" in name:
                index = json.loads(archive.read(name))
                found.extend(f"{name}:{key}" for key, entry in index.get("config", {}).items()
                             if entry.get("use_pickle"))
    return found


def load_program(path: Path) -> nn.Module:
    """Load a ``.pt2`` archive written by ``export_program``; return a module called as ``module(*inputs)``.

    Raises:
        ValueError: naming ``path`` if the archive is unreadable or contains a pickle.
    """
    pickled = find_pickles(path)
    if pickled:
        raise ValueError(f"{path}: contains pickled entries ({', '.join(pickled[:3])}); refusing to load it")
    try:
        return torch.export.load(path).module()
    except Exception as error:  # torch raises several unrelated types for a damaged archive.
        raise ValueError(f"{path}: not a valid torch.export program ({error}). "
                         "The file may be truncated or modified.") from error


def check_program(model: nn.Module, path: Path, batches: Sequence, tolerance: float = TOLERANCE) -> list[float]:
    """Reload the program at ``path`` and compare its output with ``model`` on each batch.

    Returns the maximum absolute difference per batch.

    Raises:
        AssertionError: if any difference exceeds ``tolerance``.
    """
    module = load_program(path)

    def run(inputs: tuple[torch.Tensor, ...]):
        with torch.no_grad():
            return module(*inputs).numpy()

    return compare_outputs(model, run, batches, f"{path} reloaded with torch.export.load", tolerance)
