"""Binance parsers of order books (``depth``), OHLCV candles (``klines``) and the public web brackets, on real
payloads with exact values.

Contracts come from the real 2021 exchangeInfo captures (SUSHIUSDT, AKROUSDT, BCHUSD_PERP of 10 USD). Books: the
cryptofeed ``depth`` captures (USDⓈ-M SUSHIUSDT / AKROUSDT, COIN-M BCHUSD_PERP) and ccxt's static BTCUSDT answer
(numbers as strings). Candles: ccxt's static USDⓈ-M ``/fapi/v1/klines`` rows (checked against ccxt's own parse)
and, for COIN-M volume units, a real ``BCHUSD_PERP@kline_1m`` frame written out as the REST row it stands for. Brackets:
a real BTCUSDT/ETHUSDT web-brackets answer (2026-08-02, trimmed by its quoter). Floats: rel=1e-12 (one decimal string
parsed once, one division).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from dtrack.config import Settings
from dtrack.errors import Implausible, ParseError, UnsupportedError, VenueError
from dtrack.records import Unit
from dtrack.venues.base import VenueContext
from dtrack.venues.binance import api, parse
from dtrack.venues.binance.adapter import BinanceAdapter

EXACT = 1e-12
RECEIVED = datetime(2026, 11, 20, 12, tzinfo=UTC)
USDM_DEPTH = "binance-usdm__rest_depth__capture.json"
COINM_DEPTH = "binance-coinm__rest_depth__capture.json"
CCXT_BOOK = "binance__ccxt_fetchOrderBook.json"
CCXT_OHLCV = "binance__ccxt_fetchOHLCV.json"
COINM_KLINE_WS = "binance-coinm__ws_kline_1m__capture.json"
BRACKETS = "binance-web__rest_brackets__capture.json"
USDM_BRACKETS = "/bapi/futures/v1/friendly/future/common/brackets"


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def case(payload, name: str, url_part: str = "") -> dict:
    """The raw answer of the payload's case whose input mentions ``url_part`` (the first case when empty)."""
    return copy.deepcopy(next(c["raw"] for c in payload(name)["cases"] if url_part in str(c["input"])))


@pytest.fixture
def usdm(payload):
    (c,) = payload("binance-usdm__rest_exchangeInfo__capture.json")["cases"]
    return {i.symbol: i for i in parse.parse_exchange_info(c["raw"], "usdm").instruments}


@pytest.fixture
def coinm(payload):
    (c,) = payload("binance-coinm__rest_exchangeInfo__capture.json")["cases"]
    return {i.symbol: i for i in parse.parse_exchange_info(c["raw"], "coinm").instruments}


# --- the depth limit asked -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("depth", "limit", "weight"), [
    (1, 5, 2), (5, 5, 2), (6, 10, 2), (20, 20, 2), (30, 50, 2), (51, 100, 5), (101, 500, 10), (500, 500, 10),
    (501, 1000, 20), (5000, 1000, 20),
])
def test_the_smallest_allowed_limit_at_least_the_depth_is_asked(depth: int, limit: int, weight: int) -> None:
    assert api.depth_limit(depth) == limit
    assert api.DEPTH_WEIGHTS[limit] == weight


# --- order books -------------------------------------------------------------------------------------------------


def test_usdm_depth_is_read_level_by_level_in_base_coins(payload, usdm) -> None:
    book = parse.parse_depth(case(payload, USDM_DEPTH, "SUSHIUSDT"), usdm["SUSHIUSDT"], 1000, RECEIVED)
    assert (book.limit, book.levels_bid, book.levels_ask) == (1000, 1000, 1000)
    assert book.bids[:3] == ((7.611, 6.0), (7.608, 161.0), (7.607, 285.0))
    assert book.asks[:3] == ((7.612, 297.0), (7.613, 177.0), (7.614, 758.0))
    assert (book.bids[-1], book.asks[-1]) == ((6.347, 72.0), (9.122, 2.0))
    assert (book.best_bid, book.best_ask) == (7.611, 7.612)
    assert book.time == utc(1626992741261)  # T, the transaction time (E is 1626992741264)
    assert (book.sequence, book.unit, book.note) == (600859605926, Unit.BASE, "")
    assert book.received_at == RECEIVED


