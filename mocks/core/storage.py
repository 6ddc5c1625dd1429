"""SQLite storage of one service: JSON records by kind and id, and bookkeeping.

Every service keeps its own file, <data_dir>/<service>.sqlite3, so a restarted
process finds what it answered before. WAL journaling with synchronous=NORMAL
keeps every committed write across a crash of the process (the fault the
harness injects); only a crash of the whole machine may lose the last writes.

Known shortcoming: queries run on the event loop's thread, so a slow disk
stalls every request of the service while a write lands.
"""

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mocks.errors import StorageError

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sequences (
    kind TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dependency_cache (
    dependency TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    cached_at TEXT NOT NULL,
    PRIMARY KEY (dependency, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class IdempotentAnswer:
    """The answer stored for an idempotency key, and the request it answered."""

    fingerprint: str
    body: dict


class Store:
    """One service's SQLite database; open() before use, close() at shutdown."""

    def __init__(self, path: Path):
        self.path = path
        self._db: sqlite3.Connection | None = None

    def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit: one statement is one transaction unless transaction()
            # groups several.
            db = sqlite3.connect(self.path, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open database {self.path}: {exc}") from exc
        self._db = db
        log.info("database open: %s", self.path)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StorageError(f"database {self.path} is not open")
        return self._db

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes so that they all land, or none does."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def get(self, kind: str, record_id: str) -> dict | None:
        row = self.db.execute(
            "SELECT body FROM records WHERE kind = ? AND id = ?", (kind, record_id)
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, kind: str, record_id: str, body: dict) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO records (kind, id, body) VALUES (?, ?, ?)",
            (kind, record_id, json.dumps(body)),
        )

    def delete(self, kind: str, record_id: str) -> None:
        self.db.execute(
            "DELETE FROM records WHERE kind = ? AND id = ?", (kind, record_id)
        )

    def put_many(self, kind: str, records: Iterable[tuple[str, dict]]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO records (kind, id, body) VALUES (?, ?, ?)",
            ((kind, record_id, json.dumps(body)) for record_id, body in records),
        )

    def page(
        self, kind: str, after: str = "", limit: int = 500
    ) -> list[tuple[str, dict]]:
        """(id, record) pairs of a kind in id order, starting after the id given."""
        rows = self.db.execute(
            "SELECT id, body FROM records WHERE kind = ? AND id > ? ORDER BY id "
            "LIMIT ?",
            (kind, after, limit),
        ).fetchall()
        return [(row[0], json.loads(row[1])) for row in rows]

    def kinds(self) -> dict[str, int]:
        """Every kind of record held, with its count."""
        rows = self.db.execute(
            "SELECT kind, count(*) FROM records GROUP BY kind ORDER BY kind"
        ).fetchall()
        return dict(rows)

    def count(self, kind: str) -> int:
        row = self.db.execute(
            "SELECT count(*) FROM records WHERE kind = ?", (kind,)
        ).fetchone()
        return row[0]

    def next_number(self, kind: str) -> int:
        """The kind's next sequence number, from 1; failed requests leave gaps."""
        row = self.db.execute(
            "INSERT INTO sequences (kind, last) VALUES (?, 1) "
            "ON CONFLICT (kind) DO UPDATE SET last = last + 1 RETURNING last",
            (kind,),
        ).fetchone()
        return row[0]

    def set_sequence(self, kind: str, last: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO sequences (kind, last) VALUES (?, ?)", (kind, last)
        )

    def idempotent_answer(self, scope: str, key: str) -> IdempotentAnswer | None:
        row = self.db.execute(
            "SELECT fingerprint, body FROM idempotency WHERE scope = ? AND key = ?",
            (scope, key),
        ).fetchone()
        return None if row is None else IdempotentAnswer(row[0], json.loads(row[1]))

    def put_idempotent_answer(
        self, scope: str, key: str, answer: IdempotentAnswer
    ) -> None:
        self.db.execute(
            "INSERT INTO idempotency (scope, key, fingerprint, body) "
            "VALUES (?, ?, ?, ?)",
            (scope, key, answer.fingerprint, json.dumps(answer.body)),
        )

    def cached(self, dependency: str, key: str) -> dict | None:
        row = self.db.execute(
            "SELECT body FROM dependency_cache WHERE dependency = ? AND key = ?",
            (dependency, key),
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def cache(self, dependency: str, key: str, body: dict) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO dependency_cache "
            "(dependency, key, body, cached_at) VALUES (?, ?, ?, ?)",
            (dependency, key, json.dumps(body), datetime.now(UTC).isoformat()),
        )

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value)
        )
