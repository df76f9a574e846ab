"""``dtrack options``: per-expiry metrics, IV term structure and regime, chain, put/call, GEX and flow."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
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
from dtrack.errors import DtrackError, UsageError

if TYPE_CHECKING:
    from dtrack.analytics.options_desk import OptionsReport
    from dtrack.config import Settings
    from dtrack.records import Instrument, OptionQuote, OptionTrade, PricePoint, VolPoint
    from dtrack.venues.base import Adapter
    from dtrack.venues.gather import VenueFailure

AFTER_FETCH = ("numpy", "dtrack.analytics.options", "dtrack.analytics.options_desk", "dtrack.report.options",
               "rich.console", "rich.table")
DEFAULT_EXPIRIES = 4
DVOL_SPAN = timedelta(days=366)
RV_SPAN = timedelta(days=33)
FLOW_SPAN = timedelta(hours=24)
EXPIRY_WORDS = ("next", "friday", "month", "all")
_MIN_SIZE = re.compile(r"^\s*(\$)?\s*([0-9]+(?:\.[0-9]+)?)\s*(usd)?\s*$", re.IGNORECASE)


@dataclass(slots=True)
class VenueOptions:
    """One venue's answers for the options query."""

    venue: str
    quotes: list[OptionQuote] = field(default_factory=list)
    dvol: dict[str, tuple[VolPoint, ...]] = field(default_factory=dict)
    closes: dict[str, tuple[str, tuple[PricePoint, ...]]] = field(default_factory=dict)
    trades: list[OptionTrade] = field(default_factory=list)
    errors: list[DtrackError] = field(default_factory=list)


@click.command(name="options")
@click.argument("assets", nargs=-1, required=True, metavar="ASSET...")
@click.option("--venue", "venues", multiple=True, metavar="V",
              help="Only these venues (repeatable). Default: Deribit, OKX, Bybit and Binance.")
@click.option("--expiry", default=None, metavar="DATE|next|friday|month|all",
              help="Which expiries: an ISO date, next, friday (coming Friday), month (month-end), all. "
                   f"Default: the next {DEFAULT_EXPIRIES}.")
@click.option("--pcr", is_flag=True, help="Focus on put/call ratios (OI, volume, premium) and max pain.")
@click.option("--chain", is_flag=True, help="The chain: per strike marks (USD and coin), IVs, greeks, OI, volume.")
@click.option("--flow", is_flag=True, help="Large trades of the last 24 h, grouped by strike and expiry.")
@click.option("--min-size", default=None, metavar="N",
              help="With --flow: minimum size in coins (e.g. 25; = contracts on Deribit, Bybit, Binance; OKX "
                   "contracts are 0.1 BTC) or premium in USD (e.g. $100000 or 100000usd).")
@click.option("--gex", is_flag=True, help="Dealer gamma exposure by strike, total and flip level.")
@common_options
@click.pass_context
def options_cmd(ctx: click.Context, assets: tuple[str, ...], venues: tuple[str, ...], expiry: str | None, pcr: bool,
                chain: bool, flow: bool, min_size: str | None, gex: bool, config: str | None, sim: bool,
                fmt: str | None) -> int:
    """Options analytics of ASSET... (BTC, ETH, SOL): Deribit, OKX, Bybit and Binance.

    Default view per expiry: days, forward, ATM IV, 25-delta risk reversal and butterfly,
    put/call ratios (OI, volume), max pain, OI in USD; then DVOL, IV rank and percentile
    (365 days), 30-day realized volatility, the IV-RV spread and what it suggests (rank above
    options.rank_high_pct: expensive; below options.rank_low_pct: cheap). IVs are fractions in
    JSON (0.55 = 55 %); Deribit's percent IVs and coin prices are converted (the chain shows both).
    GEX assumes dealers short calls and long puts (options.dealer_calls / dealer_puts).

    \b
    Examples:
      dtrack options BTC --sim
      dtrack options BTC ETH --expiry friday --chain
      dtrack options BTC --gex --expiry month --format json
      dtrack options ETH --flow --min-size '$250000'
    """
    from dtrack.symbols import parse_asset

    opts = options(ctx, config, sim, fmt)
    if min_size is not None and not flow:
        raise UsageError("--min-size filters the trade flow: add --flow")
    min_coins, min_usd = parse_min_size(min_size)
    if expiry is not None and expiry.lower() not in EXPIRY_WORDS:
        parse_expiry_date(expiry)
    names = []
    for a in assets:
        q = parse_asset(a)
        if q.quote or q.settle:
            raise UsageError(f"options takes assets (BTC, ETH), got {q.text!r}")
        names.append(q.asset)
    names = list(dict.fromkeys(names))
    settings = load(opts)
    chosen = resolve_venues(venues, settings, "options")
    results, failures, all_failed = run(_fetch(opts, settings, chosen, names, flow), preload=AFTER_FETCH)
    report = _assemble(results, names, settings, expiry, flow, min_coins, min_usd, failures, all_failed)
    _render(report, failures, opts, chain=chain, pcr=pcr, gex=gex, flow=flow)
    report_failures(failures)
    if all_failed:
        return EXIT_ERROR
    return EXIT_PARTIAL if failures else EXIT_OK