def test_a_side_shorter_than_the_limit_is_kept_whole(payload, usdm) -> None:
    book = parse.parse_depth(case(payload, USDM_DEPTH, "AKROUSDT"), usdm["AKROUSDT"], 1000, RECEIVED)
    assert (book.levels_bid, book.levels_ask) == (609, 763)
    assert book.bids[0] == (0.01731, 57618.0) and book.bids[-1] == (0.00001, 332200000.0)
    assert book.asks[0] == (0.01732, 72524.0) and book.asks[-1] == (10.0, 330.0)


def test_a_multiplier_contract_quotes_per_coin(payload, usdm) -> None:
    """The same real levels read as a 1000x contract (``1000PEPEUSDT`` style): prices / 1000, sizes x 1000."""
    thousand = replace(usdm["SUSHIUSDT"], multiplier=1000.0)
    book = parse.parse_depth(case(payload, USDM_DEPTH, "SUSHIUSDT"), thousand, 1000, RECEIVED)
    assert book.bids[0] == (pytest.approx(7.611 / 1000, rel=EXACT), pytest.approx(6000.0, rel=EXACT))
    assert book.asks[1] == (pytest.approx(7.613 / 1000, rel=EXACT), pytest.approx(177_000.0, rel=EXACT))


def test_coinm_contracts_become_coins_at_each_levels_price(payload, coinm) -> None:
    bch = coinm["BCHUSD_PERP"]
    assert (bch.contract_size, bch.contract_unit) == (10.0, Unit.USD)
    book = parse.parse_depth(case(payload, COINM_DEPTH, "BCHUSD_PERP"), bch, 1000, RECEIVED)
    assert (book.levels_bid, book.levels_ask, book.unit) == (451, 536, Unit.CONTRACTS)
    assert book.bids[0] == (427.90, pytest.approx(169 * 10 / 427.90, rel=EXACT))
    assert book.bids[2] == (427.86, pytest.approx(444 * 10 / 427.86, rel=EXACT))
    assert book.asks[0] == (427.95, pytest.approx(150 * 10 / 427.95, rel=EXACT))
    assert book.asks[-1] == (19999.99, pytest.approx(231000 * 10 / 19999.99, rel=EXACT))
    assert book.bids[-1] == (14.40, pytest.approx(10 / 14.40, rel=EXACT))
    assert (book.time, book.sequence) == (utc(1626916404574), 167006089178)
    assert book.note == "qty in contracts of 10 USD, in BCH at each level's price"


def test_string_ids_and_times_read_as_ccxt_reads_them(payload, usdm) -> None:
    """ccxt's static answer sends lastUpdateId, E and T as strings; its own parse is the reference."""
    got = next(c for c in payload(CCXT_BOOK)["cases"] if "/fapi/" in c["endpoint"])
    book = parse.parse_depth(copy.deepcopy(got["raw"]), usdm["BTCUSDT"], 5, RECEIVED)
    want = got["ccxt_parsed"]
    assert [list(level) for level in book.bids] == want["bids"]
    assert [list(level) for level in book.asks] == want["asks"]
    assert book.time == utc(want["timestamp"]) and book.sequence == want["nonce"] == 35263532345


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda raw: raw["bids"].__setitem__(1, ["7.6200", "5"]), "not in descending price order"),
    (lambda raw: raw["asks"].__setitem__(0, ["7.6000", "5"]), "crossed book"),
    (lambda raw: raw["bids"].__setitem__(0, ["7.6110", "0"]), "must be > 0"),
    (lambda raw: raw["asks"].__setitem__(0, ["-1", "5"]), "a price must be > 0"),
    (lambda raw: raw["bids"].__setitem__(0, ["7.6110"]), "qty"),
    (lambda raw: raw.__setitem__("lastUpdateId", "x1"), "lastUpdateId"),
    (lambda raw: raw.pop("asks"), "asks"),
])
def test_a_broken_book_is_a_parse_error_naming_the_endpoint(payload, usdm, mutate, message: str) -> None:
    raw = case(payload, USDM_DEPTH, "SUSHIUSDT")
    mutate(raw)
    with pytest.raises(ParseError, match=message) as err:
        parse.parse_depth(raw, usdm["SUSHIUSDT"], 1000, RECEIVED)
    assert err.value.endpoint == "/fapi/v1/depth"


