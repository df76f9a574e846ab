"""``dtrack basis``: perpetual premium and funding carry, dated-futures basis, term structure and carry trades."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import click

from dtrack.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    Options,
    common_options,
    load,
    options,
    render,
    report_failures,
    resolve_venues,
    run,
    venue_pool,
)
from dtrack.errors import DtrackError, SymbolNotFound, UsageError

if TYPE_CHECKING:
    from dtrack.analytics.basis import BasisReport
    from dtrack.config import Settings
    from dtrack.records import FundingRate, PriceQuote, SpotPrice
    from dtrack.venues.base import Adapter
    from dtrack.venues.gather import VenueFailure

AFTER_FETCH = ("numpy", "dtrack.analytics.basis", "dtrack.report.basis", "rich.console", "rich.table")


@dataclass(slots=True)
class VenueBasis:
    """One venue's answers to the basis query."""

    venue: str
    quotes: list[PriceQuote] = field(default_factory=list)
    spots: list[SpotPrice] = field(default_factory=list)
    funding: list[FundingRate] = field(default_factory=list)
    errors: list[DtrackError] = field(default_factory=list)


@dataclass(slots=True)
class Fetched:
    """What the venues answered."""

    assets: list[str]
    results: list[VenueBasis]
    failures: list[VenueFailure]
    all_failed: bool = False


@click.command()
@click.argument("assets", nargs=-1, metavar="[ASSET...]")
@click.option("--venue", "venues", multiple=True, metavar="V",
              help="Only these venues (repeatable). Default: every active venue.")
@click.option("--quarterly", is_flag=True, help="Only quarterly futures (last Friday of Mar/Jun/Sep/Dec).")
@click.option("--all", "scan_all", is_flag=True, help="Every asset that has dated futures (the default without ASSET).")
@click.option("--min-yield", type=float, default=None, metavar="PCT",
              help="List carry trades whose annualized yield net of fees is at least PCT percent.")
@common_options
@click.pass_context
def basis(ctx: click.Context, assets: tuple[str, ...], venues: tuple[str, ...], quarterly: bool, scan_all: bool,
          min_yield: float | None, config: str | None, sim: bool, fmt: str | None) -> int:
    """Basis and term structure of ASSET... (default: every asset with dated futures).

    Perpetuals: mark - index and mark - spot premium, and the funding carry (APR from the
    rate and its own interval). Dated futures: days to expiry, basis against spot (fraction and
    USD), annualized basis = basis x 365 / days, contango / backwardation per venue and asset, and
    constant-maturity basis at 30, 90 and 180 days (interpolated, never extrapolated). Spot is each
    venue's own spot ticker where it has one, else the median of Binance, OKX and Bybit spot.

    \b
    Examples:
      dtrack basis BTC ETH --sim
      dtrack basis --all --min-yield 5
      dtrack basis BTC --quarterly --format json
    """
    from dtrack.symbols import parse_asset

    opts = options(ctx, config, sim, fmt)
    if assets and scan_all:
        raise UsageError("name assets or use --all, not both")
    if min_yield is not None and not (math.isfinite(min_yield) and -100 < min_yield < 1000):
        raise UsageError(f"--min-yield is an annual percent (e.g. 5), got {min_yield:g}")
    names: list[str] = []
    for a in assets:
        q = parse_asset(a)
        if q.quote or q.settle:
            raise UsageError(f"basis takes assets (BTC, ETH), got {q.text!r}: every contract of the asset is shown")
        names.append(q.asset)
    settings = load(opts)
    chosen = resolve_venues(venues, settings, "basis")
    fetched = run(_fetch(opts, settings, chosen, list(dict.fromkeys(names)), bool(venues)), preload=AFTER_FETCH)
    report = _assemble(fetched, settings, quarterly, min_yield)
    _render(report, fetched.failures, opts)
    report_failures(fetched.failures)
    if fetched.all_failed:
        return EXIT_ERROR
    return EXIT_PARTIAL if fetched.failures else EXIT_OK


