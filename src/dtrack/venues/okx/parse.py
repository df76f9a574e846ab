"""OKX v5 payloads -> records (pure: no I/O, no clock; the receive time is passed in).

Owns the reading of: instruments (swaps and dated futures, contract sizes), funding-rate (current
rate and interval), open-interest, mark-price, index-tickers, tickers, funding-rate-history, the
rubik statistics (open-interest-history, long/short ratios: rows are arrays), candles, books and
position-tiers; and the assembly of records from them (``FundingRate``, ``OpenInterest``, ``OIPoint``,
``LongShortRatio``, ``PricePoint``, ``PriceQuote``, ``SpotPrice``, ``Candle``, ``OrderBook``, ``MarginTier``).
Every field goes through ``Reader`` so that a malformed payload raises ``ParseError`` naming OKX and the endpoint.

One odd row never fails a bulk answer: the bulk parsers read only the rows asked for (by instId) and
do not look at the others; the instrument list skips contracts of unknown type or unit and sets aside
(in ``Listing.broken``) the malformed ones, which fail only a query that asks for their coin.

Units: ``oi`` is contracts of ``ctVal x ctMult`` ``ctValCcy`` (USD for inverse contracts, the coin for
linear ones), ``oiCcy`` the coin, ``oiUsd`` USD; all one-sided. Prices are USD per one unit of the
contract's base coin and are divided by the instrument's multiplier (per one unit of the asset).

Options (``BTC-USD-250328-90000-C``, family ``BTC-USD``): the option list (``instruments?instType=OPTION``:
``ctVal x ctMult`` coins per contract, ``stk``, ``optType``, ``expTime``), ``opt-summary`` (IVs as fractions,
``fwdPx``, Black-Scholes greeks), option ``tickers`` (bid/ask in the coin, ``vol24h`` contracts) and
``option-trades``; mark-price and open-interest rows are read as for futures (``markPx`` is in the coin for
options). OKX's options are inverse: priced in the coin per one coin of underlying, converted to USD with the
expiry's forward ``fwdPx`` (``OptionQuote.price_note`` says so per option).
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dtrack.errors import DtrackError, Implausible, ParseError
from dtrack.records import (
    Candle,
    FundingRate,
    Instrument,
    Kind,
    LongShortRatio,
    Margin,
    MarginTier,
    OIPoint,
    OpenInterest,
    OptionQuote,
    OptionTrade,
    OrderBook,
    PricePoint,
    PriceQuote,
    SpotPrice,
    Unit,
)
from dtrack.symbols import split_multiplier
from dtrack.venues import plausible
from dtrack.venues.books import array_side, check_book
from dtrack.venues.fields import (
    HOUR_MS,
    Kline,
    Listing,
    OptionSpec,
    Reader,
    Row,
    ms_to_utc,
    parse_each,
    price_point,
    utc_to_ms,
)
from dtrack.venues.okx import api

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
    #: ``minFundingRate`` / ``maxFundingRate`` of the row (None when OKX leaves them out)
    cap: plausible.FundingCap | None = None


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
    """One row of tickers: the last trade price (None when OKX sends "") and its time; the rolling 24 h volume as
    sent: ``vol24h`` (derivatives: contracts; spot: base coin) and ``volCcy24h`` (derivatives: base coin; spot:
    quote currency), None when absent or ""."""

    last: float | None
    time: datetime | None
    vol_24h: float | None = None
    vol_ccy_24h: float | None = None


@dataclass(frozen=True, slots=True)
class CandleRow:
    """One kline row as sent: its open time and close price (per one unit of the contract's base coin), the open,
    high and low, and the volumes where the row carries them: ``vol`` (contracts for swaps and futures), ``vol_ccy``
    (``volCcy``: the base coin for swaps and futures), ``vol_ccy_quote`` (``volCcyQuote``: the quote currency, USDT
    or USDC for linear contracts, USD for inverse ones), ``confirm`` (True for a closed bar, False for the open one;
    None when the row has no ``confirm``)."""

    open_time: datetime
    close: float
    open: float
    high: float
    low: float
    vol: float | None = None
    vol_ccy: float | None = None
    vol_ccy_quote: float | None = None
    confirm: bool | None = None


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


def _asked(reader: Reader, body: Any, wanted: Collection[str], *,
           listed: bool = True) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(instId, row) of the rows whose instId was asked for; other rows, whatever their shape, are not read. With
    ``listed`` (the asked ids are listed contracts or pairs), an empty answer is a ParseError (``Reader.answered``)."""
    rows = _data(reader, body)
    for row in reader.answered(rows, wanted) if listed else rows:
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
        cap=_funding_cap(reader, row),
    )


#: one funding-rate row (REST ``data[]`` item or a ``funding-rate`` WebSocket push, same fields) as ``SwapFunding``
funding_row = _funding_row


