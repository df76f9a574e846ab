"""Hyperliquid JSON -> dtrack records (pure: no I/O, no clock; the receive time is passed in).

What it owns: reading the ``/info`` answers dtrack uses (``meta``, ``metaAndAssetCtxs``,
``predictedFundings``, ``fundingHistory``, ``candleSnapshot``, ``l2Book``) and the venue's units:
- every perp is USDC-margined and linear, one contract = one unit of the coin; ``kPEPE`` is
  1000 PEPE, so its prices are divided by 1000 to be per PEPE;
- ``funding`` is the hourly rate of the settlement at the next whole hour (UTC);
- ``openInterest`` is one side, in coins of the symbol (kPEPE units), so USD = openInterest x markPx.
  Showing that coin figure as dollars is how apps have under-reported Hyperliquid OI ~4,500x;
- prices: ``markPx`` is the mark, ``oraclePx`` the index; the asset context has no last-trade price,
  so the quote's "last" is ``midPx``, the order-book mid (null on a book without two sides);
- candles: ``t`` is the open time, ``T`` = open + interval - 1 ms, ``c`` the close (the last trade of
  the interval so far for the candle still open), ``v`` the volume in the coin's own unit;
- ``l2Book``: at most 20 levels a side, ``px`` / ``sz`` in the coin's own unit (÷ / x the multiplier);
- margin tiers (``meta``): a coin's ``marginTableId`` below 50 is one tier at that leverage, higher ids are listed
  in ``marginTables``; mmr = 1 / (2 x the tier's max leverage), with a deduction that keeps margin continuous.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from dtrack.errors import DtrackError
from dtrack.records import (
    Candle,
    FundingRate,
    Instrument,
    Kind,
    Margin,
    MarginTier,
    OpenInterest,
    OrderBook,
    PricePoint,
    PriceQuote,
    Unit,
)
from dtrack.symbols import split_multiplier
from dtrack.venues import plausible
from dtrack.venues.books import check_book, object_side
from dtrack.venues.fields import (
    Kline,
    Listing,
    Reader,
    candle_closes,
    each_instrument,
    next_settlement_after,
    ohlcv_candles,
)
from dtrack.venues.hyperliquid import api

VENUE = "hyperliquid"
#: what ``OpenInterest.price_source`` says for Hyperliquid (the price is ``markPx``)
OI_PRICE_SOURCE = "mark"

T = TypeVar("T")


def reader(info_type: str) -> Reader:
    """The field reader of one info request type (errors name ``POST /info <type>``)."""
    return Reader(VENUE, f"POST {api.INFO_PATH} {info_type}")


# --- instruments -----------------------------------------------------------------------------


def instrument(name: str) -> Instrument:
    """The Instrument of a main-DEX perp coin name (``BTC``, ``kPEPE``)."""
    asset, multiplier = split_multiplier(name)
    return Instrument(venue=VENUE, symbol=name, asset=asset, quote=api.QUOTE, settle=api.QUOTE, kind=Kind.PERP,
                      margin=Margin.LINEAR, multiplier=multiplier, contract_size=1.0, contract_unit=Unit.BASE)


def parse_meta(body: Any) -> Listing:
    """Listed perps of a ``meta`` answer, skipping delisted coins and HIP-3 ``dex:COIN`` names.

    A universe entry without a readable ``name`` (not an object, name missing or not a string) is
    skipped: it cannot be a coin anyone asked for, and one odd listing must not hide the others.
    Every other entry parses (a perp is its name), so nothing is ever ``broken``.
    """
    r = reader(api.META)
    out: list[Instrument] = []
    for entry in _universe(r, body):
        name = _coin_name(entry)
        # Delisted coins stay in the universe (and keep their slot in assetCtxs) with isDelisted: true.
        if name is None or entry.get("isDelisted") is True or api.DEX_SEPARATOR in name:
            continue
        out.append(instrument(name))
    return Listing(tuple(out))


def parse_listing(body: Any) -> Listing:
    """The listed perps of a ``metaAndAssetCtxs`` answer (its first element is the ``meta``)."""
    r = reader(api.META_AND_ASSET_CTXS)
    pair = r.arr(body)
    if len(pair) != 2:
        raise r.fail(f"expected [meta, assetCtxs], got an array of {len(pair)}")
    return parse_meta(pair[0])


def _universe(r: Reader, meta: Any) -> Sequence[Any]:
    return r.arr(r.field(r.obj(meta, "meta"), "universe"), "meta.universe")


def _coin_name(entry: Any) -> str | None:
    """The ``name`` of a universe entry, or None when the entry is unreadable."""
    name = entry.get("name") if isinstance(entry, Mapping) else None
    return name if isinstance(name, str) and name else None


# --- current funding ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Predicted:
    """Hyperliquid's own entry (``HlPerp``) of ``predictedFundings`` for one coin."""

    rate: float
    next_time: datetime | None
    interval_hours: float | None


