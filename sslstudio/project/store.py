"""The project folder: ``project.sqlite`` (WAL), ``runs/<run-id>/`` and ``exports/``.

Every write is its own transaction, committed before the call returns, so a
label shown as saved survives a crash. One connection per thread: SQLite
connections must not be shared across threads.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DATABASE_NAME = "project.sqlite"
SCHEMA_VERSION = 2

# Each entry upgrades the schema from version (index) to version (index + 1).
MIGRATIONS: list[str] = [
    """
    CREATE TABLE sources (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL,
        modality TEXT NOT NULL,
        options TEXT NOT NULL DEFAULT '{}',
        added_at REAL NOT NULL
    );
    CREATE TABLE classes (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        color TEXT NOT NULL DEFAULT '#4c78a8',
        shortcut TEXT
    );
    CREATE TABLE labels (
        sample_id TEXT NOT NULL,
        source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
        class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
        updated_at REAL NOT NULL,
        PRIMARY KEY (source_id, sample_id)
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        strategy TEXT NOT NULL,
        config TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        finished_at REAL
    );
    CREATE TABLE metrics (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        name TEXT NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (run_id, model, name)
    );
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 2: one class per shortcut key, fast per-class label counts, and the samples a labeler skipped.
    """
    UPDATE classes SET shortcut = NULL WHERE shortcut IS NOT NULL
        AND id NOT IN (SELECT MIN(id) FROM classes WHERE shortcut IS NOT NULL GROUP BY shortcut);
    CREATE UNIQUE INDEX classes_shortcut ON classes (shortcut) WHERE shortcut IS NOT NULL;
    CREATE INDEX labels_class ON labels (class_id);
    CREATE TABLE skipped (
        sample_id TEXT NOT NULL,
        source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
        skipped_at REAL NOT NULL,
        PRIMARY KEY (source_id, sample_id)
    );
    """,
]


# Default class colors, in the order new classes get them.
CLASS_COLORS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2",
                "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac")
SHORTCUT_KEYS = tuple("123456789")
AUTO_SHORTCUT = "auto"
_COLOR_PATTERN = re.compile(r"#[0-9a-fA-F]{6}")


def _check_class_name(name: str) -> str:
    stripped = str(name).strip()
    if not stripped:
        raise ValueError("a class name must not be empty; type a name")
    return stripped


def _check_color(color: str) -> str:
    if not isinstance(color, str) or not _COLOR_PATTERN.fullmatch(color):
        raise ValueError(f"color {color!r} is invalid; use #rrggbb, such as #4c78a8")
    return color.lower()


def _check_shortcut(key: str) -> str:
    if key not in SHORTCUT_KEYS:
        raise ValueError(f"shortcut key {key!r} is invalid; use one of 1 to 9")
    return key


class ProjectError(RuntimeError):
    """A project folder that cannot be opened or is from a newer SSL Studio."""


BUSY_TIMEOUT_S = 30.0