def _funding_cap(reader: Reader, row: Mapping[str, Any]) -> plausible.FundingCap | None:
    """The row's own bounds of the rate: ``minFundingRate`` / ``maxFundingRate`` ("-0.00375" / "0.00375" for
    BTC-USDT-SWAP in the docs example of exchange-api.md 3.11); None unless both are there with min < max."""
    low, high = reader.opt_num(row, "minFundingRate"), reader.opt_num(row, "maxFundingRate")
    if low is None or high is None or low >= high:
        return None
    return plausible.FundingCap(low, high, "OKX funding-rate minFundingRate / maxFundingRate")


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
    # an index is no listed contract: OKX may publish none for a quote currency (the rate's note says so)
    return {inst_id: reader.num(row, "idxPx") for inst_id, row in _asked(reader, body, wanted, listed=False)}


def _enrichments(instrument: Instrument, *, mark: float | None = None, index: float | None = None,
                 last: float | None = None, oi: ContractOpenInterest | None = None) -> None:
    """The figures a record takes from the other answers, each held to its rule and named by its own endpoint
    (the record's own check names the endpoint the record is read from)."""
    symbol = instrument.symbol
    plausible.Rules(api.VENUE, api.MARK_PRICE, symbol).price("markPx", mark)
    plausible.Rules(api.VENUE, api.INDEX_TICKERS, symbol).price("idxPx", index)
    plausible.Rules(api.VENUE, api.TICKERS, symbol).price("last", last)
    if oi is not None:
        rules = plausible.Rules(api.VENUE, api.OPEN_INTEREST, symbol)
        rules.amount("oi", oi.contracts)
        rules.amount("oiCcy", oi.coin)
        rules.amount("oiUsd", oi.usd)


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
    _enrichments(instrument, mark=mark, index=index, oi=oi)
    remarks = list(notes)
    oi_usd: float | None = None
    if oi is not None:
        oi_usd, how = open_interest_usd(oi, instrument, mark)
        remarks.append(how)
    per_unit = instrument.multiplier
    return plausible.funding_rate(api.FUNDING_RATE, FundingRate(
        instrument=instrument,
        rate=funding.rate,
        interval_hours=funding.interval_hours,
        interval_source=INTERVAL_SOURCE,
        time=funding.time,
        received_at=received,
        predicted_rate=funding.predicted_rate,
        next_funding_time=funding.funding_time,
        mark_price=None if mark is None else mark / per_unit,
        index_price=None if index is None else index / per_unit,
        open_interest_usd=oi_usd,
        note="; ".join(remarks),
    ), funding.cap)


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
        plausible.settlement(plausible.Rules(api.VENUE, reader.endpoint, str(row.get("instId", ""))), rate)
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
        price, source, endpoint = mark, "mark", api.MARK_PRICE
    elif oi.usd is not None and oi.coin:
        price, source, endpoint = oi.usd / oi.coin, "oiUsd / oiCcy (open-interest)", api.OPEN_INTEREST
    else:
        return None
    _enrichments(instrument, oi=oi)  # open-interest's own figures first, named by their endpoint
    return plausible.open_interest(endpoint, instrument=instrument, amount=oi.contracts, unit=Unit.CONTRACTS,
                                   price=price / instrument.multiplier, price_source=source, time=oi.time,
                                   received_at=received)


def parse_oi_history(body: Any, instrument: Instrument, received: datetime) -> list[OIPoint]:
    """open-interest-history rows ``[ts, oi, oiCcy, oiUsd]`` of one contract (newest first, as sent) as
    ``OIPoint``s: ``oiCcy`` (the contract's base coin, one side) in units of the asset, and ``oiUsd``."""
    reader = Reader(api.VENUE, api.OI_HISTORY)
    rules = plausible.Rules(api.VENUE, reader.endpoint, instrument.symbol)
    points = [OIPoint(venue=api.VENUE, symbol=instrument.symbol, time=reader.time_ms(row, "ts"),
                      base=reader.num(row, "oiCcy") * instrument.multiplier, usd=reader.opt_num(row, "oiUsd"),
                      received_at=received)
              for row in _array_rows(reader, body, ("ts", "oi", "oiCcy", "oiUsd"))]
    for point in points:
        rules.amount("oiCcy", point.base)
        rules.amount("oiUsd", point.usd)
    return points


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


def long_short(asset: str, symbol: str, definition: str, latest: tuple[datetime, float],
               received: datetime) -> LongShortRatio:
    """A ``LongShortRatio`` from OKX's ratio of long to short accounts: long share = ratio / (1 + ratio)."""
    time, ratio = latest
    return LongShortRatio(venue=api.VENUE, asset=asset, symbol=symbol, definition=definition, ratio=ratio,
                          long_share=ratio / (1.0 + ratio), time=time, received_at=received,
                          period=api.LONG_SHORT_PERIOD)


