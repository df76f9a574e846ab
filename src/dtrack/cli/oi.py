"""``dtrack oi``: open interest per venue and contract, its changes, long/short positioning and OI/price divergence."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
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
    parse_duration,
    render,
    report_failures,
    resolve_venues,
    run,
    venue_pool,
)
from dtrack.errors import DtrackError, SymbolNotFound

if TYPE_CHECKING:
    from dtrack.analytics.open_interest import OIInputs, OIReport
    from dtrack.config import Settings
    from dtrack.records import Instrument, LongShortRatio, OIHistory, OpenInterest, PricePoint
    from dtrack.venues.base import Adapter
    from dtrack.venues.gather import VenueFailure

AFTER_FETCH = ("numpy", "dtrack.analytics.open_interest", "dtrack.report.oi", "rich.console", "rich.table")
CHANGES_SPAN = timedelta(days=7)
MAX_WINDOW = timedelta(days=30)
#: quote preference of the perpetual whose klines give a venue's price for the divergence
PRICE_QUOTES = ("USDT", "USDC", "USD")


@dataclass(slots=True)
class Fetched:
    """What the venues answered."""

    inputs: OIInputs
    failures: list[VenueFailure] = field(default_factory=list)
    all_failed: bool = False


@click.command()
@click.argument("assets", nargs=-1, required=True, metavar="ASSET...")
@click.option("--venue", "venues", multiple=True, metavar="V",
              help="Only these venues (repeatable). Default: every active venue.")
@click.option("--changes", is_flag=True, help="1h, 4h, 24h and 7d change per contract, venue and total.")
@click.option("--divergence", is_flag=True, help="OI change against price change over --window, classified.")
@click.option("--window", default="24h", show_default=True, metavar="DURATION",
              help="With --divergence: the window (1h..30d), e.g. 4h, 24h, 7d.")
@common_options
@click.pass_context
def oi(ctx: click.Context, assets: tuple[str, ...], venues: tuple[str, ...], changes: bool, divergence: bool,
       window: str, config: str | None, sim: bool, fmt: str | None) -> int:
    """Open interest of ASSET... across venues, one side, in coins and USD.

    Every figure keeps the venue's own amount and unit (contracts, coin or USD), the contract
    size used and the price used to convert it. Bybit's two-sided openInterest is replaced by its
    one-sided figure. Changes are in coin terms (a price move alone is not positioning).

    \b
    Divergence (OI change vs price change over the window; thresholds in settings.yaml, oi.*):
      OI up + price up      bullish (new longs)
      OI up + price down    bearish (new shorts)
      OI down + price up    short squeeze / short covering
      OI down + price down  long liquidation / capitulation
      otherwise             neutral

    \b
    Examples:
      dtrack oi BTC ETH --sim
      dtrack oi BTC --changes --divergence --window 4h
      dtrack oi SOL --venue binance --venue bybit --format json
    """
    from dtrack.errors import UsageError
    from dtrack.symbols import parse_asset

    opts = options(ctx, config, sim, fmt)
    if ctx.get_parameter_source("window") is click.core.ParameterSource.COMMANDLINE and not divergence:
        raise UsageError("--window sets the divergence window: add --divergence")
    span = parse_duration(window, "--window", MAX_WINDOW)
    queries = [parse_asset(a) for a in assets]
    for q in queries:
        if q.quote or q.settle:
            raise UsageError(f"oi takes assets (BTC, ETH), got {q.text!r}: every contract of the asset is shown")
    names = list(dict.fromkeys(q.asset for q in queries))
    settings = load(opts)
    chosen = resolve_venues(venues, settings, "open_interest")
    history_span = max(CHANGES_SPAN if changes else timedelta(0), span if divergence else timedelta(0))
    fetched = run(_fetch(opts, settings, chosen, names, history_span, divergence, bool(venues)), preload=AFTER_FETCH)
    report = _assemble(fetched, names, settings, changes, span if divergence else None)
    _render(report, fetched.failures, opts)
    report_failures(fetched.failures)
    if fetched.all_failed:
        return EXIT_ERROR
    return EXIT_PARTIAL if fetched.failures else EXIT_OK


def period_for(span: timedelta) -> int:
    """History period (hours) for a span: hourly up to 8 days, 4-hourly up to a month, else daily."""
    if span <= timedelta(days=8):
        return 1
    return 4 if span <= timedelta(days=31) else 24


def price_perp(perps: Sequence[Instrument]) -> Instrument | None:
    """The perpetual whose klines stand for a venue's price (USDT, then USDC, then USD-quoted)."""
    ranked = sorted(perps, key=lambda i: (PRICE_QUOTES.index(i.quote) if i.quote in PRICE_QUOTES else 9, i.symbol))
    return ranked[0] if ranked else None


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


