"""The SQLite engine (stdlib ``sqlite3``): the embedded default, one file, WAL journal.

Writes take the database's write lock up front (``BEGIN IMMEDIATE``) and wait up to ``busy_timeout`` for
another writer, so several processes can write the same file; every batch is one ``executemany`` of
``INSERT … ON CONFLICT DO NOTHING`` per table in one transaction.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dtrack.errors import StoreError
from dtrack.store.base import Params, Store, insert_sql
from dtrack.store.schema import Table, q

BUSY_TIMEOUT_S = 30.0


class SQLiteStore(Store):
    """A store in one SQLite file (``":memory:"`` for a private in-memory one)."""

    engine = "sqlite"
    placeholder = "?"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        super().__init__(self.path)
        memory = self.path == ":memory:"
        if not memory:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the directory of SQLite store {self.path!r}: "
                                 f"{exc.strerror or exc}") from None
        self._db: sqlite3.Connection | None = None
        try:
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S,
                                                                  isolation_level=None)
            if not memory:
                self._wal()
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:  # not a database, unreadable, locked, read-only ...
            self.close()
            raise StoreError(f"cannot open SQLite store {self.path!r}: {exc}") from None

    def _wal(self) -> None:
        """Switch the file to WAL (it stays so). The switch needs the file to itself and does not wait for a
        busy file, so openers racing on a new file retry here for up to the busy timeout."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"SQLite store {self.path!r} is closed")
        return self._db

    def _migrate(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")  # one opener migrates; the others wait, then find nothing to do
        try:
            self.db.execute(f"CREATE TABLE IF NOT EXISTS {q('schema_version')} ({q('version')} BIGINT PRIMARY KEY, "
                            f"{q('description')} TEXT NOT NULL, {q('applied_at')} BIGINT NOT NULL)")
            for migration in self._pending(self.schema_version()):
                self._apply(migration, time.time_ns() // 1_000_000)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _begin_write(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        self.db.execute("COMMIT")

    def _rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def _insert(self, table: Table, rows: Sequence[Params]) -> int:
        cur = self.db.executemany(insert_sql(table, "?"), rows)
        return max(cur.rowcount, 0)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.db.execute(sql, tuple(params)).fetchall()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return max(self.db.execute(sql, tuple(params)).rowcount, 0)

    def _table_size(self, table: str) -> int | None:
        try:  # the dbstat table is compiled into most builds; where it is not, the size is unknown
            rows = self._query("SELECT SUM(pgsize) FROM dbstat WHERE name IN "
                               "(SELECT name FROM sqlite_master WHERE tbl_name = ?)", (table,))
        except sqlite3.OperationalError:
            return None
        return int(rows[0][0] or 0)

    def _total_size(self) -> int | None:
        if self.path == ":memory:":
            [(pages,)], [(size,)] = self._query("PRAGMA page_count"), self._query("PRAGMA page_size")
            return int(pages) * int(size)
        return sum(os.path.getsize(p) for p in (self.path, self.path + "-wal") if os.path.exists(p))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
