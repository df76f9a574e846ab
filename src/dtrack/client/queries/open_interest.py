"""The open-interest query: every perpetual's and dated future's open interest, its history (changes),
long/short ratios and kline closes (divergence), one round per venue after the instrument list."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from dtrack.analytics.selection import period_for, price_perp
from dtrack.client.fetch import on_venues, scope
from dtrack.client.inputs import as_list, check_readable, parse_duration
from dtrack.client.stored import Needs
from dtrack.errors import DtrackError, UsageError
from dtrack.records import DataKind, Instrument, Kind
from dtrack.results import Failure, Fold, OpenInterestResult, settle, unique

if TYPE_CHECKING:
    from datetime import datetime

    from dtrack.client.core import AsyncClient
    from dtrack.records import LongShortRatio, OIHistory, OpenInterest, PricePoint
    from dtrack.venues.base import Adapter

CHANGES_SPAN = timedelta(days=7)
MAX_WINDOW = timedelta(days=30)


@dataclass(slots=True)
class VenueOI:
    """One venue's answers to the OI query."""

    venue: str
    oi: list[OpenInterest]
    histories: dict[str, OIHistory] = field(default_factory=dict)
    missing_history: dict[str, str] = field(default_factory=dict)
    long_short: list[LongShortRatio] = field(default_factory=list)
    prices: dict[str, tuple[PricePoint, ...]] = field(default_factory=dict)
    errors: list[DtrackError] = field(default_factory=list)


async def venue_job(adapter: Adapter, assets: Sequence[str], wanted: Callable[[Instrument], bool],
                    history_span: timedelta, with_prices: bool, end: datetime) -> VenueOI:
    """Everything one venue is asked, in one round after the (cached) instrument list."""
    from dtrack.venues import VENUES

    contracts = [i for i in await adapter.contracts(assets) if wanted(i)]
    perps = [i for i in contracts if i.kind is Kind.PERP]
    period = period_for(history_span)
    start = end - history_span - timedelta(hours=2 * period)
    history_cap = VENUES[adapter.name].capability(DataKind.OI_HISTORY)
    history_of = perps if history_span and history_cap.supported else []
    # klines only from venues that publish them (the registry says which): a venue without is no failure
    with_klines = with_prices and VENUES[adapter.name].capability(DataKind.KLINES).supported
    price_of = [p for a in assets if (p := price_perp([i for i in perps if i.asset == a])) is not None] \
        if with_klines else []
    oi_done, histories, ratios, prices = await asyncio.gather(
        settle([adapter.fetch_open_interest(contracts)]),
        settle([adapter.fetch_oi_history(i, start, end, period) for i in history_of]),
        settle([adapter.fetch_long_short(a, [i for i in perps if i.asset == a]) for a in assets]),
        settle([adapter.fetch_price_history(i, start, end, period) for i in price_of]),
    )
    if isinstance(oi_done[0], DtrackError):
        raise oi_done[0]
    fold = Fold()
    out = VenueOI(adapter.name, fold.items(oi_done[0]))
    if history_span and not history_cap.supported:
        out.missing_history[adapter.name] = history_cap.note
    for inst, history in zip(history_of, histories, strict=True):
        got = fold.value(history)
        if got is None:
            out.missing_history[f"{adapter.name}:{inst.symbol}"] = f"history failed ({fold.errors[-1].kind})"
        else:
            out.histories[inst.symbol] = got
    out.long_short = fold.all_items(ratios, optional=True)
    for inst, points in zip(price_of, prices, strict=True):
        if (closes := fold.value(points)) is not None:
            out.prices[inst.asset] = closes
    out.errors = fold.errors
    return out


def store_needs(changes: bool, divergence: bool) -> Needs | None:
    """What a store answer needs: every contract's open interest and the long/short ratios the store keeps;
    with ``changes``, every perpetual's open-interest history up to now. ``divergence`` compares with the
    price up to now (the open kline), which the store does not keep: the venues answer it."""
    if divergence:
        return None
    return Needs(snapshots=("open_interest",), per_asset=("long_short",), series=("oi_points",) if changes else (),
                 span=CHANGES_SPAN if changes else timedelta(0))


async def run(client: AsyncClient, assets: str | Sequence[str], *, changes: bool, divergence: bool,
              window: str | timedelta, live: bool = False) -> OpenInterestResult:
    """See ``AsyncClient.open_interest``."""
    from dtrack.analytics.open_interest import CHANGE_WINDOWS, OIInputs, build_oi_report

    texts = as_list(assets)
    if not texts:
        raise UsageError("name at least one asset, e.g. BTC")
    check_readable(texts)
    span = parse_duration(window, "--window", MAX_WINDOW)
    settings = client.settings
    history_span = max(CHANGES_SPAN if changes else timedelta(0), span if divergence else timedelta(0))
    deadline = client.deadline()
    listed = await scope(client, "open_interest", texts, (Kind.PERP, Kind.FUTURE), deadline,
                         needs=store_needs(changes, divergence), live=live)
    names = listed.assets(texts)
    failures = listed.failures
    results: list[VenueOI] = []
    if listed.instruments:
        end = client.now()
        answers, more = await on_venues(listed.pool, list(listed.instruments), lambda ad: venue_job(
            ad, names, listed.matches, history_span, divergence, end), deadline.left())
        results = [answers[v] for v in listed.venues if v in answers]
        failures += more + [Failure.of(r.venue, e) for r in results for e in r.errors]
    inputs = OIInputs(
        oi=[o for r in results for o in r.oi],
        histories={(r.venue, s): h for r in results for s, h in r.histories.items()},
        missing_history={k: v for r in results for k, v in r.missing_history.items()},
        long_short=[x for r in results for x in r.long_short],
        prices={(r.venue, a): p for r in results for a, p in r.prices.items()},
    )
    now = client.now()
    windows = tuple(CHANGE_WINDOWS) if changes else ()
    report = build_oi_report(now, names, inputs, windows, span if divergence else None,
                             settings.oi.divergence_oi, settings.oi.divergence_price)
    return OpenInterestResult(as_of=now, failures=unique(failures), all_failed=not results, report=report,
                              source=listed.source)