def asset_ctxs(body: Any) -> dict[str, Any]:
    """``metaAndAssetCtxs`` -> {coin: its asset context, unread}, aligned by position within this answer.

    ``assetCtxs[i]`` belongs to ``universe[i]`` of the same answer (never of a cached ``meta``:
    listings change); a length mismatch is a ParseError. A universe entry without a readable name
    is skipped (its slot still counts for the alignment); a context is read only when its coin is
    asked for (``funding_rate``), so an odd context of another coin does not fail the answer.
    """
    r = reader(api.META_AND_ASSET_CTXS)
    pair = r.arr(body)
    if len(pair) != 2:
        raise r.fail(f"expected [meta, assetCtxs], got an array of {len(pair)}")
    universe, ctxs = _universe(r, pair[0]), r.arr(pair[1], "assetCtxs")
    if len(universe) != len(ctxs):
        raise r.fail(f"meta.universe has {len(universe)} entries but assetCtxs {len(ctxs)}")
    out: dict[str, Any] = {}
    for entry, ctx in zip(universe, ctxs, strict=True):
        name = _coin_name(entry)
        if name is not None:
            out[name] = ctx
    return out


def parse_predicted(body: Any, coins: Collection[str]) -> dict[str, Predicted]:
    """``predictedFundings`` -> {coin: Hyperliquid's own prediction}, for the asked ``coins`` only.

    Shape: ``[[coin, [[venue, {fundingRate, nextFundingTime, fundingIntervalHours?} | null], ...]], ...]``
    (the docs example has no ``fundingIntervalHours``; a venue without a prediction has ``null``).
    Entries of other coins and of other venues (``BinPerp``, ``BybitPerp``) are not read, so an odd
    one of them cannot fail the answer; a malformed entry of an asked coin is a ParseError.
    """
    r = reader(api.PREDICTED_FUNDINGS)
    out: dict[str, Predicted] = {}
    for item in r.arr(body):
        coin = item[0] if isinstance(item, list) and item else None
        if not isinstance(coin, str) or coin not in coins:
            continue
        _coin, venues = _pair(r, item, f"coin entry of {coin}")
        found = _hl_prediction(r, coin, r.arr(venues, f"venues of {coin}"))
        if found is not None:
            out[coin] = found
    return out


def _pair(r: Reader, value: Any, what: str) -> tuple[Any, Any]:
    items = r.arr(value, what)
    if len(items) != 2:
        raise r.fail(f"{what} has {len(items)} items, expected 2")
    return items[0], items[1]


