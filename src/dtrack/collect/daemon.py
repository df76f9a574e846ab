"""The collector: one run of ``dtrack collect`` from start to stop.

Start: check the assets (one listing round), write the run's row, mark dead runs (``runs.sweep``), backfill
what is missing; then the snapshot kinds at their intervals (order books too), the estimated liquidation map
(hourly), the live streams, the writer flushing every second, the sweep every heartbeat and the status line, until
``stop()`` (a signal), the ``duration`` or the end of the ``--once`` round. Stop: cancel the rounds and streams in
flight, close the open gaps, the final flush with the run marked ``stopped`` (``failed`` when the collector itself
broke).

A failing venue or stream never stops the others; a store that is down is the writer's business.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dtrack.client.core import utc_now
from dtrack.collect.alerts import AlertJob
from dtrack.collect.backfill import EVERY, backfill
from dtrack.collect.books import Books
from dtrack.collect.levels import Levels
from dtrack.collect.runs import FAILED, STOPPED, RunBook, sweep
from dtrack.collect.snapshots import Snapshots
from dtrack.collect.status import StatusLine, Tally
from dtrack.collect.streams import StreamConsumer
from dtrack.collect.writer import BatchWriter
from dtrack.errors import DtrackError
from dtrack.results import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL

if TYPE_CHECKING:
    from dtrack.client.core import AsyncClient
    from dtrack.collect.plan import Plan
    from dtrack.store import Store

log = logging.getLogger(__name__)

STATUS_TICK = 1.0


class Collector:
    """One collector run over ``client`` following ``plan``; ``open_store`` opens the store (called in the
    writer's thread, and for the backfill); ``status`` shows the status line and messages; ``progress``
    receives the backfill's progress lines (None: silent)."""

    def __init__(self, client: AsyncClient, plan: Plan, *, open_store: Callable[[], Store], status: StatusLine,
                 stop: asyncio.Event | None = None, progress: Callable[[str], None] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.client = client
        self.plan = plan
        self.open_store = open_store
        self.status = status
        self.progress = progress
        self.clock = clock or utc_now  # the run's own times: real time even when the client's clock is pinned
        self._stop = stop or asyncio.Event()
        self.tally = Tally()
        self.run_book = RunBook.new(plan.what(), self.clock())
        self.writer = BatchWriter(open_store, self.run_book, tally=self.tally, status=status, clock=self.clock,
                                  flush_interval=plan.flush_interval, max_rows=plan.max_buffered_rows,
                                  conflation=plan.conflation, heartbeat=plan.heartbeat)
        self.snapshots = Snapshots(client, plan, self.writer, self.tally, status, self.clock)
        self.levels = Levels(client, plan, self.writer, self.tally, status, self.clock, open_store)
        self.books = Books(client, plan, self.writer, self.tally, status)
        self.streams = StreamConsumer(client, plan, self.writer, self.tally, status, self.clock)
        self.alerts = AlertJob(client, plan, status)
        self.exit_code = EXIT_OK

    @property
    def run_id(self) -> str:
        """This run's id (its ``collector_runs`` row, the ``collector`` of its gaps)."""
        return self.run_book.run_id

    def stop(self) -> None:
        """Ask the run to stop (flush, mark the run stopped); safe from a signal handler."""
        self._stop.set()

    async def run(self) -> int:
        """Collect until stopped; the exit code (0, or 3 when a ``--once`` round was partial, 1 when rows could
        not be written or nothing answered)."""
        tasks: list[asyncio.Task[Any]] = []
        writer_stop = asyncio.Event()
        writer: asyncio.Task[None] | None = None
        status, note = STOPPED, ""
        try:
            await self.client.instruments(list(self.plan.assets))  # an asset no venue lists: a usage error now
        except BaseException:
            self.writer.abandon()  # nothing was written
            raise
        try:
            self.status.info(f"run {self.run_id}: {', '.join(self.plan.assets)} on {', '.join(self.plan.venues)}"
                             f" into {self._where()}")
            await self.writer.flush()  # the run's row
            await self._sweep()
            writer = asyncio.create_task(self.writer.run(writer_stop), name="writer")
            tasks.append(asyncio.create_task(self._status_loop(), name="status"))
            if self.plan.once:
                await self._once()
            else:
                await self._daemon(tasks)
        except BaseException as exc:
            status, note = FAILED, f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            writer_stop.set()  # the flush in progress ends (never cancelled half-way), then the final one
            if writer is not None:
                await asyncio.gather(writer, return_exceptions=True)
            self.streams.close_open_gaps()
            if status == STOPPED:
                note = self._summary()
            lost = await asyncio.shield(self.writer.close(status=status, note=note))
            self.status.close(self.tally)
            if lost:
                self.status.message(f"{lost:,} rows could not be written: the store is still unavailable "
                                    f"({self.tally.store_error})")
                self.exit_code = EXIT_ERROR
        return self.exit_code

    def _where(self) -> str:
        from dtrack.store import parse_store_url
        from dtrack.store.postgres import redact

        engine, target = parse_store_url(self.plan.store_url)
        return f"{engine} {redact(target) if engine == 'postgresql' else target}"

    def _summary(self) -> str:
        rows = sum(n for t, n in self.tally.written.items() if t not in ("collector_runs", "gaps"))
        return f"rows {rows}, gaps {self.tally.gaps}, failures {sum(self.tally.failures.values())}"

    async def _once(self) -> None:
        await self._backfill()
        result = await self.snapshots.round(list(self.plan.snapshots)) if self.plan.snapshots else None
        books = await self.books.round() if self.plan.book_interval > 0 else None
        if not (result is not None and result.answered) and not (books is not None and books.report.rows):
            self.exit_code = EXIT_ERROR
            self.status.message("no venue answered")
        elif (result is not None and result.failures) or (books is not None and books.failures):
            self.exit_code = EXIT_PARTIAL

    async def _daemon(self, tasks: list[asyncio.Task[Any]]) -> None:
        if self.plan.duration is not None:
            asyncio.get_running_loop().call_later(self.plan.duration, self._stop.set)
        tasks.append(asyncio.create_task(self._sweep_loop(), name="sweep"))
        if self.plan.backfill is not None:
            first = asyncio.create_task(self._backfill(), name="backfill")
            stop = asyncio.create_task(self._stop.wait())
            await asyncio.wait([first, stop], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            await asyncio.gather(stop, return_exceptions=True)
            if not first.done():
                first.cancel()
                await asyncio.gather(first, return_exceptions=True)
                return
            tasks.append(asyncio.create_task(self._backfill_loop(), name="backfill"))
        if self._stop.is_set():
            return
        tasks += self.snapshots.tasks(self._stop)
        tasks += self.levels.tasks(self._stop)
        tasks += self.books.tasks(self._stop)
        if self.alerts.enabled:
            tasks.append(self.alerts.task(self._stop))
        if self.plan.stream_kinds:
            tasks.append(asyncio.create_task(self.streams.run(self._stop), name="streams"))
        await self._stop.wait()

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(STATUS_TICK)
            self.tally.waiting = self.writer.waiting
            self.status.update(self.tally)

    async def _sweep(self) -> None:
        """Mark dead runs killed and record their holes (quietly skipped while the store is down)."""
        now = self.clock()
        try:
            dead = await self.writer.call(lambda st: sweep(st, self.run_book, now, self.plan.heartbeat))
        except Exception as exc:  # the store is down: the next sweep will see them
            log.debug("sweep skipped: %s", exc)
            return
        for run_id in dead:
            self.status.message(f"run {run_id} ended without stopping: marked killed, its hole recorded as gaps")

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.plan.heartbeat)
            await self._sweep()

    async def _backfill(self) -> None:
        if self.plan.backfill is None:
            return
        try:
            result = await backfill(self.client, self.plan, self.clock() - self.plan.backfill, self.progress)
        except DtrackError as exc:
            self.status.message(f"backfill failed: {exc}")
            return
        except Exception as exc:  # a failed backfill must not stop the collection
            log.exception("backfill failed")
            self.status.message(f"backfill failed: {type(exc).__name__}: {exc}")
            return
        written: dict[str, int] = {}
        for row in result.rows:
            written[row["table"]] = written.get(row["table"], 0) + int(row.get("written") or 0)
        self.tally.add_written(written)
        failures = result.failures
        self.status.info("backfill done: " + (", ".join(f"{t} {n:,} new" for t, n in written.items())
                                                 or "nothing missing")
                            + (f"; {len(failures)} failures" if failures else ""))
        for failure in failures:
            self.status.message(f"backfill: {failure.venue} [{failure.kind}]: {failure.message}")

    async def _backfill_loop(self) -> None:
        while True:
            await asyncio.sleep(EVERY)
            await self._backfill()
