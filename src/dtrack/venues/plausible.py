"""Plausibility: the values no market can have, checked in ONE place when a venue answer is parsed.

A venue that sends a negative price, a mark of 0, negative open interest, a funding rate beyond any cap, a
timestamp years ahead or an expiry decades away has sent a broken row, not data. The parsers hand each record
(or, for open interest, the inputs of its conversion) to the function of its type here; a rule that fails raises
``Implausible(venue, endpoint, symbol, field, value, rule)``, a ``ParseError`` of kind ``implausible``, and the
parser's per-row loop drops that row and lists the error in the answer (the other rows and venues still serve).

Pure: no I/O, no clock; the receive time is the record's own ``received_at``. A field is named as the record
names it (``mark_price``, ``rate``: the column it would have been printed under) where a record is checked, and
as the venue does (``markPrice``, ``oi``) where a parser checks a raw figure before building on it (a price it
divides by, an enrichment from another endpoint, a history row). Venue caps come with the venue's answer or
its ``api.py``; the rules and the bounds that hold everywhere are here, each saying where it comes from (the
README section "What dtrack refuses to print" lists them). An answer that is an empty list where contracts
were asked is refused by ``fields.Reader.answered``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dtrack.errors import DtrackError, Implausible
from dtrack.records import (
    FundingRate,
    Instrument,
    OpenInterest,
    OptionQuote,
    OptionTrade,
    PriceQuote,
    SpotPrice,
    Unit,
    builder,
    oi_base_and_usd,
)

#: No venue dtrack reads existed before 2010 (BitMEX opened in 2014, Deribit in 2016); the same floor as
#: ``fields.MIN_MS``, which tells epoch seconds from milliseconds.
EARLIEST = datetime(2010, 1, 1, tzinfo=UTC)
#: How far past the receive time a venue's timestamp may lie: a clock a day fast is broken. The furthest any
#: venue looks ahead is a next settlement (8 h, OKX's ``fundingTime`` up to one interval), well inside it.
AHEAD = timedelta(days=1)
#: The furthest expiry dtrack accepts: 5 years from the quote. The longest-dated listings are Deribit's
#: December options about a year and a half out and the venues' quarterlies (under a year).
EXPIRY_HORIZON = timedelta(days=5 * 365)
#: How long after its option's expiry a trade may be stamped: a venue settling it may print for minutes, not a
#: day. (A QUOTE of an expired contract is not refused here: every view already leaves out what expired before
#: it was computed, and ccxt's Bybit option fixture, a real answer with renamed symbols, quotes one.)
EXPIRED_GRACE = timedelta(days=1)
#: The funding-rate bound where the venue publishes no cap for the symbol: 5 % per interval, whatever its
#: length. It is the largest cap any venue in the corpus publishes (Bybit ``upperFundingRate`` "0.05" for
#: BIOUSDT in ``bybit__rest_instruments_info__docs.json``; Binance fundingInfo caps go to 3 %, Hyperliquid's
#: is 4 %/h), so a capped rate always passes, and a rate of 1,000 % per interval is 200 times beyond it.
BACKSTOP_RATE = 0.05
#: Option marks against intrinsic value: a European option may be worth less than its intrinsic value only by
#: discounting, at most ``max(strike, underlying) x (1 - exp(-r T))`` (Binance prices on its spot index with a
#: rate, a put on ``strike x exp(-r T) - spot``); ``OPTION_RATE`` bounds that rate (Binance's docs example sends
#: ``riskFreeInterest`` 0.1, a capture 0.065), ``OPTION_SLACK`` of the underlying allows for a stale mark.
OPTION_RATE = 0.25
OPTION_SLACK = 0.01
#: Implied volatility above 1,000 % a year is no market's (Deribit's shortest-dated options peak in the low
#: hundreds of percent).
MAX_IV = 10.0
_YEAR_S = 365.0 * 86400.0
#: float slack when a rate is compared with a cap read from the same row (0.00375 vs 0.00375)
_EPS = 1e-12
_INF = math.inf
_OPEN_INTEREST = builder(OpenInterest)


@dataclass(frozen=True, slots=True)
class FundingCap:
    """The range a venue lets a funding rate take per interval, and where that range comes from."""

    floor: float
    cap: float
    source: str

    @classmethod
    def symmetric(cls, cap: float, source: str) -> FundingCap:
        """``[-cap, cap]``."""
        return cls(-abs(cap), abs(cap), source)

    @classmethod
    def hourly(cls, per_hour: float, interval_hours: float, source: str) -> FundingCap:
        """A cap published per hour, for an interval of ``interval_hours``."""
        return cls.symmetric(per_hour * interval_hours, source)


#: What a funding rate is held to where the venue publishes no cap for the symbol (see ``BACKSTOP_RATE``).
BACKSTOP = FundingCap.symmetric(BACKSTOP_RATE, "no venue publishes a cap above 5 % per interval")


@dataclass(frozen=True, slots=True)
class Rules:
    """The rules applied to one row: ``venue``, ``endpoint`` and ``symbol`` name it in the error."""

    venue: str
    endpoint: str
    symbol: str

    def refuse(self, field: str, value: object, rule: str) -> Implausible:
        """The error for ``field`` = ``value`` breaking ``rule``."""
        return Implausible(self.venue, self.endpoint, self.symbol, field, value, rule)

    def price(self, field: str, value: float | None) -> None:
        """A price, when present, is > 0 (and finite)."""
        if value is not None and not (math.isfinite(value) and value > 0):
            raise self.refuse(field, value, "a price must be > 0")

    def bar(self, open: float, high: float, low: float, close: float,
            names: tuple[str, str, str, str] = ("open", "high", "low", "close")) -> None:
        """A candle's prices: each > 0 (``price``), the open and close within ``[low, high]``. ``names``: the
        venue's fields of the four, which the error names (the four values with them)."""
        for name, value in zip(names, (open, high, low, close), strict=True):
            self.price(name, value)
        if not low <= min(open, close) <= max(open, close) <= high:
            raise self.refuse("/".join(names), [open, high, low, close],
                              f"the open {open!r} and close {close!r} must lie within [low {low!r}, high {high!r}]")

    def amount(self, field: str, value: float | None) -> None:
        """An amount (open interest, volume, an option mark), when present, is >= 0 (and finite)."""
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise self.refuse(field, value, "must be >= 0")

    def volatility(self, field: str, value: float | None) -> None:
        """An implied volatility (a fraction a year), when present, is >= 0 and at most ``MAX_IV``."""
        self.amount(field, value)
        if value is not None and value > MAX_IV:
            raise self.refuse(field, value, "an implied volatility above 1,000 %")

    def time(self, field: str, value: datetime | None, received_at: datetime) -> None:
        """A venue timestamp, when present, lies between 2010 and one day past the receive time."""
        if value is None:
            return
        if value < EARLIEST:
            raise self.refuse(field, value.isoformat(), "a venue time before 2010")
        if value > received_at + AHEAD:
            raise self.refuse(field, value.isoformat(),
                              f"more than a day after it was received ({received_at.isoformat()})")

    def expiry(self, value: datetime | None, as_of: datetime) -> None:
        """An expiry, when there is one, lies between 2010 and 5 years after ``as_of``."""
        if value is None:
            return
        if value < EARLIEST:
            raise self.refuse("expiry", value.isoformat(), "an expiry before 2010")
        if value > as_of + EXPIRY_HORIZON:
            raise self.refuse("expiry", value.isoformat(), f"more than 5 years after {as_of.isoformat()}")

    def funding(self, field: str, rate: float | None, cap: FundingCap, interval_hours: float | None = None) -> None:
        """A funding rate, when present, lies within ``cap`` (per interval)."""
        if rate is None:
            return
        slack = _EPS * max(1.0, abs(cap.cap), abs(cap.floor))
        if not (math.isfinite(rate) and cap.floor - slack <= rate <= cap.cap + slack):
            per = f" per {interval_hours:g} h" if interval_hours else " per interval"
            raise self.refuse(field, rate, f"outside [{cap.floor:g}, {cap.cap:g}]{per}: {cap.source}")