def _hl_prediction(r: Reader, coin: str, venues: Iterable[Any]) -> Predicted | None:
    """The ``HlPerp`` entry of one coin (None when absent or ``null``); other venues' entries are skipped."""
    for entry in venues:
        if not isinstance(entry, list) or not entry or entry[0] != api.HL_PERP:
            continue
        _venue, data = _pair(r, entry, f"{api.HL_PERP} entry of {coin}")
        if data is None:
            return None
        row = r.obj(data, f"{api.HL_PERP} prediction of {coin}")
        rate = r.opt_num(row, "fundingRate")
        if rate is None:
            return None
        interval = r.opt_num(row, "fundingIntervalHours")
        if interval is not None and interval <= 0:
            raise r.fail(f"fundingIntervalHours of {coin} is {interval!r}, expected a positive number")
        return Predicted(rate, r.opt_time_ms(row, "nextFundingTime"), interval)
    return None


#: the first settlement strictly after a time, on UTC multiples of the interval (the rule dYdX shares)
next_settlement = next_settlement_after


def funding_rate(inst: Instrument, ctx: Any, predicted: Predicted | None, received: datetime, *,
                 r: Reader | None = None) -> FundingRate:
    """One perp's FundingRate from its asset context (and Hyperliquid's own prediction, if any).

    The next settlement is the venue's own ``nextFundingTime`` (predictedFundings ``HlPerp``) when
    it sent one; otherwise the first settlement after the receive time on the interval's grid
    (hourly: the next whole hour UTC), which is what the venue docs promise. The rate and the prediction
    are held to Hyperliquid's cap of 4 %/h (``funding_cap``). ``r`` reads another source of the same context (the
    ``activeAssetCtx`` stream); by default ``metaAndAssetCtxs``.
    """
    r = r or reader(api.META_AND_ASSET_CTXS)
    ctx = r.obj(ctx, f"assetCtx of {inst.symbol}")
    mark, oi_coins = r.num(ctx, "markPx"), r.num(ctx, "openInterest")
    oracle = r.opt_num(ctx, "oraclePx")
    if predicted is not None and predicted.interval_hours is not None:
        interval, source = predicted.interval_hours, f"predictedFundings {api.HL_PERP} fundingIntervalHours"
    else:
        interval, source = api.FUNDING_INTERVAL_HOURS, "hourly (venue docs)"
    mult = inst.multiplier
    return plausible.funding_rate(r.endpoint, FundingRate(
        instrument=inst,
        rate=r.num(ctx, "funding"),
        interval_hours=interval,
        interval_source=source,
        time=None,  # an asset context carries no time
        received_at=received,
        predicted_rate=predicted.rate if predicted is not None else None,
        next_funding_time=_next_time(predicted, received, interval),
        mark_price=mark / mult,
        index_price=oracle / mult if oracle is not None else None,
        open_interest_usd=oi_coins * mark,
        note=_note(inst),
    ), funding_cap(interval))


def funding_cap(interval_hours: float) -> plausible.FundingCap:
    """Hyperliquid's cap (``api.FUNDING_CAP_PER_HOUR``, 4 %/h) over an interval of ``interval_hours``."""
    return plausible.FundingCap.hourly(api.FUNDING_CAP_PER_HOUR, interval_hours, "Hyperliquid caps funding at 4 %/h")


def _next_time(predicted: Predicted | None, received: datetime, interval_hours: float) -> datetime:
    """The venue's nextFundingTime when it gave one, else the next settlement after ``received``."""
    if predicted is not None and predicted.next_time is not None:
        return predicted.next_time
    return next_settlement(received, interval_hours)


def _note(inst: Instrument) -> str:
    unit = inst.symbol if inst.multiplier == 1 else f"{inst.symbol} = {inst.multiplier:g} {inst.asset}"
    note = f"OI = openInterest ({unit}, one side) x markPx; index = oraclePx"
    if inst.multiplier != 1:
        note += f"; prices per {inst.asset} = {inst.symbol} price / {inst.multiplier:g}"
    return note


