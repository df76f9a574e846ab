"""The volatility query (``AsyncClient.vol``): realized volatility of each asset from a venue's klines, its regime
and adaptive leverage, beside the implied volatility.

Per asset, the klines of ONE contract: the asset's main perpetual (USDT-margined first: ``selection.price_perp``)
on the venue asked (``venue``), else on the first venue, in registry order, that lists a perpetual of the asset and
serves candles. A venue that fails is reported and the next one is asked; a venue that serves no candles is passed
over with a note. Only closed bars are used (the bar still open has a partial range). The bars fetched are the
window, the close before it, and settings ``vol.rolling_days`` more for the rolling series.

Beside it, concurrently: the venues' volatility index (Deribit DVOL, BTC and ETH; the latest daily point) and the
30-day ATM implied volatility from the options query (``AsyncClient.options``: the venue with the most options open
interest; the 30-day constant maturity, else the expiry nearest 30 days); where an asset has neither, the result says
why, never a number made up. The IV − RV spread uses DVOL where it exists, else that ATM IV (as ``dtrack options``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

from dtrack.client.inputs import Wanted, as_list, check_readable, parse_duration, resolve, shown
from dtrack.errors import DtrackError, Implausible, UnsupportedError, UsageError, VenueUnavailable
from dtrack.records import DataKind, Kind
from dtrack.results import Failure, OptionsResult, VolResult, unique

if TYPE_CHECKING:
    from dtrack.analytics.volatility import AssetVol, ImpliedVol, VolParams
    from dtrack.client.core import AsyncClient, Deadline
    from dtrack.config import VolSettings
    from dtrack.records import Candle, Instrument
    from dtrack.venues.base import Adapter
    from dtrack.venues.pool import VenuePool

#: ``--bars`` -> bar length in seconds
BARS = {"1d": 86_400, "1h": 3_600}
#: the shortest window, in bars
MIN_WINDOW_BARS = 3
LONGEST_WINDOW = timedelta(days=365)
#: DVOL: the latest point within this span
DVOL_SPAN = timedelta(days=3)
#: the ATM IV quoted beside the realized volatility: this many days to expiry
IV_DAYS = 30


def parse_methods(methods: str | Sequence[str] | None) -> tuple[str, ...]:
    """``cc,parkinson,gk,rs,yz`` (or a list; default all five, cc first) -> the estimators, each once, in the order
    given; an unknown name is a usage error naming the known ones."""
    from dtrack.analytics.volatility import METHODS

    if methods is None:
        return METHODS
    parts = [p.strip().lower() for p in (methods.split(",") if isinstance(methods, str) else methods)]
    parts = [p for p in parts if p]
    if not parts:
        raise UsageError(f"--method is empty: name estimators from {','.join(METHODS)}")
    for p in parts:
        if p not in METHODS:
            raise UsageError(f"unknown --method {shown(p)}: expected one or more of {','.join(METHODS)} "
                             "(comma-separated; the first drives the regime)")
    return tuple(dict.fromkeys(parts))


def parse_request(window: str | timedelta, bars: str, methods: str | Sequence[str] | None,
                  settings: VolSettings) -> VolParams:
    """Check ``vol``'s inputs (usage errors, one line each) and take the rest from settings ``vol``."""
    from dtrack.analytics.volatility import Bands, VolParams

    key = str(bars).strip().lower()
    if key not in BARS:
        raise UsageError(f"bad --bars {shown(str(bars))}: expected one of {', '.join(BARS)}")
    period = BARS[key]
    span = parse_duration(window, "--window", LONGEST_WINDOW)
    count = span.total_seconds() / period
    if count < MIN_WINDOW_BARS:
        raise UsageError(f"--window {span.total_seconds() / 3600:g}h is {count:g} {key} bars: a window needs at "
                         f"least {MIN_WINDOW_BARS} bars (e.g. --window {MIN_WINDOW_BARS * period // 3600}h with "
                         f"--bars {key})")
    if abs(count - round(count)) > 1e-9:
        raise UsageError(f"--window {span.total_seconds() / 3600:g}h is not a whole number of {key} bars: "
                         f"use a multiple of {period // 3600}h")
    n = round(count)
    return VolParams(methods=parse_methods(methods), bars=key, period_seconds=period, window_bars=n,
                     rolling=timedelta(days=settings.rolling_days),
                     bands=Bands(settings.low_max, settings.medium_max, settings.high_max), target=settings.target,
                     caps=settings.caps)


