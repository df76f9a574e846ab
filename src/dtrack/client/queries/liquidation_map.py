"""The estimated liquidation map (``AsyncClient.liquidation_map``) and the scoring of stored estimates
(``AsyncClient.liquidation_score``).

The map reads, per venue publishing open-interest history and klines, every perpetual of the asset: hourly open
interest (coins) and klines (close, high and low) over the window (settings ``liquidation_map.window_days``), the
venue's long/short share, the current price and (for the cascade ratio) each contract's 24 h traded volume. From
the history store when it holds the whole window for every venue (each contract's open-interest history and klines
reaching back to the window's start, or as far as the venue keeps, and up to within an hour of the map's time): no
network; the volumes are then the stored quotes' latest within a day. Otherwise from the venues, through the same
history fetchers ``dtrack backfill oi|klines`` uses. The result's ``source`` says which (and why the store could
not answer). The method itself is ``dtrack.analytics.liquidation_map`` (pure).

The score reads the store only: the estimates the collector froze (``liquidation_levels``), the liquidations
recorded afterwards (``liquidations``) and the kline closes (``price_points``).

A map ranges each bar over its kline's high and low where the klines carry them (``MapParams.bar_range``
``high-low``): the venues' klines do; the store's rows written before it kept them (schema step 8) hold closes only,
and those bars range over the path between closes. The notes name the contracts with such bars.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from dtrack.client.inputs import as_list, check_readable, resolve
from dtrack.errors import DtrackError, UsageError
from dtrack.records import DataKind, Instrument, Kind, LiquidationLevel, LongShortRatio, MarginTier
from dtrack.results import Failure, Fold, LiquidationMapResult, LiquidationScoreResult, Source, settle, unique
from dtrack.store.base import to_ms

if TYPE_CHECKING:
    from dtrack.analytics.liquidation_map import Bars, LiquidationMap, MapParams
    from dtrack.client.core import AsyncClient
    from dtrack.config import Settings
    from dtrack.store import Store
    from dtrack.venues.base import Adapter

HOUR = timedelta(hours=1)
HOUR_MS = 3_600_000
MS = timedelta(milliseconds=1)
#: a series is caught up when its last point is at most this before the map's time
CAUGHT_UP = HOUR + timedelta(minutes=5)
#: a series starts "at the window's start" when its first point is at most this after it
HEAD_SLACK = timedelta(hours=2)
#: the current price: the latest mark within this before the map's time (else the last close)
QUOTE_AGE = timedelta(minutes=2)
#: a venue's long/short share: the latest within this before the map's time
RATIO_AGE = timedelta(days=1)
#: a contract's 24 h volume read from the store: its latest within this before the map's time
VOLUME_AGE = timedelta(days=1)
#: how far inside a venue's declared history depth the oldest request stays (its clock and ours differ a little)
DEPTH_MARGIN = timedelta(minutes=5)
LONGEST_SCORE = timedelta(days=365)
#: the data kinds a venue must publish to be in the map
NEEDS = (DataKind.OI_HISTORY, DataKind.KLINES)


def map_params(settings: Settings, range_pct: float | None = None, bins: int | None = None) -> MapParams:
    """The estimator's parameters from settings ``liquidation_map`` (``range_pct`` in percent and ``bins``
    override theirs; bad values are usage errors naming the option)."""
    from dtrack.analytics.liquidation_map import MapParams

    s = settings.liquidation_map
    rng = s.range if range_pct is None else float(range_pct) / 100.0
    if not 0.005 <= rng <= 0.9:
        raise UsageError(f"bad --range {range_pct!r}: expected a percent from 0.5 to 90 (10 = ±10 % of the price)")
    count = s.bins if bins is None else bins
    if isinstance(count, bool) or not isinstance(count, int) or count < 2 or count > 1000 or count % 2:
        raise UsageError(f"bad --bins {bins!r}: expected an even number from 2 to 1000 (half below the price, "
                         "half above)")
    return MapParams(leverage={float(k): float(v) for k, v in s.leverage.items()}, maintenance=dict(s.maintenance_rate),
                     default_maintenance=s.default_maintenance_rate, window_hours=round(s.window_days * 24),
                     range=rng, bins=count, density_high=s.density_high, density_critical=s.density_critical,
                     reference_oi_usd=s.cascade_reference_oi_usd)


def map_venues(client: AsyncClient, venues: Sequence[str] | None) -> tuple[list[str], list[dict[str, str]]]:
    """(venues to read, venues left out with the reason): the chosen ones (``venues``, else the client's), else
    every active venue enabled in settings, kept when they publish open-interest history and klines. A chosen
    venue that is closed, or no chosen venue able, is a usage error."""
    from dtrack.venues import ACTIVE, VENUES, venue_info

    chosen = list(venues) if venues is not None else client.chosen_venues
    names = chosen or [v for v in ACTIVE if client.settings.venue(v).enabled]
    asked: list[str] = []
    out: list[dict[str, str]] = []
    for name in names:
        info = venue_info(name)
        if info.status == "closed":
            raise UsageError(f"{info.title} closed on {info.closed_on}: no data for a liquidation map; "
                             f"active venues: {', '.join(ACTIVE)}")
        missing = [k for k in NEEDS if not info.offers(k)]
        if info.adapter is None or missing:
            why = (info.capability(missing[0]).note if missing else "") or info.note or \
                f"{info.title} publishes no {'open-interest history' if DataKind.OI_HISTORY in missing else 'klines'}"
            if info.name not in {o["venue"] for o in out}:
                out.append({"venue": info.name, "reason": why})
        elif info.name not in asked:
            asked.append(info.name)
    if not asked:
        if chosen:
            raise UsageError(f"no liquidation map from {', '.join(chosen)}: "
                             + "; ".join(f"{o['venue']}: {o['reason']}" for o in out)
                             + f" (venues with open-interest history: "
                               f"{', '.join(v for v in ACTIVE if all(VENUES[v].offers(k) for k in NEEDS))})")
        raise UsageError("every venue publishing open-interest history is disabled in settings")
    return asked, out


# --- what a map is made of ----------------------------------------------------------------------------------


#: a kline series: times (ms), closes, highs and lows (USD per coin; NaN where a kline's high or low is not known)
Klines = tuple[list[int], list[float], list[float], list[float]]


def _add_kline(series: Klines, time_ms: int, close: float, high: float | None, low: float | None) -> None:
    series[0].append(time_ms)
    series[1].append(close)
    series[2].append(math.nan if high is None else high)
    series[3].append(math.nan if low is None else low)


@dataclass(slots=True)
class Inputs:
    """Everything read for the maps: per (venue, symbol) the contract, its open-interest points (time ms, coins)
    and klines (``Klines``: time ms, close, high, low in USD); the long/short ratios; the latest marks; the 24 h
    volumes in USD (where they were read, or why there are none); what failed."""

    contracts: dict[tuple[str, str], Instrument] = field(default_factory=dict)
    oi: dict[tuple[str, str], tuple[list[int], list[float]]] = field(default_factory=dict)
    closes: dict[tuple[str, str], Klines] = field(default_factory=dict)
    ratios: list[LongShortRatio] = field(default_factory=list)
    marks: dict[tuple[str, str], float] = field(default_factory=dict)
    volumes: dict[tuple[str, str], float] = field(default_factory=dict)
    volume_source: str = ""
    volume_why: str = ""
    notes: list[tuple[str, str, str]] = field(default_factory=list)  # (venue, symbol, the venue's note)
    failures: list[Failure] = field(default_factory=list)
    #: read from the venues: each contract's margin tiers, and the contracts without (venue, symbol, why)
    tiers: dict[tuple[str, str], tuple[MarginTier, ...]] = field(default_factory=dict)
    untiered: list[tuple[str, str, str]] = field(default_factory=list)
    tiered: bool = False


def _ms(t: datetime) -> int:
    return to_ms(t)


def _pick_ratio(ratios: Sequence[LongShortRatio], venue: str, symbol: str) -> LongShortRatio | None:
    """The venue's long/short statistic for a contract: its own symbol's where published, else the venue's
    currency-wide or another contract's; a positions statistic before an accounts one; the latest."""
    mine = [r for r in ratios if r.venue == venue and 0.0 <= r.long_share <= 1.0]
    exact = [r for r in mine if r.symbol == symbol] or mine
    if not exact:
        return None
    return max(exact, key=lambda r: ("position" in r.definition.lower(), r.observed_at))


def bars_of(inputs: Inputs, asset: str, at: datetime) -> list[Bars]:
    """The aligned bars of every contract of ``asset`` (cut at ``at``), each with its long/short split and, where
    its klines carry them, their highs and lows."""
    from dtrack.analytics.liquidation_map import Bars, align
    from dtrack.venues import VENUES

    out: list[Bars] = []
    at_ms = _ms(at)
    for key, inst in inputs.contracts.items():
        if inst.asset != asset or key not in inputs.oi or key not in inputs.closes:
            continue
        (oi_t, oi_base), (kt, kc, kh, kl) = inputs.oi[key], inputs.closes[key]
        t, oi, close, high, low = align(oi_t, oi_base, kt, kc, kh, kl)
        keep = t <= at_ms
        ratio = _pick_ratio(inputs.ratios, *key)
        if ratio is not None:
            share, split = ratio.long_share, f"{ratio.definition}: long share {ratio.long_share:.3f}"
        elif VENUES[inst.venue].offers(DataKind.LONG_SHORT):
            share, split = 0.5, "50/50 (no long/short ratio of the venue's was read for that time)"
        else:
            share, split = 0.5, "50/50 (the venue publishes no long/short ratio)"
        out.append(Bars.from_klines(inst.venue, inst.symbol, t[keep], oi[keep], close[keep], high[keep], low[keep],
                                    share, split))
    return out


def current_price(inputs: Inputs, series: Sequence[Bars], asset: str) -> tuple[float | None, str]:
    """The map's price: the median of the contracts' latest marks where known, else of their last closes."""
    marks = [p for (v, s), p in inputs.marks.items() if inputs.contracts.get((v, s)) is not None
             and inputs.contracts[(v, s)].asset == asset and p > 0]
    if marks:
        return statistics.median(marks), f"median of {len(marks)} contracts' latest mark prices"
    closes = [float(b.close[-1]) for b in series if len(b.close)]
    if closes:
        return statistics.median(closes), f"median of {len(closes)} contracts' last hourly closes"
    return None, ""


# --- from the store -------------------------------------------------------------------------------------------


class NotHeld(Exception):
    """Why the store cannot answer the map (the venues are asked)."""


def from_store(store: Store, settings: Settings, venues: Sequence[str], texts: Sequence[str], at: datetime,
               window: timedelta) -> tuple[list[str], Inputs]:
    """(assets, inputs) from the store; ``NotHeld`` saying why not when it does not hold the whole window."""
    from dtrack.client.stored import StoreView, depth_of, record_of
    from dtrack.records import PriceQuote
    from dtrack.venues import VENUES

    view = StoreView(store, settings, at, timedelta(seconds=settings.store.fresh_seconds))
    view.load_instruments(venues)
    try:
        wanted = resolve(texts, view.instruments, (Kind.PERP,), complete=True)
    except DtrackError as exc:
        raise NotHeld(f"the store does not know every input ({exc})") from None
    assets = list(dict.fromkeys(w.asset for w in wanted))
    start = at - window
    inputs = Inputs()
    for v in venues:
        perps = [i for i in view.instruments.get(v, []) if i.kind is Kind.PERP and i.asset in assets]
        for asset in assets:
            if not any(i.asset == asset for i in perps):
                raise NotHeld(f"the store lists no {asset} perpetual of {v}")
        depth = depth_of(VENUES[v].capability(DataKind.OI_HISTORY).history)
        begin = max(start, at - depth) if depth is not None else start
        symbols = [i.symbol for i in perps]
        for table, label in (("oi_points", "open-interest history"), ("price_points", "klines")):
            held = store.series_range(table, venue=v, symbol=symbols, since=start, until=at + MS)
            for inst in perps:
                got = held.get((v, inst.symbol))
                if got is None:
                    raise NotHeld(f"the store holds no {label} of {v} {inst.symbol} in the window")
                first, last, _ = got
                if first > begin + HEAD_SLACK:
                    raise NotHeld(f"the store's {label} of {v} {inst.symbol} starts {first:%Y-%m-%d %H:%M} UTC, "
                                  f"later than the {window.days}-day window")
                if last < at - CAUGHT_UP:
                    raise NotHeld(f"the store's {label} of {v} {inst.symbol} ends {last:%Y-%m-%d %H:%M} UTC")
        for inst in perps:
            inputs.contracts[(v, inst.symbol)] = inst
        for row in store.read("oi_points", venue=v, symbol=symbols, since=start, until=at + MS):
            series = inputs.oi.setdefault((v, str(row["symbol"])), ([], []))
            series[0].append(_ms(cast(datetime, row["time"])))
            series[1].append(float(cast(float, row["base"])))
        for row in store.read("price_points", venue=v, symbol=symbols, since=start, until=at + MS):
            # high and low are null in the rows written before the store kept them (schema step 8)
            _add_kline(inputs.closes.setdefault((v, str(row["symbol"])), ([], [], [], [])),
                       _ms(cast(datetime, row["time"])), float(cast(float, row["price"])),
                       cast("float | None", row["high"]), cast("float | None", row["low"]))
    for row in store.read("long_short", venue=list(venues), asset=assets, since=at - RATIO_AGE, until=at + MS):
        inputs.ratios.append(record_of(LongShortRatio, row))
    volume_at: dict[tuple[str, str], datetime] = {}
    for row in store.read("price_quotes", venue=list(venues), asset=assets, since=at - VOLUME_AGE, until=at + MS):
        quote = record_of(PriceQuote, row)
        key = (quote.instrument.venue, quote.instrument.symbol)
        if key not in inputs.contracts:
            continue
        # rows come oldest first: the latest wins
        if quote.mark_price is not None and quote.received_at >= at - QUOTE_AGE:
            inputs.marks[key] = quote.mark_price
        if quote.volume_24h_usd is not None:
            inputs.volumes[key] = quote.volume_24h_usd
            volume_at[key] = quote.observed_at
    if volume_at:
        oldest = min(volume_at.values())
        inputs.volume_source = (f"the store's price_quotes: each contract's latest 24 h volume within "
                                f"{VOLUME_AGE.days * 24} h before the map's time (oldest {oldest:%Y-%m-%d %H:%M} UTC)")
    else:
        inputs.volume_why = (f"the store holds no 24 h volume of these contracts in the {VOLUME_AGE.days * 24} h "
                             "before the map's time (`dtrack collect` stores it with the venues' price quotes)")
    return assets, inputs


# --- from the venues ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class VenueSeries:
    """One venue's answers."""

    venue: str
    contracts: list[Instrument] = field(default_factory=list)
    oi: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)
    closes: dict[str, Klines] = field(default_factory=dict)
    ratios: list[LongShortRatio] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)
    volumes: dict[str, float] = field(default_factory=dict)
    notes: list[tuple[str, str, str]] = field(default_factory=list)
    errors: list[DtrackError] = field(default_factory=list)
    tiers: dict[str, tuple[MarginTier, ...]] = field(default_factory=dict)
    untiered: dict[str, str] = field(default_factory=dict)  # symbol -> why its venue's flat rate