def _enable_wal(connection: sqlite3.Connection, path: Path) -> None:
    """Switch the database to write-ahead logging, retrying while another process locks it.

    Switching the journal mode can report "database is locked" at once,
    without waiting on the busy timeout, when other processes open the same
    new file at the same moment, so the switch is retried until
    ``BUSY_TIMEOUT_S`` has passed.

    Raises:
        ProjectError: the file stayed locked for ``BUSY_TIMEOUT_S`` seconds.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise ProjectError(f"{path}: failed to open the project ({error}); "
                                   "close other programs that use it and try again") from error
            time.sleep(0.05)


class Project:
    """A project folder and its SQLite store."""

    def __init__(self, folder: str | Path, create: bool = False):
        self.folder = Path(folder).expanduser().resolve()
        self.database_path = self.folder / DATABASE_NAME
        if not self.database_path.exists():
            if not create:
                raise ProjectError(f"{self.folder}: no {DATABASE_NAME} here; choose a project folder or create a new project")
            self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "runs").mkdir(exist_ok=True)
        (self.folder / "exports").mkdir(exist_ok=True)
        self._local = threading.local()
        self._migrate()

    @classmethod
    def create(cls, folder: str | Path) -> "Project":
        return cls(folder, create=True)

    # Connections -----------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """Return this thread's connection (WAL, foreign keys on, autocommit with explicit transactions)."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.database_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            _enable_wal(connection, self.database_path)
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
            self._local.connection = connection
        return connection

    @contextmanager
    def transaction(self):
        """Run the block in one ``BEGIN IMMEDIATE`` transaction, committed on exit."""
        connection = self.connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _migrate(self) -> None:
        """Bring the schema to ``SCHEMA_VERSION``, one step per transaction.

        The version is read again inside each write-locked transaction, so
        several processes opening one new project at once (``torchrun`` ranks)
        apply each step exactly once.

        Raises:
            ProjectError: the file is from a newer SSL Studio.
        """
        if self.connection().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        while True:
            with self.transaction() as transaction:
                version = transaction.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise ProjectError(f"{self.database_path}: schema version {version} is newer than this "
                                       f"SSL Studio supports ({SCHEMA_VERSION}); update SSL Studio to open it")
                if version == SCHEMA_VERSION:
                    return
                logger.info("Migrating %s from schema %d to %d", self.database_path, version, version + 1)
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        transaction.execute(statement)
                transaction.execute(f"PRAGMA user_version={version + 1}")

    @property
    def schema_version(self) -> int:
        return int(self.connection().execute("PRAGMA user_version").fetchone()[0])

    # Sources ---------------------------------------------------------------------

    def add_source(self, path: str | Path, modality: str, options: dict[str, Any] | None = None) -> int:
        with self.transaction() as transaction:
            cursor = transaction.execute(
                "INSERT INTO sources (path, modality, options, added_at) VALUES (?, ?, ?, ?)",
                (str(path), modality, json.dumps(options or {}, sort_keys=True), time.time()))
            return int(cursor.lastrowid)

    def sources(self) -> list[dict[str, Any]]:
        rows = self.connection().execute("SELECT id, path, modality, options FROM sources ORDER BY id").fetchall()
        return [{"id": row[0], "path": row[1], "modality": row[2], "options": json.loads(row[3])} for row in rows]

    # Classes ---------------------------------------------------------------------

    def _class_id(self, connection: sqlite3.Connection, name: str) -> int:
        row = connection.execute("SELECT id FROM classes WHERE name = ?", (name,)).fetchone()
        if row is None:
            known = ", ".join(row[0] for row in connection.execute("SELECT name FROM classes ORDER BY id")) or "none"
            raise KeyError(f"class {name!r} not found; the project's classes are: {known}")
        return int(row[0])

    @staticmethod
    def _free_shortcut(connection: sqlite3.Connection) -> str | None:
        used = {row[0] for row in connection.execute("SELECT shortcut FROM classes WHERE shortcut IS NOT NULL")}
        return next((key for key in SHORTCUT_KEYS if key not in used), None)

    def _insert_class(self, connection: sqlite3.Connection, name: str, color: str | None,
                      shortcut: str | None) -> int:
        count = connection.execute("SELECT COUNT(*) FROM classes").fetchone()[0]
        color = _check_color(color) if color is not None else CLASS_COLORS[count % len(CLASS_COLORS)]
        cursor = connection.execute("INSERT INTO classes (name, color, shortcut) VALUES (?, ?, ?)",
                                    (name, color, shortcut))
        return int(cursor.lastrowid)

    def add_class(self, name: str, color: str | None = None, shortcut: str | None = AUTO_SHORTCUT) -> int:
        """Create class ``name`` and return its id.

        ``color`` is ``#rrggbb`` (default: the next palette color). ``shortcut`` is a key
        ``"1"``–``"9"``, None for no key, or ``AUTO_SHORTCUT`` for the lowest free key.

        Raises:
            ValueError: for an empty or existing name, an invalid color, or a key that is
                not 1–9 or already belongs to another class.
        """
        name = _check_class_name(name)
        with self.transaction() as transaction:
            if transaction.execute("SELECT 1 FROM classes WHERE name = ?", (name,)).fetchone():
                raise ValueError(f"class {name!r} already exists; choose another name")
            if shortcut == AUTO_SHORTCUT:
                shortcut = self._free_shortcut(transaction)
            elif shortcut is not None:
                shortcut = _check_shortcut(shortcut)
                owner = transaction.execute("SELECT name FROM classes WHERE shortcut = ?", (shortcut,)).fetchone()
                if owner:
                    raise ValueError(f"key {shortcut} already labels class {owner[0]!r}; choose another key")
            return self._insert_class(transaction, name, color, shortcut)

    def ensure_class(self, name: str) -> int:
        """Return the id of class ``name``, creating it (palette color, lowest free key) when missing."""
        name = _check_class_name(name)
        with self.transaction() as transaction:
            row = transaction.execute("SELECT id FROM classes WHERE name = ?", (name,)).fetchone()
            if row:
                return int(row[0])
            return self._insert_class(transaction, name, None, self._free_shortcut(transaction))

    def classes(self) -> list[dict[str, Any]]:
        """Return the classes in creation order as dicts with ``id``, ``name``, ``color`` and ``shortcut``."""
        rows = self.connection().execute("SELECT id, name, color, shortcut FROM classes ORDER BY id").fetchall()
        return [{"id": row[0], "name": row[1], "color": row[2], "shortcut": row[3]} for row in rows]

    def rename_class(self, name: str, new_name: str) -> None:
        """Rename a class; its labels follow.

        Raises:
            KeyError: if ``name`` is not a class. ValueError: if ``new_name`` is empty or taken (merge instead).
        """
        new_name = _check_class_name(new_name)
        with self.transaction() as transaction:
            class_id = self._class_id(transaction, name)
            if new_name != name and transaction.execute("SELECT 1 FROM classes WHERE name = ?", (new_name,)).fetchone():
                raise ValueError(f"class {new_name!r} already exists; merge {name!r} into it instead of renaming")
            transaction.execute("UPDATE classes SET name = ? WHERE id = ?", (new_name, class_id))

    def merge_classes(self, source: str, target: str) -> int:
        """Move every label of class ``source`` to ``target`` and delete ``source``; return the labels moved.

        ``target`` takes over the key of ``source`` when it has none.

        Raises:
            KeyError: if either class is missing. ValueError: if they are the same class.
        """
        if source == target:
            raise ValueError(f"cannot merge class {source!r} into itself; choose two different classes")
        with self.transaction() as transaction:
            source_id = self._class_id(transaction, source)
            target_id = self._class_id(transaction, target)
            moved = transaction.execute("UPDATE labels SET class_id = ?, updated_at = ? WHERE class_id = ?",
                                        (target_id, time.time(), source_id)).rowcount
            key = transaction.execute("SELECT shortcut FROM classes WHERE id = ?", (source_id,)).fetchone()[0]
            transaction.execute("DELETE FROM classes WHERE id = ?", (source_id,))
            transaction.execute("UPDATE classes SET shortcut = ? WHERE id = ? AND shortcut IS NULL", (key, target_id))
        logger.info("Merged class %r into %r (%d labels moved)", source, target, moved)
        return int(moved)

    def delete_class(self, name: str) -> int:
        """Delete a class and every label of it; return how many labels were deleted.

        Raises:
            KeyError: if ``name`` is not a class.
        """
        with self.transaction() as transaction:
            class_id = self._class_id(transaction, name)
            deleted = transaction.execute("DELETE FROM labels WHERE class_id = ?", (class_id,)).rowcount
            transaction.execute("DELETE FROM classes WHERE id = ?", (class_id,))
        logger.info("Deleted class %r and its %d labels", name, deleted)
        return int(deleted)

    def set_class_color(self, name: str, color: str) -> None:
        """Set the ``#rrggbb`` color of a class.

        Raises:
            KeyError: if ``name`` is not a class. ValueError: for an invalid color.
        """
        color = _check_color(color)
        with self.transaction() as transaction:
            transaction.execute("UPDATE classes SET color = ? WHERE id = ?", (color, self._class_id(transaction, name)))

    def set_class_shortcut(self, name: str, key: str | None) -> str | None:
        """Give class ``name`` the key ``"1"``–``"9"`` (None removes its key).

        A key labels one class only, so a class that had the key loses it; its name
        is returned (None when the key was free).

        Raises:
            KeyError: if ``name`` is not a class. ValueError: for a key other than 1–9.
        """
        key = _check_shortcut(key) if key is not None else None
        with self.transaction() as transaction:
            class_id = self._class_id(transaction, name)
            previous = None
            if key is not None:
                owner = transaction.execute("SELECT id, name FROM classes WHERE shortcut = ? AND id != ?",
                                            (key, class_id)).fetchone()
                if owner:
                    previous = owner[1]
                    transaction.execute("UPDATE classes SET shortcut = NULL WHERE id = ?", (owner[0],))
            transaction.execute("UPDATE classes SET shortcut = ? WHERE id = ?", (key, class_id))
        return previous

    # Labels ----------------------------------------------------------------------

    def set_label(self, source_id: int, sample_id: str, class_name: str | None) -> None:
        """Set (or, with None, remove) the label of one sample; committed when this returns."""
        self.set_labels(source_id, [(sample_id, class_name)])

    def set_labels(self, source_id: int, labels: Iterable[tuple[str, str | None]]) -> int:
        """Set many ``(sample_id, class_name)`` labels in one transaction; return how many were written.

        A class name of None removes that sample's label. Missing classes are created.
        """
        pairs = list(labels)
        class_ids = {name: self.ensure_class(name) for name in {name for _, name in pairs if name is not None}}
        now = time.time()
        with self.transaction() as transaction:
            transaction.executemany("DELETE FROM labels WHERE source_id = ? AND sample_id = ?",
                                    [(source_id, sample_id) for sample_id, name in pairs if name is None])
            transaction.executemany(
                "INSERT INTO labels (sample_id, source_id, class_id, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (source_id, sample_id) DO UPDATE SET class_id = excluded.class_id, "
                "updated_at = excluded.updated_at",
                [(sample_id, source_id, class_ids[name], now) for sample_id, name in pairs if name is not None])
        return len(pairs)

    def labels(self, source_id: int) -> dict[str, str]:
        """Return ``{sample_id: class_name}`` for one source."""
        rows = self.connection().execute(
            "SELECT labels.sample_id, classes.name FROM labels JOIN classes ON classes.id = labels.class_id "
            "WHERE labels.source_id = ?", (source_id,)).fetchall()
        return {sample_id: name for sample_id, name in rows}

    def labels_of(self, source_id: int, sample_ids: Iterable[str]) -> dict[str, str | None]:
        """Return the label of each of ``sample_ids`` (None where unlabeled)."""
        sample_ids = list(sample_ids)
        if len(sample_ids) > 100:
            stored = self.labels(source_id)
            return {sample_id: stored.get(sample_id) for sample_id in sample_ids}
        connection = self.connection()
        result: dict[str, str | None] = {}
        for sample_id in sample_ids:
            row = connection.execute(
                "SELECT classes.name FROM labels JOIN classes ON classes.id = labels.class_id "
                "WHERE labels.source_id = ? AND labels.sample_id = ?", (source_id, sample_id)).fetchone()
            result[sample_id] = row[0] if row else None
        return result

    def label_counts(self, source_id: int) -> dict[str, int]:
        """Return the number of labeled samples of each class (zero included), in class order."""
        rows = self.connection().execute(
            "SELECT classes.name, COUNT(labels.sample_id) FROM classes LEFT JOIN labels "
            "ON labels.class_id = classes.id AND labels.source_id = ? GROUP BY classes.id ORDER BY classes.id",
            (source_id,)).fetchall()
        return {name: int(count) for name, count in rows}

    def skip(self, source_id: int, sample_id: str) -> None:
        """Record that the labeler skipped a sample, so suggestions leave it out."""
        with self.transaction() as transaction:
            transaction.execute("INSERT OR REPLACE INTO skipped (sample_id, source_id, skipped_at) VALUES (?, ?, ?)",
                                (sample_id, source_id, time.time()))

    def skipped(self, source_id: int) -> set[str]:
        """Return the ids of the samples skipped in one source."""
        rows = self.connection().execute("SELECT sample_id FROM skipped WHERE source_id = ?", (source_id,))
        return {row[0] for row in rows}

    # Runs and metrics ------------------------------------------------------------

    def create_run(self, strategy: str, config_json: str) -> tuple[str, Path]:
        """Record a new run and create its folder; return ``(run_id, run_dir)``."""
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        run_dir = self.folder / "runs" / run_id
        (run_dir / "checkpoints").mkdir(parents=True)
        with self.transaction() as transaction:
            transaction.execute("INSERT INTO runs (id, strategy, config, status, created_at) VALUES (?, ?, ?, ?, ?)",
                                (run_id, strategy, config_json, "running", time.time()))
        return run_id, run_dir

    def finish_run(self, run_id: str, status: str, metrics: dict[str, dict[str, float]]) -> None:
        """Store the run's status and its scalar metrics per model (``pretrained``, ``scratch``, …)."""
        rows = [(run_id, model, name, float(value)) for model, values in metrics.items()
                for name, value in values.items() if isinstance(value, (int, float)) and not isinstance(value, bool)]
        with self.transaction() as transaction:
            transaction.execute("UPDATE runs SET status = ?, finished_at = ? WHERE id = ?", (status, time.time(), run_id))
            transaction.executemany("INSERT OR REPLACE INTO metrics (run_id, model, name, value) VALUES (?, ?, ?, ?)", rows)

    def runs(self) -> list[dict[str, Any]]:
        rows = self.connection().execute(
            "SELECT id, strategy, status, created_at, finished_at FROM runs ORDER BY created_at").fetchall()
        return [{"id": row[0], "strategy": row[1], "status": row[2], "created_at": row[3], "finished_at": row[4]}
                for row in rows]

    def run_metrics(self, run_id: str) -> dict[str, dict[str, float]]:
        result: dict[str, dict[str, float]] = {}
        for model, name, value in self.connection().execute(
                "SELECT model, name, value FROM metrics WHERE run_id = ?", (run_id,)):
            result.setdefault(model, {})[name] = value
        return result

    # Settings --------------------------------------------------------------------

    def set_setting(self, key: str, value: Any) -> None:
        with self.transaction() as transaction:
            transaction.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def setting(self, key: str, default: Any = None) -> Any:
        row = self.connection().execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default
