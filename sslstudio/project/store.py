"""The project folder: ``project.sqlite`` (WAL), ``runs/<run-id>/`` and ``exports/``.

Every write is its own transaction, committed before the call returns, so a
label shown as saved survives a crash. One connection per thread: SQLite
connections must not be shared across threads.
"""

from __future__ import annotations

import json
import logging
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
SCHEMA_VERSION = 1

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
]


class ProjectError(RuntimeError):
    """A project folder that cannot be opened or is from a newer SSL Studio."""


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
            connection = sqlite3.connect(self.database_path, timeout=30.0, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
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
        connection = self.connection()
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ProjectError(f"{self.database_path}: schema version {version} is newer than this SSL Studio "
                               f"supports ({SCHEMA_VERSION}); update SSL Studio to open it")
        for target in range(version, SCHEMA_VERSION):
            logger.info("Migrating %s from schema %d to %d", self.database_path, target, target + 1)
            with self.transaction() as transaction:
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        transaction.execute(statement)
                transaction.execute(f"PRAGMA user_version={target + 1}")

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

    # Classes and labels ----------------------------------------------------------

    def ensure_class(self, name: str) -> int:
        """Return the id of class ``name``, creating it when missing."""
        with self.transaction() as transaction:
            row = transaction.execute("SELECT id FROM classes WHERE name = ?", (name,)).fetchone()
            if row:
                return int(row[0])
            return int(transaction.execute("INSERT INTO classes (name) VALUES (?)", (name,)).lastrowid)

    def classes(self) -> list[dict[str, Any]]:
        rows = self.connection().execute("SELECT id, name, color, shortcut FROM classes ORDER BY id").fetchall()
        return [{"id": row[0], "name": row[1], "color": row[2], "shortcut": row[3]} for row in rows]

    def set_label(self, source_id: int, sample_id: str, class_name: str | None) -> None:
        """Set (or, with None, remove) the label of one sample; committed when this returns."""
        if class_name is None:
            with self.transaction() as transaction:
                transaction.execute("DELETE FROM labels WHERE source_id = ? AND sample_id = ?", (source_id, sample_id))
            return
        class_id = self.ensure_class(class_name)
        with self.transaction() as transaction:
            transaction.execute(
                "INSERT INTO labels (sample_id, source_id, class_id, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (source_id, sample_id) DO UPDATE SET class_id = excluded.class_id, "
                "updated_at = excluded.updated_at",
                (sample_id, source_id, class_id, time.time()))

    def set_labels(self, source_id: int, labels: Iterable[tuple[str, str]]) -> int:
        """Set many ``(sample_id, class_name)`` labels in one transaction; return how many were written."""
        pairs = list(labels)
        class_ids = {name: self.ensure_class(name) for name in {name for _, name in pairs}}
        now = time.time()
        with self.transaction() as transaction:
            transaction.executemany(
                "INSERT INTO labels (sample_id, source_id, class_id, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (source_id, sample_id) DO UPDATE SET class_id = excluded.class_id, "
                "updated_at = excluded.updated_at",
                [(sample_id, source_id, class_ids[name], now) for sample_id, name in pairs])
        return len(pairs)

    def labels(self, source_id: int) -> dict[str, str]:
        """Return ``{sample_id: class_name}`` for one source."""
        rows = self.connection().execute(
            "SELECT labels.sample_id, classes.name FROM labels JOIN classes ON classes.id = labels.class_id "
            "WHERE labels.source_id = ?", (source_id,)).fetchall()
        return {sample_id: name for sample_id, name in rows}

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