def candle_venues(client: AsyncClient, venue: str | None) -> list[str]:
    """The venues to read klines from, in the order they are tried: ``venue``; else the client's chosen venues;
    else every active venue enabled in settings that publishes klines (registry order)."""
    from dtrack.venues import ACTIVE, VENUES, venue_info

    names = [venue] if venue else client.chosen_venues
    if not names:
        found = [v for v in ACTIVE if client.settings.venue(v).enabled and VENUES[v].offers(DataKind.KLINES)
                 and VENUES[v].adapter is not None]
        if not found:
            raise UsageError("every venue publishing klines is disabled in settings: set venues.<name>.enabled: "
                             "true, or name one with --venue")
        return found
    out: list[str] = []
    for name in names:
        info = venue_info(name)
        if info.status == "closed":
            raise UsageError(f"{info.title} closed on {info.closed_on}: no klines; active venues: {', '.join(ACTIVE)}")
        if not info.offers(DataKind.KLINES) or info.adapter is None:
            reason = info.capability(DataKind.KLINES).note or info.note or "not implemented"
            raise UsageError(f"{info.title} ({info.status}) publishes no klines dtrack reads: {reason}")
        if info.name not in out:
            out.append(info.name)
    return out


# --- realized: the klines --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Picked:
    """The candles read for one asset, from which contract, and what happened on the way."""

    instrument: Instrument | None = None
    candles: tuple[Candle, ...] = ()
    notes: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    choice: str = ""
    #: the venues looked at, in order, up to the one that served (a failure to list one of them matters here)
    tried: list[str] = field(default_factory=list)


def main_perp(wanted: Wanted, listed: Sequence[Instrument]) -> Instrument | None:
    """The perpetual standing for the asset on one venue: the contract the input names, else USDT-, USDC-,
    then USD-quoted (``selection.price_perp``)."""
    from dtrack.analytics.selection import price_perp

    perps = [i for i in listed if i.kind is Kind.PERP and wanted.matches(i)]
    return price_perp(perps)


async def _candles(adapter: Adapter, inst: Instrument, req: VolParams, now: datetime,
                   deadline: Deadline) -> tuple[Candle, ...]:
    start = now - req.fetch_span
    try:
        return await asyncio.wait_for(adapter.fetch_candles(inst, start, now, req.period_seconds), deadline.left())
    except TimeoutError:
        raise VenueUnavailable(adapter.name, f"no klines of {inst.symbol} within the {deadline.seconds:g} s "
                                             "deadline (settings http.deadline or --timeout)") from None


async def pick_candles(pool: VenuePool, wanted: Wanted, venues: Sequence[str], listings: dict[str, list[Instrument]],
                       req: VolParams, now: datetime, deadline: Deadline) -> Picked:
    """Klines of the asset's main perpetual on the first venue (of ``venues``, in order) that serves enough of
    them; each venue that fails is a failure, each that cannot serve them a note."""
    out = Picked()
    need = req.window_bars + 1
    for venue in venues:
        out.tried.append(venue)
        if venue not in listings:
            continue
        inst = main_perp(wanted, listings[venue])
        if inst is None:
            if len(venues) == 1:
                out.notes.append(f"{venue} lists no perpetual of {wanted.asset}")
            continue
        try:
            got = await _candles(pool.adapter(venue), inst, req, now, deadline)
        except UnsupportedError as exc:
            out.notes.append(f"{venue} serves no candles in dtrack ({exc}); next venue")
            continue
        except DtrackError as exc:
            out.failures.append(Failure.of(venue, exc))
            continue
        closed = tuple(c for c in got if c.closed and c.time.timestamp() + c.period_seconds <= now.timestamp())
        if len(closed) < need:
            out.notes.append(f"{venue} {inst.symbol}: {len(closed)} closed {req.bars} bars, fewer than the "
                             f"{need} a {req.window_bars}-bar window needs")
            continue
        if (bad := _invalid_bar(closed)) is not None:
            out.failures.append(Failure.of(venue, Implausible(venue, "klines", inst.symbol, "ohlc", bad,
                                                              "high >= open, close >= low > 0")))
            continue
        out.instrument, out.candles = inst, closed
        if note := _shortfall(venue, inst, closed, req, now):
            out.notes.append(note)
        out.choice = (f"{venue} {inst.symbol}: " + ("the venue asked" if len(venues) == 1 else
                      f"the first of {', '.join(venues)} to serve {wanted.asset} perpetual candles")
                      + ("" if wanted.narrowed else " (its main perpetual: USDT-, then USDC-, then USD-quoted)"))
        return out
    return out


