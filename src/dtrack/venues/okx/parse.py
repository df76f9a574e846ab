"""OKX v5 payloads -> records (pure: no I/O, no clock; the receive time is passed in).

Owns the reading of: instruments (swaps and dated futures, contract sizes), funding-rate (current
rate and interval), open-interest, mark-price, index-tickers, tickers, funding-rate-history, the
rubik statistics (open-interest-history, long/short ratios: rows are arrays) and candles; and the
assembly of records from them (``FundingRate``, ``OpenInterest``, ``OIPoint``, ``LongShortRatio``,
``PricePoint``, ``PriceQuote``, ``SpotPrice``). Every field goes through ``Reader`` so that a
malformed payload raises ``ParseError`` naming OKX and the endpoint.

One odd row never fails a bulk answer: the bulk parsers read only the rows asked for (by instId) and
do not look at the others; the instrument list skips contracts of unknown type or unit and sets aside
(in ``Listing.broken``) the malformed ones, which fail only a query that asks for their coin.

Units: ``oi`` is contracts of ``ctVal x ctMult`` ``ctValCcy`` (USD for inverse contracts, the coin for
linear ones), ``oiCcy`` the coin, ``oiUsd`` USD; all one-sided. Prices are USD per one unit of the
contract's base coin and are divided by the instrument's multiplier (per one unit of the asset).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dtrack.errors import ParseError
from dtrack.records import (
    FundingRate,
    Instrument,
    Kind,
    LongShortRatio,
    Margin,
    OIPoint,
    OpenInterest,
    PricePoint,
    PriceQuote,
    SpotPrice,
    Unit,
)
from dtrack.symbols import split_multiplier
from dtrack.venues.fields import Listing, Reader, Row, ms_to_utc
from dtrack.venues.okx import api

HOUR_MS = 3_600_000
INTERVAL_SOURCE = "nextFundingTime - fundingTime (funding-rate)"
#: contract value currencies that mean "US dollars" for inverse swaps (ctValCcy "USD").
_USD = frozenset({"USD"})


@dataclass(frozen=True, slots=True)
class SwapFunding:
    """One swap's row of funding-rate: the rate of the settlement at ``funding_time``."""

    rate: float
    funding_time: datetime
    interval_hours: float
    predicted_rate: float | None
    time: datetime | None


@dataclass(frozen=True, slots=True)
class ContractOpenInterest:
    """One contract's open interest in the three units OKX gives (contracts, coin, USD), one side,
    and OKX's time of it (``ts``; history rows always carry one)."""

    contracts: float
    coin: float | None
    usd: float | None
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Ticker:
    """One row of tickers: the last trade price (None when OKX sends "") and its time."""

    last: float | None
    time: datetime | None


@dataclass(frozen=True, slots=True)
class CandleRow:
    """One kline: its open time and close price (per one unit of the contract's base coin)."""

    open_time: datetime
    close: float


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One settlement of funding-rate-history; ``realized`` says ``realizedRate`` gave the rate."""

    time: datetime
    rate: float
    realized: bool


def _data(reader: Reader, body: Any) -> Sequence[Any]:
    """The rows of an OKX envelope ``{"code": "0", "msg": "", "data": [...]}``, not yet checked."""
    return reader.arr(reader.field(reader.obj(body), "data"), "data")


def _rows(reader: Reader, body: Any) -> list[Mapping[str, Any]]:
    """Every row of an envelope, each required to be an object (answers about one asked swap)."""
    return [reader.obj(row, "data row") for row in _data(reader, body)]


def _asked(reader: Reader, body: Any, wanted: Collection[str]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(instId, row) of the rows whose instId was asked for; other rows, whatever their shape, are not read."""
    for row in _data(reader, body):
        inst_id = row.get("instId") if isinstance(row, Mapping) else None
        if isinstance(inst_id, str) and inst_id in wanted:
            yield inst_id, row


# --- instruments ----------------------------------------------------------------------------


