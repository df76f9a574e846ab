"""Liquidation streams (``venues/<v>/stream.py``, the second stream kind) on the venues' own samples: exact values,
the side of the POSITION liquidated per venue (Binance SELL, Bybit Buy, OKX posSide or net-mode side, Deribit's
M/T/MT flags), the venue quantity converted to coins and USD with the contract terms, de-duplication keys, the
plausibility rules, and the channels each venue's plan subscribes.

The corpus has no real liquidation capture of any venue (``../shared/exchange-payloads/INDEX.md``); the frames are
the venues' documentation samples: Binance ``forceOrder`` (USDⓈ-M and COIN-M), Bybit ``allLiquidation`` and OKX
``liquidation-orders`` as documented, each in its channel's documented envelope. Deribit documents the
``liquidation`` trade flag in words only: its trades are Deribit's documented BTC-PERPETUAL trade
(``deribit__ws_user_trades__docs.json``) and a real trade row (``deribit__ccxt_fetchTrades.json``), each given
the flag values the docs define. Where a test changes one field of a sample (a side word, a price), it says so.
The contracts are parsed from real instrument lists where one lists them (OKX IOST-USDT-SWAP: ctVal 1,000 IOST;
Deribit BTC-PERPETUAL: 10 USD; Binance BTCUSDT; a Binance COIN-M BTC quarterly: 100 USD).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from conftest import load_payload
from dtrack.errors import Implausible
from dtrack.net.ws import MalformedFrame
from dtrack.records import (
    Coverage,
    DataKind,
    FundingRate,
    Instrument,
    Kind,
    Liquidation,
    Margin,
    PriceKind,
    PriceQuote,
    Unit,
)
from dtrack.venues.binance import parse as binance_parse
from dtrack.venues.binance import stream as binance
from dtrack.venues.bybit import stream as bybit
from dtrack.venues.deribit import parse as deribit_parse
from dtrack.venues.deribit import stream as deribit
from dtrack.venues.okx import parse as okx_parse
from dtrack.venues.okx import stream as okx
from dtrack.venues.streaming import QUIET, StreamRequest

LIQ = frozenset({DataKind.LIQUIDATIONS})
TICKERS = frozenset({DataKind.FUNDING, DataKind.OPEN_INTEREST, DataKind.QUOTES})
REL = 1e-12  # parsed once from decimal text: equal to float precision


def utc_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def raw(name: str) -> Any:
    return load_payload(name)["cases"][0]["raw"]


def one(frame: Any) -> Liquidation:
    (record,) = frame.records
    assert isinstance(record, Liquidation) and not frame.dropped
    return record


# --- the contracts, from real instrument lists ------------------------------------------------------------------

def binance_usdm() -> Instrument:
    (body,) = [c["raw"] for c in load_payload("binance-usdm__rest_exchangeInfo__capture.json")["cases"]]
    return {i.symbol: i for i in binance_parse.parse_exchange_info(body, "usdm").instruments}["BTCUSDT"]


def binance_coinm_quarterly() -> Instrument:
    """The COIN-M docs sample liquidates ``BTCUSD_200925``, a quarterly the 2021 capture no longer lists: the terms of
    the capture's BTC quarterly (100 USD contracts), under that symbol and its expiry."""
    (body,) = [c["raw"] for c in load_payload("binance-coinm__rest_exchangeInfo__capture.json")["cases"]]
    listed = {i.symbol: i for i in binance_parse.parse_exchange_info(body, "coinm").instruments}["BTCUSD_210924"]
    assert (listed.contract_size, listed.contract_unit) == (100.0, Unit.USD)
    return replace(listed, symbol="BTCUSD_200925", expiry=datetime(2020, 9, 25, 8, tzinfo=UTC))


def okx_iost() -> Instrument:
    doc = load_payload("okx__rest_public_instruments__capture.json")
    swaps = next(c["raw"] for c in doc["cases"] if "instType=SWAP" in c["input"]["url"])
    inst = {i.symbol: i for i in okx_parse.parse_instruments(swaps).instruments}["IOST-USDT-SWAP"]
    assert (inst.contract_size, inst.contract_unit, inst.margin) == (1000.0, Unit.BASE, Margin.LINEAR)
    return inst


