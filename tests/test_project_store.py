"""The project store: schema, labels, runs and metrics survive reopening."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading

import pytest

from sslstudio.project.store import DATABASE_NAME, SCHEMA_VERSION, Project, ProjectError


def test_create_and_reopen(tmp_path):
    project = Project.create(tmp_path / "p")
    source = project.add_source("/data/images", "image", {"image_size": 16})
    project.set_label(source, "a.png", "cat")
    project.set_labels(source, [("b.png", "dog"), ("c.png", "cat")])
    project.set_label(source, "a.png", "dog")
    run_id, run_dir = project.create_run("transfer", "{}")
    project.finish_run(run_id, "finished", {"pretrained": {"accuracy": 0.9, "per_class": [1]}, "scratch": {"accuracy": 0.7}})
    project.set_setting("last_page", "Training")
    project.close()

    reopened = Project(tmp_path / "p")
    assert reopened.schema_version == SCHEMA_VERSION
    assert reopened.sources()[0]["options"] == {"image_size": 16}
    assert reopened.labels(source) == {"a.png": "dog", "b.png": "dog", "c.png": "cat"}
    assert [entry["name"] for entry in reopened.classes()] == ["cat", "dog"]
    assert reopened.runs()[0]["status"] == "finished"
    assert reopened.run_metrics(run_id) == {"pretrained": {"accuracy": 0.9}, "scratch": {"accuracy": 0.7}}
    assert reopened.setting("last_page") == "Training"
    assert run_dir.is_dir()


def test_wal_mode_and_integrity(tmp_path):
    project = Project.create(tmp_path)
    connection = sqlite3.connect(tmp_path / DATABASE_NAME)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    project.close()


def test_remove_label(tmp_path):
    project = Project.create(tmp_path)
    source = project.add_source("x", "image")
    project.set_label(source, "a", "cat")
    project.set_label(source, "a", None)
    assert project.labels(source) == {}


def test_writes_from_two_threads(tmp_path):
    project = Project.create(tmp_path)
    source = project.add_source("x", "image")
    errors = []

    def write(prefix: str) -> None:
        try:
            for index in range(50):
                project.set_label(source, f"{prefix}{index}", prefix)
        except Exception as error:  # collected for the assert below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(project.labels(source)) == 100


def test_missing_project_rejected(tmp_path):
    with pytest.raises(ProjectError, match="no project.sqlite"):
        Project(tmp_path)


def test_newer_schema_rejected(tmp_path):
    Project.create(tmp_path).close()
    connection = sqlite3.connect(tmp_path / DATABASE_NAME)
    connection.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(ProjectError, match="newer than this SSL Studio supports"):
        Project(tmp_path)


def _open_after(folder: str, barrier) -> int:
    barrier.wait()
    project = Project(folder, create=True)
    version = project.schema_version
    project.close()
    return version


def test_concurrent_open_migrates_once(tmp_path):
    """Several torchrun ranks open one new project at once, so each migration step must run once."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(4)
        with context.Pool(4) as pool:
            versions = pool.starmap(_open_after, [(str(tmp_path / "project"), barrier)] * 4)
    assert versions == [SCHEMA_VERSION] * 4
    project = Project(tmp_path / "project")
    indexes = [row[0] for row in project.connection().execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'classes_shortcut'")]
    assert indexes == ["classes_shortcut"]