def parse_instruments(body: Any) -> Listing:
    """Live perpetual swaps and dated futures of an instruments answer (``instType=SWAP`` or ``FUTURES``).

    Skipped (nobody can ask for them): rows that are not objects, other instTypes, contracts not in
    state "live" (preopen, suspend, test: nothing trades) and contracts of a kind dtrack does not know
    (a ctType other than linear/inverse, a ctValCcy other than the base coin or USD, a FUTURES row
    without ``expTime``). A row with a missing or malformed field goes to ``broken`` under its coin;
    when every row is broken the format has changed and the whole answer is a ``ParseError`` (so it
    is not cached).
    """
    reader = Reader(api.VENUE, api.INSTRUMENTS)
    live = [row for row in _data(reader, body) if isinstance(row, Mapping)
            and row.get("instType") in (api.SWAP, api.FUTURES) and row.get("state") == "live"]
    return Listing.read(live, lambda row: _contract(reader, row), _identify, whole=reader)


def _identify(row: Row) -> tuple[str, str]:
    """(coin, instId) of a (possibly malformed) contract row, the coin as users type it: from uly,
    instFamily or instId ("" where unreadable)."""
    inst_id = row.get("instId")
    for key in ("uly", "instFamily", "instId"):
        value = row.get(key)
        if isinstance(value, str) and value:
            return split_multiplier(value.split("-")[0])[0], inst_id if isinstance(inst_id, str) else ""
    return "", ""


def _contract(reader: Reader, row: Mapping[str, Any]) -> Instrument | None:
    """One swap or dated future, or None for a kind dtrack does not know (ParseError when a field is
    malformed)."""
    symbol = reader.text(row, "instId")
    inst_type = reader.text(row, "instType")
    expiry: datetime | None = None
    if inst_type == api.FUTURES:
        # A FUTURES row without expTime is not a dated future: OKX's "X-Perps" (futures that pay
        # funding, UNCONFIRMED details) are listed under FUTURES; dtrack does not read them yet.
        if reader.opt_num(row, "expTime") is None:
            return None
        expiry = reader.time_ms(row, "expTime")
    base, quote = _base_quote(reader, row)
    asset, multiplier = split_multiplier(base)
    margin = reader.text(row, "ctType")
    unit = _contract_unit(reader.text(row, "ctValCcy"), base)
    if margin not in (Margin.LINEAR, Margin.INVERSE) or unit is None:
        return None
    # Contract size is ctVal x ctMult in ctValCcy: BTC-USDT-SWAP 0.01 BTC, BTC-USD-SWAP 100 USD,
    # ETH-USD-SWAP 10 USD, BTC-USD-220520 100 USD, BTC-USDT-220520 0.01 BTC
    # (okx__rest_public_instruments__capture.json).
    ct_mult = reader.opt_num(row, "ctMult")
    size = reader.num(row, "ctVal") * (1.0 if ct_mult is None else ct_mult)
    return Instrument(
        venue=api.VENUE, symbol=symbol, asset=asset, quote=quote, settle=reader.text(row, "settleCcy"),
        kind=Kind.PERP if expiry is None else Kind.FUTURE, margin=Margin(margin), multiplier=multiplier,
        contract_size=size, contract_unit=unit, expiry=expiry, market=inst_type,
    )


def _base_quote(reader: Reader, row: Mapping[str, Any]) -> tuple[str, str]:
    """Base and quote from ``uly`` (the index, e.g. BTC-USD), else ``instFamily``.

    ``uly`` comes first: USD-margined "_UM" swaps have instFamily ``BTC-USD_UM`` but uly ``BTC-USD``;
    the 2022 capture has no instFamily at all.
    """
    family = row.get("uly") or row.get("instFamily")
    parts = family.split("-") if isinstance(family, str) else []
    if len(parts) != 2 or not all(parts):
        raise reader.fail(f"{row.get('instId')!r}: uly/instFamily is {family!r}, expected BASE-QUOTE")
    return parts[0], parts[1]


def _contract_unit(ccy: str, base: str) -> Unit | None:
    """What one contract is counted in: the base coin or USD (None for any other ctValCcy)."""
    if ccy == base:
        return Unit.BASE
    if ccy in _USD:
        return Unit.USD
    return None