def deribit_btc_perpetual() -> Instrument:
    listing = [deribit_parse.parse_instruments(c["raw"])
               for c in load_payload("deribit__rest_get_instruments__capture.json")["cases"]]
    inst = next(i for lst in listing for i in lst.instruments if i.symbol == "BTC-PERPETUAL")
    assert (inst.contract_size, inst.contract_unit, inst.margin) == (10.0, Unit.USD, Margin.INVERSE)
    return inst


def contract(venue: str, symbol: str, asset: str, *, quote: str = "USDT", margin: Margin = Margin.LINEAR,
             market: str = "", size: float = 1.0, unit: Unit = Unit.BASE, kind: Kind = Kind.PERP) -> Instrument:
    return Instrument(venue=venue, symbol=symbol, asset=asset, quote=quote, settle=quote, kind=kind, margin=margin,
                      contract_size=size, contract_unit=unit, market=market)


# --- Binance !forceOrder@arr --------------------------------------------------------------------------------------

def force_order(name: str, **order: Any) -> str:
    event = raw(name)
    return json.dumps({"stream": "!forceOrder@arr", "data": {**event, "o": {**event["o"], **order}}})


def test_binance_usdm_sell_is_a_long_liquidated_at_the_average_fill() -> None:
    inst = binance_usdm()
    p = binance.MarkPriceStream("usdm", [inst], {}, LIQ)
    assert (p.channels, p.path) == (("!forceOrder@arr",), "/market/stream")
    received = utc_ms(1568014461000)
    frame = p.handle(force_order("binance-usdm__ws_forceOrder__docs.json"), received)
    rec = one(frame)
    assert frame.channel == "!forceOrder@arr"
    assert (rec.side, rec.price_kind, rec.unit, rec.coverage) == ("long", PriceKind.AVERAGE, Unit.BASE,
                                                                   Coverage.SAMPLED)
    assert rec.price == 9910.0 and rec.amount == pytest.approx(0.014, rel=REL)
    assert rec.base == pytest.approx(0.014, rel=REL) and rec.usd == pytest.approx(0.014 * 9910, rel=REL)
    assert rec.time == utc_ms(1568014460893) and rec.received_at == received
    assert rec.key == "BTCUSDT:1568014460893:SELL:0.014:9910"
    assert rec.instrument is inst and rec.to_row()["side"] == "long"
    # the same order on the other side: a short liquidated
    assert one(p.handle(force_order("binance-usdm__ws_forceOrder__docs.json", S="BUY"), received)).side == "short"


def test_binance_coinm_contracts_are_converted_at_the_contract_size() -> None:
    inst = binance_coinm_quarterly()
    p = binance.MarkPriceStream("coinm", [inst], {}, LIQ)
    assert (p.host, p.path) == ("dstream", "/stream")
    rec = one(p.handle(force_order("binance-coinm__ws_forceOrder__docs.json"), utc_ms(1591154241000)))
    # z = 1 contract of 100 USD, filled at an average 9496.5 (the order's limit price p was 9425.5)
    assert (rec.side, rec.unit, rec.amount, rec.price, rec.price_kind) == ("long", Unit.CONTRACTS, 1.0, 9496.5,
                                                                           PriceKind.AVERAGE)
    assert rec.usd == 100.0 and rec.base == pytest.approx(100.0 / 9496.5, rel=REL)
    assert rec.key == "BTCUSD_200925:1591154240949:SELL:1:9496.5"


def test_binance_without_an_average_price_takes_the_order_price_and_skips_unfilled_orders() -> None:
    p = binance.MarkPriceStream("coinm", [binance_coinm_quarterly()], {}, LIQ)
    at = utc_ms(1591154241000)
    rec = one(p.handle(force_order("binance-coinm__ws_forceOrder__docs.json", ap="0"), at))  # ap changed to 0
    assert (rec.price, rec.price_kind) == (9425.5, PriceKind.ORDER)
    unfilled = p.handle(force_order("binance-coinm__ws_forceOrder__docs.json", z="0", X="NEW"), at)  # z changed to 0
    assert (unfilled.channel, list(unfilled.records), list(unfilled.dropped)) == ("!forceOrder@arr", [], [])


def test_binance_liquidations_of_symbols_not_asked_are_ignored() -> None:
    p = binance.MarkPriceStream("usdm", [contract("binance", "ETHUSDT", "ETH", market="usdm")], {}, LIQ)
    frame = p.handle(force_order("binance-usdm__ws_forceOrder__docs.json"), utc_ms(1568014461000))
    assert (frame.channel, list(frame.records), list(frame.dropped)) == ("!forceOrder@arr", [], [])