async def venue_job(adapter: Adapter, assets: Sequence[str], start: datetime, at: datetime, live: bool,
                    now: datetime) -> VenueSeries:
    """One venue: every perpetual's hourly open interest and closed klines (close, high, low) over ``[start, at]``,
    the long/short ratios, each perpetual's margin tiers (all in one concurrent round), and (``live``: the map is of
    now) the marks and 24 h volumes (one quotes request). Open interest is asked no further back than the venue
    keeps it at ``now`` (its declared depth: Binance refuses a ``startTime`` older than 30 days). A contract whose
    tiers fail or do not exist is not a failure: it is named in ``untiered`` (its venue's flat rate is used)."""
    from dtrack.client.stored import depth_of
    from dtrack.venues import VENUES

    perps = [i for i in await adapter.contracts(assets) if i.kind is Kind.PERP]
    out = VenueSeries(adapter.name, perps)
    ratios_of = assets if VENUES[adapter.name].offers(DataKind.LONG_SHORT) and live else []
    depth = depth_of(VENUES[adapter.name].capability(DataKind.OI_HISTORY).history)
    oi_start = max(start, now - depth + DEPTH_MARGIN) if depth is not None else start
    histories, closes, ratios, quotes, tiers = await asyncio.gather(
        settle([adapter.fetch_oi_history(i, oi_start, at, 1) for i in perps]),
        settle([adapter.fetch_price_history(i, start, at, 1) for i in perps]),
        settle([adapter.fetch_long_short(a, [p for p in perps if p.asset == a]) for a in ratios_of]),
        settle([adapter.fetch_quotes(perps)] if live and perps else []),
        settle([adapter.fetch_margin_tiers(i) for i in perps]),
    )
    for inst, got_tiers in zip(perps, tiers, strict=True):
        if isinstance(got_tiers, DtrackError):
            out.untiered[inst.symbol] = str(got_tiers)
        elif not got_tiers:
            out.untiered[inst.symbol] = "the venue sent no margin tiers"
        else:
            out.tiers[inst.symbol] = got_tiers
    fold = Fold(out.errors)
    at_ms = _ms(at)
    for inst, history, kl in zip(perps, histories, closes, strict=True):
        got = fold.value(history)
        if got is not None:
            out.oi[inst.symbol] = ([_ms(p.time) for p in got.points if p.time <= at],
                                   [p.base for p in got.points if p.time <= at])
            if got.note:
                out.notes.append((adapter.name, inst.symbol, got.note))
        points = fold.value(kl)
        if points is not None:  # closed klines only: on the hour, not after the map's time
            series = out.closes[inst.symbol] = ([], [], [], [])
            for p in points:
                if _ms(p.time) <= at_ms and _ms(p.time) % HOUR_MS == 0:
                    _add_kline(series, _ms(p.time), p.price, p.high, p.low)
    out.ratios = fold.all_items(ratios, optional=True)
    for quote in fold.all_items(quotes, optional=True):
        if quote.mark_price is not None:
            out.marks[quote.instrument.symbol] = quote.mark_price
        if quote.volume_24h_usd is not None:
            out.volumes[quote.instrument.symbol] = quote.volume_24h_usd
    return out


