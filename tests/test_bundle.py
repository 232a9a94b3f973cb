"""Build the Linux bundle with PyInstaller and run its self-test (slow: many minutes, several GB of disk)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_linux_bundle_builds_and_passes_self_test():
    pytest.importorskip("PyInstaller")
    if not sys.platform.startswith("linux"):
        pytest.skip("the Linux bundle builds on Linux only")
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    completed = subprocess.run(["bash", str(ROOT / "packaging" / "build_linux.sh"), sys.executable], cwd=ROOT,
                               capture_output=True, text=True, env=environment, timeout=3600)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    assert "self-test passed" in completed.stdout
    assert (ROOT / "dist" / "sslstudio" / "sslstudio").is_file()
    assert list((ROOT / "dist").glob("sslstudio-*-linux-*.tar.gz"))


@pytest.mark.slow
def test_bundle_self_test_runs_without_python_on_path(tmp_path):
    executable = ROOT / "dist" / "sslstudio" / "sslstudio"
    if not executable.is_file():
        pytest.skip("build the bundle first (packaging/build_linux.sh)")
    copy = tmp_path / "sslstudio"
    shutil.copytree(executable.parent, copy, symlinks=True)
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    completed = subprocess.run([str(copy / "sslstudio"), "--self-test"], capture_output=True, text=True,
                               env=environment, timeout=1800)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    assert "self-test passed" in completed.stdout
