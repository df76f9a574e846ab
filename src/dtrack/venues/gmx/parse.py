"""GMX API JSON -> dtrack records (pure: no I/O, no clock; the receive time is passed in).

What it owns: reading ``/v1/markets/info`` and ``/v1/markets/tickers`` (see ``api``) and the venue's units:
- numbers are integers in 30-decimal fixed point, parsed EXACTLY (``fixed``: int -> Decimal, no float until the
  record): ``fundingFactorPerSecond`` 1157407407407407407407407 is 1.157407407407407407407407e-6 per second;
- a market is a pool (``ETH/USD [WETH-USDC]``): several pools list the same asset, each its own perpetual. dtrack
  names it ``<chain>:<name>`` (``arbitrum:ETH/USD [WETH-USDC]``: the same name exists on both chains);
- funding accrues every second and is presented as an 8 h-equivalent (``interval_hours`` 8, no settlement time):
  per-second factor x 28,800, APR = x 31,536,000. ``rate`` is the paying (larger) side's funding, signed as on every
  venue (positive = longs pay). What each side pays or receives per USD of its own position is in
  ``FundingRate.sides``: the paying side ``+fundingFactorPerSecond``, the receiving side
  ``-fundingFactorPerSecond x paying OI / receiving OI`` (0 when it has no open interest), and each side's borrow fee
  (``borrowingFactorPerSecondFor*``), a cost never merged into the funding;
- open interest: ``longInterestUsd`` and ``shortInterestUsd`` are the traders' longs and shorts, both against the
  pool: the market's open interest is their sum, in USD (kept apart in ``OpenInterest.long_usd``/``short_usd``);
- prices: the index token's oracle ``markPrice`` (the mid of ``minPrice`` / ``maxPrice``), USD per whole token;
- funding history (``/v1/rates``, see ``api`` for the sources of its units and signs): snapshots of the rates,
  per-second factors x 10^30 like ``markets/info``'s, funding in the income frame (the paying side negative). A point
  is one snapshot's paying side, as the current ``rate``: ``-fundingRateLong`` when longs pay (their rate is
  negative), ``fundingRateShort`` when shorts pay, as an 8 h-equivalent (x 28,800, ``interval_hours`` 8: a sample of
  a continuous rate, like Deribit's history, not a settlement). Borrow (``borrowingRate*``) stays out of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Context, Decimal
from typing import Any, TypeVar

from dtrack.errors import DtrackError, Implausible, ParseError
from dtrack.records import (
    FundingPoint,
    FundingRate,
    Instrument,
    Kind,
    Margin,
    OpenInterest,
    PriceQuote,
    SideRates,
    Unit,
)
from dtrack.symbols import split_multiplier
from dtrack.venues import plausible
from dtrack.venues.fields import MAX_MS, MIN_MS, Listing, Reader, each_instrument, ms_to_utc
from dtrack.venues.gmx import api

VENUE = "gmx"
#: what ``OpenInterest.price_source`` says for GMX
OI_PRICE_SOURCE = "oracle markPrice"
#: "ETH/USD [WETH-USDC]": the index token, then the pool's long and short collateral tokens
_NAME = re.compile(r"^(?P<base>[A-Za-z0-9.]+)/USD \[(?P<pool>[^\[\]]+)\]$")
_INTEGER = re.compile(r"^-?[0-9]{1,80}$")
#: enough digits for every product and quotient here to stay exact far beyond a float's 17
_EXACT = Context(prec=100)
_SCALE = Decimal(10) ** api.PRECISION_DECIMALS

T = TypeVar("T")


def reader(path: str, chain: str) -> Reader:
    """The field reader of one endpoint on one chain (errors name ``GET <path> (<chain>)``)."""
    return Reader(VENUE, f"GET {path} ({chain})")


def fixed(r: Reader, row: Mapping[str, Any], key: str) -> Decimal:
    """A required 30-decimal fixed-point number (an integer string, or a JSON integer) as an exact Decimal.

    Anything else (a decimal point, an exponent, a float, a boolean) is a ParseError: the API sends integers, and a
    value in another form would be in another unit."""
    value = r.field(row, key)
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and _INTEGER.match(value))):
        raise r.fail(f"field {key!r} is {value!r}, expected an integer in 30-decimal fixed point")
    return _EXACT.divide(Decimal(int(value)), _SCALE)


def flag(r: Reader, row: Mapping[str, Any], key: str) -> bool:
    """A required JSON boolean."""
    value = r.field(row, key)
    if not isinstance(value, bool):
        raise r.fail(f"field {key!r} is {value!r}, expected true or false")
    return value


# --- instruments -----------------------------------------------------------------------------


def symbol_of(chain: str, name: str) -> str:
    """dtrack's name of a market: ``<chain>:<the API's name>``."""
    return f"{chain}:{name}"


def instrument(chain: str, name: str) -> Instrument:
    """The Instrument of a market named ``ETH/USD [WETH-USDC]`` on ``chain``. Prices are per whole index token, so
    the multiplier stays 1 even where the name carries a display prefix (``kSHIB``): the asset is ``SHIB``."""
    m = _NAME.match(name)
    if m is None:
        raise ParseError(VENUE, f"GET {api.MARKETS_INFO} ({chain})", f"market name {name!r} is not BASE/USD [POOL]")
    asset = split_multiplier(m.group("base"))[0]
    return Instrument(venue=VENUE, symbol=symbol_of(chain, name), asset=asset, quote=api.QUOTE, settle=api.QUOTE,
                      kind=Kind.PERP, margin=Margin.LINEAR, contract_size=1.0, contract_unit=Unit.USD, market=chain)


def _rows(r: Reader, body: Any) -> list[Mapping[str, Any]]:
    return [r.obj(item, "market") for item in r.arr(body)]


def _perp(r: Reader, chain: str, row: Mapping[str, Any]) -> Instrument | None:
    """The perpetual of one ``markets/info`` row; None for a swap-only pool or a disabled market."""
    r.text(row, "marketTokenAddress")
    name = r.text(row, "name")
    if flag(r, row, "isSpotOnly") or flag(r, row, "isDisabled"):
        return None
    return instrument(chain, name)


def parse_listing(body: Any, chain: str) -> Listing:
    """The perpetual markets of one chain's ``/v1/markets/info`` answer (swap-only pools and disabled markets left
    out). A row that does not parse is noted under its asset (``Listing.broken``)."""
    r = reader(api.MARKETS_INFO, chain)

    def identify(row: Mapping[str, Any]) -> tuple[str, str]:
        name = row.get("name")
        m = _NAME.match(name) if isinstance(name, str) else None
        return (m.group("base").upper() if m else "", symbol_of(chain, name) if isinstance(name, str) else "")

    return Listing.read(_rows(r, body), lambda row: _perp(r, chain, row), identify, whole=r)


# --- state of a market ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarketState:
    """One market's funding, borrow and open interest as the API sends them, exact: factors per second per USD,
    open interest in USD; ``max_funding_factor`` the funding factor's cap per second (None when not sent)."""

    funding_factor: Decimal
    longs_pay: bool
    borrow_long: Decimal
    borrow_short: Decimal
    long_usd: Decimal
    short_usd: Decimal
    max_funding_factor: Decimal | None

    def funding_per_second(self) -> tuple[Decimal, Decimal]:
        """(long, short) funding per second per USD of each side's position, cost frame (positive = pays): the
        paying side ``fundingFactorPerSecond``, the receiving side minus that times paying OI / receiving OI (the
        paid USD spread over the smaller side; 0 when the receiving side has no open interest)."""
        paying, receiving = (self.long_usd, self.short_usd) if self.longs_pay else (self.short_usd, self.long_usd)
        received = _EXACT.divide(_EXACT.multiply(self.funding_factor, paying), receiving) if receiving else Decimal(0)
        if self.longs_pay:
            return self.funding_factor, -received
        return -received, self.funding_factor