async def from_venues(client: AsyncClient, venues: Sequence[str], texts: Sequence[str], at: datetime,
                      window: timedelta) -> tuple[list[str], Inputs]:
    """(assets, inputs) from the venues (failures kept in the inputs)."""
    from dtrack.client.fetch import gather_instruments, on_venues

    deadline = client.deadline()
    pool = await client.pool()
    listings, failures = await gather_instruments(pool, venues, deadline.first_step())
    inputs = Inputs(failures=failures)
    if not listings:
        return [], inputs
    wanted = resolve(texts, listings, (Kind.PERP,), complete=not failures,
                     where=", ".join(venues) if client.explicit_venues else "")
    assets = list(dict.fromkeys(w.asset for w in wanted))
    live = at >= client.now() - QUOTE_AGE
    now = client.now()
    answers, more = await on_venues(pool, [v for v in venues if v in listings],
                                    lambda ad: venue_job(ad, assets, at - window, at, live, now), deadline.left())
    inputs.failures += more
    if live:
        inputs.volume_source = (f"the venues' quote answers (their rolling 24 h tickers) at {now:%Y-%m-%d %H:%M} "
                                "UTC")
    else:
        inputs.volume_why = (f"the map is of {at:%Y-%m-%d %H:%M} UTC and the venues publish only the current 24 h "
                             "volume (a store filled by `dtrack collect` keeps it)")
    for v in venues:
        got = answers.get(v)
        if got is None:
            continue
        inputs.failures += [Failure.of(v, e) for e in got.errors]
        inputs.notes += got.notes
        inputs.ratios += got.ratios
        for inst in got.contracts:
            key = (v, inst.symbol)
            inputs.contracts[key] = inst
            if inst.symbol in got.oi:
                inputs.oi[key] = got.oi[inst.symbol]
            if inst.symbol in got.closes:
                inputs.closes[key] = got.closes[inst.symbol]
            if inst.symbol in got.marks:
                inputs.marks[key] = got.marks[inst.symbol]
            if inst.symbol in got.volumes:
                inputs.volumes[key] = got.volumes[inst.symbol]
            if inst.symbol in got.tiers:
                inputs.tiers[key] = got.tiers[inst.symbol]
            elif inst.symbol in got.untiered:
                inputs.untiered.append((v, inst.symbol, got.untiered[inst.symbol]))
    inputs.tiered = True
    return assets, inputs


