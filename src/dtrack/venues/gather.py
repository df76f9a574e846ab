"""Runs one query on many venues concurrently; a failing venue becomes a ``VenueFailure`` row
and never takes the others down. Knows no venue by name.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from dtrack.errors import DtrackError
from dtrack.records import Instrument, Kind
from dtrack.venues.base import Adapter, FundingResult
from dtrack.venues.pool import VenuePool

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class VenueFailure:
    """Why a venue (or part of its answer) is missing: ``kind`` is the error class's kind."""

    venue: str
    kind: str
    message: str


def failure(venue: str, exc: BaseException) -> VenueFailure:
    """A failure row from an exception (unexpected ones are labelled ``internal``)."""
    if isinstance(exc, DtrackError):
        return VenueFailure(venue, exc.kind, str(exc))
    log.debug("%s: unexpected error", venue, exc_info=exc)
    return VenueFailure(venue, "internal", f"{venue}: internal error ({type(exc).__name__}: {exc})")


async def on_venues(
    pool: VenuePool, venues: Sequence[str], job: Callable[[Adapter], Awaitable[T]]
) -> tuple[dict[str, T], list[VenueFailure]]:
    """Run ``job`` on every venue's adapter concurrently; collect answers and failures."""

    async def one(name: str) -> T:
        return await job(pool.adapter(name))

    done = await asyncio.gather(*(one(v) for v in venues), return_exceptions=True)
    answers: dict[str, T] = {}
    failures: list[VenueFailure] = []
    for venue, item in zip(venues, done, strict=True):
        if isinstance(item, BaseException):
            if not isinstance(item, Exception):
                raise item
            failures.append(failure(venue, item))
        else:
            answers[venue] = item
    return answers, failures


async def gather_instruments(
    pool: VenuePool, venues: Sequence[str]
) -> tuple[dict[str, list[Instrument]], list[VenueFailure]]:
    """Every venue's instrument list (disk-cached by the adapters); a part of a list that could not be
    fetched (one host of a venue) is a failure too, so nobody concludes an asset does not exist."""
    listings, failures = await on_venues(pool, venues, lambda a: a.listing())
    failures += [failure(v, e) for v, listing in listings.items() for e in listing.missing]
    return {v: list(listing.instruments) for v, listing in listings.items()}, failures


async def gather_funding(
    pool: VenuePool, venues: Sequence[str], assets: Sequence[str], history: timedelta | None
) -> tuple[list[FundingResult], list[VenueFailure]]:
    """Current funding (and history) of ``assets`` on every venue; partial problems become failures too."""
    answers, failures = await on_venues(pool, venues, lambda a: a.fetch_funding(assets, history))
    results = [answers[v] for v in venues if v in answers]
    for result in results:
        failures += [failure(result.venue, e) for e in result.errors]
    return results, failures


async def settle(jobs: Sequence[Awaitable[T]]) -> list[T | DtrackError]:
    """Run ``jobs`` concurrently; each gives its value or the ``DtrackError`` it failed with (anything else
    is a bug and is raised once every job has finished)."""
    done = await asyncio.gather(*jobs, return_exceptions=True)
    out: list[T | DtrackError] = []
    for item in done:
        if isinstance(item, DtrackError):
            out.append(item)
        elif isinstance(item, BaseException):
            raise item
        else:
            out.append(item)
    return out


def known_assets(instruments: dict[str, list[Instrument]], kinds: Sequence[Kind]) -> set[str]:
    """The assets listed with an instrument of ``kinds`` on any venue."""
    return {i.asset for insts in instruments.values() for i in insts if i.kind in kinds}