async def _venue_job(adapter: Adapter, assets: Sequence[str]) -> VenueBasis:
    """Quotes of every perpetual and future, spot tickers and funding, concurrently (one round)."""
    from dtrack.errors import UnsupportedError
    from dtrack.records import Kind
    from dtrack.venues.gather import settle

    contracts = await adapter.contracts(assets)
    perps = [i for i in contracts if i.kind is Kind.PERP]
    quotes, spots, funding = await asyncio.gather(
        settle([adapter.fetch_quotes(contracts)]), settle([adapter.fetch_spot(assets)]),
        settle([adapter.fetch_funding_rates(perps)] if perps else []))
    spot_ok = not isinstance(spots[0], DtrackError) and bool(spots[0].items)
    if isinstance(quotes[0], DtrackError) and not spot_ok:
        raise quotes[0]  # nothing from this venue
    out = VenueBasis(adapter.name)
    if isinstance(quotes[0], DtrackError):
        out.errors.append(quotes[0])  # its derivatives failed; its spot ticker still serves the others
    else:
        out.quotes, out.errors = list(quotes[0].items), list(quotes[0].errors)
    if isinstance(spots[0], DtrackError):
        if not isinstance(spots[0], UnsupportedError):  # a venue without spot is not a failure
            out.errors.append(spots[0])
    else:
        out.spots, out.errors = list(spots[0].items), out.errors + spots[0].errors
    for rates in funding:
        if isinstance(rates, DtrackError):
            out.errors.append(rates)
        else:
            out.funding, out.errors = list(rates.rates), out.errors + rates.errors
    return out


async def _fetch(opts: Options, settings: Settings, venues: list[str], assets: list[str], explicit: bool) -> Fetched:
    from dtrack.records import Kind
    from dtrack.symbols import close_matches
    from dtrack.venues.gather import failure, gather_instruments, known_assets, on_venues

    async with venue_pool(opts, settings) as pool:
        instruments, failures = await gather_instruments(pool, venues)
        if not instruments:
            return Fetched(assets, [], failures, all_failed=True)
        if not assets:
            assets = sorted(known_assets(instruments, (Kind.FUTURE,)))
            if not assets:
                return Fetched(assets, [], failures)
        known = known_assets(instruments, (Kind.PERP, Kind.FUTURE))
        if not failures:
            for a in assets:
                if a not in known:
                    raise SymbolNotFound(a, close_matches(a, known), where=", ".join(venues) if explicit else "")
        answers, more = await on_venues(pool, list(instruments), lambda ad: _venue_job(ad, assets))
    results = [answers[v] for v in venues if v in answers]
    for res in results:
        more += [failure(res.venue, e) for e in res.errors]
    return Fetched(assets, results, list(dict.fromkeys(failures + more)), all_failed=not results)


def is_quarterly(expiry: datetime) -> bool:
    """Whether an expiry is a quarterly: the last Friday of March, June, September or December."""
    last_friday = expiry.weekday() == 4 and (expiry + timedelta(days=7)).month != expiry.month
    return expiry.month in (3, 6, 9, 12) and last_friday


def _assemble(fetched: Fetched, settings: Settings, quarterly: bool, min_yield: float | None) -> BasisReport:
    from dtrack.analytics.basis import BasisOptions, build_basis_report
    from dtrack.venues import ACTIVE, VENUES
    from dtrack.venues.pool import utc_now

    quotes = [q for r in fetched.results for q in r.quotes
              if not (quarterly and q.instrument.expiry is not None and not is_quarterly(q.instrument.expiry))]
    opts = BasisOptions(
        taker_fees={v: settings.taker_fee(v, VENUES[v].taker_fee_pct / 100.0) for v in ACTIVE},
        spot_fee=settings.basis.spot_taker_fee, perp_holding_days=settings.basis.perp_holding_days,
        min_yield=min_yield / 100.0 if min_yield is not None else None)
    return build_basis_report(utc_now(), fetched.assets, quotes, [s for r in fetched.results for s in r.spots],
                              [f for r in fetched.results for f in r.funding], opts)


def _render(report: BasisReport, failures: Sequence[VenueFailure], opts: Options) -> None:
    from dtrack.report import basis as out

    render(opts.fmt, json_doc=lambda: out.to_json(report, failures), csv_text=lambda: out.to_csv(report),
           table=lambda: out.render_table(report),
           csv_note="CSV holds the contract rows; term structure, constant maturity and opportunities are in "
                    "--format json")