def refused(errors: Iterable[DtrackError]) -> set[str]:
    """The symbols whose rows ``errors`` refused as implausible (the rows were there: not "missing")."""
    return {e.symbol for e in errors if isinstance(e, Implausible)}


def _instrument_rules(endpoint: str, instrument: Instrument) -> Rules:
    return Rules(instrument.venue, endpoint, instrument.symbol)


def funding_rate(endpoint: str, record: FundingRate, cap: FundingCap | None = None) -> FundingRate:
    """``record`` if plausible: rate and prediction within ``cap`` (the venue's published cap for the symbol;
    ``BACKSTOP`` without one), mark and index > 0, open interest >= 0, times within the window."""
    bound = cap or BACKSTOP
    # Fast path (streams check every frame): a record that passes these plain comparisons passes every rule
    # below (NaN and infinities fail them); anything else goes through the rules, which name what is wrong.
    floor, ceiling, latest = bound.floor, bound.cap, record.received_at + AHEAD
    p, m, i, oi, t, n = (record.predicted_rate, record.mark_price, record.index_price, record.open_interest_usd,
                         record.time, record.next_funding_time)
    if (0.0 < record.interval_hours < _INF and floor <= record.rate <= ceiling
            and (p is None or floor <= p <= ceiling) and (m is None or 0.0 < m < _INF)
            and (i is None or 0.0 < i < _INF) and (oi is None or 0.0 <= oi < _INF)
            and (t is None or EARLIEST <= t <= latest) and (n is None or EARLIEST <= n <= latest)):
        return record
    rules = _instrument_rules(endpoint, record.instrument)
    rules.price("interval_hours", record.interval_hours)
    rules.funding("rate", record.rate, bound, record.interval_hours)
    rules.funding("predicted_rate", record.predicted_rate, bound, record.interval_hours)
    rules.price("mark_price", record.mark_price)
    rules.price("index_price", record.index_price)
    rules.amount("open_interest_usd", record.open_interest_usd)
    rules.time("time", record.time, record.received_at)
    rules.time("next_funding_time", record.next_funding_time, record.received_at)
    return record