_CANDLE_FIELDS = ("ts", "o", "h", "l", "c", "vol", "volCcy", "volCcyQuote", "confirm")
_CONFIRM = {"0": False, "1": True}


def parse_candles(body: Any, endpoint: str) -> list[CandleRow]:
    """candles / history-candles rows ``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]`` (newest first,
    as sent; ``okx__ccxt_fetchOHLCV.json``), every field read: the first five required, the volumes and ``confirm``
    where the row has them (older answers stop earlier). Prices must be > 0 with open and close in [low, high]."""
    reader = Reader(api.VENUE, endpoint)
    rules = plausible.Rules(api.VENUE, endpoint, "")
    out: list[CandleRow] = []
    for item in _data(reader, body):
        values = reader.arr(item, "data row")
        if len(values) < 5:
            raise reader.fail(f"row {values!r} has {len(values)} values, expected [ts, o, h, l, c, ...]")
        row = dict(zip(_CANDLE_FIELDS, values, strict=False))
        confirm = row.get("confirm")
        if confirm is not None and not (isinstance(confirm, str) and confirm in _CONFIRM):
            raise reader.fail(f"confirm is {confirm!r}, expected \"0\" or \"1\"")
        candle = CandleRow(reader.time_ms(row, "ts"), reader.num(row, "c"), open=reader.num(row, "o"),
                           high=reader.num(row, "h"), low=reader.num(row, "l"), vol=reader.opt_num(row, "vol"),
                           vol_ccy=reader.opt_num(row, "volCcy"), vol_ccy_quote=reader.opt_num(row, "volCcyQuote"),
                           confirm=None if confirm is None else _CONFIRM[confirm])
        rules.bar(candle.open, candle.high, candle.low, candle.close, ("o", "h", "l", "c"))
        for key, amount in (("vol", candle.vol), ("volCcy", candle.vol_ccy), ("volCcyQuote", candle.vol_ccy_quote)):
            rules.amount(key, amount)
        out.append(candle)
    return out


def candles(rows: Iterable[CandleRow], instrument: Instrument, period_seconds: int,
            received: datetime) -> list[Candle]:
    """``Candle`` records of a swap's or future's candle rows, ascending by open time (one per open time), prices
    per ONE unit of the asset. Volumes read: ``volCcy`` (the base coin for SWAP/FUTURES, x the multiplier) as
    ``volume_base`` and ``volCcyQuote`` (the quote currency: USDT or USDC for linear contracts, USD for inverse
    ones; taken as USD) as ``volume_usd``; a row without ``volCcyQuote`` (older answers) gets an inverse contract's
    ``vol`` x ``ctVal`` USD, and no USD figure for a linear one. ``closed`` is OKX's ``confirm`` ("1"); a row
    without it is closed once its span ended by ``received``."""
    per = instrument.multiplier
    step = timedelta(seconds=period_seconds)
    out: dict[datetime, Candle] = {}
    for row in rows:
        usd = row.vol_ccy_quote
        if usd is None and instrument.contract_unit is Unit.USD and row.vol is not None:
            usd = row.vol * instrument.contract_size
        closed = row.confirm if row.confirm is not None else row.open_time + step <= received
        out[row.open_time] = Candle(
            venue=api.VENUE, symbol=instrument.symbol, time=row.open_time, period_seconds=period_seconds,
            open=row.open / per, high=row.high / per, low=row.low / per, close=row.close / per, received_at=received,
            volume_base=None if row.vol_ccy is None else row.vol_ccy * per, volume_usd=usd, closed=closed)
    return [out[t] for t in sorted(out)]


# --- order books and position tiers ---------------------------------------------------------------


