"""The PostgreSQL engine (psycopg 3, imported only when a ``postgresql://`` store is opened).

Several collectors may write to one server: a batch is COPYed into a session-private staging table, then
merged with one ``INSERT … SELECT … ORDER BY key ON CONFLICT DO NOTHING`` per table (rows in key order, so
concurrent writers lock rows in the same order and cannot deadlock). Migrations run under a transaction-level
advisory lock keyed by the schema, so concurrent openers apply each step once.

The URL is libpq's (``postgresql://user:password@host:port/db``) plus one dtrack parameter, ``schema=NAME``:
the tables live in that schema (created if missing) instead of the connection's default search path.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from dtrack.errors import ConfigError, StoreError
from dtrack.store.base import Params, Store, insert_sql
from dtrack.store.schema import Table, q

if TYPE_CHECKING:
    import psycopg

CONNECT_TIMEOUT_S = 10
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def redact(url: str) -> str:
    """The URL with its password replaced by ``***`` (what messages and ``info`` show)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def split_schema(url: str) -> tuple[str, str | None]:
    """(the libpq URL, the ``schema`` parameter or None); a schema name must be a plain lowercase identifier."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = [(k, v) for k, v in query if k != "schema"]
    if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
        raise ConfigError(f"store URL {redact(url)!r}: schema={schema!r} is not a plain name "
                          f"(lowercase letters, digits, _)")
    return urlunsplit(parts._replace(query=urlencode(rest))), schema


class PostgresStore(Store):
    """A store on a PostgreSQL server (15 on CI; 12+ should do)."""

    engine = "postgresql"
    placeholder = "%s"

    def __init__(self, url: str) -> None:
        super().__init__(redact(url))
        conninfo, self.schema = split_schema(url)
        try:
            import psycopg
        except ImportError:  # pragma: no cover - a dependency of dtrack; only a broken install lacks it
            raise StoreError("the PostgreSQL store needs psycopg 3: pip install 'psycopg[binary]'") from None
        self._psycopg = psycopg
        self._staged: set[str] = set()
        self._writing = False
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        try:
            self._conn = psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT_S, autocommit=False)
        except psycopg.ProgrammingError as exc:  # a malformed conninfo / URL
            raise ConfigError(f"store URL {self.location!r} is not a valid PostgreSQL URL: "
                              f"{_first_line(exc)}") from None
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to the PostgreSQL store {self.location}: {_first_line(exc)}") from None
        try:
            self._setup()
        except psycopg.Error as exc:
            self.close()
            raise StoreError(f"PostgreSQL store {self.location}: {_first_line(exc)}") from None

    @property
    def conn(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._conn is None:
            raise StoreError(f"PostgreSQL store {self.location} is closed")
        return self._conn

    def _setup(self) -> None:
        from psycopg import sql

        with self.conn.cursor() as cur:
            self._begin_write()
            # one opener at a time creates the schema and migrates (CREATE SCHEMA IF NOT EXISTS is not safe
            # against a concurrent twin); the others wait here, then find nothing to do
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('dtrack.store.migrate:' || %s))",
                        (self.schema if self.schema is not None else "",))
            if self.schema is not None:
                cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
                cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            cur.execute(f"CREATE TABLE IF NOT EXISTS {q('schema_version')} ({q('version')} BIGINT PRIMARY KEY, "
                        f"{q('description')} TEXT NOT NULL, {q('applied_at')} BIGINT NOT NULL)")
            for migration in self._pending(self.schema_version()):
                self._apply(migration, time.time_ns() // 1_000_000)
        self._commit()

    def _begin_write(self) -> None:
        self._writing = True  # psycopg opens the transaction on the first statement (autocommit off)

    def _commit(self) -> None:
        self.conn.commit()
        self._writing = False

    def _rollback(self) -> None:
        self._writing = False
        if self._conn is not None and not self._conn.closed:
            self._conn.rollback()
        self._staged.clear()  # a staging table created in the failed transaction is gone

    def _insert(self, table: Table, rows: Sequence[Params]) -> int:
        stage = f"stage_{table.name}"
        cols = ", ".join(q(c) for c in table.names)
        with self.conn.cursor() as cur:
            if stage not in self._staged:
                cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {q(stage)} (LIKE {q(table.name)}) "
                            f"ON COMMIT DELETE ROWS")
                self._staged.add(stage)
            with cur.copy(f"COPY {q(stage)} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(insert_sql(table, "%s", source=stage))
            return max(cur.rowcount, 0)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), tuple(params))  # schema SQL only (identifiers from schema.py)
            rows = cur.fetchall()
        if not self._writing:
            self.conn.commit()  # a read ends its own transaction (no snapshot held open between calls)
        return rows

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self.conn.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), tuple(params))  # schema SQL only (identifiers from schema.py)
            return max(cur.rowcount, 0)

    def _table_size(self, table: str) -> int | None:
        rows = self._query("SELECT pg_total_relation_size(to_regclass(?))", (q(table),))
        return None if rows[0][0] is None else int(rows[0][0])

    def _total_size(self) -> int | None:
        rows = self._query("SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                           "JOIN pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE n.nspname = current_schema() AND c.relkind = 'r'")
        return int(rows[0][0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