def index_id(instrument: Instrument) -> str:
    """The index-tickers instId of a contract: its uly, e.g. ``BTC-USDT`` for ``BTC-USDT-SWAP`` and
    ``BTC-USD`` for ``BTC-USD-251226``."""
    return f"{instrument.symbol.split('-')[0]}-{instrument.quote}"


# --- current funding and enrichment ---------------------------------------------------------


def parse_funding(body: Any, wanted: Collection[str]) -> dict[str, SwapFunding]:
    """funding-rate rows of the asked swaps by instId (read strictly); the other rows of an
    ``instId=ANY`` answer, "X-Perps" FUTURES rows among them, are not read."""
    reader = Reader(api.VENUE, api.FUNDING_RATE)
    return {inst_id: _funding_row(reader, row) for inst_id, row in _asked(reader, body, wanted)
            if row.get("instType") == api.SWAP}


def swap_funding(body: Any, symbol: str) -> SwapFunding:
    """The funding-rate row of one swap (``instId=<symbol>``); its absence is a ParseError."""
    row = parse_funding(body, {symbol}).get(symbol)
    if row is None:
        raise ParseError(api.VENUE, api.FUNDING_RATE, f"no row for {symbol}")
    return row


def _funding_row(reader: Reader, row: Mapping[str, Any]) -> SwapFunding:
    # fundingRate is the rate of the upcoming settlement at fundingTime; nextFundingTime is the one
    # after, so their spacing is the symbol's interval (8 h default; OKX may shorten it per contract).
    # Strictly it is the length of the NEXT period: in the one period where OKX changes a swap's
    # interval (8 h -> 4 h) the rate at fundingTime still accrued over the old length. OKX's row does
    # not say when the current period began, so this cannot be told here (see the adapter's note).
    funding_ms = reader.ms(row, "fundingTime")
    next_ms = reader.ms(row, "nextFundingTime")
    if next_ms <= funding_ms:
        raise reader.fail(f"{row.get('instId')}: nextFundingTime {next_ms} is not after fundingTime {funding_ms}")
    return SwapFunding(
        rate=reader.num(row, "fundingRate"),
        funding_time=ms_to_utc(funding_ms),
        interval_hours=(next_ms - funding_ms) / HOUR_MS,
        # nextFundingRate is deprecated and sent as "": a forecast only when OKX fills it.
        predicted_rate=reader.opt_num(row, "nextFundingRate"),
        time=reader.opt_time_ms(row, "ts"),
    )


def parse_open_interest(body: Any, wanted: Collection[str]) -> dict[str, ContractOpenInterest]:
    """open-interest rows of the asked contracts by instId: ``oi`` contracts, ``oiCcy`` coin, ``oiUsd`` USD.

    One-sided: okx__ccxt_fetchOpenInterest.json has oi 2663107.3 BTC-USDT-SWAP contracts of 0.01 BTC
    = oiCcy 26631.07 BTC, and oiUsd = oiCcy x the price of the time.
    """
    reader = Reader(api.VENUE, api.OPEN_INTEREST)
    return {inst_id: ContractOpenInterest(reader.num(row, "oi"), reader.opt_num(row, "oiCcy"),
                                          reader.opt_num(row, "oiUsd"), reader.opt_time_ms(row, "ts"))
            for inst_id, row in _asked(reader, body, wanted)}


def parse_marks(body: Any, wanted: Collection[str]) -> dict[str, float]:
    """mark-price ``markPx`` of the asked contracts by instId (per one unit of the contract's base coin)."""
    reader = Reader(api.VENUE, api.MARK_PRICE)
    return {inst_id: reader.num(row, "markPx") for inst_id, row in _asked(reader, body, wanted)}


def parse_index(body: Any, wanted: Collection[str]) -> dict[str, float]:
    """index-tickers ``idxPx`` of the asked indices by instId (``BTC-USDT``, ``BTC-USD``)."""
    reader = Reader(api.VENUE, api.INDEX_TICKERS)
    return {inst_id: reader.num(row, "idxPx") for inst_id, row in _asked(reader, body, wanted)}


