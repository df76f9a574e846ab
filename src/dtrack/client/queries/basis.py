"""The basis query: quotes of every perpetual and dated future, spot tickers and funding per venue (one
round after the instrument list), then premia, basis, term structure, constant maturity and carry."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from dtrack.analytics.selection import is_quarterly
from dtrack.client.fetch import known_assets, on_venues, scope
from dtrack.client.inputs import as_list, check_readable
from dtrack.client.stored import Needs
from dtrack.errors import DtrackError, UsageError
from dtrack.records import Instrument, Kind
from dtrack.results import BasisResult, Failure, Fold, settle, unique

if TYPE_CHECKING:
    from dtrack.client.core import AsyncClient
    from dtrack.records import FundingRate, PriceQuote, SpotPrice
    from dtrack.venues.base import Adapter


@dataclass(slots=True)
class VenueBasis:
    """One venue's answers to the basis query."""

    venue: str
    quotes: list[PriceQuote] = field(default_factory=list)
    spots: list[SpotPrice] = field(default_factory=list)
    funding: list[FundingRate] = field(default_factory=list)
    errors: list[DtrackError] = field(default_factory=list)


async def venue_job(adapter: Adapter, assets: Sequence[str], wanted: Callable[[Instrument], bool]) -> VenueBasis:
    """Quotes of every perpetual and future, spot tickers and funding, concurrently (one round)."""
    contracts = [i for i in await adapter.contracts(assets) if wanted(i)]
    perps = [i for i in contracts if i.kind is Kind.PERP]
    quotes, spots, funding = await asyncio.gather(
        settle([adapter.fetch_quotes(contracts)]), settle([adapter.fetch_spot(assets)]),
        settle([adapter.fetch_funding_rates(perps)] if perps else []))
    spot_said = not isinstance(spots[0], DtrackError) and bool(spots[0].items or spots[0].errors)
    if isinstance(quotes[0], DtrackError) and not spot_said:
        raise quotes[0]  # nothing from this venue (a refused spot row is still reported below)
    fold = Fold()
    out = VenueBasis(adapter.name)
    out.quotes = fold.items(quotes[0])  # a failure here: its spot ticker still serves the others
    out.spots = fold.items(spots[0], optional=True)  # a venue without spot is not a failure
    for rates in funding:
        if (answer := fold.value(rates)) is not None:
            out.funding = list(answer.items)
            fold.errors += answer.errors
    out.errors = fold.errors
    return out


def _check(assets: Sequence[str], scan_all: bool, min_yield: float | None) -> None:
    if assets and scan_all:
        raise UsageError("name assets or use --all, not both")
    if min_yield is not None and not (math.isfinite(min_yield) and -100 < min_yield < 1000):
        raise UsageError(f"--min-yield is an annual percent (e.g. 5), got {min_yield:g}")


#: what a store answer needs: quotes of every contract, funding of every perpetual, the spot prices it keeps
STORE_NEEDS = Needs(snapshots=("price_quotes", "funding_rates"), per_asset=("spot_prices",))


async def run(client: AsyncClient, assets: str | Sequence[str] | None, *, quarterly: bool, scan_all: bool,
              min_yield: float | None, live: bool = False, sort: str | None = None,
              limit: int | None = None) -> BasisResult:
    """See ``AsyncClient.basis``."""
    from dtrack.analytics.basis import BasisOptions, build_basis_report
    from dtrack.analytics.screens import BASIS_SORTS, ScreenInfo, check_count, check_sort
    from dtrack.venues import ACTIVE, VENUES

    texts = as_list(assets)
    _check(texts, scan_all, min_yield)
    key, limit = check_sort(sort, BASIS_SORTS), check_count(limit, "--limit")
    screen = ScreenInfo(sort=key or "annualized", limit=limit) if key is not None or limit is not None else None
    check_readable(texts)
    settings = client.settings
    deadline = client.deadline()
    listed = await scope(client, "basis", texts, (Kind.PERP, Kind.FUTURE), deadline, needs=STORE_NEEDS, live=live)
    # without assets: every asset with dated futures
    names = listed.assets(texts) if texts else sorted(known_assets(listed.instruments, (Kind.FUTURE,)))
    failures = listed.failures
    results: list[VenueBasis] = []
    if listed.instruments and names:
        answers, more = await on_venues(listed.pool, list(listed.instruments),
                                        lambda ad: venue_job(ad, names, listed.matches), deadline.left())
        results = [answers[v] for v in listed.venues if v in answers]
        failures += more + [Failure.of(r.venue, e) for r in results for e in r.errors]
    quotes = [q for r in results for q in r.quotes
              if not (quarterly and q.instrument.expiry is not None and not is_quarterly(q.instrument.expiry))]
    opts = BasisOptions(
        taker_fees={v: settings.taker_fee(v, VENUES[v].taker_fee_pct / 100.0) for v in ACTIVE},
        spot_fee=settings.basis.spot_taker_fee, perp_holding_days=settings.basis.perp_holding_days,
        min_yield=min_yield / 100.0 if min_yield is not None else None)
    now = client.now()
    report = build_basis_report(now, names, quotes, [s for r in results for s in r.spots],
                                [f for r in results for f in r.funding], opts)
    if screen is not None:
        from dtrack.analytics.screens import basis_key, order_rows

        rank, descending = basis_key(screen.sort or "annualized")
        rows = order_rows(report.rows, rank, top=None, descending=descending)
        report = replace(report, rows=tuple(rows[:limit] if limit is not None else rows))
        screen = replace(screen, screened=len(rows))
    all_failed = not listed.instruments or (bool(names) and not results)
    return BasisResult(as_of=now, failures=unique(failures), all_failed=all_failed, report=report,
                       source=listed.source, screen=screen)