def parse_books(body: Any, instrument: Instrument, limit: int, received: datetime) -> OrderBook:
    """A books answer (``data`` = one ``{asks, bids, ts}``; ``okx__ccxt_fetchOrderBook.json``; the WebSocket
    ``books`` snapshot ``okx__ws_books__capture.json`` has the same levels) as an ``OrderBook``: best first as sent
    (an answer out of order, or crossed, is refused), sizes from CONTRACTS to coins, ``time`` from ``ts``,
    ``sequence`` from ``seqId`` where the answer has one (the WebSocket book; REST sends none), ``limit`` the
    levels asked."""
    reader = Reader(api.VENUE, api.BOOKS)
    rows = _rows(reader, body)
    if len(rows) != 1:
        raise reader.fail(f"{len(rows)} books in the answer, expected 1 ({instrument.symbol})")
    book = rows[0]
    rules = plausible.Rules(api.VENUE, api.BOOKS, instrument.symbol)
    # levels [px, sz, "0", numOrders], sz in CONTRACTS: ctVal coins (linear) or ctVal USD at the level's price
    bids = array_side(reader, reader.field(book, "bids"), "bids", instrument, Unit.CONTRACTS, rules, ("px", "sz"))
    asks = array_side(reader, reader.field(book, "asks"), "asks", instrument, Unit.CONTRACTS, rules, ("px", "sz"))
    check_book(reader, rules, instrument, bids, asks, "bids/asks")
    time = reader.opt_time_ms(book, "ts")
    rules.time("ts", time, received)
    sequence = reader.opt_num(book, "seqId")
    ccy = "USD" if instrument.contract_unit is Unit.USD else instrument.asset
    return OrderBook(instrument=instrument, bids=bids, asks=asks, unit=Unit.CONTRACTS, limit=limit, time=time,
                     received_at=received, sequence=None if sequence is None else int(sequence),
                     note=f"sz in contracts of {instrument.contract_size:g} {ccy}"
                          + (", converted at each level's price" if ccy == "USD" else ""))


def instrument_family(instrument: Instrument) -> str:
    """The ``instFamily`` of a swap or future: ``BTC-USDT`` for ``BTC-USDT-SWAP``, ``BTC-USD`` for
    ``BTC-USD-251226``."""
    return index_id(instrument)


def parse_position_tiers(body: Any, instrument: Instrument, received: datetime) -> tuple[MarginTier, ...]:
    """The position tiers of ``instrument``'s family in a position-tiers answer as ``MarginTier`` records, lowest
    first (rows of other families are not read).

    ``minSz`` / ``maxSz`` are CONTRACTS (``ctVal`` coins, or USD for inverse contracts), not notional: the research
    row ``{"tier":"1","instFamily":"BTC-USDT","minSz":"0","maxSz":"1000","mmr":"0.004","imr":"0.01",
    "maxLever":"100"}`` is 1000 x 0.01 BTC = 10 BTC. A tier's ``minSz`` is the previous ``maxSz`` + 1; its floor
    here is the previous ``maxSz`` (tiers contiguous), its cap ``maxSz``. OKX publishes no deduction: a tier's
    ``mmr`` applies to the whole position (``deduction`` 0). Rates are fractions; 0 < mmr <= imr <= 1 is required."""
    reader = Reader(api.VENUE, api.POSITION_TIERS)
    family = instrument_family(instrument)
    rules = plausible.Rules(api.VENUE, api.POSITION_TIERS, instrument.symbol)
    rows = [row for row in _rows(reader, body) if (row.get("instFamily") or row.get("uly")) == family]
    if not rows:
        raise reader.fail(f"no position tiers of {family} in the answer")
    parsed = []
    for row in rows:
        tier, low, high = int(reader.num(row, "tier")), reader.num(row, "minSz"), reader.num(row, "maxSz")
        mmr, imr, lever = reader.num(row, "mmr"), reader.num(row, "imr"), reader.num(row, "maxLever")
        rules.amount("minSz", low)
        rules.price("maxSz", high)
        rules.price("maxLever", lever)
        if not 0 < mmr <= imr <= 1:
            raise rules.refuse("mmr", mmr, f"needs 0 < mmr <= imr ({imr:g}) <= 1")
        parsed.append((tier, low, high, mmr, imr, lever))
    parsed.sort()
    ccy = "USD" if instrument.contract_unit is Unit.USD else instrument.asset
    note = (f"minSz/maxSz in contracts of {instrument.contract_size:g} {ccy} (floor = the previous tier's maxSz; "
            f"OKX's minSz is that + 1); no deduction: OKX applies the tier's mmr to the whole position; "
            f"{api.TIER_MODE} mode")
    out: list[MarginTier] = []
    floor = parsed[0][1]
    for tier, _low, high, mmr, imr, lever in parsed:
        if out and (tier == out[-1].tier or high <= floor):
            raise reader.fail(f"{family}: tier {tier} (maxSz {high:g}) does not follow tier {out[-1].tier}")
        out.append(MarginTier(venue=api.VENUE, symbol=instrument.symbol, tier=tier, floor=floor, cap=high,
                              unit=Unit.CONTRACTS, mmr=mmr, deduction=0.0, max_leverage=lever, time=None,
                              received_at=received, imr=imr, source=api.POSITION_TIERS, note=note))
        floor = high
    return tuple(out)