def test_binance_runs_mark_prices_and_liquidations_on_one_connection_per_host() -> None:
    usdm, coinm = binance_usdm(), binance_coinm_quarterly()
    both = binance.protocols(StreamRequest(TICKERS | LIQ, [usdm, coinm]))
    assert [(p.host, p.path, p.channels) for p in both] == [
        ("fstream", "/market/stream", ("!markPrice@arr@1s", "!forceOrder@arr")),
        ("dstream", "/stream", ("!markPrice@arr@1s", "!forceOrder@arr"))]
    p = both[0]
    assert json.loads(p.subscribe_messages(p.channels)[0]) == {
        "method": "SUBSCRIBE", "params": ["!markPrice@arr@1s", "!forceOrder@arr"], "id": 1}
    assert (p.stall_seconds("!forceOrder@arr"), p.stall_seconds("!markPrice@arr@1s")) == (QUIET, 30.0)
    # the mark-price frames still read as before beside the liquidations
    update = load_payload("binance-usdm__ws_markPrice__docs.json")["cases"][0]["raw"]
    marks = p.handle(json.dumps({"stream": "!markPrice@arr@1s", "data": [update]}), utc_ms(update["E"]))
    assert {type(r) for r in marks.records} == {PriceQuote}  # no REST funding terms given: quotes only
    assert [p.channels for p in binance.protocols(StreamRequest(LIQ, [usdm]))] == [("!forceOrder@arr",)]


# --- Bybit allLiquidation.{symbol} ------------------------------------------------------------------------------

ROSEUSDT = contract("bybit", "ROSEUSDT", "ROSE", market="linear")


def bybit_frame(**row: Any) -> str:
    msg = raw("bybit__ws_allLiquidation__docs.json")
    return json.dumps({**msg, "data": [{**msg["data"][0], **row}]})


def test_bybit_side_is_the_position_side() -> None:
    p = bybit.TickerStream("linear", [ROSEUSDT], {}, LIQ)
    assert (p.channels, p.path) == (("allLiquidation.ROSEUSDT",), "/v5/public/linear")
    received = utc_ms(1739502303300)
    frame = p.handle(bybit_frame(), received)
    rec = one(frame)
    # "S": "Sell" in the docs sample: a SHORT position was liquidated
    assert frame.channel == "allLiquidation.ROSEUSDT"
    assert (rec.side, rec.price_kind, rec.coverage, rec.unit) == ("short", PriceKind.BANKRUPTCY, Coverage.COMPLETE,
                                                                   Unit.BASE)
    assert (rec.amount, rec.price, rec.base) == (20000.0, 0.04499, 20000.0)
    assert rec.usd == pytest.approx(899.8, rel=REL) and rec.time == utc_ms(1739502302929)
    assert rec.key == "ROSEUSDT:1739502302929:Sell:20000:0.04499"
    # "Buy" (the sample's S changed): "a long position has been liquidated"
    bought = one(p.handle(bybit_frame(S="Buy"), received))
    assert (bought.side, bought.key) == ("long", "ROSEUSDT:1739502302929:Buy:20000:0.04499")


def test_bybit_inverse_sizes_are_usd() -> None:
    btcusd = contract("bybit", "BTCUSD", "BTC", quote="USD", margin=Margin.INVERSE, market="inverse", unit=Unit.USD)
    p = bybit.TickerStream("inverse", [btcusd], {}, LIQ)
    msg = raw("bybit__ws_allLiquidation__docs.json")  # the sample's row, on the inverse BTCUSD (topic, s, p changed)
    frame = {**msg, "topic": "allLiquidation.BTCUSD", "data": [{**msg["data"][0], "s": "BTCUSD", "p": "96000.5"}]}
    rec = one(p.handle(json.dumps(frame), utc_ms(1739502303300)))
    assert (rec.unit, rec.amount, rec.usd) == (Unit.USD, 20000.0, 20000.0)
    assert rec.base == pytest.approx(20000.0 / 96000.5, rel=REL)


