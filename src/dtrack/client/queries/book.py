"""The order-book query: the L2 book of every contract of the assets on every venue offering books, all asked
at once (one round of requests after the cached instrument lists), then the depth metrics per contract and per
asset (``dtrack.analytics.book``). A venue that fails is a failure row; the others answer.

Depth asked: ``depth`` levels a side (default 1,000): each adapter asks its venue's smallest allowed limit at or
above it, capped at the venue's maximum (Binance 1,000, Bybit 500, OKX 400, Deribit 1,000, Hyperliquid 20, dYdX
100: the indexer's cap), so the widest band is covered where the venue allows it and flagged ``truncated`` where not.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from dtrack.client.fetch import Scope, gather_instruments, on_venues
from dtrack.client.inputs import as_list, check_readable, resolve, shown
from dtrack.errors import DtrackError, UsageError
from dtrack.records import DataKind, Instrument, Kind, OrderBook
from dtrack.results import BookResult, Failure, Fold, settle, unique

if TYPE_CHECKING:
    from dtrack.client.core import AsyncClient, Deadline
    from dtrack.venues.base import Adapter

#: ``kind`` -> the contract kinds asked
KINDS: dict[str, tuple[Kind, ...]] = {"perp": (Kind.PERP,), "future": (Kind.FUTURE,), "all": (Kind.PERP, Kind.FUTURE)}
DEFAULT_DEPTH = 1000
MAX_DEPTH = 5000
MAX_BANDS = 10
#: the widest band, percent of the mid (a bid 50 % under the mid is no liquidity anyone measures)
MAX_BAND_PCT = 50.0


def parse_bands(bands: str | Sequence[float | str] | None) -> tuple[float, ...]:
    """Bands as the user writes them, in percent of the mid (``"0.1,0.5,1,5"`` or ``[0.1, 0.5, 1, 5]``; None:
    the defaults) -> fractions, ascending, each once. Anything else is a usage error naming ``--bands``."""
    from dtrack.analytics.book import DEFAULT_BANDS

    if bands is None:
        return DEFAULT_BANDS
    items = [x.strip() for x in bands.split(",")] if isinstance(bands, str) else list(bands)
    out: set[float] = set()
    for item in items:
        try:
            value = float(item)
        except (TypeError, ValueError):
            value = math.nan
        if not (math.isfinite(value) and 0 < value <= MAX_BAND_PCT):
            text = bands if isinstance(bands, str) else ",".join(map(str, bands))
            raise UsageError(f"bad --bands {shown(text)}: expected percents of the mid like 0.1,0.5,1,5 (each above 0 "
                             f"and at most {MAX_BAND_PCT:g})")
        out.add(round(value, 9) / 100.0)
    if not out or len(out) > MAX_BANDS:
        raise UsageError(f"--bands takes 1 to {MAX_BANDS} percents of the mid, like 0.1,0.5,1,5; got {len(out)}")
    return tuple(sorted(out))


def check_depth(depth: int | None) -> int:
    """Levels a side to ask (default 1,000), checked."""
    if depth is None:
        return DEFAULT_DEPTH
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise UsageError(f"bad --depth {depth!r}: expected levels a side from 1 to {MAX_DEPTH} (each venue is "
                         "asked its nearest allowed limit, capped at its maximum)")
    return depth


def check_kind(kind: str) -> tuple[Kind, ...]:
    """The contract kinds of ``kind`` (``perp``, ``future`` or ``all``)."""
    kinds = KINDS.get(kind)
    if kinds is None:
        raise UsageError(f"bad --kind {shown(kind)}: expected one of {', '.join(KINDS)}")
    return kinds


async def venue_job(adapter: Adapter, assets: Sequence[str], wanted: Callable[[Instrument], bool],
                    depth: int) -> tuple[list[OrderBook], list[DtrackError]]:
    """Every wanted contract's book on one venue, all at once; raises when none could be read."""
    contracts = [i for i in await adapter.contracts(assets) if wanted(i)]
    outcomes = await settle([adapter.fetch_order_book(i, depth) for i in contracts])
    fold = Fold()
    books = [b for b in fold.values(outcomes) if b is not None]
    if fold.errors and not books:
        raise fold.errors[0]  # nothing from this venue
    return books, fold.errors


def book_venues(client: AsyncClient, venues: Sequence[str] | None) -> list[str]:
    """The venues to ask: those of ``venues`` that offer order books (a collector's list), else the client's
    choice for ``book`` (``AsyncClient.venues_for``: a chosen venue without books is a usage error)."""
    if venues is None:
        return client.venues_for("book")
    from dtrack.venues import venue_info

    infos = [venue_info(v) for v in venues]
    return list(dict.fromkeys(i.name for i in infos if i.offers(DataKind.ORDER_BOOK)))


async def listed(client: AsyncClient, venues: list[str], texts: Sequence[str], kinds: Sequence[Kind],
                 deadline: Deadline) -> Scope:
    """The venues' instrument lists (half the deadline at most) and what ``texts`` name in them."""
    pool = await client.pool()
    instruments, failures = await gather_instruments(pool, venues, deadline.first_step())
    out = Scope(pool, venues, instruments, failures)
    if instruments:
        out.wanted = resolve(texts, instruments, kinds, complete=not failures,
                             where=", ".join(venues) if client.explicit_venues else "")
    return out


async def fetch_books(client: AsyncClient, assets: str | Sequence[str], *, kind: str = "perp",
                      depth: int | None = None, venues: Sequence[str] | None = None
                      ) -> tuple[list[str], list[OrderBook], list[Failure], bool]:
    """The books of every ``kind`` contract of ``assets`` on the venues (see ``book_venues``), every book of every
    venue asked at once after the (cached) instrument lists: the assets resolved, the books, the failures, and
    whether any venue listed anything. (``execsim`` and others needing raw books may call this too.)"""
    texts = as_list(assets)
    if not texts:
        raise UsageError("name at least one asset, e.g. dtrack book BTC ETH")
    check_readable(texts)
    kinds = check_kind(kind)
    levels = check_depth(depth)
    deadline = client.deadline()
    scope = await listed(client, book_venues(client, venues), texts, kinds, deadline)
    names = scope.assets(texts)
    failures = scope.failures
    books: list[OrderBook] = []
    if scope.instruments:
        def wanted(inst: Instrument) -> bool:
            return inst.kind in kinds and scope.matches(inst)

        answers, more = await on_venues(scope.pool, list(scope.instruments),
                                        lambda ad: venue_job(ad, names, wanted, levels), deadline.left())
        failures += more
        for venue in scope.venues:
            if venue in answers:
                got, errors = answers[venue]
                books += got
                failures += [Failure.of(venue, e) for e in errors]
    return names, books, unique(failures), bool(scope.instruments)


async def run(client: AsyncClient, assets: str | Sequence[str], *, bands: str | Sequence[float | str] | None = None,
              depth: int | None = None, kind: str = "perp", venues: Sequence[str] | None = None) -> BookResult:
    """See ``AsyncClient.book``."""
    from dtrack.analytics.book import build_book_report

    widths = parse_bands(bands)
    levels = check_depth(depth)
    names, books, failures, any_listed = await fetch_books(client, assets, kind=kind, depth=levels, venues=venues)
    report = build_book_report(client.now(), names, books, widths, kind, levels)
    return BookResult(as_of=report.time, failures=failures, all_failed=not any_listed or not books, report=report)
