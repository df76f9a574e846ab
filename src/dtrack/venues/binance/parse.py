"""Binance USDⓈ-M / COIN-M payloads -> dtrack records (pure: no I/O, no clock).

Every function takes the host key (``usdm`` / ``coinm``) because the two hosts differ in
field names and units:

- exchangeInfo: the trading status is ``status`` on USDⓈ-M but ``contractStatus`` on COIN-M,
  and only COIN-M has ``contractSize`` (USD per contract; 100 for BTCUSD_PERP, 10 for ETHUSD_PERP
  in the real 2021 capture ``binance-coinm__rest_exchangeInfo__capture.json``);
- openInterest: base coin on USDⓈ-M, contracts on COIN-M;
- premiumIndex: COIN-M lists delivery contracts too, with ``"lastFundingRate": ""`` and
  ``"nextFundingTime": 0`` (``binance-coinm__rest_premiumIndex__docs.json``).

Multiplier symbols (``1000PEPEUSDT``, baseAsset ``1000PEPE``) quote prices per 1000 coins;
records carry prices per ONE coin of the normalized asset.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from dtrack.records import FundingHistory, FundingRate, Instrument, Kind, Margin, Unit
from dtrack.symbols import split_multiplier
from dtrack.venues.binance import api
from dtrack.venues.fields import Reader, ms_to_utc, points_from_settlements, within


def reader(path: str) -> Reader:
    """A field reader whose errors name Binance and the endpoint path."""
    return Reader(api.VENUE, path)


# --- instruments -------------------------------------------------------------------------------


def parse_instruments(body: object, host: str) -> list[Instrument]:
    """The trading perpetuals of one host's ``exchangeInfo``.

    Dated futures and symbols not in trading status (e.g. ``PENDING_TRADING``, ``SETTLING``)
    are left out.
    """
    r = reader(api.PATHS[host].exchange_info)
    rows = r.arr(r.field(r.obj(body), "symbols"), "symbols")
    status_key = api.STATUS_FIELD[host]
    out: list[Instrument] = []
    for raw in rows:
        row = r.obj(raw, "symbols[]")
        if r.field(row, "contractType") != api.PERPETUAL or r.field(row, status_key) != api.TRADING:
            continue
        out.append(_instrument(r, row, host))
    return out


def _instrument(r: Reader, row: Mapping[str, object], host: str) -> Instrument:
    symbol = r.text(row, "symbol")
    asset, multiplier = split_multiplier(r.text(row, "baseAsset"))
    quote, settle = r.text(row, "quoteAsset"), r.text(row, "marginAsset")
    if host == api.COINM:
        # Inverse: one contract is worth contractSize USD (a JSON number in the real capture).
        size = r.num(row, "contractSize")
        if size <= 0:
            raise r.fail(f"contractSize of {symbol} is {size!r}, expected > 0")
        return Instrument(api.VENUE, symbol, asset, quote, settle, Kind.PERP, Margin.INVERSE,
                          multiplier=multiplier, contract_size=size, contract_unit=Unit.USD, market=host)
    # Linear: quantities (and openInterest) are in the base coin, e.g. 1000PEPE units.
    return Instrument(api.VENUE, symbol, asset, quote, settle, Kind.PERP, Margin.LINEAR,
                      multiplier=multiplier, contract_size=1.0, contract_unit=Unit.BASE, market=host)


# --- current funding ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Premium:
    """One premiumIndex row: prices per unit of the venue's base (multiplier included).

    ``rate`` (``lastFundingRate``) is the rate charged at ``next_funding``; both are None on
    delivery contracts, which Binance lists with ``""`` and ``0``.
    """

    symbol: str
    rate: float | None
    next_funding: datetime | None
    mark: float
    index: float
    time: datetime | None


def parse_premium_index(body: object, host: str) -> dict[str, Premium]:
    """``premiumIndex`` rows by symbol (an array without ``symbol``, one object with it)."""
    r = reader(api.PATHS[host].premium_index)
    rows: Sequence[object] = [body] if isinstance(body, Mapping) else r.arr(body)
    out: dict[str, Premium] = {}
    for raw in rows:
        row = r.obj(raw, "premiumIndex row")
        symbol = r.text(row, "symbol")
        out[symbol] = Premium(
            symbol=symbol,
            rate=r.opt_num(row, "lastFundingRate"),
            next_funding=r.opt_time_ms(row, "nextFundingTime"),
            mark=r.num(row, "markPrice"),
            index=r.num(row, "indexPrice"),
            time=r.opt_time_ms(row, "time"),
        )
    return out


def parse_funding_intervals(body: object, host: str) -> dict[str, float]:
    """``fundingInfo``: symbol -> ``fundingIntervalHours`` (only symbols with an adjustment)."""
    r = reader(api.PATHS[host].funding_info)
    out: dict[str, float] = {}
    for raw in r.arr(body):
        row = r.obj(raw, "fundingInfo row")
        hours = r.num(row, "fundingIntervalHours")
        if hours <= 0:
            raise r.fail(f"fundingIntervalHours of {row.get('symbol')!r} is {hours!r}, expected > 0")
        out[r.text(row, "symbol")] = hours
    return out


def interval_of(instrument: Instrument, intervals: Mapping[str, float]) -> tuple[float, str]:
    """(interval hours, where it came from): fundingInfo, else Binance's default of 8 h."""
    hours = intervals.get(instrument.symbol)
    if hours is not None:
        return hours, "fundingInfo.fundingIntervalHours"
    return float(api.DEFAULT_INTERVAL_HOURS), f"default {api.DEFAULT_INTERVAL_HOURS} h (not in fundingInfo)"


