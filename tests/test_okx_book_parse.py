"""OKX order books, OHLCV candles and position tiers parsed from real payloads, with exact values.

Contract terms (ctVal) come from the real instruments capture. Tolerances: values read from decimal strings are
compared exactly or at rel=1e-12 where a conversion (a division) is involved.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from dtrack.errors import Implausible, ParseError
from dtrack.records import Instrument, Kind, Margin, Unit
from dtrack.venues.okx import api
from dtrack.venues.okx.parse import (
    CandleRow,
    candles,
    parse_books,
    parse_candles,
    parse_instruments,
    parse_position_tiers,
)

Payload = Callable[[str], dict[str, Any]]
EXACT = 1e-12
RECEIVED = datetime(2024, 2, 1, tzinfo=UTC)


def contracts(payload: Payload) -> dict[str, Instrument]:
    """The swaps and futures of the real instruments capture (2022), by instId."""
    found: dict[str, Instrument] = {}
    for case in payload("okx__rest_public_instruments__capture.json")["cases"]:
        found |= {i.symbol: i for i in parse_instruments(case["raw"]).instruments}
    return found


def raw(payload: Payload, name: str, index: int = 0) -> Any:
    return copy.deepcopy(payload(name)["cases"][index]["raw"])


# --- books ---------------------------------------------------------------------------------------


def test_books_of_a_linear_swap(payload: Payload) -> None:
    """BTC-USDT-SWAP: ``sz`` in contracts of ctVal 0.01 BTC (13807 contracts = 138.07 BTC)."""
    btc = contracts(payload)["BTC-USDT-SWAP"]
    assert btc.contract_size == 0.01 and btc.contract_unit is Unit.BASE
    case = payload("okx__ccxt_fetchOrderBook.json")["cases"][0]
    book = parse_books(case["raw"], btc, 2, RECEIVED)
    # independent reference: ccxt's reading (price, contracts) x ctVal
    assert book.bids == tuple((p, pytest.approx(n * 0.01, rel=EXACT)) for p, n, _ in case["ccxt_parsed"]["bids"])
    assert book.asks == ((43466.4, pytest.approx(148.81, rel=EXACT)), (43466.5, pytest.approx(146.24, rel=EXACT)))
    assert book.time == datetime(2024, 1, 30, 10, 54, 27, 750000, tzinfo=UTC)
    assert book.sequence is None and book.unit is Unit.CONTRACTS and book.limit == 2
    assert book.note == "sz in contracts of 0.01 BTC"


def test_books_of_an_inverse_future(payload: Payload) -> None:
    """The WebSocket snapshot of BTC-USD-220527 (ctVal 100 USD) has REST's level shape: 3 contracts at 30233.6
    are 300 USD = 0.0099227... BTC, converted at that level's price."""
    future = contracts(payload)["BTC-USD-220527"]
    assert (future.contract_size, future.contract_unit) == (100.0, Unit.USD)
    body = raw(payload, "okx__ws_books__capture.json")
    received = datetime(2022, 5, 13, 16, 27, 6, tzinfo=UTC)
    book = parse_books(body, future, 400, received)
    assert book.bids[:2] == ((30233.6, pytest.approx(300 / 30233.6, rel=EXACT)),
                             (30219.4, pytest.approx(10400 / 30219.4, rel=EXACT)))
    assert book.asks[0] == (30238.8, pytest.approx(200 / 30238.8, rel=EXACT))
    assert (len(book.bids), len(book.asks)) == (len(body["data"][0]["bids"]), len(body["data"][0]["asks"]))
    assert book.time == datetime(2022, 5, 13, 16, 27, 5, 393000, tzinfo=UTC)
    assert "converted at each level's price" in book.note


def test_books_refuse_broken_answers(payload: Payload) -> None:
    btc = contracts(payload)["BTC-USDT-SWAP"]
    body = raw(payload, "okx__ccxt_fetchOrderBook.json")
    crossed = copy.deepcopy(body)
    crossed["data"][0]["bids"][0][0] = "43466.5"
    with pytest.raises(Implausible, match="crossed"):
        parse_books(crossed, btc, 2, RECEIVED)
    unsorted = copy.deepcopy(body)
    unsorted["data"][0]["bids"].reverse()
    with pytest.raises(ParseError, match="bids are not in descending"):
        parse_books(unsorted, btc, 2, RECEIVED)
    empty = {"code": "0", "msg": "", "data": []}
    with pytest.raises(ParseError, match="0 books in the answer"):
        parse_books(empty, btc, 2, RECEIVED)
    zero = copy.deepcopy(body)
    zero["data"][0]["asks"][0][0] = "0"
    with pytest.raises(Implausible, match="asks px"):
        parse_books(zero, btc, 2, RECEIVED)


# --- candles -------------------------------------------------------------------------------------


def test_candle_rows_read_every_field(payload: Payload) -> None:
    case = payload("okx__ccxt_fetchOHLCV.json")["cases"][0]
    rows = parse_candles(case["raw"], api.HISTORY_CANDLES)
    assert rows[0] == CandleRow(datetime(2024, 1, 30, 18, tzinfo=UTC), 43373.9, open=43398.6, high=43493.9,
                                low=43279.9, vol=5070.79611732, vol_ccy=220057933.233687634,
                                vol_ccy_quote=220057933.233687634, confirm=True)
    # independent reference: ccxt's rows [ts, o, h, l, c, vol], oldest first
    assert [[int(r.open_time.timestamp() * 1000), r.open, r.high, r.low, r.close, r.vol] for r in rows[::-1]] == \
        case["ccxt_parsed"]


