"""The collector's batch writer: records in memory for at most one flush interval (a second by default), then
one write to the store in a worker thread, so the event loop never waits on the store.

- Snapshot records, history points and gaps are kept as they come. Live stream records are conflated: per
  (kind, venue, symbol) the latest one wins, written at most once per ``conflation`` seconds (``0``: every
  frame is kept). Liquidations are events, not states: every one is kept.
- Every flush carries the run's heartbeat (its ``collector_runs`` row with ``last_seen``); with nothing else
  to write, the heartbeat alone goes at least every ``heartbeat`` seconds.
- The store is opened, used and closed in one worker thread (SQLite connections belong to their thread).
- A store that is down (cannot be opened, refuses a write) is retried with backoff; the batches are kept, up
  to ``max_rows`` rows. Beyond that the oldest data rows are dropped and a gap is recorded for them (per venue
  and table: ``stream`` ``store.<table>``, ``reason`` ``store_down``, from the first to the last dropped row's
  ``received_at``). Gaps and bookkeeping are never dropped. The outage, the drops and the recovery are
  reported through the status line's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from dtrack.collect.runs import RUNNING, RunBook
from dtrack.collect.status import StatusLine, Tally
from dtrack.records import Gap, Instrument, Liquidation, Record, Scalar

if TYPE_CHECKING:
    from dtrack.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")

#: the longest wait between two attempts on a store that is down (seconds)
MAX_RETRY_WAIT = 15.0
#: how often a lasting outage is reported again (seconds)
REPORT_EVERY = 60.0
DROPPED = "store_down"


#: (record class, venue, symbol): what conflation keeps one of
LiveKey = tuple[type, str, str]


def _key(record: Record) -> LiveKey:
    """(kind, venue, symbol) of a live record: what conflation keeps one of."""
    inst: Any = getattr(record, "instrument", record)
    return type(record), str(getattr(inst, "venue", "")), str(getattr(inst, "symbol", ""))


def _venue(record: Record) -> str:
    inst: Any = getattr(record, "instrument", record)
    return str(getattr(inst, "venue", ""))


class BatchWriter:
    """Buffers records and writes them every ``flush_interval`` seconds from a worker thread (see the module
    doc). ``open_store`` opens the store (it runs in the worker thread); ``clock`` gives aware UTC times."""

    def __init__(self, open_store: Callable[[], Store], run: RunBook, *, tally: Tally, status: StatusLine,
                 clock: Callable[[], datetime], flush_interval: float = 1.0, max_rows: int = 100_000,
                 conflation: float = 1.0, heartbeat: float = 5.0) -> None:
        self.open_store = open_store
        self.run_book = run
        self.tally = tally
        self.status = status
        self.clock = clock
        self.flush_interval = flush_interval
        self.max_rows = max_rows
        self.conflation = conflation
        self.heartbeat = heartbeat
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dtrack-store")
        self._store: Store | None = None  # used in the worker thread only
        # event-loop side
        self._pending: list[Record] = []
        self._live: dict[LiveKey, Record] = {}
        self._live_next: dict[LiveKey, float] = {}
        self._book: list[Record] = []
        self._rows: dict[str, dict[tuple[Any, ...], dict[str, Scalar]]] = {}
        self._kept: deque[list[Record]] = deque()
        self._kept_rows = 0
        self._dropped: dict[tuple[str, str], list[Any]] = {}  # (venue, table) -> [first, last, rows]
        self._last_beat = -1e18
        self._down_since: float | None = None
        self._next_try = 0.0
        self._failures = 0
        self._reported = 0.0
        self._instruments: dict[tuple[str, str], tuple[Instrument, float]] = {}

    # --- what goes in (event loop) -------------------------------------------------------------------

    def add(self, records: Iterable[Record]) -> None:
        """Keep records as they are (snapshots, history points, gaps: gaps are never dropped)."""
        for record in records:
            if isinstance(record, Gap):
                self._book.append(record)
            else:
                self._pending.append(record)

    def add_live(self, record: Record) -> None:
        """A live stream record: conflated per (kind, venue, symbol) unless conflation is 0."""
        self.add_live_batch((record,))

    def add_live_batch(self, records: Iterable[Record]) -> None:
        """Live stream records (a frame's), in order: each conflated as ``add_live`` does it."""
        if self.conflation <= 0:
            self._pending.extend(records)
            return
        live = self._live
        for record in records:
            inst: Any = getattr(record, "instrument", None)
            if type(record) is Liquidation:  # an event, not a state: every one is kept, never conflated
                self._pending.append(record)
            elif inst is None:
                live[_key(record)] = record
            else:
                live[type(record), inst.venue, inst.symbol] = record

    def add_rows(self, table: str, key: tuple[Any, ...], row: dict[str, Scalar]) -> None:
        """A plain row of a bookkeeping table (never dropped; the last row of a key wins)."""
        self._rows.setdefault(table, {})[key] = row

    def add_instruments(self, instruments: Iterable[Instrument], now: datetime, refresh: float = 3600.0) -> None:
        """The ``instruments`` rows of contracts seen: new ones at once, known ones again every ``refresh`` s."""
        mono = time.monotonic()
        for inst in instruments:
            key = (inst.venue, inst.symbol)
            seen = self._instruments.get(key)
            if seen is not None and seen[0] == inst and mono - seen[1] < refresh:
                continue
            self._instruments[key] = (inst, mono)
            self.add_rows("instruments", key, {**inst.to_row(), "seen_at": now})

    @property
    def waiting(self) -> int:
        """Rows in memory, not yet written."""
        return self._kept_rows + len(self._pending) + len(self._live)

    # --- the worker thread ---------------------------------------------------------------------------

    async def call(self, fn: Callable[[Store], T]) -> T:
        """Run ``fn(store)`` in the worker thread (opening the store if needed); raises what it raises."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._with_store, fn)

    def _with_store(self, fn: Callable[[Store], T]) -> T:
        if self._store is None:
            self._store = self.open_store()
        try:
            return fn(self._store)
        except BaseException:
            self._drop_store()
            raise

    def _drop_store(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            try:
                store.close()
            except Exception:  # a broken connection may fail to close: dropped anyway
                log.debug("closing the store failed", exc_info=True)

    def _write(self, chunks: list[list[Record]], book: list[Record], rows: Mapping[str, list[dict[str, Scalar]]],
               run_row: dict[str, Scalar]) -> dict[str, int]:
        """One flush, in the worker thread: the data, the bookkeeping rows and the heartbeat, in one transaction
        (a run's ``last_seen`` never vouches for rows that were not stored, nor rows for a missing heartbeat)."""
        def write(store: Store) -> dict[str, int]:
            data = [r for chunk in chunks for r in chunk] + book
            return store.write_batch(data, {**rows, "collector_runs": [run_row]})

        return self._with_store(write)

    # --- flushing (event loop) -----------------------------------------------------------------------

    def _take_live(self) -> list[Record]:
        if not self._live:
            return []
        now = time.monotonic()
        soon = now + self.flush_interval / 2
        taken: list[Record] = []
        for key in list(self._live):
            if self._live_next.get(key, 0.0) <= soon:
                taken.append(self._live.pop(key))
                self._live_next[key] = now + self.conflation
        return taken

    def _bound(self, now: datetime) -> None:
        """Drop the oldest data rows beyond ``max_rows`` (kept batches first), remembering them as gaps."""
        excess = self._kept_rows - self.max_rows
        if excess <= 0:
            return
        from dtrack.store.base import table_of

        if not self._dropped:
            self.status.message(f"{self._kept_rows:,} rows kept while the store is down, more than "
                                f"max_buffered_rows ({self.max_rows:,}): dropping the oldest; a gap is recorded "
                                f"for them")
        while excess > 0 and self._kept:
            chunk = self._kept[0]
            cut = chunk[:excess]
            del chunk[:excess]
            if not chunk:
                self._kept.popleft()
            for record in cut:
                when: Any = getattr(record, "received_at", now)
                span = self._dropped.setdefault((_venue(record), table_of(record).name), [when, when, 0])
                span[0], span[1], span[2] = min(span[0], when), max(span[1], when), span[2] + 1
            excess -= len(cut)
            self._kept_rows -= len(cut)
            self.tally.dropped += len(cut)

    def _dropped_gaps(self, now: datetime) -> list[Record]:
        return [Gap(venue=venue, stream=f"store.{table}", start=first, end=last, reason=DROPPED, received_at=now,
                    collector=self.run_book.run_id) for (venue, table), (first, last, _n) in self._dropped.items()]

    async def flush(self, *, status: str = RUNNING, note: str = "", force: bool = False) -> bool:
        """Write what is waiting (and the heartbeat); True when the store took it (or nothing was due).
        ``status`` other than running ends the run's row (``ended_at`` now); ``force`` tries a store that is
        down now rather than at its next retry time."""
        now = self.clock()
        batch = self._pending + self._take_live()
        self._pending = []
        if batch:
            self._kept.append(batch)
            self._kept_rows += len(batch)
        mono = time.monotonic()
        if self._down_since is not None:
            self._bound(now)
            self.tally.waiting = self.waiting
            if mono < self._next_try and not force:
                return False
        due = status != RUNNING or mono - self._last_beat >= self.heartbeat
        if not (self._kept or self._book or self._rows or due):
            return True
        chunks = list(self._kept)
        book = self._book + self._dropped_gaps(now)
        tables = {t: list(r.values()) for t, r in self._rows.items()}
        rows, self._rows, self._book = self._rows, {}, []
        run_row = self.run_book.row(status, last_seen=now, ended_at=None if status == RUNNING else now, note=note)
        loop = asyncio.get_running_loop()
        try:
            counts = await loop.run_in_executor(self._executor, self._write, chunks, book, tables, run_row)
        except Exception as exc:  # any store failure: keep the batch, retry
            self._book = self._book_back(book) + self._book
            for table, keyed in rows.items():
                self._rows[table] = {**keyed, **self._rows.get(table, {})}
            self._outage(exc)
            return False
        for _ in chunks:
            self._kept.popleft()
        rows_out = sum(len(c) for c in chunks)
        self._kept_rows -= rows_out
        if log.isEnabledFor(logging.DEBUG):
            log.debug("flush", extra={"fields": {"rows": rows_out + len(book), "new": sum(counts.values()),
                                                 "seconds": round(time.monotonic() - mono, 3), "status": status}})
        self._dropped.clear()
        self._last_beat = mono
        self.tally.add_written(counts)
        self._recovered()
        self.tally.waiting = self.waiting
        return True

    def _book_back(self, book: list[Record]) -> list[Record]:
        """The bookkeeping records to keep after a failed write (the dropped-rows gaps are made afresh)."""
        mine = self.run_book.run_id
        return [r for r in book if not (isinstance(r, Gap) and r.reason == DROPPED and r.collector == mine
                                        and r.stream.startswith("store."))]

    def _outage(self, exc: BaseException) -> None:
        mono = time.monotonic()
        self._failures += 1
        self._next_try = mono + min(MAX_RETRY_WAIT, self.flush_interval * 2 ** min(self._failures - 1, 8))
        text = " ".join(str(exc).split()) or type(exc).__name__
        log.debug("store write failed", exc_info=exc)
        if self._down_since is None:
            self._down_since = mono
            self.tally.store_down_since = mono
            self._reported = mono
            self.status.message(f"store unavailable ({text}); keeping up to {self.max_rows:,} rows in memory "
                                f"and retrying")
        elif mono - self._reported >= REPORT_EVERY:
            self._reported = mono
            self.status.message(f"store still unavailable after {mono - self._down_since:.0f} s ({text}); "
                                f"{self.waiting:,} rows kept, {self.tally.dropped:,} dropped")
        self.tally.store_error = text
        self.tally.waiting = self.waiting

    def _recovered(self) -> None:
        if self._down_since is None:
            return
        self.status.message(f"store back after {time.monotonic() - self._down_since:.0f} s; kept rows written"
                            + (f" ({self.tally.dropped:,} dropped, recorded as gaps)" if self.tally.dropped else ""))
        self._down_since = None
        self.tally.store_down_since = None
        self.tally.store_error = ""
        self._failures = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every ``flush_interval`` seconds until ``stop`` is set (the final flush is ``close``'s)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.flush_interval)
            if not stop.is_set():
                await self.flush()

    async def close(self, *, status: str, note: str = "", patience: float = 10.0) -> int:
        """The final flush (with the run's end: ``status``, ``note``), retried for up to ``patience`` seconds
        while the store is down; then the store is closed. How many rows could not be written."""
        end = time.monotonic() + patience
        self._pending += self._live.values()  # the last conflated records, due or not
        self._live.clear()
        while not await self.flush(status=status, note=note, force=True):
            if time.monotonic() >= end:
                break
            await asyncio.sleep(min(1.0, max(0.0, end - time.monotonic())))
        lost = self.waiting + len(self._book)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._drop_store)
        self._executor.shutdown(wait=True)
        return lost

    def abandon(self) -> None:
        """Stop the worker thread without writing anything (a run that never started)."""
        self._executor.submit(self._drop_store)
        self._executor.shutdown(wait=True)
