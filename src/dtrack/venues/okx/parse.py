"""OKX v5 payloads -> records (pure: no I/O, no clock; the receive time is passed in).

Owns the reading of: instruments (contract sizes), funding-rate (current rate and interval),
open-interest, mark-price, index-tickers and funding-rate-history, and the assembly of one
``FundingRate`` per swap from them. Every field goes through ``Reader`` so that a malformed
payload raises ``ParseError`` naming OKX and the endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dtrack.records import FundingRate, Instrument, Kind, Margin, Unit
from dtrack.symbols import split_multiplier
from dtrack.venues.fields import Reader
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
class SwapOpenInterest:
    """One swap's open interest in the three units OKX gives (contracts, coin, USD)."""

    contracts: float
    coin: float | None
    usd: float | None


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One settlement of funding-rate-history; ``realized`` says ``realizedRate`` gave the rate."""

    time: datetime
    rate: float
    realized: bool


def _data(reader: Reader, body: Any) -> Sequence[Mapping[str, Any]]:
    """The rows of an OKX envelope ``{"code": "0", "msg": "", "data": [...]}``."""
    rows = reader.arr(reader.field(reader.obj(body), "data"), "data")
    return [reader.obj(row, "data row") for row in rows]


# --- instruments ----------------------------------------------------------------------------


def parse_instruments(body: Any) -> list[Instrument]:
    """Live perpetual swaps of an instruments answer.

    Other instTypes are skipped, and so are swaps not in state "live" (preopen, suspend, test):
    they have no funding to report.
    """
    reader = Reader(api.VENUE, api.INSTRUMENTS)
    return [_swap(reader, row) for row in _data(reader, body)
            if row.get("instType") == api.SWAP and row.get("state") == "live"]


def _swap(reader: Reader, row: Mapping[str, Any]) -> Instrument:
    symbol = reader.text(row, "instId")
    base, quote = _base_quote(reader, row)
    asset, multiplier = split_multiplier(base)
    margin = reader.text(row, "ctType")
    if margin not in (Margin.LINEAR, Margin.INVERSE):
        raise reader.fail(f"{symbol}: ctType is {margin!r}, expected 'linear' or 'inverse'")
    # Contract size is ctVal x ctMult in ctValCcy: BTC-USDT-SWAP 0.01 BTC, BTC-USD-SWAP 100 USD,
    # ETH-USD-SWAP 10 USD (okx__rest_public_instruments__capture.json).
    ct_mult = reader.opt_num(row, "ctMult")
    size = reader.num(row, "ctVal") * (1.0 if ct_mult is None else ct_mult)
    return Instrument(
        venue=api.VENUE, symbol=symbol, asset=asset, quote=quote, settle=reader.text(row, "settleCcy"),
        kind=Kind.PERP, margin=Margin(margin), multiplier=multiplier, contract_size=size,
        contract_unit=_contract_unit(reader, symbol, reader.text(row, "ctValCcy"), base),
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


def _contract_unit(reader: Reader, symbol: str, ccy: str, base: str) -> Unit:
    if ccy == base:
        return Unit.BASE
    if ccy in _USD:
        return Unit.USD
    raise reader.fail(f"{symbol}: ctValCcy is {ccy!r}, expected the base coin {base!r} or USD")


def index_id(instrument: Instrument) -> str:
    """The index-tickers instId of a swap: its uly, e.g. ``BTC-USDT`` for ``BTC-USDT-SWAP``."""
    return f"{instrument.symbol.split('-')[0]}-{instrument.quote}"


# --- current funding and enrichment ---------------------------------------------------------


def parse_funding(body: Any) -> dict[str, SwapFunding]:
    """funding-rate rows of perpetual swaps by instId ("X-Perps" FUTURES rows are skipped)."""
    reader = Reader(api.VENUE, api.FUNDING_RATE)
    return {reader.text(row, "instId"): _funding_row(reader, row)
            for row in _data(reader, body) if row.get("instType") == api.SWAP}


def _funding_row(reader: Reader, row: Mapping[str, Any]) -> SwapFunding:
    # fundingRate is the rate of the upcoming settlement at fundingTime; nextFundingTime is the one
    # after, so their spacing is the symbol's interval (8 h default; OKX may shorten it per contract).
    funding_ms = reader.num(row, "fundingTime")
    next_ms = reader.num(row, "nextFundingTime")
    if next_ms <= funding_ms:
        raise reader.fail(f"{row.get('instId')}: nextFundingTime {next_ms:.0f} is not after fundingTime "
                          f"{funding_ms:.0f}")
    return SwapFunding(
        rate=reader.num(row, "fundingRate"),
        funding_time=reader.time_ms(row, "fundingTime"),
        interval_hours=(next_ms - funding_ms) / HOUR_MS,
        # nextFundingRate is deprecated and sent as "": a forecast only when OKX fills it.
        predicted_rate=reader.opt_num(row, "nextFundingRate"),
        time=reader.opt_time_ms(row, "ts"),
    )


def parse_open_interest(body: Any) -> dict[str, SwapOpenInterest]:
    """open-interest rows by instId: ``oi`` contracts, ``oiCcy`` coin, ``oiUsd`` USD.

    One-sided: okx__ccxt_fetchOpenInterest.json has oi 2663107.3 BTC-USDT-SWAP contracts of 0.01 BTC
    = oiCcy 26631.07 BTC, and oiUsd = oiCcy x the price of the time.
    """
    reader = Reader(api.VENUE, api.OPEN_INTEREST)
    return {reader.text(row, "instId"): SwapOpenInterest(reader.num(row, "oi"), reader.opt_num(row, "oiCcy"),
                                                         reader.opt_num(row, "oiUsd"))
            for row in _data(reader, body)}


def parse_marks(body: Any) -> dict[str, float]:
    """mark-price ``markPx`` by instId (per one unit of the swap's base coin)."""
    reader = Reader(api.VENUE, api.MARK_PRICE)
    return {reader.text(row, "instId"): reader.num(row, "markPx") for row in _data(reader, body)}


def parse_index(body: Any) -> dict[str, float]:
    """index-tickers ``idxPx`` by index instId (``BTC-USDT``, ``BTC-USD``)."""
    reader = Reader(api.VENUE, api.INDEX_TICKERS)
    return {reader.text(row, "instId"): reader.num(row, "idxPx") for row in _data(reader, body)}


def open_interest_usd(oi: SwapOpenInterest, instrument: Instrument, mark: float | None) -> tuple[float | None, str]:
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
    oi: SwapOpenInterest | None = None,
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
    for row in _data(reader, body):
        realized = reader.opt_num(row, "realizedRate")
        rate = realized if realized is not None else reader.num(row, "fundingRate")
        rows.append(HistoryRow(reader.time_ms(row, "fundingTime"), rate, realized is not None))
    return rows