def per_instrument(body: Any, instruments: Iterable[Instrument], read: Callable[[Instrument, Any], T],
                   errors: list[DtrackError] | None = None) -> tuple[list[T], list[str]]:
    """``read(instrument, its asset context)`` for each of ``instruments`` from a ``metaAndAssetCtxs``
    answer, and the symbols the answer lacked (delisted since the listing was cached).

    A context of an asked coin that does not parse fails the answer (a ParseError); with ``errors``, an
    implausible one costs only its own coin (its ``Implausible`` is appended there and the others serve),
    else it is raised too.
    """
    ctxs = asset_ctxs(body)
    return each_instrument(instruments, lambda inst: ctxs.get(inst.symbol), read, errors)


def funding_rates(body: Any, instruments: Iterable[Instrument], predicted: Mapping[str, Predicted],
                  received: datetime, errors: list[DtrackError] | None = None) -> tuple[list[FundingRate], list[str]]:
    """FundingRates of ``instruments`` from a ``metaAndAssetCtxs`` answer, and the symbols it lacked (see
    ``per_instrument`` for ``errors``)."""
    return per_instrument(body, instruments,
                          lambda inst, ctx: funding_rate(inst, ctx, predicted.get(inst.symbol), received), errors)


# --- open interest and prices ------------------------------------------------------------------


def open_interest(inst: Instrument, ctx: Any, received: datetime, *, r: Reader | None = None) -> OpenInterest:
    """One perp's open interest: ``openInterest`` (one side, in coins of the symbol) valued at ``markPx``.

    The amount stays in the venue's unit (kPEPE coins for kPEPE); the price is per one unit of the
    asset (``markPx`` / multiplier), so USD = openInterest x markPx exactly. ``r``: as for ``funding_rate``.
    """
    r = r or reader(api.META_AND_ASSET_CTXS)
    ctx = r.obj(ctx, f"assetCtx of {inst.symbol}")
    amount, mark = r.num(ctx, "openInterest"), r.num(ctx, "markPx")
    return plausible.open_interest(r.endpoint, instrument=inst, amount=amount, unit=Unit.BASE,
                                   price=mark / inst.multiplier, price_source=OI_PRICE_SOURCE, time=None,
                                   received_at=received, note=_oi_note(inst))


def _oi_note(inst: Instrument) -> str:
    unit = inst.symbol if inst.multiplier == 1 else f"{inst.symbol}, {inst.symbol} = {inst.multiplier:g} {inst.asset}"
    return f"openInterest is one side, in coins ({unit}); USD = openInterest x markPx"


def open_interests(body: Any, instruments: Iterable[Instrument], received: datetime,
                   errors: list[DtrackError] | None = None) -> tuple[list[OpenInterest], list[str]]:
    """OpenInterest of ``instruments`` from a ``metaAndAssetCtxs`` answer, and the symbols it lacked (see
    ``per_instrument`` for ``errors``)."""
    return per_instrument(body, instruments, lambda inst, ctx: open_interest(inst, ctx, received), errors)


def price_quote(inst: Instrument, ctx: Any, received: datetime, *, r: Reader | None = None) -> PriceQuote:
    """One perp's prices per unit of the asset: mark = ``markPx``, index = ``oraclePx``, last = ``midPx``
    (the book mid: the asset context carries no last-trade price; None on a one-sided book); the 24 h volume:
    ``dayNtlVlm`` (notional, USDC taken as USD) and ``dayBaseVlm`` (the coin's units, x the multiplier: 1000 PEPE
    per kPEPE). ``r``: as for ``funding_rate``."""
    r = r or reader(api.META_AND_ASSET_CTXS)
    ctx = r.obj(ctx, f"assetCtx of {inst.symbol}")
    mark, oracle, mid = r.num(ctx, "markPx"), r.opt_num(ctx, "oraclePx"), r.opt_num(ctx, "midPx")
    notional, coins = r.opt_num(ctx, "dayNtlVlm"), r.opt_num(ctx, "dayBaseVlm")
    mult = inst.multiplier
    return plausible.price_quote(r.endpoint, PriceQuote(
        instrument=inst, time=None, received_at=received, mark_price=mark / mult,
        index_price=oracle / mult if oracle is not None else None, last_price=mid / mult if mid is not None else None,
        volume_24h_usd=notional, volume_24h_base=coins * mult if coins is not None else None))