def test_a_book_of_another_symbol_is_refused(payload, coinm) -> None:
    raw = case(payload, COINM_DEPTH, "LINKUSD_PERP")
    with pytest.raises(ParseError, match="asked for BCHUSD_PERP, the answer is for LINKUSD_PERP"):
        parse.parse_depth(raw, coinm["BCHUSD_PERP"], 1000, RECEIVED)


def test_a_crossed_book_is_implausible(payload, usdm) -> None:
    raw = case(payload, USDM_DEPTH, "SUSHIUSDT")
    raw["asks"][0] = ["7.6110", "5"]
    with pytest.raises(Implausible):
        parse.parse_depth(raw, usdm["SUSHIUSDT"], 1000, RECEIVED)


# --- candles -----------------------------------------------------------------------------------------------------


def test_usdm_klines_are_ohlcv_as_ccxt_reads_them(payload, usdm) -> None:
    got = next(c for c in payload(CCXT_OHLCV)["cases"] if "/fapi/v1/klines" in c["endpoint"])
    received = utc(1712738580000 + 30_000)  # inside the third 1 m bar
    candles = parse.parse_candles(copy.deepcopy(got["raw"]), usdm["BTCUSDT"], 60, received)
    assert [[utc_ms(c.time), c.open, c.high, c.low, c.close, c.volume_base] for c in candles] == got["ccxt_parsed"]
    first = candles[0]
    assert (first.venue, first.symbol, first.period_seconds, first.received_at) == ("binance", "BTCUSDT", 60, received)
    assert first.volume_usd == pytest.approx(142.96380, rel=EXACT)  # quoteVolume, USDT taken as USD
    assert candles[2].volume_usd == pytest.approx(108661.55840, rel=EXACT)
    assert [c.closed for c in candles] == [True, True, False]


def utc_ms(t: datetime) -> int:
    return round(t.timestamp() * 1000)


