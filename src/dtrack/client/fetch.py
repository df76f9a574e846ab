"""Running one query on many venues and folding partial failures, written once. Knows no venue by name.

- ``on_venues`` runs a per-venue job on every venue concurrently, under one deadline: a venue that fails
  (or has not answered when the deadline passes) becomes a ``Failure`` row and never takes the others down.
- ``settle`` and ``Fold`` (in ``dtrack.results``, shared with the adapters) run one venue's jobs and fold
  what they answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from dtrack.client.inputs import Wanted, parsed_assets, resolve, unique_assets
from dtrack.errors import VenueUnavailable
from dtrack.records import Instrument, Kind
from dtrack.results import Failure, Source
from dtrack.venues.base import Adapter

if TYPE_CHECKING:
    from dtrack.client.core import AsyncClient, Deadline
    from dtrack.client.stored import Needs

T = TypeVar("T")


class AdapterPool(Protocol):
    """What hands out adapters: the venues' pool (``dtrack.venues.pool``), or the store's for a store answer."""

    def adapter(self, name: str) -> Adapter:
        """The adapter of venue ``name``."""
        ...


async def on_venues(pool: AdapterPool, venues: Sequence[str], job: Callable[[Adapter], Awaitable[T]],
                    deadline: float | None = None) -> tuple[dict[str, T], list[Failure]]:
    """Run ``job`` on every venue's adapter concurrently; collect answers and failures.

    With a ``deadline`` (seconds), a venue that has not answered by then is cancelled and reported as
    unavailable, so one venue that never answers cannot hold the others' results back.
    """
    tasks = {v: asyncio.ensure_future(_run(pool, v, job)) for v in venues}
    if tasks:
        try:
            await asyncio.wait(tasks.values(), timeout=deadline)
        except BaseException:  # cancelled (a collector stopping): the venues' jobs go too, their ends retrieved
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            raise
    answers: dict[str, T] = {}
    failures: list[Failure] = []
    for venue, task in tasks.items():
        if not task.done():
            task.cancel()
            failures.append(Failure.of(venue, VenueUnavailable(
                venue, f"no answer within the {deadline:g} s deadline (settings http.deadline or --timeout)")))
            continue
        exc = task.exception()
        if exc is None:
            answers[venue] = task.result()
        elif isinstance(exc, Exception):
            failures.append(Failure.of(venue, exc))
        else:
            raise exc
    pending = [t for t in tasks.values() if t.cancelled() or not t.done()]
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    return answers, failures


async def _run(pool: AdapterPool, venue: str, job: Callable[[Adapter], Awaitable[T]]) -> T:
    return await job(pool.adapter(venue))


async def gather_instruments(pool: AdapterPool, venues: Sequence[str], deadline: float | None = None,
                             ) -> tuple[dict[str, list[Instrument]], list[Failure]]:
    """Every venue's instrument list (disk-cached by the adapters); a part of a list that could not be
    fetched (one host of a venue) is a failure too, so nobody concludes an asset does not exist."""
    listings, failures = await on_venues(pool, venues, lambda a: a.listing(), deadline)
    failures += [Failure.of(v, e) for v, listing in listings.items() for e in listing.missing]
    return {v: list(listing.instruments) for v, listing in listings.items()}, failures


def known_assets(instruments: dict[str, list[Instrument]], kinds: Sequence[Kind]) -> set[str]:
    """The assets listed with an instrument of ``kinds`` on any venue."""
    return {i.asset for insts in instruments.values() for i in insts if i.kind in kinds}


@dataclass(slots=True)
class Scope:
    """The first step of a query over listed contracts: every venue's instrument list and what the user's
    inputs name in it. ``wanted`` is empty when no venue listed anything (or no input was given)."""

    pool: AdapterPool
    venues: list[str]
    instruments: dict[str, list[Instrument]]
    failures: list[Failure]
    wanted: list[Wanted] = field(default_factory=list)
    #: the venues, or the store (a store answer: its pool serves from stored snapshots, no network)
    source: Source = field(default_factory=Source)

    def matches(self, inst: Instrument) -> bool:
        """Whether the inputs ask for ``inst`` (everything when there were no inputs)."""
        return not self.wanted or any(w.matches(inst) for w in self.wanted)

    def assets(self, texts: Sequence[str]) -> list[str]:
        """The asked assets: resolved when the listings answered, else as the inputs read."""
        return unique_assets(self.wanted) if self.wanted else parsed_assets(texts)


async def scope(client: AsyncClient, query: str, texts: Sequence[str], kinds: Sequence[Kind],
                deadline: Deadline, *, needs: Needs | None = None, live: bool = True) -> Scope:
    """List the venues offering ``query`` (half the deadline at most) and resolve ``texts`` against them.

    A name is called unknown only when every venue's list was read (it may live on one that failed).
    With ``needs`` and not ``live``, the history store answers instead when it holds all of that, fresh
    (``dtrack.client.stored``): then nothing is asked of the venues."""
    venues = client.venues_for(query)
    source = Source()
    if needs is not None and not live and texts and client.settings.store.fresh_seconds > 0:
        store = client.consult_store()
        if store is not None:
            from dtrack.client.stored import store_scope

            served, why = store_scope(store, client.settings, client.now(), venues, texts, kinds, needs)
            if served is not None:
                return served
            source = Source(store=store.location, note=why)
    pool = await client.pool()
    instruments, failures = await gather_instruments(pool, venues, deadline.first_step())
    out = Scope(pool, venues, instruments, failures, source=source)
    if instruments and texts:
        out.wanted = resolve(texts, instruments, kinds, complete=not failures,
                             where=", ".join(venues) if client.explicit_venues else "")
    return out
