"""The liquidation-price query (``AsyncClient.liqprice``): one position on one venue's contract, with the venue's
real maintenance-margin tiers.

Steps: check the input (before any request) -> the venue's instrument list (disk-cached) -> the contract the
``symbol`` names (a venue symbol or normalized id exactly; an asset or a ccxt symbol: its perpetual, linear USDT
first) -> its tiers (``Adapter.fetch_margin_tiers``; a venue with a published rule instead of a table, Deribit, gets
the rule as a tier from ``dtrack.analytics.liqprice``) and, when no entry price is given, its mark price
(``fetch_quotes``), concurrently -> the formula (``dtrack.analytics.liqprice``, pure). A venue that fails makes a
result with the failure (exit 1); bad input is a ``UsageError`` with one line.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dtrack.client.fetch import on_venues
from dtrack.client.inputs import shown
from dtrack.errors import ParseError, SymbolNotFound, UnsupportedError, UsageError
from dtrack.records import Instrument, Kind, Margin, MarginTier, Unit
from dtrack.results import Failure, LiqPriceResult

if TYPE_CHECKING:
    from dtrack.analytics.liqprice import Sizing
    from dtrack.client.core import AsyncClient
    from dtrack.venues.base import Adapter

SIDES = {"long": 1, "short": -1}
MODES = ("isolated", "cross")
#: the quote currencies an asset's perpetual is picked by, in order (then inverse contracts)
QUOTE_ORDER = ("USDT", "USDC", "USD")


def _number(value: float | None, option: str, what: str, *, low: float = 0.0, high: float = math.inf,
            inclusive: bool = False) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not ((low <= value) if inclusive else (low < value)) or value > high:
        raise UsageError(f"bad {option} {value!r}: expected {what}")
    return float(value)


@dataclass(frozen=True, slots=True)
class Asked:
    """The checked input: side (+1/-1), the numbers (percents as fractions), the mode."""

    venue: str
    symbol: str
    side: int
    size: float | None
    entry: float | None
    leverage: float | None
    margin: float | None
    mode: str
    wallet: float | None
    target: float | None
    risk: float | None
    stop: float | None
    capital: float | None


def check(venue: str, symbol: str, side: str, size: float | None, entry: float | None, leverage: float | None,
          margin: float | None, mode: str, wallet: float | None, target_distance: float | None,
          risk: float | None, stop: float | None, capital: float | None) -> Asked:
    """The input checked before any request (each problem one usage-error line naming the option)."""
    from dtrack.analytics.liqprice import FORMULA_VENUES
    from dtrack.venues import ACTIVE, venue_info

    info = venue_info(venue)
    if info.status == "closed":
        raise UsageError(f"{info.title} closed on {info.closed_on}: no contracts to compute; active venues: "
                         f"{', '.join(ACTIVE)}")
    if info.name not in FORMULA_VENUES or info.adapter is None:
        raise UsageError(f"--venue {info.name}: dtrack has no documented liquidation formula for it; venues with "
                         f"one: {', '.join(FORMULA_VENUES)}")
    if not symbol or not symbol.strip() or len(symbol) > 64:
        raise UsageError("--symbol is empty: give a venue symbol (BTCUSDT, BTC-USDT-SWAP) or an asset (BTC)")
    s = SIDES.get(str(side).strip().lower())
    if s is None:
        raise UsageError(f"bad --side {shown(str(side))}: expected long or short")
    if str(mode).strip().lower() not in MODES:
        raise UsageError(f"bad --mode {shown(str(mode))}: expected isolated or cross")
    mode = str(mode).strip().lower()
    if leverage is not None and margin is not None:
        raise UsageError("give --leverage or --margin, not both (the margin is the position's value / leverage)")
    sizing = (risk, stop, capital)
    if any(x is not None for x in sizing) and any(x is None for x in sizing):
        raise UsageError("position sizing needs all of --risk (percent of capital), --stop (percent) and --capital "
                         "(USD)")
    if mode == "cross" and wallet is None:
        raise UsageError("--mode cross needs --wallet USD (the balance backing the position)")
    if mode == "isolated" and wallet is not None:
        raise UsageError("--wallet goes with --mode cross (in isolated mode the margin backs the position)")
    if mode == "cross" and target_distance is not None:
        raise UsageError("--target-distance searches the isolated margin per leverage; in cross mode the wallet "
                         "sets the liquidation price")
    if size is None and risk is None:
        raise UsageError("give --size (coins of the asset), or --risk/--stop/--capital to size the position")
    if leverage is None and margin is None and target_distance is None:
        raise UsageError("give --leverage or --margin (or --target-distance to search the leverage)")
    def share(value: float | None, option: str, what: str, high: float) -> float | None:
        got = _number(value, option, what, high=high)
        return None if got is None else got / 100.0

    return Asked(
        venue=info.name, symbol=symbol.strip(), side=s,
        size=_number(size, "--size", "a position size in coins > 0"),
        entry=_number(entry, "--entry", "a price in USD > 0"),
        leverage=_number(leverage, "--leverage", "a leverage of at least 1 (10 = 10x)", low=1.0, high=1e4,
                         inclusive=True),
        margin=_number(margin, "--margin", "a margin in USD > 0"), mode=mode,
        wallet=_number(wallet, "--wallet", "a wallet balance in USD > 0"),
        target=share(target_distance, "--target-distance", "a percent between 0 and 100 (30 = 30 %)", 99.99),
        risk=share(risk, "--risk", "a percent of capital > 0 and <= 100", 100.0),
        stop=share(stop, "--stop", "a percent > 0 and < 100 (5 = 5 %)", 99.99),
        capital=_number(capital, "--capital", "a capital in USD > 0"))


def pick_contract(instruments: Sequence[Instrument], text: str, venue: str) -> tuple[Instrument, str]:
    """The contract ``text`` names on the venue, and a note when it was chosen among several: a venue symbol or
    normalized id names it exactly (a perpetual before a dated future); an asset (``BTC``, ``1000PEPE``) or a ccxt
    symbol (``BTC/USDT:USDT``) names its perpetual, linear USDT first, then USDC, USD, then inverse."""
    from dtrack.symbols import close_matches, parse_asset

    key = text.strip().lower()
    contracts = [i for i in instruments if i.kind in (Kind.PERP, Kind.FUTURE)]
    exact = [i for i in contracts if key in (i.symbol.lower(), i.normalized_id.lower())]
    exact.sort(key=lambda i: i.kind is not Kind.PERP)
    if exact and (len(exact) == 1 or exact[0].symbol.lower() == key or exact[0].kind is Kind.PERP):
        return exact[0], ""
    try:
        query = parse_asset(text)
    except UsageError:
        query = None
    perps = [i for i in contracts if i.kind is Kind.PERP and query is not None and i.asset == query.asset
             and query.quote in (None, i.quote) and query.settle in (None, i.settle)]
    if not perps:
        known = sorted({i.symbol for i in contracts} | {i.asset for i in contracts})
        raise SymbolNotFound(text, close_matches(text.strip().upper(), known), where=venue)

    def rank(i: Instrument) -> tuple[int, int, str]:
        quote = QUOTE_ORDER.index(i.quote) if i.quote in QUOTE_ORDER else len(QUOTE_ORDER)
        return (i.margin is Margin.INVERSE, quote, i.symbol)

    perps.sort(key=rank)
    chosen = perps[0]
    others = [i.symbol for i in perps[1:]]
    note = (f"{text.strip()} on {venue}: {chosen.symbol} ({chosen.margin.value}); also listed: {', '.join(others)} "
            "(name one with --symbol)") if others else ""
    return chosen, note


def contract_value(inst: Instrument) -> float:
    """Coins of the asset per contract (linear) or USD per contract (inverse), to count contracts (OKX tiers)."""
    if inst.margin is Margin.INVERSE:
        return inst.contract_size  # USD per contract (Binance COIN-M 100 / 10, OKX ctVal)
    if inst.contract_unit is Unit.BASE:
        return inst.contract_size * inst.multiplier
    return inst.contract_size


@dataclass(slots=True)
class Fetched:
    """What the venue answered: the tiers (or the reason it has no table) and the mark price when asked."""

    tiers: tuple[MarginTier, ...] = ()
    no_table: UnsupportedError | None = None
    mark: float | None = None
    mark_source: str = ""


async def venue_job(adapter: Adapter, inst: Instrument, want_mark: bool) -> Fetched:
    """The contract's tiers and (``want_mark``) its mark price, concurrently."""

    async def tiers() -> tuple[tuple[MarginTier, ...], UnsupportedError | None]:
        try:
            return await adapter.fetch_margin_tiers(inst), None
        except UnsupportedError as exc:
            return (), exc

    async def mark() -> tuple[float, str] | None:
        if not want_mark:
            return None
        answer = await adapter.fetch_quotes([inst])
        for q in answer.items:
            if q.instrument.symbol != inst.symbol:
                continue
            # the mark where the venue sends one; else its oracle / index price (dYdX), else the last trade
            for value, name in ((q.mark_price, "mark"), (q.index_price, "index (oracle)"), (q.last_price, "last")):
                if value is not None:
                    return value, f"the contract's current {name} price"
        if answer.errors:
            raise answer.errors[0]
        raise ParseError(adapter.name, "quotes", f"no price of {inst.symbol}: give --entry")

    (table, why), price = await asyncio.gather(tiers(), mark())
    return Fetched(tiers=table, no_table=why, mark=price[0] if price else None,
                   mark_source=price[1] if price else "")