def price_quotes(body: Any, instruments: Iterable[Instrument], received: datetime,
                 errors: list[DtrackError] | None = None) -> tuple[list[PriceQuote], list[str]]:
    """PriceQuotes of ``instruments`` from a ``metaAndAssetCtxs`` answer, and the symbols it lacked (see
    ``per_instrument`` for ``errors``)."""
    return per_instrument(body, instruments, lambda inst, ctx: price_quote(inst, ctx, received), errors)


# --- candles -----------------------------------------------------------------------------------


class Bar(NamedTuple):
    """One ``candleSnapshot`` candle as sent: open time ``t`` (ms), prices ``o h l c`` and volume ``v`` in the coin's
    own unit (kPEPE: thousands of PEPE)."""

    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


def parse_bars(body: Any, coin: str, interval: str) -> list[Bar]:
    """``candleSnapshot`` -> its candles, in the answer's order.

    Times arrive as numbers (a re-serialised capture has them as strings: both are read). A candle of another coin
    or interval than asked is a ParseError: the answer is not what was asked for. A price <= 0, a negative volume,
    or a high and low that do not bracket the open and close is implausible.
    """
    r = reader(api.CANDLE_SNAPSHOT)
    rules = plausible.Rules(VENUE, r.endpoint, coin)
    out: list[Bar] = []
    for item in r.arr(body):
        row = r.obj(item, "candle")
        if row.get("s") != coin or row.get("i") != interval:
            raise r.fail(f"candle of {row.get('s')!r} {row.get('i')!r} in an answer about {coin!r} {interval!r}")
        bar = Bar(r.ms(row, "t"), r.num(row, "o"), r.num(row, "h"), r.num(row, "l"), r.num(row, "c"), r.num(row, "v"))
        rules.bar(bar.open, bar.high, bar.low, bar.close, ("o", "h", "l", "c"))
        rules.amount("v", bar.volume)
        out.append(bar)
    return out


def parse_candles(body: Any, coin: str, interval: str) -> list[Kline]:
    """``candleSnapshot`` -> its klines (open time ms, close, high, low in the coin's own unit), in the answer's
    order (those of ``parse_bars``)."""
    return [Kline(bar.open_ms, bar.close, bar.high, bar.low) for bar in parse_bars(body, coin, interval)]


def candles(bars: Iterable[Bar], inst: Instrument, period_ms: int, received: datetime) -> tuple[Candle, ...]:
    """OHLCV ``Candle`` records from ``candleSnapshot`` bars of ``period_ms``, ascending and de-duplicated by open
    time (``fields.ohlcv_candles``): prices per unit of the asset (÷ multiplier: per PEPE for kPEPE), ``volume_base``
    = ``v`` x the multiplier (``v`` counts the coin's own units), ``volume_usd`` None (the candle carries no
    notional). The bar still open at ``received`` has ``closed`` False (its close is the latest trade)."""
    return ohlcv_candles(bars, inst, period_ms, received, lambda b: (b.volume * inst.multiplier, None))


def price_points(candles: Iterable[Kline | tuple[int, float]], inst: Instrument, period_ms: int,
                 received: datetime) -> tuple[PricePoint, ...]:
    """Candle closes, highs and lows as PricePoints per unit of the asset, ascending and de-duplicated by open time
    (``fields.candle_closes``).

    A point's time is the candle's close (open + period); the candle still open at ``received`` is
    stamped ``received`` (its close is the latest price, not a settled one).
    """
    return candle_closes(candles, venue=VENUE, symbol=inst.symbol, multiplier=inst.multiplier, period_ms=period_ms,
                         received_at=received)