async def _venue_job(adapter: Adapter, assets: Sequence[str], history_span: timedelta, with_prices: bool) -> VenueOI:
    """Everything one venue is asked, in one round after the (cached) instrument list."""
    from dtrack.errors import UnsupportedError
    from dtrack.records import Kind
    from dtrack.venues.gather import settle
    from dtrack.venues.pool import utc_now

    contracts = await adapter.contracts(assets)
    perps = [i for i in contracts if i.kind is Kind.PERP]
    end = utc_now()
    period = period_for(history_span)
    start = end - history_span - timedelta(hours=2 * period)
    history_of = perps if history_span and adapter.oi_history_missing is None else []
    price_of = [p for a in assets if (p := price_perp([i for i in perps if i.asset == a])) is not None] \
        if with_prices else []
    oi_done, histories, ratios, prices = await asyncio.gather(
        settle([adapter.fetch_open_interest(contracts)]),
        settle([adapter.fetch_oi_history(i, start, end, period) for i in history_of]),
        settle([adapter.fetch_long_short(a, [i for i in perps if i.asset == a]) for a in assets]),
        settle([adapter.fetch_price_history(i, start, end, period) for i in price_of]),
    )
    if isinstance(oi_done[0], DtrackError):
        raise oi_done[0]
    out = VenueOI(adapter.name, list(oi_done[0].items), errors=list(oi_done[0].errors))
    if history_span and adapter.oi_history_missing is not None:
        out.missing_history[adapter.name] = adapter.oi_history_missing
    for inst, history in zip(history_of, histories, strict=True):
        if isinstance(history, DtrackError):
            out.missing_history[f"{adapter.name}:{inst.symbol}"] = f"history failed ({history.kind})"
            out.errors.append(history)
        else:
            out.histories[inst.symbol] = history
    for ratio in ratios:
        if isinstance(ratio, UnsupportedError):
            continue  # the venue publishes no such ratio: nothing is missing
        if isinstance(ratio, DtrackError):
            out.errors.append(ratio)
        else:
            out.long_short += ratio.items
            out.errors += ratio.errors
    for inst, points in zip(price_of, prices, strict=True):
        if isinstance(points, DtrackError):
            out.errors.append(points)
        else:
            out.prices[inst.asset] = points
    return out


async def _fetch(opts: Options, settings: Settings, venues: list[str], assets: Sequence[str],
                 history_span: timedelta, with_prices: bool, explicit: bool) -> Fetched:
    from dtrack.analytics.open_interest import OIInputs
    from dtrack.records import Kind
    from dtrack.symbols import close_matches
    from dtrack.venues.gather import failure, gather_instruments, known_assets, on_venues

    async with venue_pool(opts, settings) as pool:
        instruments, failures = await gather_instruments(pool, venues)
        if not instruments:
            return Fetched(OIInputs(oi=()), failures, all_failed=True)
        known = known_assets(instruments, (Kind.PERP, Kind.FUTURE))
        if not failures:
            for a in assets:
                if a not in known:
                    raise SymbolNotFound(a, close_matches(a, known), where=", ".join(venues) if explicit else "")
        answers, more = await on_venues(pool, list(instruments),
                                        lambda ad: _venue_job(ad, assets, history_span, with_prices))
    results = [answers[v] for v in venues if v in answers]
    for res in results:
        more += [failure(res.venue, e) for e in res.errors]
    inputs = OIInputs(
        oi=[o for r in results for o in r.oi],
        histories={(r.venue, s): h for r in results for s, h in r.histories.items()},
        missing_history={k: v for r in results for k, v in r.missing_history.items()},
        long_short=[x for r in results for x in r.long_short],
        prices={(r.venue, a): p for r in results for a, p in r.prices.items()},
    )
    unique = list(dict.fromkeys(failures + more))
    return Fetched(inputs, unique, all_failed=not results)


def _assemble(fetched: Fetched, assets: Sequence[str], settings: Settings, changes: bool,
              divergence: timedelta | None) -> OIReport:
    from dtrack.analytics.open_interest import CHANGE_WINDOWS, build_oi_report
    from dtrack.venues.pool import utc_now

    windows = tuple(CHANGE_WINDOWS) if changes else ()
    return build_oi_report(utc_now(), assets, fetched.inputs, windows, divergence, settings.oi.divergence_oi,
                           settings.oi.divergence_price)


def _render(report: OIReport, failures: Sequence[VenueFailure], opts: Options) -> None:
    from dtrack.report import oi as out

    render(opts.fmt, json_doc=lambda: out.to_json(report, failures), csv_text=lambda: out.to_csv(report),
           table=lambda: out.render_table(report),
           csv_note="CSV holds the contract rows; totals, long/short and divergence are in --format json")
