"""The venues' stream parsers (``venues/<v>/stream.py``) on real payloads: exact values, the REST conventions
(units, one side, intervals from the REST side, prices per unit of the asset), state (Bybit snapshot + deltas,
OKX per instrument), the protocol messages (acks, refusals, heartbeats) and malformed frames.

Where the corpus has no capture of a channel's frames, the frame is the channel's documented envelope around
a real row of the same fields (named at each test): Binance's mark-price docs example is one update, wrapped
in the ``!markPrice@arr@1s`` combined envelope; Deribit's notification data is the ``public/ticker`` result;
Hyperliquid's ``activeAssetCtx`` ctx is a ``metaAndAssetCtxs`` asset context; OKX's open-interest push row is
the REST open-interest row.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conftest import load_payload
from dtrack.net.ws import CONTROL, MalformedFrame
from dtrack.records import DataKind, FundingRate, Instrument, Kind, Margin, OpenInterest, PriceQuote, Unit
from dtrack.venues.binance import stream as binance
from dtrack.venues.bybit import stream as bybit
from dtrack.venues.deribit import stream as deribit
from dtrack.venues.hyperliquid import stream as hyperliquid
from dtrack.venues.okx import stream as okx
from dtrack.venues.streaming import StreamRequest, stream_kinds

ALL = frozenset({DataKind.FUNDING, DataKind.OPEN_INTEREST, DataKind.QUOTES})
REL = 1e-12  # the values are parsed from decimal strings once: equal to float precision


def utc_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def inst(venue: str, symbol: str, asset: str = "BTC", *, quote: str = "USDT", kind: Kind = Kind.PERP,
         margin: Margin = Margin.LINEAR, market: str = "", multiplier: float = 1.0, size: float = 1.0,
         unit: Unit = Unit.BASE, expiry: datetime | None = None) -> Instrument:
    return Instrument(venue=venue, symbol=symbol, asset=asset, quote=quote, settle=quote, kind=kind, margin=margin,
                      multiplier=multiplier, contract_size=size, contract_unit=unit, expiry=expiry, market=market)


def terms(instrument: Instrument, hours: float, source: str) -> FundingRate:
    """What the REST side read at stream start (only its interval and source are used)."""
    return FundingRate(instrument=instrument, rate=0.0, interval_hours=hours, interval_source=source, time=None,
                       received_at=utc_ms(0))


def by_type(records: Any) -> dict[type, Any]:
    out: dict[type, Any] = {}
    for r in records:
        assert type(r) not in out, f"two {type(r).__name__} in one frame"
        out[type(r)] = r
    return out


# --- Binance !markPrice@arr@1s ---------------------------------------------------------------------------------

BTCUSDT = inst("binance", "BTCUSDT", market="usdm")


def binance_frame() -> tuple[str, dict[str, Any]]:
    update = load_payload("binance-usdm__ws_markPrice__docs.json")["cases"][0]["raw"]
    return json.dumps({"stream": "!markPrice@arr@1s", "data": [update]}), update


@pytest.mark.parametrize(("hours", "on_grid"), [(1.0, True), (8.0, False)])
def test_binance_mark_price_update(hours: float, on_grid: bool) -> None:
    text, raw = binance_frame()
    received = utc_ms(1562305380123)
    source = "fundingInfo.fundingIntervalHours" if hours == 1 else "default 8 h (not in fundingInfo)"
    p = binance.MarkPriceStream("usdm", [BTCUSDT], {"BTCUSDT": terms(BTCUSDT, hours, source)}, ALL)
    frame = p.handle(text, received)
    assert frame.channel == "!markPrice@arr@1s" and not frame.dropped
    got = by_type(frame.records)
    f, q = got[FundingRate], got[PriceQuote]
    assert f.rate == pytest.approx(0.00038167, rel=REL)
    assert (f.interval_hours, f.interval_source) == (hours, source)
    assert f.time == utc_ms(1562305380000) and f.received_at == received  # E, the event time
    assert f.next_funding_time == utc_ms(1562306400000)  # T
    assert f.mark_price == pytest.approx(11794.15, rel=REL) and f.index_price == pytest.approx(11784.62659091, rel=REL)
    assert f.open_interest_usd is None and f.predicted_rate is None
    # T = 06:00 UTC: on the 1 h grid, not on the 8 h one (00/08/16): the interval is then flagged, as on REST
    assert ("interval unconfirmed" in f.note) is not on_grid
    assert (q.mark_price, q.index_price, q.last_price, q.time) == (f.mark_price, f.index_price, None, f.time)
    assert raw["s"] == "BTCUSDT"


def test_binance_skips_symbols_nobody_watches_and_streams_quotes_without_terms() -> None:
    text, _ = binance_frame()
    other = binance.MarkPriceStream("usdm", [inst("binance", "ETHUSDT", "ETH", market="usdm")], {}, ALL)
    assert other.handle(text, utc_ms(1562305380123)).records == []
    quotes_only = binance.MarkPriceStream("usdm", [BTCUSDT], {}, ALL)  # no REST funding: no interval, no rate
    assert [type(r) for r in quotes_only.handle(text, utc_ms(1562305380123)).records] == [PriceQuote]


def test_binance_protocol_messages() -> None:
    p = binance.MarkPriceStream("coinm", [inst("binance", "BTCUSD_PERP", market="coinm")], {}, ALL)
    assert (p.host, p.path) == ("dstream", "/stream")
    (sub,) = p.subscribe_messages(p.channels)
    assert json.loads(sub) == {"method": "SUBSCRIBE", "params": ["!markPrice@arr@1s"], "id": 1}
    assert p.handle('{"result":null,"id":1}', utc_ms(0)) is CONTROL
    p.subscribe_messages(p.channels)
    refused = p.handle('{"error":{"code":2,"msg":"Invalid request"},"id":2}', utc_ms(0))
    assert refused.refused == ["!markPrice@arr@1s"] and "Invalid request" in refused.detail
    text, _ = binance_frame()
    with pytest.raises(ValueError):
        p.handle(text[: len(text) // 2], utc_ms(0))  # truncated: JSONDecodeError
    usdm = binance.MarkPriceStream("usdm", [BTCUSDT], {}, ALL)
    with pytest.raises(MalformedFrame, match="BTCUSDT"):
        usdm.handle(text.replace('"E": 1562305380000', '"E": "soon"'), utc_ms(0))


# --- Bybit tickers.{symbol} ------------------------------------------------------------------------------------

BYBIT_PERP = inst("bybit", "BTCUSDT", market="linear")
BYBIT_FUTURE = inst("bybit", "BTC-26DEC25", quote="USDC", kind=Kind.FUTURE, market="linear",
                    expiry=datetime(2025, 12, 26, 8, tzinfo=UTC))


def bybit_case(label: str) -> dict[str, Any]:
    cases = load_payload("bybit__ws_tickers__docs.json")["cases"]
    raw: dict[str, Any] = next(c["raw"] for c in cases if c["input"].get("label") == label)
    return raw


def test_bybit_perpetual_snapshot() -> None:
    raw = bybit_case("LinearPerpetual")
    p = bybit.TickerStream("linear", [BYBIT_PERP], {}, ALL)
    received = utc_ms(1760325052700)
    frame = p.handle(json.dumps(raw), received)
    assert frame.channel == "tickers.BTCUSDT" and not frame.dropped
    got = by_type(frame.records)
    f, oi, q = got[FundingRate], got[OpenInterest], got[PriceQuote]
    when = utc_ms(1760325052630)  # the frame's ts
    assert f.rate == -0.005 and f.interval_hours == 8.0 and f.interval_source == "tickers fundingIntervalHour"
    assert f.next_funding_time == utc_ms(1760342400000) and f.time == when and f.received_at == received
    assert f.mark_price == 66666.6 and f.index_price == 115418.19
    # the docs example has no singleOpenInterest: openInterest is one side (REST convention), x mark
    assert f.open_interest_usd == pytest.approx(492373.72 * 66666.6, rel=REL)
    assert (oi.amount, oi.unit, oi.price_used, oi.price_source) == (492373.72, Unit.BASE, 66666.6, "mark")
    assert oi.usd == pytest.approx(492373.72 * 66666.6, rel=REL) and "one side" in oi.note
    assert (q.mark_price, q.index_price, q.last_price, q.time) == (66666.6, 115418.19, 66666.6, when)


@pytest.mark.parametrize(("label", "contract", "single"), [
    ("LinearPerpetual", BYBIT_PERP, None), ("LinearPerpetual", BYBIT_PERP, "246186.86"),
    ("LinearPerpetual", BYBIT_PERP, ""), ("LinearFutures", BYBIT_FUTURE, None)])
def test_bybit_stream_records_equal_the_rest_readers_of_the_same_row(label: str, contract: Instrument,
                                                                     single: str | None) -> None:
    """The stream reads its merged row with cached conventions; they must equal the REST tickers readers' reading
    of that row (one side by the presence of singleOpenInterest: absent, a value, or empty)."""
    from dtrack.venues.bybit import parse as rest
    from dtrack.venues.fields import Reader, Stamp

    raw = json.loads(json.dumps(bybit_case(label)))
    if single is not None:
        raw["data"]["singleOpenInterest"] = single
    p = bybit.TickerStream("linear", [contract], {}, ALL)
    received = utc_ms(raw["ts"] + 70)
    for _ in range(2):  # the second frame reads the conventions learnt from the first
        got = by_type(p.handle(json.dumps(raw), received).records)
        r, at = Reader("bybit", p.reader.endpoint), Stamp(utc_ms(raw["ts"]), received)
        row = raw["data"]
        assert got[OpenInterest] == rest.ticker_open_interest(r, row, contract, at)
        assert got[PriceQuote] == rest.ticker_quote(r, row, contract, at)
        if contract.kind is Kind.PERP:
            assert got[FundingRate] == rest.ticker_funding(r, row, contract, at, {})


def test_bybit_future_snapshot_has_no_funding() -> None:
    raw = bybit_case("LinearFutures")
    p = bybit.TickerStream("linear", [BYBIT_FUTURE], {}, ALL)
    got = by_type(p.handle(json.dumps(raw), utc_ms(1760409119900)).records)
    assert FundingRate not in got
    assert got[OpenInterest].amount == 6.622 and got[OpenInterest].usd == pytest.approx(6.622 * 121144.63, rel=REL)
    q = got[PriceQuote]
    assert (q.mark_price, q.index_price, q.last_price) == (121144.63, 114132.51, 109401.5)


def test_bybit_delta_merges_into_the_snapshot_and_yields_only_what_it_touches() -> None:
    """The delta is a subset of the snapshot's own fields with a new value (the docs show no delta example)."""
    raw = bybit_case("LinearPerpetual")
    p = bybit.TickerStream("linear", [BYBIT_PERP], {}, ALL)
    p.handle(json.dumps(raw), utc_ms(1760325052700))
    delta = {"topic": "tickers.BTCUSDT", "type": "delta", "data": {"symbol": "BTCUSDT", "lastPrice": "66670.10"},
             "cs": raw["cs"] + 1, "ts": raw["ts"] + 100}
    got = by_type(p.handle(json.dumps(delta), utc_ms(1760325052800)).records)
    assert set(got) == {PriceQuote}  # lastPrice moves the quote only
    assert (got[PriceQuote].last_price, got[PriceQuote].mark_price) == (66670.1, 66666.6)  # the rest kept
    delta["data"] = {"symbol": "BTCUSDT", "markPrice": "66700.00"}
    got = by_type(p.handle(json.dumps(delta), utc_ms(1760325052900)).records)
    assert set(got) == {FundingRate, OpenInterest, PriceQuote}
    assert got[FundingRate].rate == -0.005 and got[OpenInterest].usd == pytest.approx(492373.72 * 66700.0, rel=REL)
    p.reset()  # a new connection: the next snapshot comes first
    with pytest.raises(MalformedFrame, match="delta before any snapshot"):
        p.handle(json.dumps(delta), utc_ms(1760325053000))