def test_bybit_plan_counts_both_topics_of_a_symbol_against_the_connection_limit() -> None:
    linear = [contract("bybit", f"C{k}USDT", f"C{k}", market="linear") for k in range(150)]
    conns = bybit.protocols(StreamRequest(TICKERS | LIQ, linear))
    assert [len(p.channels) for p in conns] == [200, 100]
    first = conns[0]
    assert first.channels[:2] == ("tickers.C0USDT", "tickers.C1USDT") and "allLiquidation.C0USDT" in first.channels
    assert (first.stall_seconds("allLiquidation.C0USDT"), first.stall_seconds("tickers.C0USDT")) == (QUIET, 60.0)
    assert [len(p.channels) for p in bybit.protocols(StreamRequest(LIQ, linear))] == [150]
    assert all(c.startswith("allLiquidation.") for c in bybit.protocols(StreamRequest(LIQ, linear))[0].channels)


# --- OKX liquidation-orders -------------------------------------------------------------------------------------

def okx_push(**detail: Any) -> str:
    msg = raw("okx__ws_liquidation_orders__docs.json")
    row = msg["data"][0]
    return json.dumps({**msg, "data": [{**row, "details": [{**row["details"][0], **detail}]}]})


def test_okx_hedge_mode_position_side_and_contracts() -> None:
    iost = okx_iost()
    p = okx.PublicStream([iost], LIQ)
    assert p.channels == ("liquidation-orders:SWAP",)
    assert json.loads(p.subscribe_messages(p.channels)[0]) == {
        "op": "subscribe", "args": [{"channel": "liquidation-orders", "instType": "SWAP"}]}
    assert p.stall_seconds("liquidation-orders:SWAP") == QUIET
    frame = p.handle(okx_push(), utc_ms(1692266435000))
    rec = one(frame)
    # posSide "short" (hedge mode): a short liquidated (closed by the buy order "side": "buy")
    assert frame.channel == "liquidation-orders:SWAP"
    assert (rec.side, rec.unit, rec.amount, rec.price, rec.price_kind, rec.coverage) == (
        "short", Unit.CONTRACTS, 13.0, 0.007831, PriceKind.BANKRUPTCY, Coverage.SAMPLED)
    assert rec.base == 13_000.0 and rec.usd == pytest.approx(13_000 * 0.007831, rel=REL)  # 13 contracts of 1,000 IOST
    assert rec.time == utc_ms(1692266434010) and rec.instrument is iost
    assert rec.key == "IOST-USDT-SWAP:1692266434010:short:13:0.007831"


@pytest.mark.parametrize(("pos_side", "side", "liquidated"), [
    ("net", "sell", "long"), ("net", "buy", "short"),  # net mode: the ORDER side says it (a sell closes a long)
    ("long", "sell", "long"), ("", "sell", "long"),
])
def test_okx_net_mode_reads_the_order_side(pos_side: str, side: str, liquidated: str) -> None:
    p = okx.PublicStream([okx_iost()], LIQ)
    rec = one(p.handle(okx_push(posSide=pos_side, side=side), utc_ms(1692266435000)))  # posSide / side changed
    assert rec.side == liquidated and rec.key == f"IOST-USDT-SWAP:1692266434010:{liquidated}:13:0.007831"


def test_okx_backlog_pushed_again_gives_the_same_keys_and_is_handed_on_once() -> None:
    iost = okx_iost()
    first, other = okx.PublicStream([iost], LIQ), okx.PublicStream([iost], LIQ)
    push = okx_push()
    at = utc_ms(1692266435000)
    key = one(first.handle(push, at)).key
    assert one(other.handle(push, utc_ms(1692266499000))).key == key  # another collector: the same key (store dedup)
    first.reset()  # a reconnect: OKX pushes its backlog again after the new subscription
    again = first.handle(push, utc_ms(1692266440000))
    assert (again.channel, list(again.records), list(again.dropped)) == ("liquidation-orders:SWAP", [], [])
    newer = one(first.handle(okx_push(ts="1692266439000"), at))  # an order of the backlog not seen before
    assert newer.key == "IOST-USDT-SWAP:1692266439000:short:13:0.007831"


def test_okx_refusal_of_the_liquidation_subscription_names_its_channels() -> None:
    p = okx.PublicStream([okx_iost(), contract("okx", "BTC-USD-261225", "BTC", quote="USD", margin=Margin.INVERSE,
                                               market="FUTURES", size=100.0, unit=Unit.USD, kind=Kind.FUTURE)], LIQ)
    error = {"event": "error", "code": "60018", "connId": "a4d3ae55",
             "msg": "Wrong URL or channel:liquidation-orders,instType:SWAP doesn't exist."}  # OKX's 60018 wording
    frame = p.handle(json.dumps(error), utc_ms(1692266435000))
    assert list(frame.refused) == ["liquidation-orders:SWAP"] and "60018" in frame.detail
    vague = p.handle(json.dumps({**error, "msg": "liquidation-orders is not available"}), utc_ms(1692266435000))
    assert list(vague.refused) == ["liquidation-orders:SWAP", "liquidation-orders:FUTURES"]