def market_state(r: Reader, row: Mapping[str, Any]) -> MarketState:
    """The ``MarketState`` of a ``markets/info`` row."""
    cap = fixed(r, row, "maxFundingFactorPerSecond") if "maxFundingFactorPerSecond" in row else None
    return MarketState(
        funding_factor=fixed(r, row, "fundingFactorPerSecond"),
        longs_pay=flag(r, row, "longsPayShorts"),
        borrow_long=fixed(r, row, "borrowingFactorPerSecondForLongs"),
        borrow_short=fixed(r, row, "borrowingFactorPerSecondForShorts"),
        long_usd=fixed(r, row, "longInterestUsd"),
        short_usd=fixed(r, row, "shortInterestUsd"),
        max_funding_factor=cap,
    )


def per_8h(per_second: Decimal) -> float:
    """A per-second factor as an 8 h-equivalent fraction (x 28,800), exact until the final float."""
    return float(_EXACT.multiply(per_second, Decimal(api.SECONDS_8H)))


def funding_cap(state: MarketState) -> plausible.FundingCap:
    """The paying side's bound per 8 h: the market's ``maxFundingFactorPerSecond`` x 28,800 (same row), else the
    backstop."""
    if state.max_funding_factor is None or state.max_funding_factor <= 0:
        return plausible.BACKSTOP
    return plausible.FundingCap.symmetric(per_8h(state.max_funding_factor),
                                          "GMX maxFundingFactorPerSecond of the market (same row) x 28,800")