def test_bybit_interval_falls_back_to_the_rest_side() -> None:
    raw = json.loads(json.dumps(bybit_case("LinearPerpetual")))
    del raw["data"]["fundingIntervalHour"]  # as in tickers rows from before 2025-10
    p = bybit.TickerStream("linear", [BYBIT_PERP], {"BTCUSDT": terms(BYBIT_PERP, 4.0, "REST")}, ALL)
    f = by_type(p.handle(json.dumps(raw), utc_ms(1760325052700)).records)[FundingRate]
    assert f.interval_hours == 4.0


def test_bybit_protocol_messages() -> None:
    p = bybit.TickerStream("inverse", [inst("bybit", "BTCUSD", quote="USD", margin=Margin.INVERSE,
                                            market="inverse")], {}, ALL)
    assert p.path == "/v5/public/inverse" and p.ping_message() == '{"op":"ping"}'
    (sub,) = p.subscribe_messages(["tickers.BTCUSD"])
    assert json.loads(sub) == {"op": "subscribe", "args": ["tickers.BTCUSD"], "req_id": "dtrack-1"}
    ok = {"success": True, "ret_msg": "", "conn_id": "c", "req_id": "dtrack-1", "op": "subscribe"}
    assert p.handle(json.dumps(ok), utc_ms(0)) is CONTROL
    assert p.handle('{"success":true,"ret_msg":"pong","conn_id":"c","op":"ping"}', utc_ms(0)) is CONTROL
    p.subscribe_messages(["tickers.BTCUSD"])
    bad = {**ok, "success": False, "ret_msg": "Invalid symbol :[tickers.BTCUSD]", "req_id": "dtrack-2"}
    assert p.handle(json.dumps(bad), utc_ms(0)).refused == ["tickers.BTCUSD"]


