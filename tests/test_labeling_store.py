"""The project store for labeling: the class list, schema upgrade, skips and labels that survive SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from sslstudio.project.store import DATABASE_NAME, MIGRATIONS, SCHEMA_VERSION, Project

REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path):
    opened = Project.create(tmp_path / "p")
    yield opened
    opened.close()


def test_add_class_assigns_keys_and_colors(project):
    project.add_class("cat")
    project.add_class("dog", color="#112233", shortcut=None)
    project.add_class("bird")
    classes = {entry["name"]: entry for entry in project.classes()}
    assert classes["cat"]["shortcut"] == "1"
    assert classes["dog"]["shortcut"] is None
    assert classes["dog"]["color"] == "#112233"
    assert classes["bird"]["shortcut"] == "2"
    assert classes["cat"]["color"] != classes["bird"]["color"]


@pytest.mark.parametrize("arguments, message", [
    (("cat",), "already exists"),
    (("  ",), "must not be empty"),
    (("fox", "red"), "color 'red' is invalid"),
    (("fox", None, "0"), "shortcut key '0' is invalid"),
    (("fox", None, "1"), "key 1 already labels class 'cat'"),
])
def test_add_class_rejects_bad_input(project, arguments, message):
    project.add_class("cat")
    with pytest.raises(ValueError, match=message):
        project.add_class(*arguments)


def test_rename_keeps_labels(project):
    source = project.add_source("x", "image")
    project.set_labels(source, [("a", "cat"), ("b", "dog")])
    project.rename_class("cat", "kitten")
    assert project.labels(source) == {"a": "kitten", "b": "dog"}
    with pytest.raises(ValueError, match="merge 'kitten' into it"):
        project.rename_class("kitten", "dog")
    with pytest.raises(KeyError, match="class 'lion' not found"):
        project.rename_class("lion", "tiger")


def test_merge_moves_labels_and_key(project):
    source = project.add_source("x", "image")
    project.add_class("dog", shortcut=None)
    project.set_labels(source, [("a", "cat"), ("b", "dog"), ("c", "cat")])
    moved = project.merge_classes("cat", "dog")
    assert moved == 2
    assert project.labels(source) == {"a": "dog", "b": "dog", "c": "dog"}
    assert [(entry["name"], entry["shortcut"]) for entry in project.classes()] == [("dog", "1")]
    with pytest.raises(ValueError, match="into itself"):
        project.merge_classes("dog", "dog")


def test_delete_class_removes_its_labels(project):
    source = project.add_source("x", "image")
    project.set_labels(source, [("a", "cat"), ("b", "dog"), ("c", "cat")])
    assert project.delete_class("cat") == 2
    assert project.labels(source) == {"b": "dog"}
    assert [entry["name"] for entry in project.classes()] == ["dog"]


def test_shortcut_moves_between_classes(project):
    project.add_class("cat")
    project.add_class("dog")
    assert project.set_class_shortcut("dog", "1") == "cat"
    keys = {entry["name"]: entry["shortcut"] for entry in project.classes()}
    assert keys == {"cat": None, "dog": "1"}
    assert project.set_class_shortcut("cat", "5") is None
    project.set_class_color("cat", "#ABCDEF")
    assert project.classes()[0]["color"] == "#abcdef"


def test_label_counts_and_skips(project):
    source = project.add_source("x", "image")
    other = project.add_source("y", "image")
    project.add_class("empty")
    project.set_labels(source, [("a", "cat"), ("b", "cat"), ("c", "dog")])
    project.set_labels(other, [("a", "dog")])
    project.set_labels(source, [("c", None)])
    project.skip(source, "d")
    assert project.label_counts(source) == {"empty": 0, "cat": 2, "dog": 0}
    assert project.labels_of(source, ["a", "c", "zz"]) == {"a": "cat", "c": None, "zz": None}
    assert project.skipped(source) == {"d"}
    assert project.skipped(other) == set()


def test_version_one_database_upgrades(tmp_path):
    connection = sqlite3.connect(tmp_path / DATABASE_NAME)
    connection.executescript(MIGRATIONS[0])
    connection.execute("INSERT INTO sources (path, modality, added_at) VALUES ('x', 'image', 0)")
    connection.execute("INSERT INTO classes (name, shortcut) VALUES ('cat', '1'), ('dog', '1')")
    connection.execute("INSERT INTO labels VALUES ('a', 1, 2, 0)")
    connection.execute("PRAGMA user_version=1")
    connection.commit()
    connection.close()

    project = Project(tmp_path)
    assert project.schema_version == SCHEMA_VERSION
    assert project.labels(1) == {"a": "dog"}
    assert [(entry["name"], entry["shortcut"]) for entry in project.classes()] == [("cat", "1"), ("dog", None)]
    project.skip(1, "b")
    assert project.skipped(1) == {"b"}
    assert project.connection().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    project.close()


def test_main_thread_and_worker_write_at_once(project):
    source = project.add_source("x", "image")
    errors = []

    def worker() -> None:
        try:
            for index in range(200):
                project.set_label(source, f"w{index}", "worker")
        except Exception as error:  # collected for the assert below
            errors.append(error)

    thread = threading.Thread(target=worker)
    thread.start()
    for index in range(200):
        project.set_labels(source, [(f"m{index}", "main"), (f"m{index}-b", "main")])
    thread.join()
    assert errors == []
    assert project.label_counts(source) == {"worker": 200, "main": 400}


LABELING_CHILD = textwrap.dedent("""
    import sys
    from sslstudio.project.store import Project

    project = Project(sys.argv[1])
    source = project.sources()[0]["id"]
    index = 0
    while True:
        sample_id = f"s{index}"
        project.set_label(source, sample_id, f"class{index % 3}")
        print(sample_id, flush=True)
        index += 1
""")


def test_sigkill_loses_no_committed_label(tmp_path):
    folder = tmp_path / "p"
    Project.create(folder).add_source("x", "image")
    environment = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    child = subprocess.Popen([sys.executable, "-c", LABELING_CHILD, str(folder)], stdout=subprocess.PIPE,
                             text=True, env=environment)
    confirmed = []
    try:
        for line in child.stdout:
            confirmed.append(line.strip())
            if len(confirmed) == 150:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    reopened = Project(folder)
    stored = reopened.labels(1)
    assert len(confirmed) == 150
    assert [sample_id for sample_id in confirmed if sample_id not in stored] == []
    assert stored["s149"] == "class2"
    assert reopened.connection().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    reopened.close()
