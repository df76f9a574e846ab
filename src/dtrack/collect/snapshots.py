"""The snapshot scheduler: each snapshot kind at its own interval through ``AsyncClient.snapshot``, its
records (and the contracts' ``instruments`` rows) handed to the writer. Options snapshots are the per-expiry
metrics (``option_expiries``), and the whole chains (``option_quotes``) only with ``collect.option_chains``.

A round that runs late does not pile up: a missed tick is skipped, never run twice (``repeat``, the order-book
snapshots' schedule too). A venue that fails is reported when it starts failing and when it answers again (not at
every round), counted in the status line, and never stops the other venues or kinds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from dtrack.errors import DtrackError

if TYPE_CHECKING:
    from dtrack.client.core import AsyncClient
    from dtrack.client.queries.snapshot import SnapshotResult
    from dtrack.collect.plan import Plan
    from dtrack.collect.status import StatusLine, Tally
    from dtrack.collect.writer import BatchWriter

log = logging.getLogger(__name__)


class Snapshots:
    """Runs snapshot rounds of ``plan.snapshots`` into ``writer``."""

    def __init__(self, client: AsyncClient, plan: Plan, writer: BatchWriter, tally: Tally, status: StatusLine,
                 clock: Callable[[], datetime]) -> None:
        self.client = client
        self.plan = plan
        self.writer = writer
        self.tally = tally
        self.status = status
        self.clock = clock
        self._failing: dict[tuple[str, str], str] = {}  # (venue, what failed) -> message

    async def round(self, kinds: Sequence[str]) -> SnapshotResult | None:
        """One round of ``kinds``: records to the writer, failures reported; None when the round itself failed."""
        started = time.monotonic()
        try:
            result = await self.client.snapshot(kinds, self.plan.assets, venues=self.plan.venues,
                                                chains=self.plan.option_chains)
        except DtrackError as exc:
            self.status.message(f"snapshot of {', '.join(kinds)} failed: {exc}")
            return None
        self.writer.add(result.records)
        self.writer.add_instruments(result.instruments, self.clock())
        self.tally.rounds += 1
        self._report(kinds, result)
        fields = {"kinds": ",".join(kinds), "records": len(result.records),
                  "seconds": round(time.monotonic() - started, 3), "failures": len(result.failures),
                  **{f"n_{k}": n for k, n in result.counts().items()}}
        log.info("snapshot round", extra={"fields": fields})
        return result

    def _report(self, kinds: Sequence[str], result: SnapshotResult) -> None:
        what = ", ".join(kinds)
        self.tally.add_failures(f.venue for f in result.failures)
        now_failing = set()
        for f in result.failures:
            key = (f.venue, f"{what} {f.endpoint or f.kind}")
            now_failing.add(key)
            if key not in self._failing:
                self.status.message(f"{f.venue} [{f.kind}] ({what}): {f.message}")
            self._failing[key] = f.message
        answered = {v for k in kinds for v in result.answered.get(k, [])}
        for key in [k for k in self._failing if k[1].startswith(f"{what} ") and k not in now_failing]:
            if key[0] in answered:
                del self._failing[key]
                self.status.info(f"{key[0]} ({what}) answers again")

    async def every(self, kind: str, interval: float, stop: asyncio.Event) -> None:
        """Rounds of ``kind`` every ``interval`` seconds until ``stop``; a late round skips the missed ticks."""
        await repeat(lambda: self.round([kind]), interval, stop, f"snapshot of {kind}", self.status)

    def tasks(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        """One scheduled task per snapshot kind of the plan."""
        return [asyncio.create_task(self.every(kind, interval, stop), name=f"snapshot-{kind}")
                for kind, interval in self.plan.snapshots.items()]


async def repeat(job: Callable[[], Awaitable[object]], interval: float, stop: asyncio.Event, what: str,
                 status: StatusLine) -> None:
    """``job()`` every ``interval`` seconds until ``stop`` (the first at once); a round that runs late skips the
    missed ticks, never runs twice; a bug in one round is logged and said (``what`` failed), never the end."""
    next_at = time.monotonic()
    while not stop.is_set():
        try:
            await job()
        except Exception as exc:  # a bug in one round must not end the schedule
            log.exception("%s failed", what)
            status.message(f"{what} failed: {type(exc).__name__}: {exc}")
        now = time.monotonic()
        next_at += interval
        if next_at <= now:
            next_at = now + interval - (now - next_at) % interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), next_at - now)
