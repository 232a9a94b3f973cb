"""Shared test set-up: Qt offscreen, a small thread count and the bundled digits."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
import torch  # noqa: E402

# NOTE: with OMP_NUM_THREADS=1 set in the environment, tests/test_gui_samples.py crashed in two of four runs
# with a segmentation fault while a worker thread opened a sample; without it, every run passed. Cause unknown.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def digits():
    """The bundled digits sample at 16 px (1,797 images, labels in the ``folder`` column)."""
    from sslstudio.data.samples import get_sample

    return get_sample("digits").open()
