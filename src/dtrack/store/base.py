"""The one store interface (``Store``) and what both engines share: records -> rows of epoch-ms columns,
batches sorted and de-duplicated by natural key, the parameterized SQL of reads, ``info`` and ``prune``.

An engine (``sqlite.py``, ``postgres.py``) supplies the connection, its transactions, how one batch goes in
(idempotently: ``INSERT … ON CONFLICT DO NOTHING``, or merge for the tables that name ``merge`` columns), and
how big a table is. Every identifier in the SQL comes from ``schema``; every value is a bound parameter.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, NoReturn

from dtrack.errors import StoreError
from dtrack.records import History, Record, Scalar
from dtrack.store.schema import LATEST, MIGRATIONS, TABLE_OF_RECORD, TABLES, Migration, Table, q

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
DAY_MS = 86_400_000

#: a stored row: column -> value, as ``to_row()`` gives it (times as aware UTC datetimes)
Row = dict[str, Scalar]
#: a row as bound to SQL parameters: times as epoch ms
Params = tuple[Any, ...]


def to_ms(value: datetime) -> int:
    """An aware datetime as UTC epoch milliseconds (floored: sub-millisecond parts are dropped)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the store keeps UTC times only")
    return (value - EPOCH) // MS


def from_ms(value: int) -> datetime:
    """UTC epoch milliseconds as an aware datetime (exact)."""
    return EPOCH + timedelta(milliseconds=value)


def table_of(record: Record) -> Table:
    """The table a record's rows go to (a ``TypeError`` for a record the store does not keep)."""
    table = TABLE_OF_RECORD.get(type(record).__name__)
    if table is None:
        raise TypeError(f"the store keeps no {type(record).__name__} records")
    return table


def params_of(table: Table, rows: Iterable[Mapping[str, Scalar]]) -> list[Params]:
    """Rows as SQL parameter tuples in column order (times as epoch ms), de-duplicated by natural key (the
    first row of a key wins, but a merge column fills in from a later row) and sorted by key so that
    concurrent writers take row locks in the same order. (The hot path of ingest: kept lean.)"""
    names = table.names
    width = len(names)
    times = [i for i, c in enumerate(table.columns) if c.type == "time"]
    parts = [tuple(names.index(c) for c in ((p,) if isinstance(p, str) else p)) for p in table.key]
    simple = all(len(p) == 1 for p in parts)
    key_index = [p[0] for p in parts]
    merge_index = [names.index(c) for c in table.merge]
    latest_index = [names.index(c) for c in table.latest]
    out: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        if len(row) != width:
            _mismatch(table, row)
        try:
            values: list[Any] = [row[n] for n in names]
        except KeyError:
            _mismatch(table, row)
        try:
            for i in times:
                v = values[i]
                if v is not None:
                    values[i] = (v - EPOCH) // MS
        except TypeError:  # a naive datetime, or not a datetime at all
            raise ValueError(f"table {table.name}: column {names[i]} needs an aware UTC datetime, "
                             f"got {values[i]!r}") from None
        if simple:
            key = tuple([values[i] for i in key_index])
        else:
            key = tuple(next((values[i] for i in idx if values[i] is not None), None) for idx in parts)
        seen = out.get(key)
        if seen is None:
            out[key] = values
        else:
            for i in merge_index:
                if seen[i] is None:
                    seen[i] = values[i]
            for i in latest_index:
                seen[i] = values[i]
    try:
        order = sorted(out)
    except TypeError:  # a null in a key column (nulls sort last)
        order = sorted(out, key=_sort_key)
    return [tuple(out[k]) for k in order]


def _mismatch(table: Table, row: Mapping[str, Scalar]) -> NoReturn:
    missing = set(table.names) - set(row)
    extra = set(row) - set(table.names)
    raise ValueError(f"a row for table {table.name} does not match its columns "
                     f"(missing {sorted(missing)}, unknown {sorted(extra)})")


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((v is None, v if v is not None else 0) for v in key)


def group_records(records: Iterable[Record]) -> dict[str, list[Row]]:
    """Rows of ``records`` by table; a history (``FundingHistory``, ``OIHistory``) gives its points' rows."""
    by_table: dict[str, list[Row]] = {}
    for record in records:
        if isinstance(record, History):
            for point in record.points:
                by_table.setdefault(table_of(point).name, []).append(point.to_row())
            continue
        by_table.setdefault(table_of(record).name, []).append(record.to_row())
    return by_table