def price_points(rows: Sequence[CandleRow], instrument: Instrument, period_hours: int, now: datetime,
                 start: datetime, end: datetime, *, received: datetime) -> tuple[PricePoint, ...]:
    """Closes, highs and lows as ``PricePoint``s at each candle's close time (open + period; ``now`` for the
    candle still open: its high and low so far), per one unit of the asset, ascending, de-duplicated, within
    ``[start, end]``; ``received``: when the candles arrived."""
    bars: dict[datetime, CandleRow] = {}
    period = timedelta(hours=period_hours)
    for row in rows:
        closes = min(row.open_time + period, now)
        if start <= closes <= end:
            bars[closes] = row
    return tuple(price_point(Kline(utc_to_ms(row.open_time), row.close, row.high, row.low), venue=api.VENUE,
                             symbol=instrument.symbol, time=t, multiplier=instrument.multiplier, received_at=received)
                 for t, row in sorted(bars.items()))


def parse_tickers(body: Any, wanted: Collection[str]) -> dict[str, Ticker]:
    """tickers rows of the asked instIds (swaps, futures or spot pairs): ``last`` and ``ts``."""
    reader = Reader(api.VENUE, api.TICKERS)
    return {inst_id: Ticker(reader.opt_num(row, "last"), reader.opt_time_ms(row, "ts"), reader.opt_num(row, "vol24h"),
                            reader.opt_num(row, "volCcy24h"))
            for inst_id, row in _asked(reader, body, wanted)}


def spot_id(asset: str) -> str:
    """The spot pair dtrack reads for an asset: ``BTC-USDT``."""
    return f"{asset}-{api.SPOT_QUOTE}"


def spot_price(asset: str, ticker: Ticker, received: datetime) -> SpotPrice | None:
    """The spot price of ``asset`` in USDT from its ticker's ``last`` (None when OKX sends none)."""
    if ticker.last is None:
        return None
    return plausible.spot_price(api.TICKERS, SpotPrice(
        venue=api.VENUE, asset=asset, quote=api.SPOT_QUOTE, symbol=spot_id(asset), price=ticker.last, time=ticker.time,
        received_at=received, source="spot ticker last (market/tickers)"))


def day_volume(instrument: Instrument, ticker: Ticker, price: float | None) -> tuple[float | None, float | None]:
    """(USD, units of the asset) a swap or future traded in the last 24 h, one side, from its tickers row.

    ``volCcy24h`` is in the base coin for derivatives (OKX's docs; on the real captures of inverse BTC-USD-220527,
    779573 contracts x 100 USD / 2620.289 BTC = 29752 USD per BTC, and UNI-USD-SWAP, 289425 x 10 USD / 577730.78
    UNI = 5.01, both inside the row's 24 h low-high), x the multiplier. USD: inverse ``vol24h`` contracts x
    ``ctVal`` USD (exact); linear the coins x ``price`` (the last, else the mark: OKX sends no quote volume for
    derivatives, so this values the day's coins at the current price, an approximation; no real linear tickers
    row is in the corpus, the unit there follows the docs)."""
    coins = None if ticker.vol_ccy_24h is None else ticker.vol_ccy_24h * instrument.multiplier
    if instrument.contract_unit is Unit.USD:
        usd = None if ticker.vol_24h is None else ticker.vol_24h * instrument.contract_size
    else:
        usd = None if ticker.vol_ccy_24h is None or price is None else ticker.vol_ccy_24h * price
    return usd, coins


def price_quote(instrument: Instrument, received: datetime, mark: float | None, index: float | None,
                last: float | None, *, ticker: Ticker | None = None) -> PriceQuote:
    """Mark, index and last of one contract, each divided by the multiplier (per one unit of the asset), and the
    24 h volume of its ``ticker`` row when given (``day_volume``). They come from three answers with no one time:
    ``time`` is None."""
    per = instrument.multiplier
    _enrichments(instrument, mark=mark, index=index, last=last)
    if ticker is not None:
        rules = plausible.Rules(api.VENUE, api.TICKERS, instrument.symbol)
        rules.amount("vol24h", ticker.vol_24h)
        rules.amount("volCcy24h", ticker.vol_ccy_24h)
    usd, coins = day_volume(instrument, ticker, last if last is not None else mark) if ticker is not None \
        else (None, None)
    return plausible.price_quote(api.MARK_PRICE, PriceQuote(
        instrument=instrument, time=None, received_at=received, mark_price=None if mark is None else mark / per,
        index_price=None if index is None else index / per, last_price=None if last is None else last / per,
        volume_24h_usd=usd, volume_24h_base=coins))


# --- options --------------------------------------------------------------------------------


def option_family(asset: str) -> str:
    """The instFamily of ``asset``'s options (``BTC-USD``), also the instId of its index in index-tickers."""
    return f"{asset}-{api.OPTION_QUOTE}"


