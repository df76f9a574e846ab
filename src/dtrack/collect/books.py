"""The order-book snapshots: every ``collect.snapshots.book`` seconds (``0``: never), the depth metrics of every
perpetual of the collected assets on the venues that publish order books (``AsyncClient.book``: every book asked
at once), written as ``BookSnapshot`` rows (``book_snapshots``: mid, spread, depth within 0.1 / 0.5 / 1 / 5 % of the
mid in coins and USD, imbalance, truncation) through the same writer as the other snapshots.

A round that runs late skips the missed ticks (never runs twice). A venue that fails is said when it starts failing
and when it answers again, counted in the status line, and never stops the other venues.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from dtrack.collect.snapshots import repeat
from dtrack.errors import DtrackError

if TYPE_CHECKING:
    from dtrack.client.core import AsyncClient
    from dtrack.collect.plan import Plan
    from dtrack.collect.status import StatusLine, Tally
    from dtrack.collect.writer import BatchWriter
    from dtrack.results import BookResult

log = logging.getLogger(__name__)


class Books:
    """Rounds of order-book snapshots of ``plan.assets`` into ``writer``."""

    def __init__(self, client: AsyncClient, plan: Plan, writer: BatchWriter, tally: Tally,
                 status: StatusLine) -> None:
        self.client = client
        self.plan = plan
        self.writer = writer
        self.tally = tally
        self.status = status
        self._failing: dict[tuple[str, str], str] = {}  # (venue, endpoint or kind) -> message

    async def round(self) -> BookResult | None:
        """One round: the snapshots to the writer, failures reported; None when the round itself failed."""
        started = time.monotonic()
        try:
            result = await self.client.book(list(self.plan.assets), venues=list(self.plan.venues))
        except DtrackError as exc:
            self.status.message(f"order-book snapshot failed: {exc}")
            return None
        snapshots = result.snapshots()
        self.writer.add(snapshots)
        self.tally.rounds += 1
        self._report(result)
        log.info("book round", extra={"fields": {
            "records": len(snapshots), "seconds": round(time.monotonic() - started, 3),
            "failures": len(result.failures)}})
        return result

    def _report(self, result: BookResult) -> None:
        self.tally.add_failures(f.venue for f in result.failures)
        now_failing = set()
        for f in result.failures:
            key = (f.venue, f.endpoint or f.kind)
            now_failing.add(key)
            if key not in self._failing:
                self.status.message(f"{f.venue} [{f.kind}] (book): {f.message}")
            self._failing[key] = f.message
        answered = {m.instrument.venue for m in result.report.rows}
        for key in [k for k in self._failing if k not in now_failing and k[0] in answered]:
            del self._failing[key]
            self.status.info(f"{key[0]} (book) answers again")

    async def every(self, interval: float, stop: asyncio.Event) -> None:
        """Rounds every ``interval`` seconds until ``stop``; a late round skips the missed ticks."""
        await repeat(self.round, interval, stop, "order-book snapshot", self.status)

    def tasks(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        """The scheduled task (none when ``plan.book_interval`` is 0)."""
        if self.plan.book_interval <= 0:
            return []
        return [asyncio.create_task(self.every(self.plan.book_interval, stop), name="snapshot-book")]