def test_coinm_volume_is_contracts_and_field_7_coins(payload, coinm) -> None:
    """A real BCHUSD_PERP 1 m kline frame as its REST row (same fields, same order: t o h l c v T q n V Q B). Its
    contracts x 10 USD over its base volume is a price inside the bar: field 5 is contracts, field 7 coins."""
    frame = next(c["raw"]["data"] for c in payload(COINM_KLINE_WS)["cases"] if c["raw"]["data"]["s"] == "BCHUSD_PERP")
    k = frame["k"]
    row = [k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"], k["q"], k["n"], k["V"], k["Q"], k["B"]]
    (candle,) = parse.parse_candles([row], coinm["BCHUSD_PERP"], 60, utc(frame["E"]))
    assert (candle.open, candle.high, candle.low, candle.close) == (428.18, 428.18, 427.90, 427.90)
    assert candle.volume_usd == pytest.approx(807 * 10, rel=EXACT)
    assert candle.volume_base == pytest.approx(18.84782450, rel=EXACT)
    assert candle.low <= candle.volume_usd / candle.volume_base <= candle.high
    assert candle.closed is False and candle.time == utc(1626916380000)


def test_coinm_rows_without_volume_read_as_zero(payload, coinm) -> None:
    """ccxt's COIN-M (``/dapi``) rows carry volumes "0" (index-price klines, the same row shape)."""
    got = next(c for c in payload(CCXT_OHLCV)["cases"] if "/dapi/" in c["endpoint"])
    candles = parse.parse_candles(copy.deepcopy(got["raw"]), coinm["BTCUSD_PERP"], 86_400, RECEIVED)
    assert [[utc_ms(c.time), c.open, c.high, c.low, c.close] for c in candles] == [r[:5] for r in got["ccxt_parsed"]]
    assert all(c.volume_base == c.volume_usd == 0.0 and c.closed for c in candles)


def test_candles_keep_the_window_once_each_ascending(payload, usdm) -> None:
    got = next(c for c in payload(CCXT_OHLCV)["cases"] if "/fapi/v1/klines" in c["endpoint"])
    rows = parse.parse_candles(copy.deepcopy(got["raw"]), usdm["BTCUSDT"], 60, RECEIVED)
    kept = parse.candles([*rows[::-1], rows[1]], utc(1712738520000), utc(1712738580000))
    assert [utc_ms(c.time) for c in kept] == [1712738520000, 1712738580000]


def test_a_bar_whose_high_is_below_its_close_is_implausible(payload, usdm) -> None:
    got = next(c for c in payload(CCXT_OHLCV)["cases"] if "/fapi/v1/klines" in c["endpoint"])
    raw = copy.deepcopy(got["raw"])
    raw[1][2] = "70000.00"  # high below the open 71471.00 (the real row: 71471.00, 71471.00, 70459.40, 70459.40)
    with pytest.raises(Implausible, match=r"the open 71471\.0 and close 70459\.4 must lie within "
                                          r"\[low 70459\.4, high 70000\.0\]") as err:
        parse.parse_candles(raw, usdm["BTCUSDT"], 60, RECEIVED)
    assert (err.value.field, err.value.value) == ("open/high/low/close", [71471.0, 70000.0, 70459.4, 70459.4])


def test_only_known_candle_lengths_are_asked() -> None:
    assert [parse.kline_interval(s) for s in (60, 3600, 86_400)] == ["1m", "1h", "1d"]
    with pytest.raises(UnsupportedError, match="7200 s"):
        parse.kline_interval(7200)


# --- margin tiers (public web brackets, unofficial) ---------------------------------------------------------------


def test_usdm_brackets_are_usd_tiers_marked_unofficial(payload, usdm) -> None:
    table = parse.parse_brackets(case(payload, BRACKETS), "usdm")
    tiers = parse.margin_tiers(table, usdm["BTCUSDT"], RECEIVED)
    assert [(t.tier, t.floor, t.cap, t.mmr, t.deduction, t.max_leverage) for t in tiers] == [
        (1, 0.0, 300_000.0, 0.004, 0.0, 150.0),
        (2, 300_000.0, 800_000.0, 0.005, 300.0, 100.0),
        (3, 800_000.0, 3_000_000.0, 0.0065, 1500.0, 75.0),
        (4, 3_000_000.0, 12_000_000.0, 0.01, 12000.0, 50.0),
    ]
    assert all(t.unit is Unit.USD and t.official is False and t.imr is None for t in tiers)
    assert all(t.source == USDM_BRACKETS and "UNOFFICIAL" in t.note for t in tiers)
    assert all((t.venue, t.symbol, t.time, t.received_at) == ("binance", "BTCUSDT", utc(1755585384254), RECEIVED)
               for t in tiers)
    # the maintenance margin is continuous at every boundary (the published cum makes it so)
    for n in range(1, len(tiers)):
        floor = tiers[n].floor
        assert floor == tiers[n - 1].cap
        assert floor * tiers[n - 1].mmr - tiers[n - 1].deduction == pytest.approx(
            floor * tiers[n].mmr - tiers[n].deduction, abs=1e-6)
    (eth,) = parse.margin_tiers(table, usdm["ETHUSDT"], RECEIVED)
    assert (eth.floor, eth.cap, eth.mmr, eth.deduction, eth.max_leverage) == (0.0, 50_000.0, 0.0075, 0.0, 100.0)


@pytest.mark.parametrize(("seq", "key", "value", "message"), [
    (3, "cumFastMaintenanceAmount", 1400, "cum is not continuous at 800000"),
    (2, "bracketNotionalFloor", 400_000, "bracket 2 starts at 400000, bracket 1 ends at 300000"),
    (2, "bracketMaintenanceMarginRate", 0, "maintenance rate 0"),
    (4, "maxOpenPosLeverage", 0, "max leverage 0"),
    (4, "bracketSeq", 6, "bracket 6 follows bracket 3"),
    (1, "bracketNotionalCap", "big", "bracketNotionalCap"),
])
def test_a_broken_bracket_table_is_a_parse_error_naming_the_endpoint(payload, usdm, seq, key, value,
                                                                     message: str) -> None:
    raw = case(payload, BRACKETS)
    btc = next(row for row in raw["data"]["brackets"] if row["symbol"] == "BTCUSDT")
    btc["riskBrackets"][seq - 1][key] = value
    with pytest.raises(ParseError, match=message) as err:
        parse.margin_tiers(parse.parse_brackets(raw, "usdm"), usdm["BTCUSDT"], RECEIVED)
    assert err.value.endpoint == USDM_BRACKETS
    # a broken table costs only its own symbol
    assert len(parse.margin_tiers(parse.parse_brackets(raw, "usdm"), usdm["ETHUSDT"], RECEIVED)) == 1


def test_an_error_envelope_or_a_missing_symbol_is_a_parse_error(payload, usdm) -> None:
    with pytest.raises(ParseError, match="code is '000002'"):
        parse.parse_brackets({"code": "000002", "message": "illegal parameter", "data": None, "success": False},
                             "usdm")
    table = parse.parse_brackets(case(payload, BRACKETS), "usdm")
    with pytest.raises(ParseError, match="no brackets for SUSHIUSDT"):
        parse.margin_tiers(table, usdm["SUSHIUSDT"], RECEIVED)


def test_the_web_hosts_error_envelope_is_a_venue_error_and_the_web_host_has_its_own_budget() -> None:
    """Binance's web site answers ``{"code": "000002", "message": ..., "success": false}`` in HTTP 200 (the error
    envelope the quoting project shows); the adapter's ``check`` turns it into a VenueError with that code."""
    adapter = BinanceAdapter(VenueContext(None, Settings(), None, lambda: RECEIVED))  # type: ignore[arg-type]
    with pytest.raises(VenueError, match="web error 000002: illegal parameter") as err:
        adapter.check({"code": "000002", "message": "illegal parameter", "messageDetail": None, "success": False})
    assert err.value.code == "000002"
    adapter.check({"code": "000000", "message": None, "data": {"brackets": []}, "success": True})  # no error
    assert adapter.budget("web", USDM_BRACKETS, None) == (api.LIMITS["web"], "")
    assert adapter.url("web") == "https://www.binance.com"


def test_coinm_brackets_are_in_coins_looked_up_by_symbol_then_pair(payload, coinm) -> None:
    """The real USDⓈ-M rows renamed as COIN-M ones: the unit is coins (COIN-M floors, caps and cum are in coin), and
    a row named by the pair serves its perpetual."""
    raw = case(payload, BRACKETS)
    raw["data"]["brackets"][0]["symbol"] = "BCHUSD"
    table = parse.parse_brackets(raw, "coinm")
    tiers = parse.margin_tiers(table, coinm["BCHUSD_PERP"], RECEIVED)
    assert [t.unit for t in tiers] == [Unit.BASE] * 4
    assert tiers[1].source == "/bapi/futures/v1/friendly/delivery/common/brackets"