# --- the queries --------------------------------------------------------------------------------------------


async def run_map(client: AsyncClient, assets: str | Sequence[str], *, venues: Sequence[str] | None = None,
                  range_pct: float | None = None, bins: int | None = None,
                  at: str | datetime | timedelta | None = None, store: Store | None = None,
                  use_store: bool = True) -> LiquidationMapResult:
    """See ``AsyncClient.liquidation_map``; ``store``: read this store (default: the client's, when it exists),
    ``use_store=False``: ask the venues."""
    from dtrack.analytics.liquidation_map import estimate_map
    from dtrack.client.history import parse_when

    texts = as_list(assets)
    if not texts:
        raise UsageError("name at least one asset, e.g. BTC")
    check_readable(texts)
    params = map_params(client.settings, range_pct, bins)
    now = client.now()
    when = parse_when(at, "--at", now) if at is not None else now
    if when > now + timedelta(minutes=1):
        raise UsageError(f"--at must not be in the future, got {when:%Y-%m-%d %H:%M} UTC")
    asked, not_covered = map_venues(client, venues)
    window = timedelta(hours=params.window_hours)
    source = Source()
    assets_read: list[str] | None = None
    inputs = Inputs()
    if use_store:
        opened = store if store is not None else client.consult_store()
        if opened is not None:
            try:
                assets_read, inputs = from_store(opened, client.settings, asked, texts, when, window)
                source = Source(kind="store", store=opened.location, snapshot_time=when, age_seconds=0.0)
            except NotHeld as exc:
                source = Source(store=opened.location, note=str(exc))
            except DtrackError as exc:
                source = Source(store=opened.location, note=f"the store could not be read ({exc})")
    if assets_read is None:
        assets_read, inputs = await from_venues(client, asked, texts, when, window)
    maps: list[LiquidationMap] = []
    notes = _grouped(inputs.notes)
    rule = None
    if inputs.tiered:  # from the venues: each contract's tiers, its venue's flat rate where it has none
        from dtrack.analytics.liqprice import tier_rule

        params = replace(params, tiered=True)
        rule = tier_rule(inputs.tiers, params.rule())
    for asset in assets_read:
        series = [b for b in bars_of(inputs, asset, when) if len(b.time_ms) >= 2]
        price, how = current_price(inputs, series, asset)
        if not series or price is None:
            notes.append(f"{asset}: no open-interest history and klines were read; no map")
            continue
        m = estimate_map(asset, when, series, params, price, volumes=inputs.volumes,
                         volume_source=inputs.volume_source, volume_why=inputs.volume_why, rule=rule)
        notes.append(_maintenance_note(inputs, series, asset))
        notes.append(_range_note(m))
        maps.append(m)
        notes.append(f"{asset} price: {how}")
    return LiquidationMapResult(as_of=now, failures=unique(inputs.failures), all_failed=not maps, maps=maps,
                                params=params, source=source, not_covered=not_covered, notes=notes)