# --- Deribit ticker.{instrument}.100ms -------------------------------------------------------------------------

BTC_PERPETUAL = inst("deribit", "BTC-PERPETUAL", quote="USD", margin=Margin.INVERSE, market="BTC", size=10.0,
                     unit=Unit.USD)


def test_deribit_perpetual_ticker() -> None:
    row = load_payload("deribit__rest_ticker__docs.json")["cases"][0]["raw"]["result"]
    p = deribit.TickerStream([BTC_PERPETUAL], ALL)
    assert p.channels == ("ticker.BTC-PERPETUAL.100ms",)
    note = {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": p.channels[0], "data": row}}
    received = utc_ms(1623059682000)
    frame = p.handle(json.dumps(note), received)
    got = by_type(frame.records)
    f, oi, q = got[FundingRate], got[OpenInterest], got[PriceQuote]
    when = utc_ms(1623059681955)
    assert (f.rate, f.interval_hours, f.next_funding_time, f.time) == (2.203e-05, 8.0, None, when)
    assert (f.mark_price, f.index_price) == (36288.31, 36297.02)
    assert f.open_interest_usd == 502231260  # inverse: USD already
    assert (oi.amount, oi.unit, oi.usd, oi.time) == (502231260, Unit.USD, 502231260, when)
    assert oi.base == pytest.approx(502231260 / 36288.31, rel=REL)
    assert (q.mark_price, q.index_price, q.last_price, q.time) == (36288.31, 36297.02, 36289.5, when)


@pytest.mark.parametrize("oi", [True, False])
def test_deribit_stream_records_equal_the_rest_readers(oi: bool) -> None:
    """After its first frame a contract's records are built from the row's numbers with the notes the REST
    readers wrote: the same records as the REST readers' (``parse.ticker_funding``, ``parse.open_interest``)."""
    from dtrack.venues.deribit import parse as rest
    from dtrack.venues.fields import Reader

    row = dict(load_payload("deribit__rest_ticker__docs.json")["cases"][0]["raw"]["result"])
    if not oi:
        del row["open_interest"]
    p = deribit.TickerStream([BTC_PERPETUAL], frozenset({DataKind.FUNDING, DataKind.QUOTES}))
    r = Reader("deribit", "/ws/api/v2 ticker")
    for k in range(3):
        row = {**row, "mark_price": 36288.31 + k, "timestamp": 1623059681955 + k}
        received = utc_ms(1623059682000 + k)
        got = by_type(p.notification(p.channels[0], row, received).records)
        assert got[FundingRate] == rest.ticker_funding(r, row, BTC_PERPETUAL, received)
        assert got[PriceQuote] == deribit.ticker_quote(r, row, BTC_PERPETUAL, received)
    if oi:
        p = deribit.TickerStream([BTC_PERPETUAL], frozenset({DataKind.OPEN_INTEREST}))
        for _ in range(2):
            (got_oi,) = p.notification(p.channels[0], row, received).records
            assert got_oi == rest.open_interest(row, BTC_PERPETUAL, received, reader=r, time_key="timestamp")


def test_deribit_capture_frames_route_by_channel() -> None:
    """The real capture (option tickers on ``raw``): each frame belongs to its channel; one not subscribed
    here is malformed for this connection, and a watched one yields quotes at its ``timestamp``."""
    cases = [c for c in load_payload("deribit__ws_ticker__capture.json")["cases"] if "raw_line" in c]
    line = cases[0]["raw_line"]
    data = cases[0]["raw"]["params"]["data"]
    p = deribit.TickerStream([BTC_PERPETUAL], ALL)
    with pytest.raises(MalformedFrame, match="not subscribed"):
        p.handle(line, utc_ms(1626993723804))
    option = inst("deribit", data["instrument_name"], "ETH", quote="USD", kind=Kind.FUTURE, market="ETH")
    watcher = deribit.TickerStream([option], frozenset({DataKind.QUOTES}))
    watcher.watched = {cases[0]["raw"]["params"]["channel"]: option}
    q = watcher.handle(line, utc_ms(1626993723804)).records[0]
    assert isinstance(q, PriceQuote)
    assert (q.mark_price, q.index_price, q.last_price, q.time) == (0.001972, 2006.72, 0.002, utc_ms(1626993723632))


def test_deribit_protocol_messages() -> None:
    p = deribit.TickerStream([BTC_PERPETUAL], ALL)
    (hb,) = p.open_messages()
    assert json.loads(hb)["method"] == "public/set_heartbeat" and json.loads(hb)["params"] == {"interval": 15}
    (sub,) = p.subscribe_messages(p.channels)
    sub_id = json.loads(sub)["id"]
    assert json.loads(sub)["params"] == {"channels": ["ticker.BTC-PERPETUAL.100ms"]}
    assert p.handle(json.dumps({"jsonrpc": "2.0", "id": sub_id, "result": list(p.channels)}), utc_ms(0)) is CONTROL
    test_request = '{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}'
    reply = p.handle(test_request, utc_ms(0)).reply
    assert reply is not None and json.loads(reply)["method"] == "public/test"
    assert p.handle('{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"heartbeat"}}', utc_ms(0)) is CONTROL
    (sub,) = p.subscribe_messages(p.channels)
    missing = p.handle(json.dumps({"jsonrpc": "2.0", "id": json.loads(sub)["id"], "result": []}), utc_ms(0))
    assert missing.refused == ["ticker.BTC-PERPETUAL.100ms"]


# --- OKX funding-rate / open-interest / mark-price -------------------------------------------------------------

OKX_SWAP = inst("okx", "BTC-USDT-SWAP", market="SWAP", size=0.01)


def test_okx_open_interest_push_and_the_channels_per_kind() -> None:
    row = load_payload("okx__ccxt_fetchOpenInterest.json")["cases"][0]["raw"]["data"][0]
    p = okx.PublicStream([OKX_SWAP], ALL)
    assert set(p.channels) == {"funding-rate:BTC-USDT-SWAP", "open-interest:BTC-USDT-SWAP",
                               "mark-price:BTC-USDT-SWAP"}
    assert okx.PublicStream([OKX_SWAP], frozenset({DataKind.QUOTES})).channels == ("mark-price:BTC-USDT-SWAP",)
    push = {"arg": {"channel": "open-interest", "instId": "BTC-USDT-SWAP"}, "data": [row]}
    frame = p.handle(json.dumps(push), utc_ms(1728728315000))
    assert frame.channel == "open-interest:BTC-USDT-SWAP"
    (oi,) = frame.records
    assert isinstance(oi, OpenInterest)
    # before any mark: OKX's own price of the figure, oiUsd / oiCcy (the REST parser's fallback)
    assert (oi.amount, oi.unit, oi.time) == (2663107.29999999861, Unit.CONTRACTS, utc_ms(1728728314766))
    assert oi.base == pytest.approx(26631.0729999999861, rel=1e-9)
    assert oi.usd == pytest.approx(1676426045.349999124995, rel=1e-9)


def test_okx_protocol_messages() -> None:
    p = okx.PublicStream([OKX_SWAP], ALL)
    assert p.handle("pong", utc_ms(0)) is CONTROL and p.ping_message() == "ping" and p.ping_when_idle
    (sub,) = p.subscribe_messages(["mark-price:BTC-USDT-SWAP"])
    assert json.loads(sub) == {"op": "subscribe", "args": [{"channel": "mark-price", "instId": "BTC-USDT-SWAP"}]}
    ack = {"event": "subscribe", "arg": {"channel": "mark-price", "instId": "BTC-USDT-SWAP"}, "connId": "a"}
    assert p.handle(json.dumps(ack), utc_ms(0)) is CONTROL
    err = {"event": "error", "code": "60018", "msg": "Wrong URL or channel:mark-price,instId:BTC-USDT-SWAP doesn't "
                                                     "exist.", "connId": "a"}
    assert p.handle(json.dumps(err), utc_ms(0)).refused == ["mark-price:BTC-USDT-SWAP"]
    ticker = load_payload("okx__ws_tickers__capture.json")["cases"][0]["raw_line"]  # a channel not asked
    with pytest.raises(MalformedFrame, match="not subscribed"):
        p.handle(ticker, utc_ms(0))


# --- Hyperliquid activeAssetCtx --------------------------------------------------------------------------------


def test_hyperliquid_asset_context() -> None:
    meta, ctxs = load_payload("hyperliquid__rest_info_metaAndAssetCtxs__docs.json")["cases"][0]["raw"]
    coin = meta["universe"][0]["name"]
    btc = inst("hyperliquid", coin, coin, quote="USDC")
    p = hyperliquid.AssetCtxStream([btc], {}, ALL)
    assert p.channels == (f"activeAssetCtx:{coin}",)
    received = datetime(2026, 12, 5, 3, 27, 36, tzinfo=UTC)
    push = {"channel": "activeAssetCtx", "data": {"coin": coin, "ctx": ctxs[0]}}
    got = by_type(p.handle(json.dumps(push), received).records)
    f, oi, q = got[FundingRate], got[OpenInterest], got[PriceQuote]
    assert (f.rate, f.interval_hours, f.interval_source, f.time) == (0.0000125, 1.0, "hourly (venue docs)", None)
    assert f.next_funding_time == datetime(2026, 12, 5, 4, tzinfo=UTC)
    assert (f.mark_price, f.index_price) == (14.3161, 14.32)
    assert f.open_interest_usd == pytest.approx(688.11 * 14.3161, rel=REL)
    assert (oi.amount, oi.unit, oi.price_used) == (688.11, Unit.BASE, 14.3161)
    assert (q.mark_price, q.index_price, q.last_price) == (14.3161, 14.32, 14.314)
    assert p.handle('{"channel":"pong"}', received) is CONTROL
    assert json.loads(p.subscribe_messages(p.channels)[0]) == {
        "method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": coin}}