def _shortfall(venue: str, inst: Instrument, closed: Sequence[Candle], req: VolParams, now: datetime) -> str:
    """What the venue's series leaves out of the span asked ("" when it reaches back far enough): a venue keeping
    fewer bars (Hyperliquid: the latest 5,000) serves a shorter rolling series than ``vol.rolling_days``."""
    from dtrack.venues import VENUES

    asked = now - req.fetch_span
    first = closed[0].time
    if first <= asked + timedelta(seconds=2 * req.period_seconds):
        return ""
    kept = VENUES[venue].capability(DataKind.KLINES).history
    rolled = max(0.0, (closed[-1].time - first).total_seconds() / 86400.0 - req.window.total_seconds() / 86400.0)
    return (f"{venue} {inst.symbol}: bars from {first:%Y-%m-%d %H:%M} UTC only"
            + (f" (the venue keeps {kept})" if kept else "")
            + f": the rolling series covers {rolled:.0f} of the {req.rolling.total_seconds() / 86400:.0f} days asked")


def _invalid_bar(candles: Sequence[Candle]) -> str | None:
    """The first bar no market can have (a high below its open or close, a low above them, a price <= 0), as
    text, or None. The venues' parsers refuse most; a bar that got through must not become a volatility."""
    for c in candles:
        if not (0 < c.low <= min(c.open, c.close) and max(c.open, c.close) <= c.high and math.isfinite(c.high)):
            return f"{c.time:%Y-%m-%d %H:%M} {c.open}/{c.high}/{c.low}/{c.close}"
    return None