# --- history -----------------------------------------------------------------------------------


def parse_funding_history(body: Any, coin: str) -> list[tuple[datetime, float]]:
    """``fundingHistory`` rows -> (settlement time, hourly rate), in the answer's (ascending) order.

    Settlement times are the venue's own, a few ms past the hour (docs example: ...600076).
    """
    r = reader(api.FUNDING_HISTORY)
    out: list[tuple[datetime, float]] = []
    for item in r.arr(body):
        row = r.obj(item, "history row")
        if row.get("coin") != coin:
            raise r.fail(f"row for coin {row.get('coin')!r} in an answer about {coin!r}")
        rate = plausible.settlement(plausible.Rules(VENUE, r.endpoint, coin), r.num(row, "fundingRate"))
        out.append((r.time_ms(row, "time"), rate))
    return out


# --- order book ------------------------------------------------------------------------------------


def parse_l2_book(body: Any, inst: Instrument, received: datetime) -> OrderBook:
    """An ``l2Book`` answer -> the perp's ``OrderBook``: ``{"coin", "time", "levels": [bids, asks]}``, each level
    ``{px, sz, n}`` (``n``: the orders resting there, not read), best first as the venue sends them.

    The venue answers at most ``api.BOOK_LEVELS`` (20) levels a side, whatever depth is wanted: ``limit`` is 20, so
    a side of 20 levels may go on past its last one. Prices per unit of the asset (``px`` ÷ multiplier: per PEPE for
    kPEPE), sizes in coins (``sz`` x multiplier); ``time`` the answer's. Levels are read by the shared object reader
    (``books.object_side``): a price <= 0 or a size <= 0 is implausible, and so is a crossed book (best bid >= best
    ask); a side out of best-first order, a book of another coin, or not two sides, is a ParseError.
    """
    r = reader(api.L2_BOOK)
    book = r.obj(body)
    if book.get("coin") != inst.symbol:
        raise r.fail(f"the book of {book.get('coin')!r} in an answer about {inst.symbol!r}")
    levels = r.arr(r.field(book, "levels"), "levels")
    if len(levels) != 2:
        raise r.fail(f"levels has {len(levels)} sides, expected [bids, asks]")
    rules = plausible.Rules(VENUE, r.endpoint, inst.symbol)
    time = r.time_ms(book, "time")
    rules.time("time", time, received)
    bids = object_side(r, levels[0], "bids", inst, Unit.BASE, rules)
    asks = object_side(r, levels[1], "asks", inst, Unit.BASE, rules)
    check_book(r, rules, inst, bids, asks, "bids/asks")
    mult = inst.multiplier
    note = "at most 20 levels a side (the venue's cap)"
    if mult != 1:
        note += f"; prices per {inst.asset} = px / {mult:g}, sizes in {inst.asset} = sz x {mult:g}"
    return OrderBook(instrument=inst, bids=bids, asks=asks, unit=Unit.BASE, limit=api.BOOK_LEVELS, time=time,
                     received_at=received, note=note)


# --- margin tiers ------------------------------------------------------------------------------------