@dataclass(frozen=True, slots=True)
class OptionListing:
    """The live options of one family by instId, and the rows that did not parse (``"<instId>: <detail>"``)."""

    specs: Mapping[str, OptionSpec]
    broken: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OptionSummary:
    """One ``opt-summary`` row. IVs are fractions as OKX sends them (``markVol`` 0.55 = 55 %); a bid or ask IV
    of "" or 0 (OKX's "no bid") is None. ``forward``: ``fwdPx``, the forward of the option's expiry (USD).
    Greeks are OKX's Black-Scholes ones (``deltaBS``, ``gammaBS``, ``vegaBS``, ``thetaBS``), already in dtrack's
    units: delta per option (forward delta), gamma per USD, vega USD per vol point, theta USD per day.
    OKX's other greeks (``delta``, ``gamma``, ``vega``, ``theta``) are in coin terms and not read."""

    mark_iv: float | None
    bid_iv: float | None
    ask_iv: float | None
    forward: float | None
    delta: float | None
    gamma: float | None
    vega: float | None
    theta: float | None
    time: datetime | None


@dataclass(frozen=True, slots=True)
class OptionTicker:
    """One option ``tickers`` row: best bid and ask in the coin per coin of underlying (None when the book
    side is empty: OKX sends ""), and the 24 h volume ``vol24h`` in contracts."""

    bid: float | None
    ask: float | None
    volume: float


#: ``BTC-USD-250328-90000-C``: the name of an OKX option (family, YYMMDD expiry, strike, C/P).
_OPTION_NAME = re.compile(r"^(?P<asset>[A-Z0-9]+)-(?P<quote>[A-Z]+)-(?P<date>\d{6})-(?P<strike>\d+(?:\.\d+)?)"
                          r"-(?P<cp>[CP])$")


def parse_option_instruments(body: Any) -> OptionListing:
    """The live options of an ``instruments?instType=OPTION&instFamily=`` answer.

    Rows of other instTypes and states other than "live" are skipped. A row with a missing or odd field is
    noted in ``broken`` and the others serve; when every row is broken the format has changed and the whole
    answer is a ``ParseError`` (so it is not cached). An answer without rows (a family OKX has no options
    in) is an empty listing.
    """
    reader = Reader(api.VENUE, api.INSTRUMENTS)
    live = [row for row in _data(reader, body)
            if isinstance(row, Mapping) and row.get("instType") == api.OPTION and row.get("state") == "live"]
    specs, broken = parse_each(reader, live, lambda row: _option_spec(reader, row),
                               lambda row: str(row.get("instId") or "an option row"), "option")
    return OptionListing(specs, tuple(broken))


def _option_spec(reader: Reader, row: Mapping[str, Any]) -> OptionSpec:
    """One option row's terms: ``expTime`` as UTC (08:00); ``stk`` (USD); contract size ``ctVal x ctMult`` coins
    (the contract value currency is the coin: BTC-USD options 1 x 0.1 = 0.1 BTC, ETH-USD 1 x 1 = 1 ETH in
    okx__rest_public_instruments__capture.json); ``settleCcy`` (the coin)."""
    base, _ = _base_quote(reader, row)
    symbol = reader.text(row, "instId")
    unit = reader.text(row, "ctValCcy")
    if unit != base:
        raise reader.fail(f"{symbol}: ctValCcy is {unit!r}, expected the coin {base!r}")
    option_type = reader.text(row, "optType")
    if option_type not in ("C", "P"):
        raise reader.fail(f"{symbol}: optType is {option_type!r}, expected 'C' or 'P'")
    ct_mult = reader.opt_num(row, "ctMult")
    size = reader.num(row, "ctVal") * (1.0 if ct_mult is None else ct_mult)
    strike = reader.num(row, "stk")
    if size <= 0 or strike <= 0:
        raise reader.fail(f"{symbol}: contract size {size:g} and strike {strike:g} must be positive")
    return OptionSpec(symbol, base, reader.time_ms(row, "expTime"), strike, option_type == "C", size,
                      reader.text(row, "settleCcy"))


def spec_from_name(symbol: str, contract_size: float, settle: str) -> OptionSpec | None:
    """An option's terms read from its name (``BTC-USD-250328-90000-C``: expiry that day at 08:00 UTC) with
    the family's contract size; None when the name is not an OKX option name. For trades of options that
    left the instrument list (expired since)."""
    m = _OPTION_NAME.match(symbol)
    if m is None:
        return None
    try:
        day = datetime.strptime(m["date"], "%y%m%d").replace(hour=api.OPTION_EXPIRY_HOUR, tzinfo=UTC)
    except ValueError:
        return None
    return OptionSpec(symbol, m["asset"], day, float(m["strike"]), m["cp"] == "C", contract_size, settle)


def parse_opt_summary(body: Any) -> tuple[dict[str, OptionSummary], list[ParseError]]:
    """Every row of an ``opt-summary?instFamily=`` answer by instId, and a ``ParseError`` per row that did not
    parse (the others serve). A malformed envelope raises."""
    reader = Reader(api.VENUE, api.OPT_SUMMARY)
    rows: dict[str, OptionSummary] = {}
    errors: list[ParseError] = []
    for row in _data(reader, body):
        try:
            checked = reader.obj(row, "data row")
            rows[reader.text(checked, "instId")] = _summary(reader, checked)
        except ParseError as exc:
            errors.append(exc)
    return rows, errors


