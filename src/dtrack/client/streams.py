"""Live streams across venues (``AsyncClient.stream_batches`` / ``stream``): resolve the assets' contracts on the
venues that stream the asked kinds, run every venue's stream concurrently and hand their records and gaps on as one
async iterator of batches (a list per frame, see ``dtrack.net.ws``), each venue's in its order.

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
from dtrack.net.ws import Batch, Put, backoff_delay, fan_in, flatten
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


def run(client: AsyncClient, kinds: DataKind | str | Collection[DataKind | str], assets: str | Sequence[str],
        venues: Sequence[str] | None = None) -> AsyncGenerator[Record, None]:
    """The records and gaps of ``kinds`` for ``assets`` on the chosen venues one by one (``run_batches``
    flattened)."""
    return flatten(run_batches(client, kinds, assets, venues))


async def run_batches(client: AsyncClient, kinds: DataKind | str | Collection[DataKind | str],
                      assets: str | Sequence[str], venues: Sequence[str] | None = None, *,
                      linger: float = 0.0) -> AsyncGenerator[Batch, None]:
    """The records and gaps of ``kinds`` for ``assets`` on the chosen venues, a batch per frame (see
    ``AsyncClient.stream_batches``; ``linger``: ``dtrack.net.ws.fan_in``'s)."""
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
    jobs = [_VenueStream(client, pool, name, wanted, texts, inputs, instruments.get(name), rng, linger).run
            for name in names]
    async with aclosing(fan_in(jobs, linger=linger)) as batches:
        async for batch in batches:
            yield batch


def _contract_kinds(kinds: Collection[DataKind]) -> tuple[Kind, ...]:
    """Funding streams perpetuals; open interest and prices dated futures too."""
    return (Kind.PERP,) if set(kinds) == {DataKind.FUNDING} else (Kind.PERP, Kind.FUTURE)


class _VenueStream:
    """One venue's stream, restarted with backoff whenever it cannot start or ends with an error."""

    def __init__(self, client: AsyncClient, pool: VenuePool, venue: str, kinds: frozenset[DataKind],
                 texts: Sequence[str], inputs: Sequence[Wanted], listed: Sequence[Instrument] | None,
                 rng: random.Random, linger: float = 0.0) -> None:
        from dtrack.venues import VENUES

        self.client, self.pool, self.venue = client, pool, venue
        self.kinds = frozenset(k for k in kinds if VENUES[venue].capability(k).stream)
        self.texts, self.inputs, self.listed = texts, inputs, listed
        self.rng = rng
        self.linger = linger  # the connections' rounds of reading (``dtrack.net.ws``)
        self.put: Put | None = None  # the consumer's, while running
        self.failing: Gap | None = None  # the open error gap of this venue
        self.attempt = 0  # restarts since the venue last delivered

    async def run(self, put: Put) -> None:
        """Stream the venue's batches into ``put`` until cancelled (or until nothing of it can be streamed). The
        venue's connections hand them on themselves (``Adapter.stream_into``): no queue of the venue's own, and its
        cancellation (the consumer's ``fan_in`` closing) cancels them."""
        self.put = put
        settings = self.client.settings.streams
        while True:
            try:
                contracts = await self._contracts()
                if not contracts:
                    log.info("%s: none of %s listed here: nothing to stream", self.venue, ", ".join(self.texts))
                    return
                # until the venue first fails, nothing to close or reset on data: its batches go straight on
                deliver = put if self.failing is None else self._deliver
                await self.pool.adapter(self.venue).stream_into(self.kinds, contracts, deliver, linger=self.linger)
                raise VenueUnavailable(self.venue, "the stream ended")  # a stream runs until cancelled
            except (SymbolNotFound, UsageError) as exc:
                log.info("%s: %s: nothing to stream", self.venue, exc)
                return
            except UnsupportedError as exc:  # retrying cannot help
                await self._failed(exc)
                return
            except DtrackError as exc:
                await self._failed(exc)
            delay = backoff_delay(self.attempt, settings.backoff_base, settings.backoff_cap, self.rng)
            self.attempt += 1
            await asyncio.sleep(delay)

    async def _deliver(self, batch: Batch) -> None:
        """A batch of the venue's stream, to the consumer (closing the venue's error gap first, if open)."""
        if self.failing is not None:
            await self._recovered()
        self.attempt = 0
        assert self.put is not None
        await self.put(batch)

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
        await self.put([record])

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