@dataclass(frozen=True, slots=True)
class TableInfo:
    """What one table holds: rows, the time range of its axis, its size (None where the engine cannot say)."""

    name: str
    rows: int
    first: datetime | None
    last: datetime | None
    size_bytes: int | None
    retention: str  # snapshot / history / bookkeeping
    retention_days: float | None = None  # from the settings; None: kept forever

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO-8601 UTC."""
        return {"table": self.name, "rows": self.rows, "first": _iso(self.first), "last": _iso(self.last),
                "size_bytes": self.size_bytes, "retention": self.retention, "retention_days": self.retention_days}


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """The whole store: engine, where it is (password hidden), schema version, per-table figures, gaps."""

    engine: str
    location: str
    schema_version: int
    tables: tuple[TableInfo, ...]
    size_bytes: int | None
    gaps: int
    open_gaps: int
    gap_streams: tuple[dict[str, Any], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``dtrack store info --format json``)."""
        return {"schema_version": 1, "engine": self.engine, "location": self.location,
                "store_schema_version": self.schema_version, "size_bytes": self.size_bytes,
                "tables": [t.to_dict() for t in self.tables],
                "gaps": {"count": self.gaps, "open": self.open_gaps, "by_stream": list(self.gap_streams)}}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _many(value: str | Collection[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


class Store(ABC):
    """A dtrack store: SQLite (embedded default) or PostgreSQL, the same schema and behaviour on both.

    ``write`` is batched (one transaction) and idempotent: rows are keyed by their table's natural key, and a
    row whose key is already stored is skipped (a gap's ``end`` is filled in), so several collectors writing
    the same data never duplicate it. Use as a context manager, or ``close()``.
    """

    engine: str = ""
    #: the placeholder of a bound parameter in this engine's SQL
    placeholder: str = "?"

    def __init__(self, location: str) -> None:
        self.location = location

    # --- what an engine provides ---------------------------------------------------------------------------

    @abstractmethod
    def _insert(self, table: Table, rows: Sequence[Params]) -> int:
        """Insert ``rows`` (sorted, de-duplicated) idempotently inside the open write transaction; how many
        rows were added or merged."""

    @abstractmethod
    def _begin_write(self) -> None:
        """Open the write transaction."""

    @abstractmethod
    def _commit(self) -> None:
        """Commit the open transaction."""

    @abstractmethod
    def _rollback(self) -> None:
        """Roll the open transaction back."""

    @abstractmethod
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read statement (``?`` placeholders) and return its rows."""

    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement inside the open transaction; the row count."""

    @abstractmethod
    def _table_size(self, table: str) -> int | None:
        """Bytes the table and its indexes take, or None."""

    @abstractmethod
    def _total_size(self) -> int | None:
        """Bytes the whole store takes, or None."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection (idempotent)."""

    # --- migrations ------------------------------------------------------------------------------------------

    def _pending(self, current: int) -> list[Migration]:
        if current > LATEST:
            raise StoreError(f"store {self.location} has schema version {current}, newer than this dtrack "
                             f"knows ({LATEST}); upgrade dtrack")
        return [m for m in MIGRATIONS if m.version > current]

    def _apply(self, migration: Migration, now_ms: int) -> None:
        for statement in migration.statements:
            self._execute(statement)
        self._execute(f"INSERT INTO {q('schema_version')} ({q('version')}, {q('description')}, "
                      f"{q('applied_at')}) VALUES (?, ?, ?)", (migration.version, migration.description, now_ms))

    def schema_version(self) -> int:
        """The schema version this store is at."""
        rows = self._query(f"SELECT MAX({q('version')}) FROM {q('schema_version')}")
        return int(rows[0][0] or 0)

    def migrations(self) -> list[tuple[int, str, datetime]]:
        """The applied migrations: (version, description, applied at)."""
        rows = self._query(f"SELECT {q('version')}, {q('description')}, {q('applied_at')} FROM "
                           f"{q('schema_version')} ORDER BY {q('version')}")
        return [(int(v), str(d), from_ms(int(t))) for v, d, t in rows]

    # --- the interface ---------------------------------------------------------------------------------------

    def write(self, records: Iterable[Record]) -> dict[str, int]:
        """Store records (histories as their points) in one transaction; per table, how many rows were new."""
        return self._write_tables(group_records(records))

    def write_rows(self, table: str, rows: Iterable[Mapping[str, Scalar]]) -> int:
        """Store plain rows (exactly the table's columns; times as aware datetimes) into one table; how many
        rows were new. For tables without a record type yet (``collector_runs`` …)."""
        return self._write_tables({_table(table).name: rows}).get(table, 0)

    def write_batch(self, records: Iterable[Record],
                    rows: Mapping[str, Iterable[Mapping[str, Scalar]]]) -> dict[str, int]:
        """Records and plain rows of several tables in ONE transaction (a collector's batch and the heartbeat
        that vouches for it: both are stored, or neither); per table, how many rows were new."""
        by_table: dict[str, list[Mapping[str, Scalar]]] = {t: list(r) for t, r in group_records(records).items()}
        for name, table_rows in rows.items():
            by_table.setdefault(_table(name).name, []).extend(table_rows)
        return self._write_tables(by_table)

    def _write_tables(self, by_table: Mapping[str, Iterable[Mapping[str, Scalar]]]) -> dict[str, int]:
        batches = {name: params_of(TABLES[name], rows) for name, rows in by_table.items()}
        written: dict[str, int] = {}
        if not any(batches.values()):
            return {name: 0 for name in batches}
        self._begin_write()
        try:
            for name, params in batches.items():
                written[name] = self._insert(TABLES[name], params) if params else 0
            self._commit()
        except BaseException:
            self._rollback()
            raise
        return written

    def read(self, table: str, *, venue: str | Collection[str] | None = None,
             symbol: str | Collection[str] | None = None, asset: str | Collection[str] | None = None,
             since: datetime | None = None, until: datetime | None = None,
             limit: int | None = None, equal: Mapping[str, str | Collection[str]] | None = None) -> list[Row]:
        """Rows of ``table`` (as ``to_row()`` gives them: times as aware UTC datetimes), filtered by venue,
        symbol and asset (one or several each), ``since`` <= axis time < ``until``, ordered by time; ``equal``
        filters other text columns the same way (``{"status": "running"}``)."""
        spec = _table(table)
        where: list[str] = []
        params: list[Any] = []
        for column, wanted in (("venue", venue), ("symbol", symbol), ("asset", asset), *(equal or {}).items()):
            values = _many(wanted)
            if not values:
                continue
            if column not in spec.names:
                raise ValueError(f"table {table} has no {column} column to filter on")
            where.append(f"{q(column)} IN ({', '.join('?' for _ in values)})")
            params.extend(values)
        if since is not None:
            where.append(f"{q(spec.axis)} >= ?")
            params.append(to_ms(since))
        if until is not None:
            where.append(f"{q(spec.axis)} < ?")
            params.append(to_ms(until))
        order = ", ".join([q(spec.axis), *(q(c) for c in spec.names if c != spec.axis and c in _ORDER)])
        sql = (f"SELECT {', '.join(q(c) for c in spec.names)} FROM {q(spec.name)}"
               f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY {order}")
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [self._row(spec, values) for values in self._query(sql, params)]

    def count(self, table: str) -> int:
        """How many rows ``table`` holds."""
        return int(self._query(f"SELECT COUNT(*) FROM {q(_table(table).name)}")[0][0])

    def series_range(self, table: str, *, venue: str | Collection[str] | None = None,
                     symbol: str | Collection[str] | None = None, since: datetime | None = None,
                     until: datetime | None = None) -> dict[tuple[str, str], tuple[datetime, datetime, int]]:
        """Per (venue, symbol) of ``table``: the first and last time of its axis and how many rows, with
        ``since`` <= axis time < ``until`` (one grouped query: what a backfill asks before fetching only what
        is missing, and what it holds afterwards)."""
        spec = _table(table)
        where: list[str] = []
        params: list[Any] = []
        for column, wanted in (("venue", venue), ("symbol", symbol)):
            if values := _many(wanted):
                where.append(f"{q(column)} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        for op, bound in ((">=", since), ("<", until)):
            if bound is not None:
                where.append(f"{q(spec.axis)} {op} ?")
                params.append(to_ms(bound))
        axis = q(spec.axis)
        rows = self._query(f"SELECT {q('venue')}, {q('symbol')}, MIN({axis}), MAX({axis}), COUNT(*) "
                           f"FROM {q(spec.name)}{' WHERE ' + ' AND '.join(where) if where else ''} "
                           f"GROUP BY {q('venue')}, {q('symbol')}", params)
        return {(str(v), str(s)): (from_ms(int(a)), from_ms(int(b)), int(n)) for v, s, a, b, n in rows}

    @staticmethod
    def _row(spec: Table, values: Sequence[Any]) -> Row:
        row: Row = {}
        for column, v in zip(spec.columns, values, strict=True):
            if v is None:
                row[column.name] = None
            elif column.type == "time":
                row[column.name] = from_ms(int(v))
            elif column.type == "bool":
                row[column.name] = bool(v)
            elif column.type == "real":
                row[column.name] = float(v)
            elif column.type == "int":
                row[column.name] = int(v)
            else:
                row[column.name] = str(v)
        return row

    def info(self, retention: Mapping[str, float | None] | None = None) -> StoreInfo:
        """Per table: rows, time range, size (where the engine can say); and the gaps."""
        tables = []
        for spec in TABLES.values():
            axis = q(spec.axis)
            count, first, last = self._query(f"SELECT COUNT(*), MIN({axis}), MAX({axis}) FROM {q(spec.name)}")[0]
            tables.append(TableInfo(spec.name, int(count), None if first is None else from_ms(int(first)),
                                    None if last is None else from_ms(int(last)), self._table_size(spec.name),
                                    spec.retention, (retention or {}).get(spec.name)))
        open_gaps = int(self._query(f"SELECT COUNT(*) FROM {q('gaps')} WHERE {q('end')} IS NULL")[0][0])
        streams = self._query(f"SELECT {q('venue')}, {q('stream')}, COUNT(*), MAX({q('start')}) FROM {q('gaps')} "
                              f"GROUP BY {q('venue')}, {q('stream')} ORDER BY {q('venue')}, {q('stream')}")
        by_stream = tuple({"venue": v, "stream": s, "gaps": int(n), "last_start": _iso(from_ms(int(t)))}
                          for v, s, n, t in streams)
        gaps = next(t.rows for t in tables if t.name == "gaps")
        return StoreInfo(self.engine, self.location, self.schema_version(), tuple(tables), self._total_size(),
                         gaps, open_gaps, by_stream)

    def prune(self, now: datetime, retention: Mapping[str, float | None], *, dry_run: bool = False) -> dict[str, int]:
        """Delete rows older than each table's retention (days before ``now``; None or absent: kept forever),
        by the table's time axis; per table, how many rows went (or would go, with ``dry_run``)."""
        removed: dict[str, int] = {}
        cutoffs = {}
        for name, days in retention.items():
            spec = _table(name)
            if days is None:
                continue
            if days < 0:
                raise ValueError(f"retention of {name}: {days} days; expected >= 0")
            cutoffs[spec.name] = to_ms(now) - round(days * DAY_MS)
        if dry_run:
            for name, cutoff in cutoffs.items():
                sql = f"SELECT COUNT(*) FROM {q(name)} WHERE {q(TABLES[name].axis)} < ?"
                removed[name] = int(self._query(sql, (cutoff,))[0][0])
            return removed
        self._begin_write()
        try:
            for name, cutoff in cutoffs.items():
                removed[name] = self._execute(f"DELETE FROM {q(name)} WHERE {q(TABLES[name].axis)} < ?", (cutoff,))
            self._commit()
        except BaseException:
            self._rollback()
            raise
        return removed

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.location}>"


#: secondary order of read results after the time axis
_ORDER = ("venue", "symbol", "stream", "received_at", "trade_id", "run_id")


def _table(name: str) -> Table:
    spec = TABLES.get(name)
    if spec is None:
        raise ValueError(f"no store table {name!r}; tables: {', '.join(TABLES)}")
    return spec


def insert_sql(table: Table, placeholder: str, source: str | None = None) -> str:
    """``INSERT … ON CONFLICT …`` of one table: from bound values (``source`` None) or ``SELECT`` from a
    staging table, in key order. Identifiers from the schema only."""
    cols = ", ".join(q(c) for c in table.names)
    if source is None:
        body = f"VALUES ({', '.join(placeholder for _ in table.names)})"
    else:
        order = ", ".join(q(p) if isinstance(p, str) else f"COALESCE({', '.join(q(c) for c in p)})"
                          for p in table.key)
        body = f"SELECT {cols} FROM {q(source)} ORDER BY {order}"
    sql = f"INSERT INTO {q(table.name)} ({cols}) {body} ON CONFLICT"
    if not (table.merge or table.latest):
        return f"{sql} DO NOTHING"
    target = ", ".join(q(c) for c in table.key_columns)
    sets = ", ".join([*(f"{q(c)} = COALESCE({q(table.name)}.{q(c)}, excluded.{q(c)})" for c in table.merge),
                      *(f"{q(c)} = excluded.{q(c)}" for c in table.latest)])
    if table.latest:
        return f"{sql} ({target}) DO UPDATE SET {sets}"
    cond = " OR ".join(f"({q(table.name)}.{q(c)} IS NULL AND excluded.{q(c)} IS NOT NULL)" for c in table.merge)
    return f"{sql} ({target}) DO UPDATE SET {sets} WHERE {cond}"
