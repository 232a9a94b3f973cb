"""The layer rule: nothing outside sslstudio/gui imports Qt, pyqtgraph or superqt."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sslstudio"
GUI_ONLY = {"PySide6", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "qtpy", "shiboken6"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_modules_do_not_import_qt():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "gui" in path.relative_to(PACKAGE).parts:
            continue
        bad = imported_roots(path) & GUI_ONLY
        if bad:
            offenders.append(f"{path.relative_to(PACKAGE.parent)}: {', '.join(sorted(bad))}")
    assert offenders == []


def test_core_runs_without_qt_loaded():
    code = ("import sys, sslstudio.cli, sslstudio.workflow, sslstudio.export.bundle, sslstudio.project; "
            "from sslstudio.tasks import list_tasks; from sslstudio.data import readers; "
            "list_tasks(); readers(); "
            "bad = [m for m in sys.modules if m.split('.')[0] in {'PySide6', 'pyqtgraph', 'superqt'}]; "
            "print(bad); sys.exit(1 if bad else 0)")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout + completed.stderr