def funding_rate(inst: Instrument, row: Any, price: Decimal | None, received: datetime) -> FundingRate:
    """One market's FundingRate (see the module doc): ``rate`` the paying side's funding per 8 h (positive = longs
    pay), ``sides`` each side's funding and borrow per 8 h, no settlement time; OI = longs + shorts, USD."""
    r = reader(api.MARKETS_INFO, inst.market)
    state = market_state(r, r.obj(row, f"market {inst.symbol}"))
    long_f, short_f = state.funding_per_second()
    signed = state.funding_factor if state.longs_pay else -state.funding_factor
    sides = SideRates(funding_long=per_8h(long_f), funding_short=per_8h(short_f),
                      borrow_long=per_8h(state.borrow_long), borrow_short=per_8h(state.borrow_short))
    cap = funding_cap(state)
    record = FundingRate(
        instrument=inst, rate=per_8h(signed), interval_hours=api.INTERVAL_HOURS, interval_source=api.INTERVAL_SOURCE,
        time=None, received_at=received, next_funding_time=None,
        mark_price=float(price) if price is not None else None,
        open_interest_usd=float(state.long_usd + state.short_usd),
        note=f"{'longs' if state.longs_pay else 'shorts'} pay funding (the larger side); the other side receives "
             "it spread over its own open interest; borrow fees per side are charged beside funding; "
             "OI = longs + shorts (both face the pool)",
        sides=sides)
    return plausible.side_rates(r.endpoint, plausible.funding_rate(r.endpoint, record, cap), cap)


def open_interest(inst: Instrument, row: Any, price: Decimal, received: datetime) -> OpenInterest:
    """One market's open interest: longs + shorts in USD (each side kept), coins at the oracle ``markPrice``."""
    r = reader(api.MARKETS_INFO, inst.market)
    state = market_state(r, r.obj(row, f"market {inst.symbol}"))
    rules = plausible.Rules(VENUE, r.endpoint, inst.symbol)
    rules.amount("longInterestUsd", float(state.long_usd))
    rules.amount("shortInterestUsd", float(state.short_usd))
    oi = plausible.open_interest(r.endpoint, instrument=inst, amount=float(state.long_usd + state.short_usd),
                                 unit=Unit.USD, price=float(price), price_source=OI_PRICE_SOURCE, time=None,
                                 received_at=received,
                                 note="longs + shorts, USD (both sides face the pool; long_usd and short_usd apart)")
    return replace(oi, long_usd=float(state.long_usd), short_usd=float(state.short_usd))


def price_quote(inst: Instrument, price: Decimal, received: datetime) -> PriceQuote:
    """One market's price: the index token's oracle ``markPrice`` (GMX trades at its oracle: no separate index or
    last price)."""
    endpoint = reader(api.MARKETS_TICKERS, inst.market).endpoint
    return plausible.price_quote(endpoint, PriceQuote(instrument=inst, time=None, received_at=received,
                                                      mark_price=float(price)))


# --- joining the two answers -------------------------------------------------------------------------


def info_rows(body: Any, chain: str) -> dict[str, Mapping[str, Any]]:
    """``/v1/markets/info`` -> {dtrack symbol: row}, rows without a readable name left out (nobody can ask for
    them)."""
    r = reader(api.MARKETS_INFO, chain)
    out: dict[str, Mapping[str, Any]] = {}
    for row in _rows(r, body):
        name = row.get("name")
        if isinstance(name, str) and name:
            out[symbol_of(chain, name)] = row
    return out


def mark_prices(body: Any, chain: str, symbols: Iterable[str], errors: list[DtrackError]) -> dict[str, Decimal]:
    """``/v1/markets/tickers`` -> {dtrack symbol: ``markPrice`` in USD per whole index token}, for ``symbols`` only
    (another market's odd row cannot fail the answer). A price <= 0 is implausible and costs only its market (its
    ``Implausible`` goes to ``errors``); a row that does not parse fails the answer."""
    r = reader(api.MARKETS_TICKERS, chain)
    wanted = set(symbols)
    out: dict[str, Decimal] = {}
    for row in _rows(r, body):
        name = row.get("symbol")
        if not isinstance(name, str) or symbol_of(chain, name) not in wanted:
            continue
        price = fixed(r, row, "markPrice")
        try:
            plausible.Rules(VENUE, r.endpoint, symbol_of(chain, name)).price("markPrice", float(price))
        except Implausible as exc:
            errors.append(exc)
            continue
        out[symbol_of(chain, name)] = price
    return out