def open_interest_usd(oi: ContractOpenInterest, instrument: Instrument, mark: float | None) -> tuple[float | None, str]:
    """One-sided OI in USD and how it was obtained: ``oiUsd`` when sent, else converted from contracts."""
    if oi.usd is not None:
        return oi.usd, "OI = oiUsd (open-interest, USD)"
    if instrument.contract_unit is Unit.USD:
        return oi.contracts * instrument.contract_size, f"OI = oi (contracts) x {instrument.contract_size:g} USD"
    if mark is not None:
        return (oi.contracts * instrument.contract_size * mark,
                f"OI = oi (contracts) x {instrument.contract_size:g} {instrument.symbol.split('-')[0]} x mark")
    return None, "OI unavailable: no oiUsd and no mark price"


def funding_rate(
    instrument: Instrument,
    funding: SwapFunding,
    received: datetime,
    *,
    mark: float | None = None,
    index: float | None = None,
    oi: ContractOpenInterest | None = None,
    notes: Sequence[str] = (),
) -> FundingRate:
    """One swap's ``FundingRate``; prices are divided by the multiplier (per one unit of the asset)."""
    remarks = list(notes)
    oi_usd: float | None = None
    if oi is not None:
        oi_usd, how = open_interest_usd(oi, instrument, mark)
        remarks.append(how)
    per_unit = instrument.multiplier
    return FundingRate(
        instrument=instrument,
        rate=funding.rate,
        interval_hours=funding.interval_hours,
        interval_source=INTERVAL_SOURCE,
        time=funding.time or received,
        predicted_rate=funding.predicted_rate,
        next_funding_time=funding.funding_time,
        mark_price=None if mark is None else mark / per_unit,
        index_price=None if index is None else index / per_unit,
        open_interest_usd=oi_usd,
        note="; ".join(remarks),
    )


# --- history --------------------------------------------------------------------------------


def parse_history(body: Any) -> list[HistoryRow]:
    """funding-rate-history rows (newest first, as sent).

    ``realizedRate`` is what was actually charged; ``fundingRate`` is the rate predicted at the time.
    The charged rate is used when OKX sends it (non-empty), else the predicted one.
    """
    reader = Reader(api.VENUE, api.FUNDING_HISTORY)
    rows = []
    for row in _rows(reader, body):
        realized = reader.opt_num(row, "realizedRate")
        rate = realized if realized is not None else reader.num(row, "fundingRate")
        rows.append(HistoryRow(reader.time_ms(row, "fundingTime"), rate, realized is not None))
    return rows


# --- open interest, statistics, klines, tickers (records) --------------------------------------


def _array_rows(reader: Reader, body: Any, names: Sequence[str]) -> list[Mapping[str, Any]]:
    """The rows of an envelope whose rows are arrays (rubik statistics, candles), each as a mapping of
    ``names`` to its first ``len(names)`` values (OKX appends fields at the end over time)."""
    rows: list[Mapping[str, Any]] = []
    for row in _data(reader, body):
        values = reader.arr(row, "data row")
        if len(values) < len(names):
            raise reader.fail(f"row {values!r} has {len(values)} values, expected [{', '.join(names)}, ...]")
        rows.append(dict(zip(names, values[:len(names)], strict=True)))
    return rows


def open_interest(instrument: Instrument, oi: ContractOpenInterest, mark: float | None,
                  received: datetime) -> OpenInterest | None:
    """One contract's ``OpenInterest``: ``oi`` contracts as OKX reports them, converted at the mark price.

    Without a mark (mark-price failed or lacks the row) OKX's own price of the figure, oiUsd / oiCcy,
    converts it; None when neither is there. OKX's figures are one-sided: nothing is halved.
    """
    if mark is not None:
        price, source = mark, "mark"
    elif oi.usd is not None and oi.coin:
        price, source = oi.usd / oi.coin, "oiUsd / oiCcy (open-interest)"
    else:
        return None
    return OpenInterest.of(instrument, oi.contracts, Unit.CONTRACTS, price / instrument.multiplier, source,
                           oi.time or received)