def settlement(rules: Rules, rate: float, field: str = "rate") -> float:
    """A rate of a funding history (settled, or a venue's sample): within ``BACKSTOP`` per interval (the
    interval of a history row is only known from its neighbours; every venue's cap is inside the bound)."""
    rules.funding(field, rate, BACKSTOP)
    return rate


def open_interest(endpoint: str, *, instrument: Instrument, amount: float, unit: Unit, price: float,
                  price_source: str, time: datetime | None, received_at: datetime, note: str = "") -> OpenInterest:
    """``OpenInterest.of`` once its inputs are plausible: the amount >= 0 and the price it is converted with
    > 0 (checked first: the conversion of a USD figure divides by it), times and expiry within the window."""
    expiry, as_of = instrument.expiry, time or received_at
    fine = (0.0 <= amount < _INF and 0.0 < price < _INF and (time is None or EARLIEST <= time <= received_at + AHEAD)
            and (expiry is None or EARLIEST <= expiry <= as_of + EXPIRY_HORIZON))  # the rules' fast path
    if not fine:
        rules = _instrument_rules(endpoint, instrument)
        rules.amount("open_interest", amount)
        rules.price(f"price_used ({price_source})", price)
        rules.time("time", time, received_at)
        rules.expiry(expiry, as_of)
    base, usd = oi_base_and_usd(instrument, amount, unit, price)  # what ``OpenInterest.of`` builds, built faster
    return _OPEN_INTEREST(instrument=instrument, amount=amount, unit=unit, base=base, usd=usd, price_used=price,
                          price_source=price_source, time=time, received_at=received_at, note=note)


def price_quote(endpoint: str, record: PriceQuote) -> PriceQuote:
    """``record`` if plausible: mark, index and last > 0, 24 h volumes >= 0, time and expiry within the window."""
    m, i, last, t, expiry = (record.mark_price, record.index_price, record.last_price, record.time,
                             record.instrument.expiry)
    vu, vb = record.volume_24h_usd, record.volume_24h_base
    if ((m is None or 0.0 < m < _INF) and (i is None or 0.0 < i < _INF) and (last is None or 0.0 < last < _INF)
            and (vu is None or 0.0 <= vu < _INF) and (vb is None or 0.0 <= vb < _INF)
            and (t is None or EARLIEST <= t <= record.received_at + AHEAD)
            and (expiry is None or EARLIEST <= expiry <= (t or record.received_at) + EXPIRY_HORIZON)):
        return record  # the rules' fast path (see ``funding_rate``)
    rules = _instrument_rules(endpoint, record.instrument)
    rules.price("mark_price", record.mark_price)
    rules.price("index_price", record.index_price)
    rules.price("last_price", record.last_price)
    rules.amount("volume_24h_usd", vu)
    rules.amount("volume_24h_base", vb)
    rules.time("time", record.time, record.received_at)
    rules.expiry(record.instrument.expiry, record.observed_at)
    return record


def spot_price(endpoint: str, record: SpotPrice) -> SpotPrice:
    """``record`` if plausible: the price > 0, its time within the window."""
    rules = Rules(record.venue, endpoint, record.symbol)
    rules.price("price", record.price)
    rules.time("time", record.time, record.received_at)
    return record


def intrinsic(strike: float, underlying: float, is_call: bool) -> float:
    """An option's intrinsic value per coin against ``underlying``, in USD."""
    return max(0.0, underlying - strike) if is_call else max(0.0, strike - underlying)