def _summary(reader: Reader, row: Mapping[str, Any]) -> OptionSummary:
    def quote_iv(key: str) -> float | None:
        value = reader.opt_num(row, key)
        return value if value else None  # OKX sends 0 for a side without orders

    return OptionSummary(
        mark_iv=reader.opt_num(row, "markVol"), bid_iv=quote_iv("bidVol"), ask_iv=quote_iv("askVol"),
        forward=reader.opt_num(row, "fwdPx") or None,
        delta=reader.opt_num(row, "deltaBS"), gamma=reader.opt_num(row, "gammaBS"),
        vega=reader.opt_num(row, "vegaBS"), theta=reader.opt_num(row, "thetaBS"),
        time=reader.opt_time_ms(row, "ts"),
    )


def parse_option_tickers(body: Any, wanted: Collection[str]) -> dict[str, OptionTicker]:
    """``tickers?instType=OPTION`` rows of the asked options: ``bidPx``/``askPx`` (coin; "" when the side is
    empty) and ``vol24h`` (contracts; "" read as 0)."""
    reader = Reader(api.VENUE, api.TICKERS)
    return {inst_id: OptionTicker(reader.opt_num(row, "bidPx") or None, reader.opt_num(row, "askPx") or None,
                                  reader.opt_num(row, "vol24h") or 0.0)
            for inst_id, row in _asked(reader, body, wanted)}


def expiry_forwards(specs: Mapping[str, OptionSpec], summaries: Mapping[str, OptionSummary]) -> dict[datetime, float]:
    """The forward of each expiry: the median ``fwdPx`` of its options in opt-summary (OKX sends one forward
    per expiry; the median only guards against an odd row)."""
    by_expiry: dict[datetime, list[float]] = {}
    for symbol, summary in summaries.items():
        spec = specs.get(symbol)
        if spec is not None and summary.forward is not None:
            by_expiry.setdefault(spec.expiry, []).append(summary.forward)
    return {expiry: statistics.median(values) for expiry, values in by_expiry.items()}


@dataclass(frozen=True, slots=True)
class ChainParts:
    """What the bulk option answers of one family said, by instId (an empty mapping for an answer that
    failed): opt-summary rows, mark-price ``markPx`` (coin), tickers, open-interest, and the index."""

    summaries: Mapping[str, OptionSummary]
    marks: Mapping[str, float]
    tickers: Mapping[str, OptionTicker]
    open_interest: Mapping[str, ContractOpenInterest]
    index: float | None


def option_chain(specs: Iterable[OptionSpec], parts: ChainParts, received: datetime,
                 errors: list[DtrackError] | None = None) -> list[OptionQuote]:
    """The ``OptionQuote`` of every option in ``specs``, ordered by expiry, strike, call first.

    OKX prices its (inverse) options in the coin per one coin of underlying: ``markPx``, ``bidPx`` and
    ``askPx`` are kept as the coin price and converted to USD by multiplying with the option's ``fwdPx`` (the
    forward of its expiry, which OKX prices against; ``underlying_price``). An option opt-summary leaves
    out takes its expiry's forward; an expiry without any takes the index (said in ``price_note``); with
    neither, USD prices are None and ``underlying_price`` is NaN. Missing rows leave their fields None
    (open interest and volume 0): an option is never dropped for what is missing. One whose figures no market
    can have is: with ``errors`` its ``Implausible`` is appended there and the others serve; without, raised.
    """
    specs = list(specs)
    forwards = expiry_forwards({s.symbol: s for s in specs}, parts.summaries)
    quotes: list[OptionQuote] = []
    for spec in specs:
        try:
            quotes.append(_option_quote(spec, parts, forwards.get(spec.expiry), received))
        except Implausible as exc:
            if errors is None:
                raise
            errors.append(exc)
    return sorted(quotes, key=lambda q: (q.expiry, q.strike, not q.is_call))