def test_okx_other_contracts_are_ignored_and_one_subscription_per_type_covers_every_connection() -> None:
    p = okx.PublicStream([contract("okx", "BTC-USDT-SWAP", "BTC", market="SWAP", size=0.01)], LIQ)
    frame = p.handle(okx_push(), utc_ms(1692266435000))
    assert (list(frame.records), list(frame.dropped)) == ([], [])
    swaps = [contract("okx", f"C{k}-USDT-SWAP", f"C{k}", market="SWAP") for k in range(150)]
    future = contract("okx", "BTC-USD-261225", "BTC", quote="USD", margin=Margin.INVERSE, market="FUTURES",
                      size=100.0, unit=Unit.USD, kind=Kind.FUTURE)
    conns = okx.protocols(StreamRequest(TICKERS | LIQ, [*swaps, future]))
    liquidation_channels = [c for p in conns for c in p.channels if c.startswith("liquidation-orders")]
    assert liquidation_channels == ["liquidation-orders:SWAP", "liquidation-orders:FUTURES"]
    assert [len(p.channels) for p in conns] == [3 * 99 + 2, 3 * 51 + 2]  # the future: no funding channel
    assert set(conns[0].liquidated) == {i.symbol for i in [*swaps, future]}
    (alone,) = okx.protocols(StreamRequest(LIQ, [*swaps, future]))
    assert alone.channels == ("liquidation-orders:SWAP", "liquidation-orders:FUTURES")


# --- Deribit trades.{instrument}.100ms ---------------------------------------------------------------------------