def per_market(rows: Mapping[str, Mapping[str, Any]], instruments: Iterable[Instrument],
               read: Callable[[Instrument, Mapping[str, Any]], T],
               errors: list[DtrackError]) -> tuple[list[T], list[str]]:
    """``read(instrument, its markets/info row)`` for each of ``instruments``, and the symbols the answer lacks; an
    implausible row costs only its market (its ``Implausible`` goes to ``errors``)."""
    return each_instrument(instruments, lambda inst: rows.get(inst.symbol), read, errors)


# --- funding history (/v1/rates) ------------------------------------------------------------------------------


def market_address(chain: str, row: Mapping[str, Any]) -> str:
    """The ``marketTokenAddress`` of a ``markets/info`` row (what ``/v1/rates`` is asked by)."""
    return reader(api.MARKETS_INFO, chain).text(row, "marketTokenAddress")


def epoch_seconds(r: Reader, row: Mapping[str, Any], key: str) -> datetime:
    """A required epoch-seconds timestamp (a number) as UTC, range-checked: a value in milliseconds (or garbage) is
    a ParseError, never a date in the year 50000."""
    value = r.num(row, key)
    if not MIN_MS <= value * 1000 <= MAX_MS:
        raise r.fail(f"field {key!r} is {row.get(key)!r}, expected epoch seconds (2010..2100)")
    return ms_to_utc(value * 1000)


def paying_per_second(rules: plausible.Rules, long_rate: Decimal, short_rate: Decimal) -> Decimal:
    """The paying side's funding factor per second, signed as ``FundingRate.rate`` (positive = longs pay), from a
    snapshot's income-frame rates (the paying side negative). Both sides paying, or a side receiving what nobody
    pays, is implausible."""
    if long_rate < 0 and short_rate < 0:
        raise rules.refuse("fundingRateShort", str(short_rate),
                           f"both sides pay funding (fundingRateLong {long_rate}): one side pays the other")
    if long_rate < 0:
        return -long_rate
    if short_rate < 0:
        return short_rate
    if long_rate > 0 or short_rate > 0:
        raise rules.refuse("fundingRateLong" if long_rate > 0 else "fundingRateShort", str(max(long_rate, short_rate)),
                           "a side receives funding that no side pays")
    return Decimal(0)


def _market_snapshots(r: Reader, body: Any, address: str) -> Sequence[Any] | None:
    """The ``ratesSnapshots`` of the market ``address`` in a ``/v1/rates`` answer (addresses compared without case,
    as the GMX interface does); None when the answer lacks the market. Other markets' entries are not read."""
    for item in r.arr(body):
        market = r.obj(item, "market")
        if r.text(market, "marketAddress").lower() == address.lower():
            return r.arr(r.field(market, "ratesSnapshots"), "ratesSnapshots")
    return None


def history_points(body: Any, inst: Instrument, address: str,
                   received: datetime) -> tuple[FundingPoint, ...] | None:
    """The market's funding snapshots in a ``/v1/rates`` answer as ascending, de-duplicated ``FundingPoint``s: the
    paying side's rate per 8 h (positive = longs pay; ``interval_hours`` 8, see the module doc); None when the answer
    has no entry for the market (an entry without snapshots: empty). A snapshot that does not parse fails the answer
    (ParseError); one no market can have (both sides paying, more than the backstop per 8 h, a time more than a day
    ahead) too (``Implausible``)."""
    r = reader(api.RATES, inst.market)
    rules = plausible.Rules(VENUE, r.endpoint, inst.symbol)
    snapshots = _market_snapshots(r, body, address)
    if snapshots is None:
        return None
    out: dict[datetime, float] = {}
    for raw in snapshots:
        snap = r.obj(raw, "rates snapshot")
        when = epoch_seconds(r, snap, "timestamp")
        rules.time("timestamp", when, received)
        signed = paying_per_second(rules, fixed(r, snap, "fundingRateLong"), fixed(r, snap, "fundingRateShort"))
        out[when] = plausible.settlement(rules, per_8h(signed), "fundingRateLong/Short x 28,800")
    return tuple(FundingPoint(venue=VENUE, symbol=inst.symbol, time=t, rate=rate, interval_hours=api.INTERVAL_HOURS,
                              received_at=received) for t, rate in sorted(out.items()))