def _maintenance_note(inputs: Inputs, series: Sequence[Bars], asset: str) -> str:
    """Which maintenance rates the map of ``asset`` used: each contract's tiers, or its venue's flat rate (and why)."""
    if not inputs.tiered:
        return (f"{asset} maintenance: flat rates per venue (read from the store, which keeps no margin tiers; "
                "settings liquidation_map.maintenance_rate_pct)")
    keys = [(b.venue, b.symbol) for b in series]
    flat = {(v, s): why for v, s, why in inputs.untiered}
    tiered = [f"{v} {s}" for v, s in keys if (v, s) in inputs.tiers]
    untiered = [f"{v} {s} ({flat.get((v, s), 'no margin tiers read')})" for v, s in keys if (v, s) not in inputs.tiers]
    return (f"{asset} maintenance: margin tiers of {', '.join(tiered) or 'no contract'}"
            + (f"; the venue's flat rate for {'; '.join(untiered)}" if untiered else ""))


def _range_note(m: LiquidationMap) -> str:
    """Where the bars of ``m`` ranged over their klines' own high and low, and which contracts' bars (how many)
    ranged over the path between closes (their klines carried no high or low: a store's rows written before it
    kept them)."""
    if m.params.bar_range != "high-low":
        return f"{m.asset} bar ranges: the path between closes (method bar_range {m.params.bar_range})"
    used = [s for s in m.series if s.bars >= 2]
    ranged = [f"{s.venue} {s.symbol}" for s in used if s.ranged_bars]
    short = [f"{s.venue} {s.symbol} ({'all' if not s.ranged_bars else f'{s.bars - s.ranged_bars} of'} {s.bars} bars)"
             for s in used if s.ranged_bars < s.bars]
    if not short:
        return f"{m.asset} bar ranges: the klines' own high and low of every contract"
    return (f"{m.asset} bar ranges: the klines' own high and low of {', '.join(ranged) or 'no contract'}; the path "
            f"between closes where the klines carry no high and low (a store's rows written before it kept them): "
            f"{', '.join(short)}")