def parse_min_size(text: str | None) -> tuple[float | None, float | None]:
    """``25`` -> 25 coins; ``$100000`` / ``100000usd`` -> USD premium."""
    if text is None:
        return None, None
    m = _MIN_SIZE.match(text)
    if not m or not math.isfinite(value := float(m.group(2))):
        raise UsageError(f"bad --min-size {text!r}: expected coins (25) or a USD premium ($100000 or 100000usd)")
    return (None, value) if m.group(1) or m.group(3) else (value, None)


def parse_expiry_date(text: str) -> date:
    """An ISO date for ``--expiry``, or a usage error naming what is accepted."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"bad --expiry {text!r}: expected an ISO date (2026-12-25) or one of "
                         f"{', '.join(EXPIRY_WORDS)}") from None


def select_expiries(available: Sequence[datetime], choice: str | None, asset: str) -> tuple[datetime, ...]:
    """The expiries ``--expiry`` picks out of ``available`` (ascending, in the future)."""
    ordered = sorted(set(available))
    if not ordered:
        return ()
    word = (choice or "").lower()
    if choice is None:
        return tuple(ordered[:DEFAULT_EXPIRIES])
    if word == "all":
        return tuple(ordered)
    if word == "next":
        return (ordered[0],)
    if word == "friday":
        fridays = [e for e in ordered if e.weekday() == 4]
        return (fridays[0],) if fridays else ()
    if word == "month":
        ends = [e for e in ordered if e.weekday() == 4 and (e + timedelta(days=7)).month != e.month]
        return (ends[0],) if ends else ()
    day = parse_expiry_date(choice)
    picked = tuple(e for e in ordered if e.date() == day)
    if not picked:
        nearest = sorted(ordered, key=lambda e: abs((e.date() - day).days))[:3]
        raise UsageError(f"no {asset} expiry on {day}; nearest: {', '.join(f'{e:%Y-%m-%d}' for e in sorted(nearest))}")
    return picked


async def _venue_job(adapter: Adapter, assets: Sequence[str], flow: bool) -> VenueOptions:
    """Chains, DVOL, daily closes for RV and (with --flow) trades of every asset, concurrently."""
    from dtrack.cli.oi import price_perp
    from dtrack.errors import UnsupportedError
    from dtrack.records import Kind
    from dtrack.venues.gather import settle
    from dtrack.venues.pool import utc_now

    end = utc_now()

    async def daily_closes() -> tuple[list[tuple[str, Instrument]], list[tuple[PricePoint, ...] | DtrackError]]:
        """Daily closes of a perpetual per asset (for RV): the only part that needs the futures listing,
        so it runs beside the chains, not before them."""
        try:
            perps = [i for i in await adapter.contracts(assets) if i.kind is Kind.PERP]
        except DtrackError as exc:
            return [], [exc]
        refs = [(a, p) for a in assets if (p := price_perp([i for i in perps if i.asset == a])) is not None]
        return refs, await settle([adapter.fetch_price_history(p, end - RV_SPAN, end, 24) for _, p in refs])

    chains, dvols, (refs, closes), trades = await asyncio.gather(
        settle([adapter.fetch_option_chain(a) for a in assets]),
        settle([adapter.fetch_vol_index(a, end - DVOL_SPAN, end) for a in assets]),
        daily_closes(),
        settle([adapter.fetch_option_trades(a, end - FLOW_SPAN, end) for a in assets] if flow else []),
    )
    out = VenueOptions(adapter.name)
    failed = [c for c in chains if isinstance(c, DtrackError)]
    if len(failed) == len(chains):
        raise failed[0]  # no chain at all: the venue failed
    for chain in chains:
        if isinstance(chain, DtrackError):
            out.errors.append(chain)
        else:
            out.quotes += chain.items
            out.errors += chain.errors
    for asset, dvol in zip(assets, dvols, strict=True):
        if isinstance(dvol, DtrackError):
            if not isinstance(dvol, UnsupportedError):
                out.errors.append(dvol)
        elif dvol:
            out.dvol[asset] = dvol
    if not refs:  # the listing failed (or no perpetual to read closes from)
        out.errors += [c for c in closes if isinstance(c, DtrackError)]
        closes = []
    for (asset, perp), points in zip(refs, closes, strict=True):
        if isinstance(points, DtrackError):
            out.errors.append(points)
        else:
            out.closes[asset] = (f"{adapter.name} {perp.symbol} daily closes", points)
    for answer in trades:
        if isinstance(answer, DtrackError):
            if not isinstance(answer, UnsupportedError):
                out.errors.append(answer)
        else:
            out.trades += answer.items
            out.errors += answer.errors
    return out


async def _fetch(opts: Options, settings: Settings, venues: list[str], assets: Sequence[str],
                 flow: bool) -> tuple[list[VenueOptions], list[VenueFailure], bool]:
    from dtrack.venues.gather import failure, on_venues

    async with venue_pool(opts, settings) as pool:
        answers, failures = await on_venues(pool, venues, lambda ad: _venue_job(ad, assets, flow))
    results = [answers[v] for v in venues if v in answers]
    for res in results:
        failures += [failure(res.venue, e) for e in res.errors]
    return results, list(dict.fromkeys(failures)), not results


def _assemble(results: list[VenueOptions], assets: Sequence[str], settings: Settings, expiry: str | None,
              flow: bool, min_coins: float | None, min_usd: float | None, failures: Sequence[VenueFailure],
              all_failed: bool) -> OptionsReport:
    from dtrack.analytics.options_desk import DeskInputs, DeskOptions, build_options_report
    from dtrack.venues.pool import utc_now

    now = utc_now()
    quotes = [q for r in results for q in r.quotes if q.expiry > now]
    if not all_failed and not failures:
        for asset in assets:
            if not any(q.asset == asset for q in quotes):
                listed = sorted({q.asset for q in quotes})
                raise UsageError(f"no options on {asset} at {', '.join(r.venue for r in results)}; "
                                 f"listed: {', '.join(listed) or 'none'}")
    selected = {a: select_expiries([q.expiry for q in quotes if q.asset == a], expiry, a) for a in assets}
    dvol: dict[str, tuple[VolPoint, ...]] = {}
    closes: dict[str, tuple[str, tuple[PricePoint, ...]]] = {}
    for r in results:  # the first venue (in registry order) that answered wins
        for a, series in r.dvol.items():
            dvol.setdefault(a, series)
        for a, c in r.closes.items():
            closes.setdefault(a, c)
    o = settings.options
    desk = DeskOptions(selected=selected, rank_high=o.rank_high, rank_low=o.rank_low,
                       call_sign=-1.0 if o.dealer_calls == "short" else 1.0,
                       put_sign=-1.0 if o.dealer_puts == "short" else 1.0, min_coins=min_coins, min_usd=min_usd)
    inputs = DeskInputs(quotes, dvol, closes, [t for r in results for t in r.trades] if flow else None)
    return build_options_report(now, assets, inputs, desk)


def _render(report: OptionsReport, failures: Sequence[VenueFailure], opts: Options, *, chain: bool, pcr: bool,
            gex: bool, flow: bool) -> None:
    from dtrack.report import options as out

    render(opts.fmt, json_doc=lambda: out.to_json(report, failures, chain=chain, gex=gex, flow=flow),
           csv_text=lambda: out.to_csv(report, chain),
           table=lambda: out.render_table(report, chain=chain, pcr=pcr, gex=gex, flow=flow),
           csv_note=f"CSV holds {'the chain' if chain else 'the per-expiry rows'}; term structure, regime, GEX "
                    "and flow are in --format json")
