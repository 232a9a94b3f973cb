"""The bundled resources are found from a source checkout and from an installed wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sslstudio.resources import resources_dir

ROOT = Path(__file__).resolve().parents[1]


def test_found_in_source_checkout():
    assert resources_dir() == ROOT / "resources"


def test_found_in_built_wheel(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                            str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    if built.returncode != 0 and "hatchling" in built.stderr:
        pytest.skip("hatchling is not installed in this environment")
    assert built.returncode == 0, built.stderr
    wheel = next(tmp_path.glob("sslstudio-*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import sslstudio.resources as r, sslstudio.data.samples as s; "
            "print(r.resources_dir()); print(s.get_sample('digits').data_path.is_dir())")
    environment = {**os.environ, "PYTHONPATH": str(site)}
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                               env=environment, timeout=120)
    assert completed.returncode == 0, completed.stderr
    found, has_digits = completed.stdout.split()
    assert Path(found) == site / "sslstudio" / "resources"
    assert has_digits == "True"