def _grouped(notes: Sequence[tuple[str, str, str]]) -> list[str]:
    """The venues' notes on their series, one line per venue and text (``venue A, B: text``)."""
    by: dict[tuple[str, str], list[str]] = {}
    for venue, symbol, text in notes:
        by.setdefault((venue, text), []).append(symbol)
    return [f"{venue} {', '.join(dict.fromkeys(symbols))}: {text}" for (venue, text), symbols in by.items()]


def levels_of(m: LiquidationMap, received_at: datetime) -> list[LiquidationLevel]:
    """The map's bins as the records the collector stores (``liquidation_levels``), every bin (empty ones too:
    the scoring needs the whole grid)."""
    venues = ",".join(m.venues)
    method = m.params.method_id
    return [LiquidationLevel(asset=m.asset, method=method, time=m.time, received_at=received_at, price=m.price,
                             side=b.side, low=b.low, high=b.high, usd=b.usd, venues=venues) for b in m.bins]


# --- the score ----------------------------------------------------------------------------------------------


def _coverage(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for r in rows:
        out.setdefault(str(r["venue"]), str(r["coverage"]))
    return dict(sorted(out.items()))


def method_params(method: str, rows: Sequence[Mapping[str, Any]], settings_params: MapParams
                  ) -> tuple[MapParams, str]:
    """The parameters a stored estimate of ``method`` was made with, for the baseline's ladder, and where they came
    from: ``method`` when parameters reproduce its id (a store keeps only the id, a hash of them: the current
    settings' and the built-in defaults are tried, each on the stored grid's range and bins, flat and tiered, with
    kline highs and lows or closes only), else ``settings`` (the current settings' leverage mix and rates: the
    settings changed since, or the method is another one). The ladder uses the flat rates (a tiered map's fallback:
    the tiers then are not stored)."""
    from dtrack.analytics.liquidation_map import BAR_RANGES, MapParams

    count = len(rows)
    price = float(rows[0]["price"])
    grid = round(max(float(r["high"]) for r in rows) / price - 1.0, 9) if price > 0 else settings_params.range
    candidates: list[MapParams] = []
    for base in (settings_params, MapParams()):
        for rng in dict.fromkeys((base.range, grid)):
            # a tiered map's ladder: its flat (fallback) rates; the bar ranges do not shape the ladder
            for tiered, bar_range in itertools.product((False, True), BAR_RANGES):
                try:
                    candidates.append(replace(base, range=rng, bins=count, tiered=tiered, bar_range=bar_range))
                except ValueError:  # not a grid of this method
                    continue
    for c in candidates:
        if c.method_id == method:
            return c, "method"
    return settings_params, "settings"


def score_rows(levels: Sequence[Mapping[str, Any]], liquidations: Sequence[Mapping[str, Any]],
               closes: Sequence[Mapping[str, Any]], *, venues: Sequence[str] | None, horizon: timedelta,
               top_k: int, until: datetime, params: MapParams | None = None) -> list[dict[str, Any]]:
    """Per method: the stored estimates (``liquidation_levels`` rows of one asset) scored against the
    liquidations (rows) and the closes (``price_points`` rows); see ``analytics.liquidation_map.score_estimates``.
    ``params``: the current settings' parameters (default ``MapParams()``); the baseline's ladder uses each
    method's own where they reproduce its id (``method_params``), these otherwise (the row's ``baseline_params``
    says which)."""
    import numpy as np

    from dtrack.analytics.liquidation_map import Frozen, MapParams, PricePath, Realized, score_estimates

    settings_params = params if params is not None else MapParams()

    by_method: dict[str, dict[int, list[Mapping[str, Any]]]] = {}
    for r in levels:
        by_method.setdefault(str(r["method"]), {}).setdefault(_ms(cast(datetime, r["time"])), []).append(r)
    path = PricePath.of([_ms(cast(datetime, r["time"])) for r in closes], [float(r["price"]) for r in closes])
    out: list[dict[str, Any]] = []
    for method, snaps in sorted(by_method.items()):
        est_venues = sorted({v for rows in snaps.values() for r in rows for v in str(r["venues"]).split(",") if v})
        counted = set(venues) if venues else set(est_venues)
        events = [r for r in liquidations if str(r["venue"]) in counted]
        realized = Realized.of([_ms(cast(datetime, r["time"])) for r in events], [float(r["price"]) for r in events],
                               [float(r["usd"]) for r in events], [r["side"] == "long" for r in events])
        frozen = []
        for t, rows in sorted(snaps.items()):
            frozen.append(Frozen(time_ms=t, price=float(rows[0]["price"]),
                                 is_long=np.array([r["side"] == "long" for r in rows]),
                                 low=np.array([float(r["low"]) for r in rows]),
                                 high=np.array([float(r["high"]) for r in rows]),
                                 usd=np.array([float(r["usd"]) for r in rows]),
                                 venues=tuple(v for v in str(rows[0]["venues"]).split(",") if v)))
        used, origin = method_params(method, snaps[min(snaps)], settings_params)
        score = score_estimates(frozen, realized, path, horizon_ms=int(horizon.total_seconds() * 1000), top_k=top_k,
                                until_ms=_ms(until), params=used)
        times = sorted(snaps)
        rule = used.rule()
        out.append({"method": method, "score": score, "venues": sorted(counted), "estimate_venues": est_venues,
                    "coverage": _coverage(events), "first": times[0], "last": times[-1],
                    "liquidations": len(events),
                    "baseline_params": {"from": origin, "leverage": used.parameters()["leverage"],
                                        "maintenance_rate": {v: float(rule(v, "", np.ones(1))[0])
                                                             for v in est_venues}}})
    return out


async def run_score(client: AsyncClient, assets: str | Sequence[str], *, since: str | datetime | timedelta = "7d",
                    venues: Sequence[str] | None = None, horizon: str | timedelta | None = None,
                    top_k: int | None = None, store: Store | None = None) -> LiquidationScoreResult:
    """See ``AsyncClient.liquidation_score``."""
    from dtrack.client.history import parse_when
    from dtrack.client.inputs import parse_duration
    from dtrack.symbols import parse_asset
    from dtrack.venues import venue_info

    texts = as_list(assets)
    if not texts:
        raise UsageError("name at least one asset, e.g. BTC")
    check_readable(texts)
    names = list(dict.fromkeys(parse_asset(t).asset for t in texts))
    s = client.settings.liquidation_map
    span = parse_duration(horizon, "--horizon", timedelta(days=30)) if horizon is not None \
        else timedelta(hours=s.score_horizon_hours)
    k = s.score_top_k if top_k is None else top_k
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise UsageError(f"bad top_k {top_k!r}: expected a whole number >= 1")
    now = client.now()
    start = parse_when(since, "--score", now, LONGEST_SCORE)
    if start >= now:
        raise UsageError(f"--score must reach into the past, got {start:%Y-%m-%d %H:%M} UTC")
    chosen = [venue_info(v).name for v in (venues if venues is not None else client.chosen_venues)]
    result = LiquidationScoreResult(as_of=now, since=start, until=now, horizon=span, top_k=k, assets=names,
                                    store=client.store_location(), rows=[])
    opened = store if store is not None else client.consult_store()
    if opened is None:
        result.all_failed = True
        result.note = (f"no history store at {result.store} yet: `dtrack collect` stores the estimated map every "
                       "collect.liquidation_map_interval s (hourly), and the liquidations, to be scored")
        return result
    result.store = opened.location
    current = map_params(client.settings)
    for asset in names:
        levels = opened.read("liquidation_levels", asset=asset, since=start, until=now + MS)
        liquidations = opened.read("liquidations", asset=asset, since=start, until=now + MS)
        perps = [r for r in opened.read("instruments", asset=asset) if r["kind"] == "perp"]
        closes = opened.read("price_points", venue=sorted({str(r["venue"]) for r in perps}) or None,
                             symbol=sorted({str(r["symbol"]) for r in perps}) or None, since=start,
                             until=now + MS) if perps else []
        for row in score_rows(levels, liquidations, closes, venues=chosen or None, horizon=span, top_k=k,
                              until=now, params=current):
            result.rows.append({"asset": asset, **row})
        if not levels:
            result.notes.append(f"{asset}: the store holds no estimated map since {start:%Y-%m-%d %H:%M} UTC "
                                "(`dtrack collect` stores one every collect.liquidation_map_interval s)")
        elif not liquidations:
            result.notes.append(f"{asset}: the store holds no liquidation since {start:%Y-%m-%d %H:%M} UTC "
                                "(`dtrack collect` records them from the venues' streams)")
    result.all_failed = not result.rows
    if result.all_failed and not result.note:
        result.note = "; ".join(result.notes) or "nothing to score"
    return result