def margin_tiers(meta: Any, inst: Instrument, received: datetime) -> tuple[MarginTier, ...]:
    """The perp's maintenance-margin tiers from a ``meta`` answer, lowest first.

    The universe entry of the coin names its table (``marginTableId``): an id below ``api.TIERED_TABLES_FROM`` (50)
    is a single tier at that leverage, not listed; a higher one is looked up in ``marginTables``
    (``[[id, {description, marginTiers: [{lowerBound, maxLeverage}]}], ...]``); an entry without an id is held to
    its ``maxLeverage`` at any size. Per the venue docs (margin tiers): a tier's maintenance margin rate is half the
    initial margin rate at its max leverage, mmr = 1 / (2 x maxLeverage), and its deduction keeps the maintenance
    margin continuous: deduction_n = deduction_(n-1) + lowerBound_n x (mmr_n - mmr_(n-1)), deduction_0 = 0.
    Bounds are position notional in USDC (read as USD). A coin the universe lacks is a ParseError naming it.
    """
    r = reader(api.META)
    entry = next((e for e in _universe(r, meta) if _coin_name(e) == inst.symbol), None)
    if entry is None:
        raise r.fail(f"meta.universe lists no {inst.symbol!r}")
    table_id = r.opt_num(entry, "marginTableId")
    if table_id is None:
        table, source = _flat_table(r.num(entry, "maxLeverage")), "no marginTableId: maxLeverage at any size"
    elif table_id < api.TIERED_TABLES_FROM:
        table, source = _flat_table(table_id), f"margin table {table_id:g}: a single tier at {table_id:g}x"
    else:
        table = _listed_table(r, meta, int(table_id))
        description = table.get("description") or ""
        source = f"margin table {table_id:g}" + (f" ({description})" if description else "")
    return table_tiers(table, inst.symbol, received, source=source)


def _flat_table(leverage: float) -> Mapping[str, Any]:
    return {"description": "", "marginTiers": [{"lowerBound": "0.0", "maxLeverage": leverage}]}


def _listed_table(r: Reader, meta: Any, table_id: int) -> Mapping[str, Any]:
    for item in r.arr(r.field(r.obj(meta, "meta"), "marginTables"), "meta.marginTables"):
        key, table = _pair(r, item, "margin table entry")
        if key == table_id:
            return r.obj(table, f"margin table {table_id}")
    raise r.fail(f"marginTableId {table_id} is not in meta.marginTables")


def table_tiers(table: Any, symbol: str, received: datetime, *, source: str = "",
                endpoint: str = api.META) -> tuple[MarginTier, ...]:
    """The ``MarginTier`` rows of one margin table ``{description, marginTiers: [{lowerBound, maxLeverage}]}`` (the
    value of a ``meta.marginTables`` entry, or a ``marginTable`` answer), for ``symbol`` (see ``margin_tiers``).
    Tiers must start at 0 with rising bounds; a max leverage below 1 is implausible."""
    r = reader(endpoint)
    rows = r.arr(r.field(r.obj(table, "margin table"), "marginTiers"), "marginTiers")
    if not rows:
        raise r.fail(f"the margin table of {symbol} has no tier")
    rules = plausible.Rules(VENUE, r.endpoint, symbol)
    read = [(r.num(row, "lowerBound"), r.num(row, "maxLeverage"))
            for row in (r.obj(item, "margin tier") for item in rows)]
    if read[0][0] != 0 or any(b <= a for (a, _), (b, _) in itertools.pairwise(read)):
        raise r.fail(f"the tiers of {symbol} do not start at 0 with rising lowerBounds: {[b for b, _ in read]}")
    tiers: list[MarginTier] = []
    deduction, previous_mmr = 0.0, None
    for n, (floor, leverage) in enumerate(read):
        if not leverage >= 1:
            raise rules.refuse("maxLeverage", leverage, "a max leverage must be >= 1")
        mmr = 1.0 / (2.0 * leverage)
        if previous_mmr is not None:
            deduction += floor * (mmr - previous_mmr)
        previous_mmr = mmr
        cap = read[n + 1][0] if n + 1 < len(read) else None
        tiers.append(MarginTier(venue=VENUE, symbol=symbol, tier=n + 1, floor=floor, cap=cap, unit=Unit.USD, mmr=mmr,
                                deduction=deduction, max_leverage=leverage, time=None, received_at=received,
                                imr=1.0 / leverage, source=f"POST {api.INFO_PATH} {endpoint}",
                                note=(f"{source}; " if source else "") + _TIER_NOTE))
    return tuple(tiers)


_TIER_NOTE = ("mmr = 1 / (2 x maxLeverage), deduction for continuity (venue docs, margin tiers); bounds in USDC "
              "notional")