def test_candles_of_a_swap_read_volccy_and_volccyquote(payload: Payload) -> None:
    """The real rows are BTC-USDT SPOT's (``vol`` in BTC, ``volCcy`` and ``volCcyQuote`` in USDT); a swap's row
    holds the same trading in its own positions (OKX's docs: ``vol`` contracts, ``volCcy`` the base coin,
    ``volCcyQuote`` the quote), so each spot row is moved into them (contracts = BTC / ctVal 0.01): volCcy is the
    coins, volCcyQuote the USD; ``confirm`` "1" closes a bar even when the receive time lies inside it."""
    btc = contracts(payload)["BTC-USDT-SWAP"]
    assert btc.contract_size == 0.01
    spot = parse_candles(raw(payload, "okx__ccxt_fetchOHLCV.json"), api.CANDLES)
    rows = [CandleRow(r.open_time, r.close, open=r.open, high=r.high, low=r.low, vol=(r.vol or 0.0) / 0.01,
                      vol_ccy=r.vol, vol_ccy_quote=r.vol_ccy_quote, confirm=r.confirm) for r in spot]
    inside_last = datetime(2024, 1, 30, 18, 20, tzinfo=UTC)
    got = candles(rows, btc, 3600, inside_last)
    assert [c.time.hour for c in got] == [16, 17, 18] and all(c.closed for c in got)
    assert (got[0].open, got[0].high, got[0].low, got[0].close) == (43377.1, 43500.0, 43220.9, 43495.9)
    assert got[0].volume_base == 7137.30786672 and got[0].volume_usd == 309343235.363089398
    # a value a market can have: the coins times a price inside the bar's range give its USD
    assert got[0].low < got[0].volume_usd / got[0].volume_base < got[0].high
    open_row = [*rows[1:], CandleRow(rows[0].open_time, rows[0].close, open=rows[0].open, high=rows[0].high,
                                     low=rows[0].low, vol=rows[0].vol)]  # no volCcy*, no confirm: an older row
    older = candles(open_row, btc, 3600, inside_last)
    assert older[-1].closed is False and older[-1].volume_base is None and older[-1].volume_usd is None
    inverse = contracts(payload)["BTC-USD-SWAP"]
    (last,) = candles(open_row[-1:], inverse, 3600, inside_last)
    assert last.volume_usd == pytest.approx(507079.611732 * 100, rel=EXACT)  # vol contracts x 100 USD


def test_candle_outside_its_range_is_implausible(payload: Payload) -> None:
    body = raw(payload, "okx__ccxt_fetchOHLCV.json")
    body["data"][1][3] = "43500"  # low above the open (the real row: 43495.9, 43591.7, 43300, 43398.6)
    with pytest.raises(Implausible, match=r"the open 43495\.9 and close 43398\.6 must lie within "
                                          r"\[low 43500\.0, high 43591\.7\]") as err:
        parse_candles(body, api.CANDLES)
    assert (err.value.field, err.value.value) == ("o/h/l/c", [43495.9, 43591.7, 43500.0, 43398.6])
    for confirm in ("2", [], {"1": True}):  # a list or an object is a ParseError too, not a TypeError
        body = raw(payload, "okx__ccxt_fetchOHLCV.json")
        body["data"][0][8] = confirm
        with pytest.raises(ParseError, match="confirm"):
            parse_candles(body, api.CANDLES)


# --- position tiers ------------------------------------------------------------------------------


def test_position_tier_of_the_research_row(payload: Payload) -> None:
    """tier 1 of BTC-USDT: 0..1000 CONTRACTS (x 0.01 BTC = 10 BTC, not 1000 USDT), mmr 0.4 %, 100x."""
    btc = contracts(payload)["BTC-USDT-SWAP"]
    (tier,) = parse_position_tiers(raw(payload, "okx__rest_position_tiers__capture.json"), btc, RECEIVED)
    assert (tier.tier, tier.floor, tier.cap, tier.unit) == (1, 0.0, 1000.0, Unit.CONTRACTS)
    assert (tier.mmr, tier.imr, tier.max_leverage, tier.deduction) == (0.004, 0.01, 100.0, 0.0)
    assert tier.cap * btc.contract_size == 10.0
    assert tier.note.startswith("minSz/maxSz in contracts of 0.01 BTC") and "no deduction" in tier.note
    assert tier.source == api.POSITION_TIERS and tier.time is None and tier.symbol == "BTC-USDT-SWAP"


def test_position_tiers_of_another_family_are_not_read(payload: Payload) -> None:
    eth = Instrument(venue="okx", symbol="ETH-USDT-SWAP", asset="ETH", quote="USDT", settle="USDT", kind=Kind.PERP,
                     margin=Margin.LINEAR, contract_size=0.1, market="SWAP")
    with pytest.raises(ParseError, match="no position tiers of ETH-USDT"):
        parse_position_tiers(raw(payload, "okx__rest_position_tiers__capture.json"), eth, RECEIVED)
    btc = contracts(payload)["BTC-USDT-SWAP"]
    body = raw(payload, "okx__rest_position_tiers__capture.json")
    body["data"][0]["mmr"] = "0.02"  # above imr
    with pytest.raises(Implausible, match="mmr <= imr"):
        parse_position_tiers(body, btc, RECEIVED)