def parse_oi_history(body: Any, instrument: Instrument) -> list[OIPoint]:
    """open-interest-history rows ``[ts, oi, oiCcy, oiUsd]`` of one contract (newest first, as sent) as
    ``OIPoint``s: ``oiCcy`` (the contract's base coin, one side) in units of the asset, and ``oiUsd``."""
    reader = Reader(api.VENUE, api.OI_HISTORY)
    return [OIPoint(reader.time_ms(row, "ts"), reader.num(row, "oiCcy") * instrument.multiplier,
                    reader.opt_num(row, "oiUsd"))
            for row in _array_rows(reader, body, ("ts", "oi", "oiCcy", "oiUsd"))]


def parse_ratio(body: Any, endpoint: str) -> tuple[datetime, float] | None:
    """The newest ``[ts, ratio]`` row of a long/short statistic (None when OKX sends no row).

    The newest is taken by ``ts``, not by position; a negative ratio is a ParseError.
    """
    reader = Reader(api.VENUE, endpoint)
    rows = [(reader.time_ms(row, "ts"), reader.num(row, "ratio")) for row in _array_rows(reader, body, ("ts", "ratio"))]
    for _, ratio in rows:
        if ratio < 0:
            raise reader.fail(f"long/short ratio {ratio} is negative")
    return max(rows, default=None)


def long_short(asset: str, symbol: str, definition: str, latest: tuple[datetime, float]) -> LongShortRatio:
    """A ``LongShortRatio`` from OKX's ratio of long to short accounts: long share = ratio / (1 + ratio)."""
    time, ratio = latest
    return LongShortRatio(api.VENUE, asset, symbol, definition, ratio, ratio / (1.0 + ratio), time,
                          api.LONG_SHORT_PERIOD)


def parse_candles(body: Any, endpoint: str) -> list[CandleRow]:
    """candles / history-candles rows ``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]`` (newest first,
    as sent): the open time and close of each."""
    reader = Reader(api.VENUE, endpoint)
    return [CandleRow(reader.time_ms(row, "ts"), reader.num(row, "c"))
            for row in _array_rows(reader, body, ("ts", "o", "h", "l", "c"))]


def price_points(rows: Sequence[CandleRow], instrument: Instrument, period_hours: int, now: datetime,
                 start: datetime, end: datetime) -> tuple[PricePoint, ...]:
    """Closes as ``PricePoint``s at each candle's close time (open + period; ``now`` for the candle still
    open), per one unit of the asset, ascending, de-duplicated, within ``[start, end]``."""
    points: dict[datetime, float] = {}
    period = timedelta(hours=period_hours)
    for row in rows:
        closes = min(row.open_time + period, now)
        if start <= closes <= end:
            points[closes] = row.close / instrument.multiplier
    return tuple(PricePoint(t, p) for t, p in sorted(points.items()))


def parse_tickers(body: Any, wanted: Collection[str]) -> dict[str, Ticker]:
    """tickers rows of the asked instIds (swaps, futures or spot pairs): ``last`` and ``ts``."""
    reader = Reader(api.VENUE, api.TICKERS)
    return {inst_id: Ticker(reader.opt_num(row, "last"), reader.opt_time_ms(row, "ts"))
            for inst_id, row in _asked(reader, body, wanted)}


def spot_id(asset: str) -> str:
    """The spot pair dtrack reads for an asset: ``BTC-USDT``."""
    return f"{asset}-{api.SPOT_QUOTE}"


def spot_price(asset: str, ticker: Ticker, received: datetime) -> SpotPrice | None:
    """The spot price of ``asset`` in USDT from its ticker's ``last`` (None when OKX sends none)."""
    if ticker.last is None:
        return None
    return SpotPrice(api.VENUE, asset, api.SPOT_QUOTE, spot_id(asset), ticker.last, ticker.time or received,
                     "spot ticker last (market/tickers)")


def price_quote(instrument: Instrument, received: datetime, mark: float | None, index: float | None,
                last: float | None) -> PriceQuote:
    """Mark, index and last of one contract, each divided by the multiplier (per one unit of the asset)."""
    per = instrument.multiplier
    return PriceQuote(instrument, received, None if mark is None else mark / per,
                      None if index is None else index / per, None if last is None else last / per)