def intrinsic_floor(strike: float, underlying: float, is_call: bool, years: float) -> float:
    """The least mark (USD per coin) an option can plausibly have: its intrinsic value less what discounting
    at ``OPTION_RATE`` over ``years`` can take off, less ``OPTION_SLACK`` of the underlying (see those)."""
    discount = max(strike, underlying) * (1.0 - math.exp(-OPTION_RATE * max(0.0, years)))
    return intrinsic(strike, underlying, is_call) - discount - OPTION_SLACK * underlying


def option_quote(endpoint: str, record: OptionQuote) -> OptionQuote:
    """``record`` if plausible: strike, contract size, underlying and index > 0; mark, bid, ask, IVs, open
    interest and volume >= 0; IVs at most 1,000 %; time and expiry within the window; and, while the option is
    live (before its expiry as of the quote), the mark not below its intrinsic value (``intrinsic_floor``)."""
    rules = Rules(record.venue, endpoint, record.symbol)
    rules.price("strike", record.strike)
    rules.price("contract_size", record.contract_size)
    if not math.isnan(record.underlying_price):  # NaN: the venue gave nothing to price against (OKX), no value
        rules.price("underlying_price", record.underlying_price)
    rules.price("index_price", record.index_price)
    for name in ("mark_price_usd", "mark_price_coin", "bid_price_usd", "ask_price_usd", "open_interest", "volume"):
        rules.amount(name, getattr(record, name))
    for name in ("mark_iv", "bid_iv", "ask_iv"):
        rules.volatility(name, getattr(record, name))
    rules.time("time", record.time, record.received_at)
    as_of = record.observed_at
    rules.expiry(record.expiry, as_of)
    mark, underlying = record.mark_price_usd, record.underlying_price
    years = (record.expiry - as_of).total_seconds() / _YEAR_S
    # the bound holds for a live option; one past its expiry (left out of every view) has none to hold to
    if mark is not None and math.isfinite(underlying) and years > 0:
        floor = intrinsic_floor(record.strike, underlying, record.is_call, years)
        if mark < floor:
            value = intrinsic(record.strike, underlying, record.is_call)
            raise rules.refuse("mark_price_usd", mark,
                               f"below the intrinsic value {value:g} against {underlying:g} beyond the tolerance "
                               f"(floor {floor:g}: discounting at {OPTION_RATE:g}/yr and {OPTION_SLACK:.0%} of it)")
    return record


def option_trade(endpoint: str, record: OptionTrade) -> OptionTrade:
    """``record`` if plausible: price, amount, index, strike and contract size > 0, IV >= 0 and at most
    1,000 %; its time within the window, traded before the option expired (a day's grace, ``EXPIRED_GRACE``) and
    not more than 5 years before it."""
    rules = Rules(record.venue, endpoint, record.symbol)
    for name in ("price_usd", "amount", "index_price", "strike", "contract_size"):
        rules.price(name, getattr(record, name))
    rules.volatility("iv", record.iv)
    rules.time("time", record.time, record.received_at)
    rules.expiry(record.expiry, record.time)
    if record.time > record.expiry + EXPIRED_GRACE:
        raise rules.refuse("time", record.time.isoformat(),
                           f"traded more than a day after the option expired ({record.expiry.isoformat()})")
    return record


def side_rates(endpoint: str, record: FundingRate, cap: FundingCap | None = None) -> FundingRate:
    """``record`` if its per-side terms (``record.sides``: GMX v2, cost frame, per interval) are plausible: at most one
    side pays funding and the paying side's rate lies within ``cap`` (``BACKSTOP`` without one); the receiving side's
    rate must only be finite (the paid amount spread over that side's open interest: it grows without bound as that
    interest shrinks); a borrow fee is a cost, >= 0 and within ``BACKSTOP`` per interval. Check the rest of the
    record with ``funding_rate``."""
    sides = record.sides
    if sides is None:
        return record
    rules, bound, hours = _instrument_rules(endpoint, record.instrument), cap or BACKSTOP, record.interval_hours
    if sides.funding_long > 0 and sides.funding_short > 0:
        raise rules.refuse("funding_short", sides.funding_short,
                           f"both sides pay funding (long {sides.funding_long:g}): one side pays the other")
    for name, value in (("funding_long", sides.funding_long), ("funding_short", sides.funding_short)):
        if not math.isfinite(value):
            raise rules.refuse(name, value, "must be a finite number")
        if value > 0:
            rules.funding(name, value, bound, hours)
    for name, value in (("borrow_long", sides.borrow_long), ("borrow_short", sides.borrow_short)):
        rules.amount(name, value)
        rules.funding(name, value, BACKSTOP, hours)
    return record
