"""Live streams across venues (``AsyncClient.stream``): resolve the assets' contracts on the venues that stream the
asked kinds, run every venue's stream concurrently and hand their records and gaps on as one async iterator.

A venue never stops the others: one whose instrument list or stream cannot be started (its listing fails, its
funding terms cannot be read, ...) is retried with jittered backoff (settings ``streams.backoff_base`` ..
``backoff_cap``) and reported as a ``Gap`` with ``reason="error"`` and ``stream="*"`` (every channel of that
venue), opened at the first failure and closed when its stream delivers again. Interruptions of a running stream
(disconnects, stalls, malformed frames) are the stream's own gaps (``dtrack.net.ws``). Closing the iterator
cancels every venue's task and connection.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, Collection, Sequence
from contextlib import aclosing
from datetime import datetime
from typing import TYPE_CHECKING

from dtrack.client.fetch import gather_instruments
from dtrack.client.inputs import Wanted, as_list, check_readable, parsed_assets, resolve
from dtrack.errors import DtrackError, SymbolNotFound, UnsupportedError, UsageError, VenueUnavailable
from dtrack.net.ws import Put, backoff_delay, fan_in
from dtrack.records import DataKind, Gap, Instrument, Kind, Record
from dtrack.venues.streaming import stream_kinds

if TYPE_CHECKING:
    from dtrack.client.core import AsyncClient
    from dtrack.venues.pool import VenuePool

log = logging.getLogger(__name__)

#: the ``Gap.stream`` of a venue whose stream could not be started: all its channels
ALL = "*"


def streaming_venues(client: AsyncClient, kinds: Collection[DataKind], venues: Sequence[str] | None) -> list[str]:
    """The venues to stream ``kinds`` from: ``venues`` (else the client's chosen ones), each streaming at least one
    of them; or every active venue enabled in settings that streams one. A venue that streams none of the kinds,
    a closed or unknown one, is a ``UsageError``."""
    from dtrack.venues import ACTIVE, VENUES, venue_info

    names = [v for v in (venues if venues is not None else client.chosen_venues) if v]
    wanted = ", ".join(sorted(k.value for k in kinds))
    if not names:
        out = [v for v in ACTIVE if client.settings.venue(v).enabled
               and any(VENUES[v].capability(k).stream for k in kinds)]
        if not out:
            raise UsageError(f"no enabled venue streams {wanted}: enable one in settings or name one with venues=")
        return out
    chosen: list[str] = []
    for name in names:
        info = venue_info(name)
        if info.status == "closed":
            raise UsageError(f"{info.title} closed on {info.closed_on}: no live data exists")
        if not any(info.capability(k).stream for k in kinds):
            raise UsageError(f"{info.title} does not stream {wanted} in dtrack")
        if info.name not in chosen:
            chosen.append(info.name)
    return chosen


async def run(client: AsyncClient, kinds: DataKind | str | Collection[DataKind | str], assets: str | Sequence[str],
              venues: Sequence[str] | None = None) -> AsyncGenerator[Record, None]:
    """The records and gaps of ``kinds`` for ``assets`` on the chosen venues (see ``AsyncClient.stream``)."""
    wanted = stream_kinds(kinds)
    texts = as_list(assets)
    if not texts:
        raise UsageError("no asset given: stream at least one, like BTC")
    check_readable(texts)
    names = streaming_venues(client, wanted, list(venues) if venues is not None else None)
    pool = await client.pool()
    instruments, failures = await gather_instruments(pool, names, client.deadline().first_step())
    inputs = resolve(texts, instruments, _contract_kinds(wanted), complete=not failures) if instruments else []
    rng = random.Random()
    jobs = [_VenueStream(client, pool, name, wanted, texts, inputs, instruments.get(name), rng).run for name in names]
    async with aclosing(fan_in(jobs)) as records:
        async for record in records:
            yield record


def _contract_kinds(kinds: Collection[DataKind]) -> tuple[Kind, ...]:
    """Funding streams perpetuals; open interest and prices dated futures too."""
    return (Kind.PERP,) if set(kinds) == {DataKind.FUNDING} else (Kind.PERP, Kind.FUTURE)


class _VenueStream:
    """One venue's stream, restarted with backoff whenever it cannot start or ends with an error."""

    def __init__(self, client: AsyncClient, pool: VenuePool, venue: str, kinds: frozenset[DataKind],
                 texts: Sequence[str], inputs: Sequence[Wanted], listed: Sequence[Instrument] | None,
                 rng: random.Random) -> None:
        from dtrack.venues import VENUES

        self.client, self.pool, self.venue = client, pool, venue
        self.kinds = frozenset(k for k in kinds if VENUES[venue].capability(k).stream)
        self.texts, self.inputs, self.listed = texts, inputs, listed
        self.rng = rng
        self.put: Put | None = None  # the consumer's, while running
        self.failing: Gap | None = None  # the open error gap of this venue

    async def run(self, put: Put) -> None:
        """Stream the venue into ``put`` until cancelled (or until nothing of it can be streamed)."""
        self.put = put
        attempt = 0
        settings = self.client.settings.streams
        while True:
            try:
                contracts = await self._contracts()
                if not contracts:
                    log.info("%s: none of %s listed here: nothing to stream", self.venue, ", ".join(self.texts))
                    return
                records = self.pool.adapter(self.venue).stream(self.kinds, contracts)
                try:
                    async for record in records:
                        await self._recovered()
                        attempt = 0
                        await put(record)
                finally:
                    close = getattr(records, "aclose", None)  # stop its connections now, not at garbage collection
                    if close is not None:
                        await close()
                raise VenueUnavailable(self.venue, "the stream ended")  # a stream runs until cancelled
            except (SymbolNotFound, UsageError) as exc:
                log.info("%s: %s: nothing to stream", self.venue, exc)
                return
            except UnsupportedError as exc:  # retrying cannot help
                await self._failed(exc)
                return
            except DtrackError as exc:
                await self._failed(exc)
            delay = backoff_delay(attempt, settings.backoff_base, settings.backoff_cap, self.rng)
            attempt += 1
            await asyncio.sleep(delay)

    async def _contracts(self) -> list[Instrument]:
        """The venue's contracts the inputs name (its listing read again when it failed at the start)."""
        if self.listed is None:
            self.listed = list(await self.pool.adapter(self.venue).instruments())
        kinds = _contract_kinds(self.kinds)
        listed = [i for i in self.listed if i.kind in kinds]
        if self.inputs:
            return [i for i in listed if any(w.matches(i) for w in self.inputs)]
        assets = set(parsed_assets(self.texts))
        return [i for i in listed if i.asset in assets]

    async def _put(self, record: Record) -> None:
        assert self.put is not None
        await self.put(record)

    def _now(self) -> datetime:
        return self.client.now()

    async def _failed(self, exc: DtrackError) -> None:
        if self.failing is not None:
            log.info("%s: stream still failing: %s", self.venue, exc)
            return
        log.warning("%s: stream failed, retrying with backoff: %s", self.venue, exc)
        now = self._now()
        self.failing = Gap(venue=self.venue, stream=ALL, start=now, end=None, reason="error", received_at=now)
        await self._put(self.failing)

    async def _recovered(self) -> None:
        if self.failing is None:
            return
        gap, self.failing = self.failing, None
        now = self._now()
        log.info("%s: stream running again", self.venue)
        await self._put(Gap(venue=gap.venue, stream=gap.stream, start=gap.start, end=now, reason=gap.reason,
                                 received_at=now))