async def run(client: AsyncClient, *, venue: str, symbol: str, side: str, size: float | None = None,
              entry: float | None = None, leverage: float | None = None, margin: float | None = None,
              mode: str = "isolated", wallet: float | None = None, target_distance: float | None = None,
              risk: float | None = None, stop: float | None = None, capital: float | None = None) -> LiqPriceResult:
    """See ``AsyncClient.liqprice``."""
    from dtrack.analytics import liqprice as lp
    from dtrack.venues import VENUES

    asked = check(venue, symbol, side, size, entry, leverage, margin, mode, wallet, target_distance, risk, stop,
                  capital)
    deadline = client.deadline()
    pool = await client.pool()
    listings, failures = await on_venues(pool, [asked.venue], lambda a: a.listing(), deadline.first_step())
    if asked.venue not in listings:
        return LiqPriceResult(as_of=client.now(), failures=failures, all_failed=True, venue=asked.venue,
                              symbol=asked.symbol)
    inst, note = pick_contract(listings[asked.venue].instruments, asked.symbol, asked.venue)
    notes = [note] if note else []
    inverse = inst.margin is Margin.INVERSE
    try:
        lp.formula_for(asked.venue, inverse)
    except lp.LiqError as exc:
        raise UsageError(str(exc)) from None
    answers, failures = await on_venues(pool, [asked.venue], lambda a: venue_job(a, inst, asked.entry is None),
                                        deadline.left())
    got = answers.get(asked.venue)
    if got is None:
        return LiqPriceResult(as_of=client.now(), failures=failures, all_failed=True, venue=asked.venue,
                              symbol=inst.symbol, instrument=inst, notes=notes)
    price = asked.entry if asked.entry is not None else got.mark
    assert price is not None
    entry_source = "given" if asked.entry is not None else got.mark_source
    sizing: Sizing | None = None
    if asked.risk is not None and asked.stop is not None and asked.capital is not None:
        sizing = lp.size_for_risk(asked.capital, price, asked.stop * 100, asked.risk * 100, asked.side)
    coins = asked.size if asked.size is not None else (sizing.size_base if sizing is not None else None)
    assert coins is not None
    tiers = got.tiers
    try:
        if not tiers and got.no_table is not None:
            try:
                tiers = lp.rule_tiers(asked.venue, inst.symbol, inst.asset, coins, inverse, client.now())
            except lp.LiqError as exc:
                if asked.venue in lp.RULE_VENUES:
                    raise UsageError(str(exc)) from None
                return LiqPriceResult(as_of=client.now(), failures=[Failure.of(asked.venue, got.no_table)],
                                      all_failed=True, venue=asked.venue, symbol=inst.symbol, instrument=inst,
                                      notes=notes)
        if not tiers:
            fail = Failure.of(asked.venue, ParseError(asked.venue, "margin tiers", f"no tiers for {inst.symbol}"))
            return LiqPriceResult(as_of=client.now(), failures=[fail], all_failed=True, venue=asked.venue,
                                  symbol=inst.symbol, instrument=inst, notes=notes)
        req = lp.Request(venue=asked.venue, symbol=inst.symbol, asset=inst.asset, inverse=inverse,
                         contract_value=contract_value(inst), side=asked.side, entry=price, size=coins,
                         leverage=asked.leverage, margin_usd=asked.margin, mode=asked.mode, wallet_usd=asked.wallet,
                         fee_rate=client.settings.taker_fee(asked.venue, VENUES[asked.venue].taker_fee_pct / 100.0),
                         target_distance=asked.target)
        report = lp.liquidation_report(req, tiers, sizing=sizing, taker_fee=req.fee_rate)
    except lp.LiqError as exc:
        raise UsageError(f"{asked.venue} {inst.symbol}: {exc}") from None
    return LiqPriceResult(as_of=client.now(), failures=failures, venue=asked.venue, symbol=inst.symbol,
                          instrument=inst, report=report, entry_source=entry_source, notes=notes)