def parse_open_interest(body: object, host: str, symbol: str) -> float:
    """``openInterest`` of one symbol: base coin (USDⓈ-M) or contracts (COIN-M)."""
    r = reader(api.PATHS[host].open_interest)
    row = r.obj(body)
    got = r.text(row, "symbol")
    if got != symbol:
        raise r.fail(f"asked for {symbol}, answer is for {got}")
    amount = r.num(row, "openInterest")
    if amount < 0:
        raise r.fail(f"openInterest of {symbol} is {amount!r}, expected >= 0")
    return amount


def open_interest_usd(instrument: Instrument, amount: float, mark: float) -> tuple[float, str]:
    """One-sided OI in USD and how it was converted.

    COIN-M: contracts x contractSize USD. USDⓈ-M: base coin (``1000PEPE`` units for multiplier
    symbols) x the mark of that same unit.
    """
    if instrument.contract_unit is Unit.USD:
        return (amount * instrument.contract_size,
                f"OI = openInterest (contracts) x contractSize {instrument.contract_size:g} USD")
    base = instrument.symbol.removesuffix(instrument.quote) or instrument.asset
    return amount * mark, f"OI = openInterest ({base}) x mark"


def funding_rate(
    instrument: Instrument,
    premium: Premium,
    intervals: Mapping[str, float],
    open_interest: float | None,
    received: datetime,
) -> FundingRate:
    """The FundingRate of one perpetual from its premiumIndex row, fundingInfo and OI.

    ``open_interest`` is the raw openInterest amount, or None when it could not be fetched.
    ``time`` is Binance's own ``time`` of the row, else ``received``.
    """
    r = reader(api.PATHS[instrument.market].premium_index)
    if premium.rate is None or premium.next_funding is None:
        raise r.fail(f"perpetual {instrument.symbol} has no lastFundingRate / nextFundingTime")
    hours, source = interval_of(instrument, intervals)
    oi_usd, note = None, "OI unavailable (see errors)"
    if open_interest is not None:
        oi_usd, note = open_interest_usd(instrument, open_interest, premium.mark)
    return FundingRate(
        instrument=instrument,
        rate=premium.rate,
        interval_hours=hours,
        interval_source=source,
        time=premium.time or received,
        predicted_rate=None,  # lastFundingRate already IS the rate of the coming settlement
        next_funding_time=premium.next_funding,
        mark_price=premium.mark / instrument.multiplier,
        index_price=premium.index / instrument.multiplier,
        open_interest_usd=oi_usd,
        note=note,
    )


# --- history -----------------------------------------------------------------------------------


def parse_funding_history(body: object, host: str, symbol: str) -> list[tuple[int, float]]:
    """``fundingRate`` rows as (fundingTime ms, rate), in the order Binance sent them."""
    r = reader(api.PATHS[host].funding_rate)
    out: list[tuple[int, float]] = []
    for raw in r.arr(body):
        row = r.obj(raw, "fundingRate row")
        got = r.text(row, "symbol")
        if got != symbol:
            raise r.fail(f"asked for {symbol}, a row is for {got}")
        out.append((int(r.num(row, "fundingTime")), r.num(row, "fundingRate")))
    return out


def funding_history(
    instrument: Instrument,
    rows: Iterable[tuple[int, float]],
    start: datetime,
    end: datetime,
    current_interval_hours: float,
) -> FundingHistory:
    """A FundingHistory from settled (ms, rate) rows; notes when Binance returned nothing early enough."""
    points = within(points_from_settlements(((ms_to_utc(ms), rate) for ms, rate in rows), current_interval_hours),
                    start, end)
    note = ""
    if not points:
        note = f"Binance returned no settlement of {instrument.symbol} in the window"
    elif (points[0].time - start).total_seconds() > points[0].interval_hours * 3600.0:
        note = (f"Binance returned no settlement of {instrument.symbol} before "
                f"{points[0].time:%Y-%m-%d %H:%M} UTC (listed later, or history not kept)")
    return FundingHistory(api.VENUE, instrument.symbol, start, end, points, note)