def test_hyperliquid_stream_records_equal_the_rest_readers() -> None:
    from dtrack.venues.fields import Reader
    from dtrack.venues.hyperliquid import parse as rest

    meta, ctxs = load_payload("hyperliquid__rest_info_metaAndAssetCtxs__docs.json")["cases"][0]["raw"]
    coins = [u["name"] for u in meta["universe"]]
    insts = [inst("hyperliquid", c, c, quote="USDC") for c in coins]
    p = hyperliquid.AssetCtxStream(insts, {}, ALL)
    r = Reader("hyperliquid", "/ws activeAssetCtx")
    for k in range(2):
        received = datetime(2026, 12, 5, 3, 59, 59, tzinfo=UTC) + timedelta(seconds=k)  # the second: past the hour
        for i, ctx in zip(insts, ctxs, strict=True):
            got = by_type(p.context(i.symbol, ctx, received).records)
            assert got[FundingRate] == rest.funding_rate(i, ctx, None, received, r=r)
            assert got[OpenInterest] == rest.open_interest(i, ctx, received, r=r)
            assert got[PriceQuote] == rest.price_quote(i, ctx, received, r=r)


def test_an_implausible_value_is_dropped_not_a_malformed_frame() -> None:
    meta, ctxs = load_payload("hyperliquid__rest_info_metaAndAssetCtxs__docs.json")["cases"][0]["raw"]
    coin = meta["universe"][0]["name"]
    p = hyperliquid.AssetCtxStream([inst("hyperliquid", coin, coin, quote="USDC")], {}, ALL)
    push = {"channel": "activeAssetCtx", "data": {"coin": coin, "ctx": {**ctxs[0], "markPx": "-1"}}}
    frame = p.handle(json.dumps(push), datetime(2026, 12, 5, tzinfo=UTC))
    assert frame.records == [] and len(frame.dropped) == 3
    assert all((e.kind == "implausible" and "markPx" in str(e)) or "mark" in str(e) for e in frame.dropped)