def deribit_trades(channel: str, *rows: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": list(rows)}})


def documented_trade(**fields: Any) -> dict[str, Any]:
    """Deribit's documented BTC-PERPETUAL trade: taker sold 20 USD at 8954."""
    return {**raw("deribit__ws_user_trades__docs.json")["data"][0], **fields}


@pytest.mark.parametrize(("flag", "sides"), [("T", ["long"]), ("M", ["short"]), ("MT", ["long", "short"])])
def test_deribit_liquidation_flags(flag: str, sides: list[str]) -> None:
    perp = deribit_btc_perpetual()
    p = deribit.TickerStream([perp], LIQ)
    assert p.channels == ("trades.BTC-PERPETUAL.100ms",) and p.stall_seconds(p.channels[0]) == QUIET
    received = utc_ms(1590484156400)
    frame = p.handle(deribit_trades(p.channels[0], documented_trade(liquidation=flag)), received)
    # direction "sell" is the taker's: T = the taker's long, M = the maker's short, MT = both (two events)
    assert frame.channel == "trades.BTC-PERPETUAL.100ms" and not frame.dropped
    records = [r for r in frame.records if isinstance(r, Liquidation)]
    assert len(records) == len(frame.records)
    assert [r.side for r in records] == sides
    assert [r.key for r in records] == [f"48079254:{side}" for side in sides]
    for rec in records:
        assert (rec.price, rec.price_kind, rec.unit, rec.amount, rec.usd) == (8954.0, PriceKind.TRADE, Unit.USD,
                                                                              20.0, 20.0)
        assert rec.base == pytest.approx(20.0 / 8954, rel=REL) and rec.coverage is Coverage.TRADE_FLAG
        assert rec.time == utc_ms(1590484156350)


def test_deribit_trades_without_the_flag_are_no_liquidations() -> None:
    perp = deribit_btc_perpetual()
    p = deribit.TickerStream([perp], LIQ)
    doc = raw("deribit__ws_user_trades__docs.json")["data"]  # two trades, neither flagged
    frame = p.handle(deribit_trades(p.channels[0], *doc), utc_ms(1590484156400))
    assert (frame.channel, list(frame.records), list(frame.dropped)) == ("trades.BTC-PERPETUAL.100ms", [], [])
    (row,) = raw("deribit__rest_get_last_trades_by_currency__docs.json")["result"]["trades"]
    assert "liquidation" not in row  # the documented trade fields: the flag is optional
    flagged_row = documented_trade(trade_id="48079255", liquidation="T")
    flagged = p.handle(deribit_trades(p.channels[0], *doc[:1], flagged_row), utc_ms(1590484156400))
    assert [one(flagged).key] == ["48079255:long"]


def test_deribit_linear_amounts_are_coins() -> None:
    """A real Deribit trade row (ccxt's capture: numbers as text, amount in the coin) read on a linear USDC
    perpetual, with the taker flagged."""
    linear = contract("deribit", "BTC_USDC-PERPETUAL", "BTC", quote="USDC", market="BTC", size=0.001)
    (trade,) = raw("deribit__ccxt_fetchTrades.json")["result"]["trades"]
    p = deribit.TickerStream([linear], LIQ)
    rec = one(p.handle(deribit_trades("trades.BTC_USDC-PERPETUAL.100ms", {**trade, "liquidation": "T"}),
                       utc_ms(1710326421000)))
    assert (rec.side, rec.unit, rec.amount, rec.price) == ("long", Unit.BASE, 0.0001, 73260.86)
    assert rec.usd == pytest.approx(7.326086, rel=REL) and rec.key == "BTC_USDT-1097032:long"
    assert rec.time == utc_ms(1710326420359)


def test_deribit_plan_puts_a_contracts_ticker_and_trades_on_one_connection() -> None:
    perp = deribit_btc_perpetual()
    (both,) = deribit.protocols(StreamRequest(TICKERS | LIQ, [perp]))
    assert both.channels == ("ticker.BTC-PERPETUAL.100ms", "trades.BTC-PERPETUAL.100ms")
    many = [replace(perp, symbol=f"BTC-{k}") for k in range(300)]
    assert [len(p.channels) for p in deribit.protocols(StreamRequest(TICKERS | LIQ, many))] == [500, 100]
    # the ticker still reads beside the trades
    row = load_payload("deribit__rest_ticker__docs.json")["cases"][0]["raw"]["result"]
    notification = {"jsonrpc": "2.0", "method": "subscription",
                    "params": {"channel": "ticker.BTC-PERPETUAL.100ms", "data": row}}
    ticker = both.handle(json.dumps(notification), utc_ms(row["timestamp"]))
    assert {type(r) for r in ticker.records} >= {FundingRate, PriceQuote}


# --- what no market can have --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "field"), [
    ({"ap": "-1"}, "price"), ({"ap": "0", "p": "0"}, "price"), ({"z": "-0.014"}, "amount"),
    ({"z": "nan"}, "amount"), ({"T": 631152000000}, "time"), ({"T": 7258118400000}, "time"),
])
def test_implausible_values_are_dropped_and_named(change: dict[str, Any], field: str) -> None:
    p = binance.MarkPriceStream("usdm", [binance_usdm()], {}, LIQ)
    frame = p.handle(force_order("binance-usdm__ws_forceOrder__docs.json", **change), utc_ms(1568014461000))
    assert list(frame.records) == []
    (problem,) = frame.dropped
    assert isinstance(problem, Implausible)
    assert (problem.venue, problem.endpoint, problem.symbol, problem.field) == (
        "binance", "fstream !forceOrder@arr", "BTCUSDT", field)


def test_a_time_more_than_a_day_after_receipt_is_implausible() -> None:
    p = okx.PublicStream([okx_iost()], LIQ)
    frame = p.handle(okx_push(), utc_ms(1692266434010 - 2 * 86_400_000))  # received two days before the venue's ts
    (problem,) = frame.dropped
    assert (problem.field, list(frame.records)) == ("time", [])


@pytest.mark.parametrize(("venue", "make", "text"), [
    ("binance", lambda: binance.MarkPriceStream("usdm", [binance_usdm()], {}, LIQ),
     lambda: force_order("binance-usdm__ws_forceOrder__docs.json", S="SIDEWAYS")),
    ("bybit", lambda: bybit.TickerStream("linear", [ROSEUSDT], {}, LIQ), lambda: bybit_frame(S="Long")),
    ("okx", lambda: okx.PublicStream([okx_iost()], LIQ), lambda: okx_push(posSide="net", side="close")),
    ("deribit", lambda: deribit.TickerStream([deribit_btc_perpetual()], LIQ),
     lambda: deribit_trades("trades.BTC-PERPETUAL.100ms", documented_trade(liquidation="X"))),
])
def test_an_unknown_side_or_flag_is_a_malformed_frame(venue: str, make: Any, text: Any) -> None:
    with pytest.raises(MalformedFrame, match=venue):
        make().handle(text(), utc_ms(1739502303300))