def gap_note(candles: Sequence[Candle], period_seconds: int) -> str:
    """What is missing between the bars ("" when they follow each other)."""
    times = [int(c.time.timestamp()) for c in candles]
    missing = sum(max(0, (b - a) // period_seconds - 1) for a, b in pairwise(times))
    if not missing:
        return ""
    return (f"{missing} bar(s) missing in the venue's series: a return across a gap spans more than one bar "
            "(the estimate is annualized per bar)")


# --- implied --------------------------------------------------------------------------------------------------


async def dvol_of(pool: VenuePool, venues: Sequence[str], asset: str, now: datetime
                  ) -> tuple[ImpliedVol, list[Failure]]:
    """The latest point of the first volatility index among ``venues`` that has one for ``asset``."""
    from dtrack.analytics.volatility import ImpliedVol

    if not venues:
        return ImpliedVol(reason="no venue asked publishes a volatility index"), []
    failures: list[Failure] = []
    reasons: list[str] = []
    for venue in venues:
        try:
            points = await pool.adapter(venue).fetch_vol_index(asset, now - DVOL_SPAN, now)
        except UnsupportedError as exc:
            reasons.append(str(exc))
            continue
        except DtrackError as exc:
            failures.append(Failure.of(venue, exc))
            reasons.append(f"{venue} failed ({exc.kind})")
            continue
        if points:
            last = max(points, key=lambda p: p.time)
            return ImpliedVol(value=last.value, venue=venue, time=last.time, label=f"{venue} {last.symbol}"), failures
        reasons.append(f"{venue}: no {asset} volatility index point in the last {DVOL_SPAN.days} days")
    return ImpliedVol(reason="; ".join(reasons)), failures


async def atm_ivs(client: AsyncClient, assets: Sequence[str]) -> tuple[dict[str, ImpliedVol], list[Failure]]:
    """The 30-day ATM implied volatility of each of ``assets`` from ONE options query (``atm_iv_from``); when it
    refuses an asset (no options listed on it: a usage error naming the venues' lists), each asset is asked alone,
    so that the others still get theirs and that one gets the reason."""
    from dtrack.analytics.volatility import ImpliedVol

    try:
        result = await client.options(list(assets))
    except UsageError as exc:
        if len(assets) == 1:
            return {assets[0]: ImpliedVol(reason=str(exc))}, []
        alone = await asyncio.gather(*(atm_ivs(client, [a]) for a in assets))
        return {a: got[a] for got, _ in alone for a in got}, [f for _, more in alone for f in more]
    except DtrackError as exc:
        return {a: ImpliedVol(reason=str(exc)) for a in assets}, []
    return {a: atm_iv_from(result, a) for a in assets}, result.failures


def atm_iv_from(result: OptionsResult, asset: str) -> ImpliedVol:
    """The 30-day ATM IV of ``asset`` in an options result: on the venue with the most options open interest, the
    30-day constant maturity where the listed expiries bracket it, else the ATM IV of the expiry nearest 30 days
    (``label`` says which)."""
    from dtrack.analytics.volatility import ImpliedVol

    report = result.report
    term = [e for e in report.term_structure if e.asset == asset and e.atm_iv is not None]
    if not term:
        return ImpliedVol(reason="no options venue answered" if result.all_failed else
                          f"no {asset} option expiry with an ATM IV on the venues that answered")
    depth: dict[str, float] = {}
    for e in term:
        depth[e.venue] = depth.get(e.venue, 0.0) + e.oi_usd
    venue = max(depth, key=lambda v: depth[v])
    # an answer from the history store is as old as its snapshots: that time, and where it came from, not now
    when, stored = report.time, ""
    if result.source.kind == "store":
        when = result.source.snapshot_time or report.time
        stored = (f"; from the store {result.source.store}, a snapshot {result.source.age_seconds or 0:.0f} s old "
                  "(options.fresh_seconds)")
    cm = next((c for c in report.constant_maturity if c.asset == asset and c.venue == venue and c.days == IV_DAYS
               and c.iv is not None), None)
    if cm is not None and cm.iv is not None:
        return ImpliedVol(value=cm.iv, venue=venue, time=when,
                          label=f"{venue} {IV_DAYS}-day constant-maturity ATM IV (total variance interpolated "
                                "between the expiries around it; the venue with the most options open interest"
                                f"{stored})")
    near = min((e for e in term if e.venue == venue), key=lambda e: abs(e.days - IV_DAYS))
    return ImpliedVol(value=near.atm_iv, venue=venue, time=when,
                      label=f"{venue} ATM IV of the {near.expiry:%Y-%m-%d} expiry ({near.days:.1f} days: the "
                            f"nearest to {IV_DAYS}; no {IV_DAYS}-day interpolation{stored})")


def index_venues(client: AsyncClient) -> list[str]:
    """The venues asked for a volatility index: those publishing one, among the client's chosen venues (all
    active enabled ones by default)."""
    from dtrack.venues import ACTIVE, VENUES

    pool = client.chosen_venues or [v for v in ACTIVE if client.settings.venue(v).enabled]
    return [v for v in pool if v in VENUES and VENUES[v].offers(DataKind.VOL_INDEX)]


# --- the query --------------------------------------------------------------------------------------------------


async def run(client: AsyncClient, assets: str | Sequence[str], *, venue: str | None = None,
              window: str | timedelta = "30d", bars: str = "1d", methods: str | Sequence[str] | None = None,
              implied: bool = True) -> VolResult:
    """See ``AsyncClient.vol``."""
    from dtrack.client.fetch import gather_instruments

    texts = as_list(assets)
    if not texts:
        raise UsageError("name at least one asset, e.g. BTC")
    check_readable(texts)
    req = parse_request(window, bars, methods, client.settings.vol)
    venues = candle_venues(client, venue)
    deadline = client.deadline()
    pool = await client.pool()
    listings, failures = await gather_instruments(pool, venues, deadline.first_step())
    now = client.now()
    result = VolResult(as_of=now, failures=failures, all_failed=True, params=req, assets=[])
    if not listings:
        return result
    listing_failures, result.failures = failures, []
    wanted = resolve(texts, listings, (Kind.PERP,), complete=not failures,
                     where=", ".join(venues) if venue or client.explicit_venues else "")
    wanted = list({w.asset: w for w in wanted}.values())
    dvol_venues = index_venues(client) if implied else []

    async def one(w: Wanted) -> tuple[Picked, tuple[ImpliedVol, list[Failure]] | None]:
        picking = pick_candles(pool, w, venues, listings, req, now, deadline)
        if not implied:
            return await picking, None
        return await asyncio.gather(picking, dvol_of(pool, dvol_venues, w.asset, now))

    names = [w.asset for w in wanted]
    answers, (ivs, iv_failures) = await asyncio.gather(
        asyncio.gather(*(one(w) for w in wanted)),
        atm_ivs(client, names) if implied else _nothing())
    for name, (picked, dvol) in zip(names, answers, strict=True):
        both = (dvol[0], ivs[name]) if dvol is not None else None
        result.assets.append(_assemble(name, req, picked, both))
        result.failures += picked.failures + (dvol[1] if dvol is not None else [])
    # a venue whose list failed counts for the assets that got as far as it (not when an earlier venue served)
    reached = {v for a in answers for v in a[0].tried}
    result.failures = unique([f for f in listing_failures if f.venue in reached] + result.failures + iv_failures)
    result.all_failed = not any(a.analysis is not None for a in result.assets)
    return result


async def _nothing() -> tuple[dict[str, ImpliedVol], list[Failure]]:
    return {}, []


def _assemble(asset: str, req: VolParams, picked: Picked, implied: tuple[ImpliedVol, ImpliedVol] | None) -> AssetVol:
    """One asset's answer from its candles and implied volatilities."""
    from dtrack.analytics.volatility import AssetVol, Bars, ImpliedVol, analyze

    notes = list(picked.notes)
    analysis = None
    first = last = None
    if picked.instrument is not None:
        c = picked.candles
        bars = Bars.of([int(x.time.timestamp() * 1000) for x in c], [x.open for x in c], [x.high for x in c],
                       [x.low for x in c], [x.close for x in c])
        try:
            analysis = analyze(bars, req.methods, req.window_bars, req.per_year, req.bands, req.target, req.caps)
        except ValueError as exc:  # a window of flat bars (a halted contract): said, the other assets answered
            notes.append(f"no realized volatility from {picked.instrument.venue} {picked.instrument.symbol}: {exc}")
        first, last = c[0].time, c[-1].time
        if gap := gap_note(c, req.period_seconds):
            notes.append(gap)
    elif not picked.failures and not notes:
        notes.append(f"no venue asked lists a perpetual of {asset}")
    if implied is not None:
        dvol, atm = implied
    else:
        dvol = atm = ImpliedVol(reason="not asked (implied=False / --no-iv)")
    spread = basis = None
    if analysis is not None:
        rv = analysis.current[analysis.primary]
        ref, basis = (dvol, "dvol") if dvol.value is not None else (atm, "atm_iv") if atm.value is not None \
            else (None, None)
        if ref is not None and ref.value is not None and math.isfinite(rv):
            spread = ref.value - rv
    inst = picked.instrument
    return AssetVol(asset=asset, venue=inst.venue if inst else None, symbol=inst.symbol if inst else None,
                    bars=req.bars, period_seconds=req.period_seconds, count=len(picked.candles), first=first,
                    last=last, analysis=analysis, dvol=dvol, atm_iv=atm, spread=spread, spread_basis=basis,
                    choice=picked.choice, notes=tuple(notes))