# --- shared ----------------------------------------------------------------------------------------------------


def test_stream_kinds_and_requests() -> None:
    assert stream_kinds("funding") == {DataKind.FUNDING}
    assert stream_kinds(["OI", "quotes", DataKind.FUNDING]) == ALL
    assert stream_kinds(["liquidations", "Liquidation"]) == {DataKind.LIQUIDATIONS}
    for bad, match in (([], "no stream kind"), (["klines"], "cannot stream 'klines'"),
                       ([3], "is not a name")):
        with pytest.raises(Exception, match=match) as err:
            stream_kinds(bad)  # type: ignore[arg-type]
        assert type(err.value).__name__ == "UsageError" and "\n" not in str(err.value)
    option = inst("deribit", "BTC-1-C", kind=Kind.OPTION)
    req = StreamRequest(ALL, [BTC_PERPETUAL, option, BTC_PERPETUAL])
    assert req.contracts() == [BTC_PERPETUAL]
    assert [type(p).__name__ for p in binance.protocols(StreamRequest(ALL, [BTCUSDT]))] == ["MarkPriceStream"]


def test_a_venue_limit_splits_the_subscriptions_over_several_connections() -> None:
    linear = [inst("bybit", f"C{k}USDT", f"C{k}", market="linear") for k in range(450)]
    inverse = [inst("bybit", "BTCUSD", quote="USD", margin=Margin.INVERSE, market="inverse")]
    conns = bybit.protocols(StreamRequest(ALL, linear + inverse))
    assert [(p.path, len(p.channels)) for p in conns] == [
        ("/v5/public/linear", 200), ("/v5/public/linear", 200), ("/v5/public/linear", 50), ("/v5/public/inverse", 1)]
    assert len({ch for p in conns for ch in p.channels}) == 451  # each topic on exactly one connection
    swaps = [inst("okx", f"C{k}-USDT-SWAP", f"C{k}", market="SWAP") for k in range(150)]
    okx_conns = okx.protocols(StreamRequest(ALL, swaps))  # three channels per perpetual, 300 per connection
    assert [len(p.channels) for p in okx_conns] == [300, 150]
    assert [len(p.channels) for p in okx.protocols(StreamRequest(frozenset({DataKind.QUOTES}), swaps))] == [150]
