"""The live streams into the writer: ``AsyncClient.stream_batches`` (tickers on every venue: funding, open interest,
mark / index) yields a list of records and ``Gap`` markers per frame; the records of the kept kinds go to the writer
a batch at a time (conflated there), every gap is stamped with this run's id and kept.

The stream layer reconnects by itself and reports each interruption as a gap (open when noticed, closed when
data resumes). Should the whole iterator end or fail, it is started again after a backoff, and that hole is a
gap too. When the run stops, the gaps still open are closed at the stop time, so none stays open forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from dtrack.errors import DtrackError, UsageError
from dtrack.records import DataKind, Gap

if TYPE_CHECKING:
    from dtrack.client.core import AsyncClient
    from dtrack.collect.plan import Plan
    from dtrack.collect.status import StatusLine, Tally
    from dtrack.collect.writer import BatchWriter

log = logging.getLogger(__name__)

#: the settings' stream kinds as the client's data kinds
DATA_KINDS = {"funding": DataKind.FUNDING, "open_interest": DataKind.OPEN_INTEREST, "quotes": DataKind.QUOTES,
              "liquidations": DataKind.LIQUIDATIONS}
RESTART_WAIT = (1.0, 30.0)  # first and longest wait before the streams are started again
#: seconds the stream layer lets frames gather (``stream_batches(linger=)``: sockets read in rounds, the consumer
#: woken as often), not per frame: the writer keeps records up to a flush interval anyway, conflated per second
LINGER = 0.1
RESTARTED = "restart"


def kept_types(names: Collection[str]) -> frozenset[type]:
    """The record classes of ``dtrack.records`` named ``names`` (``Plan.stream_records``): a record is kept when
    ``type(record) in kept_types(...)``, one set lookup."""
    from dtrack import records

    return frozenset(cls for name in names if isinstance(cls := getattr(records, name, None), type))


class StreamConsumer:
    """Feeds ``client.stream_batches`` into ``writer`` until stopped."""

    def __init__(self, client: AsyncClient, plan: Plan, writer: BatchWriter, tally: Tally, status: StatusLine,
                 clock: Callable[[], datetime]) -> None:
        self.client = client
        self.plan = plan
        self.writer = writer
        self.tally = tally
        self.status = status
        self.clock = clock
        self.keep = plan.stream_records
        self.keep_types = kept_types(self.keep)
        self.open_gaps: dict[tuple[str, str, datetime], Gap] = {}
        self.records = 0

    def _gap(self, gap: Gap) -> None:
        gap = replace(gap, collector=self.writer.run_book.run_id)
        key = (gap.venue, gap.stream, gap.start)
        if gap.end is None:
            if key not in self.open_gaps:
                self.tally.gaps += 1
                log.info("stream gap opened: %s %s (%s) since %s", gap.venue, gap.stream, gap.reason, gap.start)
            self.open_gaps[key] = gap
        else:
            if self.open_gaps.pop(key, None) is None:
                self.tally.gaps += 1  # closed at once (a malformed frame)
            log.info("stream gap: %s %s (%s) %s .. %s", gap.venue, gap.stream, gap.reason, gap.start, gap.end)
        self.writer.add([gap])

    async def run(self, stop: asyncio.Event) -> None:
        """Consume the streams until ``stop``; restart them (with a gap per venue) should they end or fail."""
        kinds = [DATA_KINDS[k] for k in self.plan.stream_kinds]
        venues = list(self.plan.stream_venues())
        if not venues:
            self.status.info(f"none of {', '.join(self.plan.venues)} streams {', '.join(self.plan.stream_kinds)}: "
                             f"snapshots only")
            return
        wait = RESTART_WAIT[0]
        down_since: datetime | None = None
        while not stop.is_set():
            started = time.monotonic()
            try:
                batches = self.client.stream_batches(kinds, list(self.plan.assets), venues=venues, linger=LINGER)
                keep, add_live = self.keep_types, self.writer.add_live_batch
                try:
                    async for batch in batches:
                        if down_since is not None:
                            self._restarted(down_since, "stream restarted")
                            down_since = None
                        live = [r for r in batch if type(r) in keep]
                        if len(live) != len(batch):  # gaps (rare), or records of kinds not kept
                            for record in batch:
                                if isinstance(record, Gap):
                                    self._gap(record)
                        if live:
                            self.records += len(live)
                            add_live(live)
                finally:
                    close = getattr(batches, "aclose", None)  # its connections close now, not at collection
                    if close is not None:
                        await close()
                problem = "the streams ended"
            except asyncio.CancelledError:
                raise
            except UsageError as exc:  # what was asked cannot be streamed: asking again will not help
                self.status.message(f"live streams off: {exc}; snapshots only")
                return
            except DtrackError as exc:
                problem = f"the streams failed: {exc}"
            except Exception as exc:  # a bug in the stream layer must not end the collector
                log.exception("the streams failed")
                problem = f"the streams failed: {type(exc).__name__}: {exc}"
            if stop.is_set():
                break
            if down_since is None:
                down_since = self.clock()
            if time.monotonic() - started > 60:
                wait = RESTART_WAIT[0]
            self.status.message(f"{problem}; starting them again in {wait:.0f} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            wait = min(RESTART_WAIT[1], wait * 2)

    def _restarted(self, since: datetime, why: str) -> None:
        now = self.clock()
        for venue in self.plan.stream_venues():
            self._gap(Gap(venue=venue, stream="stream.restart", start=since, end=now, reason=RESTARTED,
                          received_at=now))
        log.info("%s after %.1f s", why, (now - since).total_seconds())

    def close_open_gaps(self) -> None:
        """Close the gaps still open at the run's end (``end`` = now)."""
        now = self.clock()
        for gap in list(self.open_gaps.values()):
            self.writer.add([replace(gap, end=now)])
        self.open_gaps.clear()
