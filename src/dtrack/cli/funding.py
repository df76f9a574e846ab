"""``dtrack funding``: current funding, averages, history, arbitrage, alerts and payments across venues."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
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
from dtrack.errors import SymbolNotFound, UsageError

if TYPE_CHECKING:
    from dtrack.analytics.funding import FundingReport, ReportOptions
    from dtrack.config import Settings
    from dtrack.records import FundingHistory, FundingRate, Instrument
    from dtrack.symbols import AssetQuery
    from dtrack.venues.gather import VenueFailure

MIN_HISTORY = timedelta(days=7)
#: imported in the background while the venues answer (see ``run``)
AFTER_FETCH = ("dtrack.analytics.funding", "dtrack.report.funding", "rich.console", "rich.table")


@dataclass(frozen=True, slots=True)
class Fetched:
    """What the venues answered."""

    rates: list[FundingRate]
    histories: dict[tuple[str, str], FundingHistory]
    failures: list[VenueFailure]
    all_failed: bool


@click.command()
@click.argument("assets", nargs=-1, required=True, metavar="ASSET...")
@click.option("--venue", "venues", multiple=True, metavar="V",
              help="Only these venues (repeatable). Default: every active venue.")
@click.option("--history", "history", default=None, metavar="DURATION",
              help="History window for the statistics, e.g. 24h, 7d, 30d (averages always use at least 7d).")
@click.option("--arb", is_flag=True, help="Cross-venue funding arbitrage: every pair, net of taker fees.")
@click.option("--min-spread", type=float, default=None, metavar="PCT",
              help="With --arb: only pairs whose spread is at least PCT percent per 8 h.")
@click.option("--alert-threshold", type=float, default=None, metavar="PCT",
              help="Mark rows whose 8h-equivalent rate exceeds PCT percent in absolute value.")
@click.option("--position", type=float, default=None, metavar="USD", help="Position notional in USD.")
@click.option("--side", type=click.Choice(["long", "short"]), default=None,
              help="With --position: the position's side.")
@common_options
@click.pass_context
def funding(ctx: click.Context, assets: tuple[str, ...], venues: tuple[str, ...], history: str | None, arb: bool,
            min_spread: float | None, alert_threshold: float | None, position: float | None, side: str | None,
            config: str | None, sim: bool, fmt: str | None) -> int:
    """Funding rates of ASSET... (BTC, eth, BTC/USDT:USDT) across venues.

    Every rate keeps its own interval; 8h-equivalent = rate x 8 / interval hours and
    APR = rate x 8760 / interval hours. Averages are of 8h-equivalent rates over the
    settlements in the window; the weighted average uses open interest in USD.

    \b
    Examples:
      dtrack funding BTC ETH SOL --sim
      dtrack funding BTC --history 30d --venue binance --venue okx
      dtrack funding BTC --arb --min-spread 0.01
      dtrack funding PEPE --alert-threshold 0.05 --format json
      dtrack funding ETH --position 50000 --side short
    """
    from dtrack.symbols import parse_asset

    opts = options(ctx, config, sim, fmt)
    window = parse_duration(history, "--history") if history else MIN_HISTORY
    if min_spread is not None and not arb:
        raise UsageError("--min-spread filters arbitrage pairs: add --arb")
    if (position is None) != (side is None):
        raise UsageError("--position and --side go together, e.g. --position 10000 --side long")
    if position is not None and not (math.isfinite(position) and position > 0):
        raise UsageError(f"--position must be a positive USD notional, got {position:g}")
    if alert_threshold is not None and not (math.isfinite(alert_threshold) and alert_threshold >= 0):
        raise UsageError(f"--alert-threshold is a percent per 8 h (e.g. 0.08), got {alert_threshold:g}")
    if min_spread is not None and not (math.isfinite(min_spread) and min_spread >= 0):
        raise UsageError(f"--min-spread is a percent per 8 h (e.g. 0.02), got {min_spread:g}")
    queries = [parse_asset(a) for a in assets]
    settings = load(opts)
    chosen = resolve_venues(venues, settings, "funding")
    fetched = run(_fetch(opts, settings, chosen, queries, max(window, MIN_HISTORY), bool(venues)),
                  preload=AFTER_FETCH)
    report_opts = _report_options(settings, window, alert_threshold, arb, min_spread, position, side)
    report = _assemble(fetched, queries, report_opts)
    _render(report, fetched.failures, opts, show_history=history is not None)
    report_failures(fetched.failures)
    if fetched.all_failed:
        return EXIT_ERROR
    return EXIT_PARTIAL if fetched.failures else EXIT_OK


def _report_options(settings: Settings, window: timedelta, alert_pct: float | None, arb: bool,
                    min_spread_pct: float | None, position: float | None, side: str | None) -> ReportOptions:
    from dtrack.analytics.funding import ReportOptions
    from dtrack.venues import ACTIVE, VENUES

    bands = settings.funding.sentiment
    alert = alert_pct / 100.0 if alert_pct is not None else settings.funding.alert_threshold
    return ReportOptions(
        history_window=window,
        sentiment_bands=(bands.extreme, bands.strong, bands.moderate),
        alert_threshold=alert,
        arb=arb,
        min_spread_8h=min_spread_pct / 100.0 if min_spread_pct is not None else None,
        fees={v: settings.taker_fee(v, VENUES[v].taker_fee_pct / 100.0) for v in ACTIVE},
        holding_days=settings.funding.arb_holding_days,
        position=(position, side) if position is not None and side is not None else None,
    )


async def _fetch(opts: Options, settings: Settings, venues: list[str], queries: Sequence[AssetQuery],
                 window: timedelta, explicit: bool) -> Fetched:
    from dtrack.records import Kind
    from dtrack.symbols import close_matches
    from dtrack.venues.gather import gather_funding, gather_instruments

    assets = list(dict.fromkeys(q.asset for q in queries))
    restricted = ", ".join(venues) if explicit else ""
    async with venue_pool(opts, settings) as pool:
        instruments, failures = await gather_instruments(pool, venues)
        if not instruments:
            return Fetched([], {}, failures, all_failed=True)
        perps = [i for insts in instruments.values() for i in insts if i.kind is Kind.PERP]
        known = {i.asset for i in perps}
        # Only when every venue answered can a name be called unknown: otherwise it may live on a failed one.
        if not failures:
            for q in queries:
                if q.asset not in known:
                    raise SymbolNotFound(q.text, close_matches(q.asset, known), where=restricted)
                if not any(_matches(q, i) for i in perps):
                    quotes = sorted({f"{i.asset}/{i.quote}:{i.settle}" for i in perps if i.asset == q.asset})
                    raise UsageError(f"no perpetual matches {q.text!r}; listed: {', '.join(quotes)}")
        results, more = await gather_funding(pool, list(instruments), assets, window)
    rates = [r for res in results for r in res.rates if _wanted(r, queries)]
    histories = {(res.venue, sym): h for res in results for sym, h in res.history.items()}
    unique = list(dict.fromkeys(failures + more))  # a missing part of a listing is reported by both steps
    return Fetched(rates, histories, unique, all_failed=not results)


def _matches(q: AssetQuery, inst: Instrument) -> bool:
    return q.asset == inst.asset and q.quote in (None, inst.quote) and q.settle in (None, inst.settle)


def _wanted(rate: FundingRate, queries: Sequence[AssetQuery]) -> bool:
    return any(_matches(q, rate.instrument) for q in queries)


def _assemble(fetched: Fetched, queries: Sequence[AssetQuery], opts: ReportOptions) -> FundingReport:
    from dtrack.analytics.funding import build_report, coverage_note
    from dtrack.venues.pool import utc_now

    now = utc_now()
    histories = {key: (h.points, coverage_note(h, now - opts.history_window)) for key, h in fetched.histories.items()}
    assets = list(dict.fromkeys(q.asset for q in queries))
    return build_report(now, assets, fetched.rates, histories, opts)


def _render(report: FundingReport, failures: Sequence[VenueFailure], opts: Options, show_history: bool) -> None:
    from dtrack.report import funding as out

    note = ("CSV holds the rate rows; the per-asset summary and the arbitrage pairs are in --format json"
            if report.arbitrage is not None else "")
    render(opts.fmt, json_doc=lambda: out.to_json(report, failures),
           csv_text=lambda: out.to_csv(report, with_history=show_history),
           table=lambda: out.render_table(report, show_history), csv_note=note)