def _option_quote(spec: OptionSpec, parts: ChainParts, expiry_forward: float | None,
                  received: datetime) -> OptionQuote:
    summary = parts.summaries.get(spec.symbol)
    ticker = parts.tickers.get(spec.symbol)
    oi = parts.open_interest.get(spec.symbol)
    mark = parts.marks.get(spec.symbol)
    underlying, source = _underlying(spec, summary, expiry_forward, parts.index)

    def usd(coin: float | None) -> float | None:
        return None if coin is None or underlying is None else coin * underlying

    # an odd price of one row is that row's, whichever answer it came from: named by the option list's endpoint
    return plausible.option_quote(api.OPT_SUMMARY, OptionQuote(
        venue=api.VENUE, symbol=spec.symbol, asset=spec.asset, expiry=spec.expiry, strike=spec.strike,
        is_call=spec.is_call, time=summary.time if summary else None, received_at=received,
        underlying_price=math.nan if underlying is None else underlying, index_price=parts.index,
        mark_price_usd=usd(mark), mark_price_coin=mark,
        bid_price_usd=usd(ticker.bid if ticker else None), ask_price_usd=usd(ticker.ask if ticker else None),
        mark_iv=summary.mark_iv if summary else None, bid_iv=summary.bid_iv if summary else None,
        ask_iv=summary.ask_iv if summary else None, delta=summary.delta if summary else None,
        gamma=summary.gamma if summary else None, vega=summary.vega if summary else None,
        theta=summary.theta if summary else None,
        open_interest=oi.contracts if oi else 0.0, volume=ticker.volume if ticker else 0.0,
        contract_size=spec.contract_size, settle=spec.settle,
        price_note=(f"OKX prices in {spec.asset} (markPx, bidPx, askPx per coin); USD = coin price x {source}"
                    if underlying is not None else f"OKX prices in {spec.asset}; {source}: no USD prices"),
    ))


def _underlying(spec: OptionSpec, summary: OptionSummary | None, expiry_forward: float | None,
                index: float | None) -> tuple[float | None, str]:
    """What the coin prices convert with, and how it was found."""
    if summary is not None and summary.forward is not None:
        return summary.forward, "fwdPx (opt-summary forward of the expiry)"
    if expiry_forward is not None:
        return expiry_forward, "fwdPx of the expiry's other options (none in opt-summary for this one)"
    if index is not None:
        return index, f"the {spec.asset}-USD index (no opt-summary forward for this expiry)"
    return None, "no opt-summary forward and no index"


def parse_option_trades(body: Any, specs: Mapping[str, OptionSpec],
                        received: datetime) -> tuple[list[OptionTrade], list[ParseError]]:
    """``option-trades?instFamily=`` rows as ``OptionTrade``s (newest first, as sent), and a ``ParseError`` per
    row that did not parse. A malformed envelope raises.

    ``side`` is the taker's; ``sz`` contracts of the option's contract size; ``px`` in the coin per coin,
    converted to USD with the trade's ``fwdPx`` (the forward OKX priced it against, as in the chain), or its
    index price when no forward is sent; ``fillVol`` the trade's IV (fraction); ``idxPx`` the index (older
    answers call it ``indexPx``). Terms come from the instrument list, else from the name with the family's
    contract size (an option that expired since the list was read). OKX publishes block trades elsewhere
    (``public/block-trades``, per instrument): none of these is one.
    """
    reader = Reader(api.VENUE, api.OPTION_TRADES)
    sizes = {(s.asset, s.contract_size, s.settle) for s in specs.values()}
    family = next(iter(sizes)) if len(sizes) == 1 else None
    trades: list[OptionTrade] = []
    errors: list[ParseError] = []
    for row in _data(reader, body):
        try:
            trades.append(_trade(reader, reader.obj(row, "data row"), specs, family, received))
        except ParseError as exc:
            errors.append(exc)
    return trades, errors


def _trade(reader: Reader, row: Mapping[str, Any], specs: Mapping[str, OptionSpec],
           family: tuple[str, float, str] | None, received: datetime) -> OptionTrade:
    symbol = reader.text(row, "instId")
    spec = specs.get(symbol)
    if spec is None and family is not None:
        spec = spec_from_name(symbol, family[1], family[2])
    if spec is None:
        raise reader.fail(f"{symbol}: not in the option list and not an option name of a family with one contract size")
    side = reader.text(row, "side")
    if side not in ("buy", "sell"):
        raise reader.fail(f"{symbol}: side is {side!r}, expected 'buy' or 'sell'")
    index = reader.num(row, "idxPx" if "idxPx" in row else "indexPx")
    forward = reader.opt_num(row, "fwdPx") or index
    plausible.Rules(api.VENUE, reader.endpoint, symbol).price("fwdPx", forward)  # before it prices the trade
    return plausible.option_trade(reader.endpoint, OptionTrade(
        venue=api.VENUE, symbol=symbol, asset=spec.asset, expiry=spec.expiry, strike=spec.strike,
        is_call=spec.is_call, time=reader.time_ms(row, "ts"), received_at=received, side=side,
        amount=reader.num(row, "sz"),
        contract_size=spec.contract_size, price_usd=reader.num(row, "px") * forward, index_price=index,
        iv=reader.opt_num(row, "fillVol"), block=False, trade_id=reader.text(row, "tradeId"),
    ))
