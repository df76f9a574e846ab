"""The simulated venues' WebSocket channels (``dtrack.sim.streams``) over real sockets.

Every venue: subscribe as its protocol says, receive its ticker frames, check each data frame against the real
capture or docs example of that channel (the same keys, none omitted, and the same JSON value types) and its values
against the market model (or, at a pinned clock, against what REST answers); keep-alive (pongs, Binance ping frames,
Deribit heartbeats, Hyperliquid's idle close); the venue's error for a symbol or channel it does not serve; the
stream faults (disconnect, stall, malformed) of every venue; the frame log; and a prompt close on server stop.

Waits are bounded by ``TIMEOUT`` (generous: a busy machine is slow, not wrong); counts of frames, not sleeps, drive
the tests, and no test asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from click.testing import CliRunner

from conftest import load_payload
from dtrack.cli.sim import serve as sim_serve
from dtrack.sim.faults import FAULT_KINDS, STREAM_FAULT_KINDS, Faults
from dtrack.sim.model import MarketModel, SimPerp
from dtrack.sim.options import OptionsModel
from dtrack.sim.server import SIM_VENUES, STREAMED_VENUES, SimServer, settings_document, start_sim
from dtrack.sim.streams import StreamOptions, dumps
from dtrack.sim.streams import binance as binance_ws
from dtrack.sim.streams import bybit as bybit_ws
from dtrack.sim.streams import deribit as deribit_ws
from dtrack.sim.streams import okx as okx_ws

T = TypeVar("T")
TIMEOUT = 30.0
SEED = 7
#: a pinned market clock (2026-12-01 ~07:33 UTC): frames and REST answers of the same moment must agree exactly
PINNED_MS = 1_796_110_400_000
Body = Callable[[SimServer, aiohttp.ClientSession], Awaitable[T]]

# --- the real shapes ---------------------------------------------------------------------------------------------

#: OKX's push-data examples (https://www.okx.com/docs-v5/en/#public-data-websocket-funding-rate-channel and
#: ...-mark-price-channel); the corpus has no capture of these two channels. Every field is a string.
OKX_FUNDING_RATE_DOC = dict.fromkeys(
    ("formulaType", "fundingRate", "fundingTime", "impactValue", "instId", "instType", "interestRate", "method",
     "maxFundingRate", "minFundingRate", "nextFundingRate", "nextFundingTime", "premium", "settFundingRate",
     "settState", "ts"), "string")
OKX_MARK_PRICE_DOC = dict.fromkeys(("instType", "instId", "markPx", "ts"), "string")
#: fields Deribit's ticker carries for options only (greeks, IVs, underlying, the IV interest rate)
DERIBIT_OPTION_ONLY = ("underlying_price", "underlying_index", "mark_iv", "interest_rate", "greeks", "bid_iv",
                       "ask_iv")
DERIBIT_PERPETUAL_ONLY = ("current_funding", "funding_8h", "interest_value")


def raws(name: str) -> list[Any]:
    """The ``raw`` of every case of a payload file."""
    return [case["raw"] for case in load_payload(name)["cases"]]


def kind(value: Any) -> str:
    """A JSON value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def assert_like(sim: Any, real: list[Any], where: str = "$") -> None:
    """``sim`` has every key of the real examples, each of a JSON type they show (nested objects alike); a real
    value that is always null says nothing about its type."""
    kinds = {kind(r) for r in real}
    if kinds <= {"null"}:
        return
    assert kind(sim) in kinds | ({"null"} if "null" in kinds else set()), f"{where}: {kind(sim)} not in {kinds}"
    if kind(sim) == "object":
        objects = [r for r in real if isinstance(r, dict)]
        keys = {k for r in objects for k in r}
        assert not keys - set(sim), f"{where}: the sim omits {sorted(keys - set(sim))}"
        for key in keys:
            assert_like(sim[key], [r[key] for r in objects if key in r], f"{where}.{key}")
    elif kind(sim) == "array" and sim:
        items = [item for r in real if isinstance(r, list) for item in r]
        for i, item in enumerate(sim):
            assert_like(item, items, f"{where}[{i}]")


# --- running a sim and talking to it ---------------------------------------------------------------------------


def served(body: Body[T], **sim: Any) -> T:
    """Run ``body(server, session)`` against a fresh sim on port 0 (stopped after, even on failure)."""

    async def main() -> T:
        server = await start_sim(seed=SEED, **sim)
        try:
            async with aiohttp.ClientSession() as session:
                return await body(server, session)
        finally:
            await asyncio.wait_for(server.stop(), TIMEOUT)

    return asyncio.run(main())


def pinned(**sim: Any) -> dict[str, Any]:
    """Sim arguments for a market whose clock stands still at ``PINNED_MS``."""
    return {"model": MarketModel(SEED, now_ms=PINNED_MS), **sim}


def ws_url(server: SimServer, venue: str, host: str, path: str) -> str:
    return server.venue_ws_urls()[venue][host] + path


async def receive(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    return await asyncio.wait_for(ws.receive(), TIMEOUT)


async def text(ws: aiohttp.ClientWebSocketResponse) -> str:
    """The next text frame (protocol frames skipped)."""
    while True:
        msg = await receive(ws)
        if msg.type is aiohttp.WSMsgType.TEXT:
            return str(msg.data)
        assert msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG), f"connection ended: {msg}"


async def message(ws: aiohttp.ClientWebSocketResponse) -> Any:
    return json.loads(await text(ws))


async def until(ws: aiohttp.ClientWebSocketResponse, wanted: Callable[[Any], bool]) -> Any:
    """The next JSON message ``wanted`` accepts (others skipped)."""
    while not wanted(found := await message(ws)):
        pass
    return found


async def closed(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    """Read until the server closes the connection; the close message."""
    while True:
        msg = await receive(ws)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return msg


async def get_json(session: aiohttp.ClientSession, url: str, body: Any = None) -> Any:
    method = session.post(url, json=body) if body is not None else session.get(url)
    async with method as resp:
        return await resp.json(content_type=None)


# --- Binance -----------------------------------------------------------------------------------------------------


def test_binance_mark_price_arrays_hold_every_perpetual_of_the_host() -> None:
    real = raws("binance-usdm__ws_markPrice__docs.json")

    async def body(server: SimServer, session: aiohttp.ClientSession) -> dict[str, Any]:
        out: dict[str, Any] = {}
        url = ws_url(server, "binance", "fstream", "/market/stream?streams=!markPrice@arr@1s")
        async with session.ws_connect(url) as ws:
            out["usdm"] = [await message(ws) for _ in range(2)]
        async with session.ws_connect(ws_url(server, "binance", "dstream", "/stream")) as ws:
            await ws.send_str(dumps({"method": "SUBSCRIBE", "params": ["!markPrice@arr@1s"], "id": 7}))
            out["ack"] = await message(ws)
            out["coinm"] = [await message(ws)]
            await ws.send_str(dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}))
            out["list"] = await until(ws, lambda m: m.get("id") == 8)
        return out

    out = served(body, stream_options=StreamOptions(cadence_scale=0.2))
    assert out["ack"] == {"result": None, "id": 7}
    assert out["list"] == {"result": ["!markPrice@arr@1s"], "id": 8}
    model = MarketModel(SEED)
    for host in ("usdm", "coinm"):
        perps = model.perps("binance", host)
        for frame in out[host]:
            assert set(frame) == {"stream", "data"} and frame["stream"] == "!markPrice@arr@1s"
            assert [u["s"] for u in frame["data"]] == [p.symbol for p in perps]
            for update, perp in zip(frame["data"], perps, strict=True):
                assert_like(update, real)
                t = update["E"]
                rate, next_ms = model.current_funding(perp, t)
                index = model.index_price(perp.asset, t) * perp.multiplier
                # full-precision decimal strings: the model's floats exactly
                assert (float(update["p"]), float(update["i"]), float(update["P"])) == (
                    model.mark_price(perp, t), index, index)
                assert (update["e"], update["r"], update["T"]) == ("markPriceUpdate", f"{rate:.8f}", next_ms)


def test_binance_frames_equal_rest_premium_index_at_the_same_moment() -> None:
    async def body(server: SimServer, session: aiohttp.ClientSession) -> tuple[Any, ...]:
        rest = server.venue_urls()["binance"]
        out = []
        for ws_host, rest_host, path in (("fstream", "usdm", "/market/stream"), ("dstream", "coinm", "/stream")):
            prefix = "/fapi/v1" if rest_host == "usdm" else "/dapi/v1"
            rows = await get_json(session, rest[rest_host] + prefix + "/premiumIndex")
            async with session.ws_connect(ws_url(server, "binance", ws_host, path + "?streams=!markPrice@arr")) as ws:
                out.append((rows, await message(ws)))
        async with session.ws_connect(ws_url(server, "binance", "fstream", "/market/stream")) as ws:
            await ws.send_str(dumps({"method": "SUBSCRIBE", "params": ["ethusdt@markPrice@1s"], "id": 1}))
            await until(ws, lambda m: m.get("id") == 1)
            one = await message(ws)
        return out, one, await get_json(session, rest["usdm"] + "/fapi/v1/premiumIndex?symbol=ETHUSDT")

    frames, one, eth = served(body, **pinned(stream_options=StreamOptions(cadence_scale=0.05)))
    for rows, frame in frames:
        by_symbol = {row["symbol"]: row for row in rows}
        for update in frame["data"]:
            assert update == binance_ws.mark_price_update(by_symbol[update["s"]])
            assert update["E"] == PINNED_MS
    assert one == {"stream": "ethusdt@markPrice@1s", "data": binance_ws.mark_price_update(eth)}


def test_binance_refuses_an_invalid_stream_and_keeps_silent_on_an_unknown_symbol() -> None:
    async def body(server: SimServer, session: aiohttp.ClientSession) -> list[Any]:
        async with session.ws_connect(ws_url(server, "binance", "fstream", "/market/stream")) as ws:
            answers = []
            for request in ({"method": "SUBSCRIBE", "params": ["!markPrice@arr@1s", "btcusdt@nope"], "id": 1},
                            {"method": "SUBSCRIBE", "params": ["nopeusdt@markPrice@1s"], "id": 2},
                            {"method": "SUBSCRIBE", "params": [], "id": "x"},
                            {"method": "SUBSCRIBEX", "params": [], "id": 3},
                            {"method": "LIST_SUBSCRIPTIONS", "id": 4}):
                await ws.send_str(dumps(request))
                answers.append(await message(ws))
            await ws.send_str("{not json")
            answers.append(await message(ws))
            return answers

    answers = served(body, stream_options=StreamOptions(cadence_scale=0.05))
    assert answers[0] == {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 1}
    assert answers[1] == {"result": None, "id": 2}  # Binance accepts a well-formed stream of an unknown symbol
    assert answers[2] == {"error": {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"},
                          "id": None}
    assert answers[3]["error"]["code"] == 2 and "unknown variant `SUBSCRIBEX`" in answers[3]["error"]["msg"]
    assert answers[4] == {"result": ["nopeusdt@markPrice@1s"], "id": 4}  # nothing of the refused request ran
    assert answers[5]["error"]["code"] == 3


def test_binance_sends_ping_frames_and_drops_a_connection_that_never_pongs() -> None:
    async def body(server: SimServer, session: aiohttp.ClientSession) -> tuple[bytes, int | None]:
        url = ws_url(server, "binance", "dstream", "/stream")
        async with session.ws_connect(url, autoping=False) as ws:
            while (msg := await receive(ws)).type is not aiohttp.WSMsgType.PING:
                pass
            payload = msg.data
            await ws.pong(payload)
        async with session.ws_connect(url, autoping=False) as silent:
            await closed(silent)
            return payload, silent.close_code

    payload, code = served(body, stream_options=StreamOptions(ping_interval_s=0.05, pong_timeout_s=0.2))
    assert payload.isdigit()  # the market time, in ms
    assert code == aiohttp.WSCloseCode.GOING_AWAY


def test_binance_stream_names_parse() -> None:
    assert binance_ws.parse_stream("!markPrice@arr@1s") == binance_ws.MarkPriceStream("!markPrice@arr@1s", None, 1.0)
    assert binance_ws.parse_stream("!markPrice@arr") == binance_ws.MarkPriceStream("!markPrice@arr", None, 3.0)
    assert binance_ws.parse_stream("btcusd_perp@markPrice") == binance_ws.MarkPriceStream(
        "btcusd_perp@markPrice", "BTCUSD_PERP", 3.0)
    for bad in ("BTCUSDT@markPrice", "btcusdt@markprice", "!markPrice@arr@3s", "btcusdt@aggTrade", 5, None):
        assert binance_ws.parse_stream(bad) is None


# --- Bybit -------------------------------------------------------------------------------------------------------


def _bybit_futures(category: str) -> list[str]:
    """The venue's futures of ``category`` listed NOW (the served sim runs on the wall clock: a future of a pinned
    day expires once the suite runs past it), the latest expiry first: no expiry falls inside a test run."""
    now_ms = int(time.time() * 1000)
    listed = [f for f in MarketModel.futures("bybit", now_ms, "rest") if f.margin == category]
    return [f.symbol for f in sorted(listed, key=lambda f: -f.expiry_ms)]


def test_bybit_tickers_snapshot_then_deltas_on_linear_and_inverse() -> None:
    real = raws("bybit__ws_tickers__docs.json")
    perpetual_real, futures_real = real[0], real[1]
    future = next(s for s in _bybit_futures("linear") if s.startswith("BTC-"))  # a USDC future, as the docs example

    async def body(server: SimServer, session: aiohttp.ClientSession) -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with session.ws_connect(ws_url(server, "bybit", "stream", "/v5/public/linear")) as ws:
            await ws.send_str(dumps({"op": "subscribe", "args": ["tickers.BTCUSDT", f"tickers.{future}"],
                                     "req_id": "s1"}))
            out["ack"] = await message(ws)
            frames = [await until(ws, lambda m: "topic" in m) for _ in range(12)]
            await ws.send_str(dumps({"op": "ping", "req_id": "p1"}))
            out["pong"] = await until(ws, lambda m: m.get("op") == "ping")
        async with session.ws_connect(ws_url(server, "bybit", "stream", "/v5/public/inverse")) as ws:
            await ws.send_str(dumps({"op": "subscribe", "args": ["tickers.BTCUSD"]}))
            out["inverse_ack"] = await message(ws)
            frames.append(await until(ws, lambda m: "topic" in m))
        out["frames"] = frames
        return out

    out = served(body, stream_options=StreamOptions(cadence_scale=0.5))
    conn_id = out["ack"]["conn_id"]
    assert out["ack"] == {"success": True, "ret_msg": "", "conn_id": conn_id, "req_id": "s1", "op": "subscribe"}
    assert out["pong"] == {"success": True, "ret_msg": "pong", "conn_id": conn_id, "req_id": "p1", "op": "ping"}
    assert out["inverse_ack"]["success"] is True
    model = MarketModel(SEED)
    state: dict[str, dict[str, Any]] = {}
    for frame in out["frames"]:
        topic, data = frame["topic"], frame["data"]
        symbol = topic.removeprefix("tickers.")
        assert set(frame) == {"topic", "type", "data", "cs", "ts"} and data["symbol"] == symbol
        if topic not in state:
            assert frame["type"] == "snapshot"
            state[topic] = dict(data)
        else:
            assert frame["type"] == "delta"
            assert set(data) <= set(state[topic]) and any(state[topic][k] != v for k, v in data.items())
            state[topic].update(data)
        full = {**frame, "data": state[topic]}
        assert_like(full, [futures_real if symbol == future else perpetual_real])
        contract = model.perp("bybit", symbol) or model.future("bybit", symbol, frame["ts"])
        assert contract is not None
        if "markPrice" in data:
            assert float(data["markPrice"]) == model.contract_mark(contract, frame["ts"])
    assert set(state) == {"tickers.BTCUSDT", f"tickers.{future}", "tickers.BTCUSD"}
    btc = state["tickers.BTCUSDT"]
    assert btc["fundingIntervalHour"] == "8" and "deliveryTime" not in btc and "basis" not in btc
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT08:00:00Z", state[f"tickers.{future}"]["deliveryTime"])
    assert "fundingCap" not in state[f"tickers.{future}"]


def test_bybit_snapshot_equals_the_rest_ticker_of_the_same_moment() -> None:
    async def body(server: SimServer, session: aiohttp.ClientSession) -> tuple[Any, Any]:
        rest = await get_json(session, server.venue_urls()["bybit"]["rest"]
                              + "/v5/market/tickers?category=inverse&symbol=ETHUSD")
        async with session.ws_connect(ws_url(server, "bybit", "stream", "/v5/public/inverse")) as ws:
            await ws.send_str(dumps({"op": "subscribe", "args": ["tickers.ETHUSD"]}))
            return rest["result"]["list"][0], await until(ws, lambda m: "topic" in m)

    row, frame = served(body, **pinned())
    assert frame["ts"] == PINNED_MS and frame["type"] == "snapshot"
    assert frame["data"] == {"symbol": "ETHUSD", "tickDirection": "ZeroPlusTick", **bybit_ws.ws_ticker(row)}


def test_bybit_refuses_symbols_its_category_does_not_list() -> None:
    async def body(server: SimServer, session: aiohttp.ClientSession) -> list[Any]:
        answers = []
        async with session.ws_connect(ws_url(server, "bybit", "stream", "/v5/public/linear")) as ws:
            for args in (["tickers.NOPEUSDT"], ["tickers.BTCUSD"], ["orderbook.1.BTCUSDT"],
                         ["tickers.ETHUSDT", "tickers.ETHUSDT"]):
                await ws.send_str(dumps({"op": "subscribe", "args": args, "req_id": "r"}))
                answers.append(await until(ws, lambda m: m.get("op") == "subscribe"))
        async with session.ws_connect(ws_url(server, "bybit", "stream", "/v5/public/inverse")) as ws:
            await ws.send_str(dumps({"op": "subscribe", "args": ["tickers.BTCUSDT"]}))
            answers.append(await message(ws))
        return answers

    answers = served(body)
    assert [a["success"] for a in answers] == [False] * 5
    assert answers[0]["ret_msg"] == "Invalid symbol :[tickers.NOPEUSDT]"
    assert answers[1]["ret_msg"] == "Invalid symbol :[tickers.BTCUSD]"  # inverse, asked on linear
    assert answers[2]["ret_msg"] == "error:handler not found,topic:orderbook.1.BTCUSDT"
    assert answers[3]["ret_msg"] == "error:already subscribed,topic:tickers.ETHUSDT"
    assert answers[4]["ret_msg"] == "Invalid symbol :[tickers.BTCUSDT]"  # linear, asked on inverse


def test_bybit_deltas_and_tick_directions() -> None:
    assert bybit_ws.delta({"symbol": "X", "a": "1", "b": "2"}, {"symbol": "X", "a": "1", "b": "3"}) == {
        "symbol": "X", "b": "3"}
    assert bybit_ws.tick_direction(None, "10", None) == "ZeroPlusTick"
    assert bybit_ws.tick_direction("10", "11", "ZeroMinusTick") == "PlusTick"
    assert bybit_ws.tick_direction("10", "9.5", "PlusTick") == "MinusTick"
    assert bybit_ws.tick_direction("10", "10.0", "MinusTick") == "ZeroMinusTick"
    assert bybit_ws.tick_direction("10", "10", "PlusTick") == "ZeroPlusTick"
    feed = bybit_ws.TickerFeed("tickers.X")
    first = feed.next({"symbol": "X", "lastPrice": "10", "markPrice": "10"}, 1000)
    assert first is not None and first["type"] == "snapshot" and first["data"]["tickDirection"] == "ZeroPlusTick"
    assert feed.next({"symbol": "X", "lastPrice": "10", "markPrice": "10"}, 1100) is None  # nothing changed
    second = feed.next({"symbol": "X", "lastPrice": "9", "markPrice": "10"}, 1200)
    assert second is not None and second["data"] == {"symbol": "X", "tickDirection": "MinusTick", "lastPrice": "9"}


# --- OKX ---------------------------------------------------------------------------------------------------------


def test_okx_funding_mark_and_open_interest_channels() -> None:
    envelope = raws("okx__ws_tickers__capture.json")
    open_interest_real = [row for raw in raws("okx__ccxt_fetchOpenInterest.json") for row in raw["data"]]
    future = next(f.symbol for f in MarketModel(SEED).futures("okx", MarketModel(SEED).now_ms(), "rest")
                  if f.symbol.startswith("BTC-USD-"))
    args = [{"channel": c, "instId": "BTC-USDT-SWAP"} for c in ("funding-rate", "mark-price", "open-interest")]
    args += [{"channel": "mark-price", "instId": future}, {"channel": "open-interest", "instId": future}]

    async def body(server: SimServer, session: aiohttp.ClientSession) -> tuple[list[Any], list[Any], str]:
        async with session.ws_connect(ws_url(server, "okx", "ws", "/ws/v5/public")) as ws:
            await ws.send_str(dumps({"id": "42", "op": "subscribe", "args": args}))
            acks = [await message(ws) for _ in args]
            pushes = [await until(ws, lambda m: "data" in m) for _ in range(12)]
            await ws.send_str("ping")
            while (pong := await text(ws)) != "pong":
                pass
            return acks, pushes, pong

    acks, pushes, pong = served(body, stream_options=StreamOptions(cadence_scale=0.5))
    assert pong == "pong"
    assert [a["arg"] for a in acks] == args
    assert {(a["id"], a["event"], len(a["connId"])) for a in acks} == {("42", "subscribe", 8)}
    docs = {"funding-rate": [OKX_FUNDING_RATE_DOC], "mark-price": [OKX_MARK_PRICE_DOC],
            "open-interest": open_interest_real}
    model = MarketModel(SEED)
    seen = set()
    for push in pushes:
        assert_like({**push, "data": []}, envelope)  # the capture's envelope: {"arg": {channel, instId}, "data": [..]}
        channel, inst_id = push["arg"]["channel"], push["arg"]["instId"]
        seen.add((channel, inst_id))
        (row,) = push["data"]
        if channel in ("funding-rate", "mark-price"):
            assert set(row) >= set(docs[channel][0]) and all(isinstance(v, str) for v in row.values())
        else:
            assert_like(row, docs[channel])
        contract = model.perp("okx", inst_id) or model.future("okx", inst_id, int(row["ts"]))
        assert contract is not None and row["instId"] == inst_id
        t = int(row["ts"])
        if channel == "mark-price":
            assert float(row["markPx"]) == model.contract_mark(contract, t)
        elif channel == "open-interest":
            assert float(row["oiCcy"]) == model.open_interest_base(contract, t)
        else:
            assert isinstance(contract, SimPerp)
            assert (float(row["fundingRate"]), int(row["fundingTime"])) == model.current_funding(contract, t)
    assert seen == {(a["channel"], a["instId"]) for a in args}  # each pushed right after its subscription


def test_okx_rows_equal_rest_of_the_same_moment() -> None:
    async def body(server: SimServer, session: aiohttp.ClientSession) -> tuple[dict[str, Any], dict[str, Any]]:
        base = server.venue_urls()["okx"]["rest"] + "/api/v5/public/"
        rest = {"funding-rate": await get_json(session, base + "funding-rate?instId=ETH-USD-SWAP"),
                "mark-price": await get_json(session, base + "mark-price?instType=SWAP&instId=ETH-USD-SWAP"),
                "open-interest": await get_json(session, base + "open-interest?instType=SWAP&instId=ETH-USD-SWAP")}
        async with session.ws_connect(ws_url(server, "okx", "ws", "/ws/v5/public")) as ws:
            await ws.send_str(dumps({"op": "subscribe", "args": [{"channel": c, "instId": "ETH-USD-SWAP"}
                                                                  for c in rest]}))
            pushes = [await until(ws, lambda m: "data" in m) for _ in rest]
        return rest, {p["arg"]["channel"]: p["data"] for p in pushes}

    rest, pushed = served(body, **pinned())
    assert pushed == {channel: answer["data"] for channel, answer in rest.items()}


def test_okx_refuses_instruments_and_requests_it_does_not_serve() -> None:
    async def body(server: SimServer, session: aiohttp.ClientSession) -> list[Any]:
        async with session.ws_connect(ws_url(server, "okx", "ws", "/ws/v5/public")) as ws:
            out = []
            for request in ({"op": "subscribe", "args": [{"channel": "mark-price", "instId": "NOPE-USDT-SWAP"}]},
                            {"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT-SWAP"}]},
                            {"op": "subscribe", "args": [{"channel": "funding-rate", "instId": "BTC-USD-251226"}]},
                            {"op": "login", "args": []}):
                await ws.send_str(dumps(request))
                out.append(await message(ws))
            await ws.send_str("{oops")
            out.append(await message(ws))
            return out

    answers = served(body)
    assert [(a["event"], a["code"]) for a in answers] == [("error", "60018")] * 3 + [("error", "60019"),
                                                                                     ("error", "60012")]
    assert answers[0]["msg"].startswith("Wrong URL or channel:mark-price,instId:NOPE-USDT-SWAP doesn't exist.")


# --- Deribit ------------------------------------------------------------------------------------------------------


def test_deribit_tickers_of_perpetuals_futures_and_options() -> None:
    capture = raws("deribit__ws_ticker__capture.json")
    perpetual_docs = [raw["result"] for raw in raws("deribit__rest_ticker__docs.json")]
    contract_like = [{k: v for k, v in c["params"]["data"].items() if k not in DERIBIT_OPTION_ONLY} for c in capture]
    future_like = [{k: v for k, v in d.items() if k not in DERIBIT_PERPETUAL_ONLY} for d in perpetual_docs]
    now = MarketModel(SEED).now_ms()
    future = MarketModel(SEED).futures("deribit", now, "rest")[0].symbol
    option = OptionsModel(MarketModel(SEED)).listed("deribit", "BTC", now)[0].instrument
    channels = [f"ticker.{name}.100ms" for name in ("BTC-PERPETUAL", future, option)]

    async def body(server: SimServer, session: aiohttp.ClientSession) -> tuple[Any, list[Any]]:
        async with session.ws_connect(ws_url(server, "deribit", "ws", "/ws/api/v2")) as ws:
            await ws.send_str(dumps({"jsonrpc": "2.0", "id": 5, "method": "public/subscribe",
                                     "params": {"channels": [*channels, "ticker.NOPE-PERPETUAL.100ms",
                                                             "ticker.BTC-PERPETUAL.raw", "book.BTC-PERPETUAL.100ms"]}}))
            answer = await message(ws)
            notes = [await until(ws, lambda m: m.get("method") == "subscription") for _ in range(9)]
            return answer, notes

    answer, notes = served(body)
    assert answer["id"] == 5 and answer["result"] == channels  # what Deribit cannot serve is left out
    assert {"usIn", "usOut", "usDiff", "testnet"} <= set(answer)
    model = MarketModel(SEED)
    for note in notes:
        channel, data = note["params"]["channel"], note["params"]["data"]
        name = channel.split(".")[1]
        assert name == data["instrument_name"]
        if name == option:
            assert_like(note, capture)
            continue
        assert_like({**note, "params": {**note["params"], "data": {}}}, [{**c, "params": {
            **c["params"], "data": {}}} for c in capture])  # the envelope of the capture
        assert_like(data, contract_like)
        assert_like(data, perpetual_docs if name == "BTC-PERPETUAL" else future_like)
        contract = model.perp("deribit", name) or model.future("deribit", name, data["timestamp"])
        assert contract is not None
        assert data["mark_price"] == model.contract_mark(contract, data["timestamp"])
        if isinstance(contract, SimPerp):
            assert data["funding_8h"] == model.current_funding(contract, data["timestamp"])[0]
    assert {n["params"]["channel"] for n in notes} == set(channels)


def test_deribit_ticker_equals_rest_of_the_same_moment() -> None:
    async def body(server: SimServer, session: aiohttp.ClientSession) -> tuple[Any, Any]:
        rest = await get_json(session, server.venue_urls()["deribit"]["rest"]
                              + "/api/v2/public/ticker?instrument_name=ETH-PERPETUAL")
        async with session.ws_connect(ws_url(server, "deribit", "ws", "/ws/api/v2")) as ws:
            await ws.send_str(dumps({"jsonrpc": "2.0", "id": 1, "method": "public/subscribe",
                                     "params": {"channels": ["ticker.ETH-PERPETUAL.agg2"]}}))
            return rest["result"], await until(ws, lambda m: m.get("method") == "subscription")

    result, note = served(body, **pinned())
    assert note == deribit_ws.notification("ticker.ETH-PERPETUAL.agg2", result)


def test_deribit_heartbeats_ask_for_public_test_and_close_a_silent_client() -> None:
    async def body(server: SimServer, session: aiohttp.ClientSession) -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with session.ws_connect(ws_url(server, "deribit", "ws", "/ws/api/v2")) as ws:
            await ws.send_str(dumps({"jsonrpc": "2.0", "id": 1, "method": "public/set_heartbeat",
                                     "params": {"interval": 5}}))
            out["too_short"] = await message(ws)
            await ws.send_str(dumps({"jsonrpc": "2.0", "id": 2, "method": "public/set_heartbeat",
                                     "params": {"interval": 10}}))
            out["set"] = await message(ws)
            for round_ in range(2):  # answered (well within the 1 s interval): the connection stays
                out["beat"] = await until(ws, lambda m: m.get("method") == "heartbeat")
                await ws.send_str(dumps({"jsonrpc": "2.0", "id": 10 + round_, "method": "public/test"}))
                out["test"] = await until(ws, lambda m: "result" in m)
            await ws.send_str(dumps({"jsonrpc": "2.0", "id": 20, "method": "public/nope"}))
            out["unknown"] = await until(ws, lambda m: m.get("id") == 20)
            await closed(ws)  # the next test_request goes unanswered
            out["code"] = ws.close_code
        return out

    out = served(body, stream_options=StreamOptions(heartbeat_scale=0.1))
    assert out["too_short"]["error"]["code"] == -32602 and out["too_short"]["error"]["data"]["param"] == "interval"
    assert out["set"]["result"] == "ok"
    assert out["beat"] == {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}}
    assert out["test"]["result"] == {"version": deribit_ws.VERSION} and out["test"]["id"] == 11
    assert out["unknown"]["error"] == {"message": "Method not found", "code": -32601}
    assert out["code"] == aiohttp.WSCloseCode.GOING_AWAY


def test_deribit_channel_names() -> None:
    assert deribit_ws.ticker_instrument("ticker.BTC-PERPETUAL.100ms") == "BTC-PERPETUAL"
    assert deribit_ws.ticker_instrument("ticker.BTC-27MAR26-100000-C.agg2") == "BTC-27MAR26-100000-C"
    for bad in ("ticker.BTC-PERPETUAL.raw", "book.BTC-PERPETUAL.100ms", "ticker..100ms", 3):
        assert deribit_ws.ticker_instrument(bad) is None


# --- Hyperliquid --------------------------------------------------------------------------------------------------


def test_hyperliquid_active_asset_ctx_equals_rest_and_answers_pings() -> None:
    doc_ctxs = raws("hyperliquid__rest_info_metaAndAssetCtxs__docs.json")[0][1]
    subscription = {"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": "ETH"}}

    async def body(server: SimServer, session: aiohttp.ClientSession) -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["rest"] = await get_json(session, server.venue_urls()["hyperliquid"]["rest"] + "/info",
                                     {"type": "metaAndAssetCtxs"})
        async with session.ws_connect(ws_url(server, "hyperliquid", "ws", "/ws")) as ws:
            await ws.send_str(dumps(subscription))
            out["ack"] = await message(ws)
            out["pushes"] = [await message(ws) for _ in range(3)]
            await ws.send_str(dumps({"method": "ping"}))
            out["pong"] = await until(ws, lambda m: m.get("channel") == "pong")
            for coin in ("NOPE", "ETH"):
                await ws.send_str(dumps({"method": "subscribe", "subscription": {"type": "activeAssetCtx",
                                                                                 "coin": coin}}))
                out[coin] = await until(ws, lambda m: m.get("channel") == "error")
            await ws.send_str(dumps({"method": "subscribe", "subscription": {"type": "l2Book", "coin": "ETH"}}))
            out["l2Book"] = await until(ws, lambda m: m.get("channel") == "error")
            await ws.send_str("hello")
            out["garbage"] = await until(ws, lambda m: m.get("channel") == "error")
        return out

    out = served(body, **pinned(stream_options=StreamOptions(cadence_scale=0.2)))
    assert out["ack"] == {"channel": "subscriptionResponse", "data": subscription}
    meta, ctxs = out["rest"]
    eth = ctxs[[u["name"] for u in meta["universe"]].index("ETH")]
    for push in out["pushes"]:
        assert push == {"channel": "activeAssetCtx", "data": {"coin": "ETH", "ctx": eth}}
        assert_like(push["data"]["ctx"], doc_ctxs)
    model, perp = MarketModel(SEED), MarketModel.perp("hyperliquid", "ETH")
    assert perp is not None
    assert (float(eth["markPx"]), float(eth["openInterest"]), float(eth["funding"])) == (
        model.mark_price(perp, PINNED_MS), model.open_interest_base(perp, PINNED_MS),
        model.current_funding(perp, PINNED_MS)[0])
    assert out["pong"] == {"channel": "pong"}
    assert out["NOPE"]["data"] == 'Invalid subscription {"type":"activeAssetCtx","coin":"NOPE"}'
    assert out["ETH"]["data"].startswith("Already subscribed")
    assert out["l2Book"]["data"].startswith("Invalid subscription")
    assert out["garbage"]["data"] == "Error parsing JSON into valid websocket request: hello"


def test_hyperliquid_closes_a_connection_the_client_left_silent() -> None:
    async def body(server: SimServer, session: aiohttp.ClientSession) -> int:
        async with session.ws_connect(ws_url(server, "hyperliquid", "ws", "/ws")) as ws:
            await ws.send_str(dumps({"method": "subscribe", "subscription": {"type": "activeAssetCtx",
                                                                             "coin": "BTC"}}))
            await closed(ws)  # pushes keep coming; the client says nothing more
            return ws.close_code or 0

    assert served(body, stream_options=StreamOptions(idle_close_s=0.3)) == aiohttp.WSCloseCode.GOING_AWAY


# --- stream faults, every venue -----------------------------------------------------------------------------------


#: one subscription per venue: (WebSocket host, path, the request to send after connecting or None)
SUBSCRIPTIONS: dict[str, tuple[str, str, Any]] = {
    "binance": ("fstream", "/market/stream?streams=!markPrice@arr@1s", None),
    "bybit": ("stream", "/v5/public/linear", {"op": "subscribe", "args": ["tickers.BTCUSDT"]}),
    "okx": ("ws", "/ws/v5/public", {"op": "subscribe", "args": [{"channel": "mark-price", "instId": "BTC-USDT-SWAP"}]}),
    "deribit": ("ws", "/ws/api/v2", {"jsonrpc": "2.0", "id": 1, "method": "public/subscribe",
                                     "params": {"channels": ["ticker.BTC-PERPETUAL.100ms"]}}),
    "hyperliquid": ("ws", "/ws", {"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": "BTC"}}),
    "dydx": ("ws", "/v4/ws", {"type": "subscribe", "channel": "v4_trades", "id": "BTC-USD"}),
}
#: each venue's keep-alive message (Binance: a ping frame)
PINGS = {"bybit": '{"op":"ping"}', "okx": "ping", "deribit": '{"jsonrpc":"2.0","id":9,"method":"public/test"}',
         "hyperliquid": '{"method":"ping"}', "dydx": '{"type":"ping"}'}
#: how to tell a venue's data frame from its control frames
DATA: dict[str, Callable[[Any], bool]] = {
    "binance": lambda m: "stream" in m, "bybit": lambda m: "topic" in m, "okx": lambda m: "data" in m,
    "deribit": lambda m: m.get("method") == "subscription",
    "hyperliquid": lambda m: m.get("channel") == "activeAssetCtx",
    "dydx": lambda m: m.get("type") in ("subscribed", "channel_data"),
}
FAST = StreamOptions(cadence_scale=0.2)
#: how long a stalled connection is watched for any frame at all (ample frames would come at these cadences)
QUIET_S = 1.5


def is_data(venue: str, frame: str) -> bool:
    """Whether a text frame is one of the venue's data frames (a frame that is not JSON is a cut data frame)."""
    try:
        msg = json.loads(frame)
    except ValueError:
        return True
    return isinstance(msg, dict) and DATA[venue](msg)


async def subscribed(server: SimServer, session: aiohttp.ClientSession, venue: str
                     ) -> aiohttp.ClientWebSocketResponse:
    host, path, request = SUBSCRIPTIONS[venue]
    ws = await session.ws_connect(ws_url(server, venue, host, path), autoping=False)
    if request is not None:
        await ws.send_str(dumps(request))
    return ws


async def data_frames(ws: aiohttp.ClientWebSocketResponse, venue: str, count: int) -> list[str]:
    frames: list[str] = []
    while len(frames) < count:
        if is_data(venue, frame := await text(ws)):
            frames.append(frame)
    return frames


@pytest.mark.parametrize("venue", STREAMED_VENUES)
def test_a_disconnect_fault_closes_after_stream_after_data_frames(venue: str) -> None:
    async def body(server: SimServer, session: aiohttp.ClientSession) -> tuple[list[str], int | None]:
        ws = await subscribed(server, session, venue)
        frames = []
        while (msg := await receive(ws)).type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            if msg.type is aiohttp.WSMsgType.TEXT and is_data(venue, msg.data):
                frames.append(msg.data)
        await ws.close()
        return frames, ws.close_code

    frames, code = served(body, faults=Faults(streams={venue: "disconnect"}, stream_after=3), stream_options=FAST)
    assert len(frames) == 3 and all(json.loads(f) for f in frames)
    assert code == aiohttp.WSCloseCode.GOING_AWAY


@pytest.mark.parametrize("venue", STREAMED_VENUES)
def test_a_stall_fault_goes_silent_and_answers_no_ping(venue: str) -> None:
    async def body(server: SimServer, session: aiohttp.ClientSession) -> tuple[int, Any, bool]:
        ws = await subscribed(server, session, venue)
        frames = await data_frames(ws, venue, 3)
        assert server.streams is not None
        for _ in range(int(TIMEOUT / 0.01)):  # until the server has gone silent (its 4th data frame is due)
            if any(c.stalled for c in server.streams.connections):
                break
            await asyncio.sleep(0.01)
        if venue == "binance":
            await ws.ping(b"anyone?")
        else:
            await ws.send_str(PINGS[venue])
        try:  # anything at all (data, pong, heartbeat) within the window fails the test
            late: Any = await asyncio.wait_for(ws.receive(), QUIET_S)
        except TimeoutError:
            late = None
        still_open = not ws.closed
        await ws.close()
        return len(frames), late, still_open

    count, late, still_open = served(body, faults=Faults(streams={venue: "stall"}, stream_after=3),
                                     stream_options=FAST)
    assert (count, late, still_open) == (3, None, True)


@pytest.mark.parametrize("venue", STREAMED_VENUES)
def test_a_malformed_fault_cuts_one_frame_then_streams_on(venue: str) -> None:
    async def body(server: SimServer, session: aiohttp.ClientSession) -> list[str]:
        ws = await subscribed(server, session, venue)
        frames = await data_frames(ws, venue, 5)
        await ws.close()
        return frames

    frames = served(body, faults=Faults(streams={venue: "malformed"}, stream_after=3), stream_options=FAST)
    parsed = []
    for frame in frames:
        try:
            parsed.append(json.loads(frame))
        except ValueError:
            parsed.append(None)
    assert [p is not None for p in parsed] == [True, True, True, False, True]
    assert frames[3] and frames[3][0] == "{"  # the first half of a frame


# --- the frame log, routing, shutdown -----------------------------------------------------------------------------


def test_the_frame_log_holds_exactly_the_frames_sent_and_received(tmp_path: Path) -> None:
    log = tmp_path / "frames.jsonl"
    sent = [dumps({"op": "subscribe", "args": ["tickers.SOLUSDT"], "req_id": "log"}), '{"op":"ping"}']

    async def body(server: SimServer, session: aiohttp.ClientSession) -> list[str]:
        got: list[str] = []
        async with session.ws_connect(ws_url(server, "bybit", "stream", "/v5/public/linear")) as ws:
            await ws.send_str(sent[0])
            while len(got) < 6:
                got.append(await text(ws))
            await ws.send_str(sent[1])
            while '"ret_msg":"pong"' not in got[-1]:
                got.append(await text(ws))
        return got

    got = served(body, log_requests=str(log), stream_options=FAST)
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert {(r["venue"], r["host"]) for r in rows} == {("bybit", "stream")}
    assert all(set(r) == {"time", "venue", "host", "dir", "channel", "frame"} for r in rows)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["time"]) for r in rows)
    sends = [r for r in rows if r["dir"] == "send"]
    assert [r["frame"] for r in sends[:len(got)]] == got  # the exact texts, in order
    assert [r["frame"] for r in rows if r["dir"] == "recv"] == sent
    assert all(r["channel"] is None for r in rows if r["dir"] == "recv")
    for r in sends:
        assert r["channel"] == ("tickers.SOLUSDT" if '"topic"' in r["frame"] else None)


def test_channels_share_the_rest_port_at_the_real_paths() -> None:
    async def body(server: SimServer, session: aiohttp.ClientSession) -> dict[str, Any]:
        out: dict[str, Any] = {"ws": server.venue_ws_urls(), "rest": server.venue_urls()}
        base = server.venue_ws_urls()["bybit"]["stream"]
        async with session.get(base.replace("ws://", "http://") + "/v5/public/linear") as resp:
            out["plain_get"] = resp.status  # no upgrade: not a WebSocket handshake
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(base + "/v5/public/spot")
        out["unknown_path"] = refused.value.status
        row = await get_json(session, out["rest"]["binance"]["usdm"] + "/fapi/v1/premiumIndex?symbol=BTCUSDT")
        out["rest_symbol"] = row["symbol"]
        return out

    out = served(body)
    assert {v: set(hosts) for v, hosts in out["ws"].items()} == {
        "binance": {"fstream", "dstream"}, "bybit": {"stream"}, "okx": {"ws"}, "deribit": {"ws"},
        "hyperliquid": {"ws"}, "dydx": {"ws"}}
    port = out["rest"]["okx"]["rest"].split(":")[2].split("/")[0]
    assert out["ws"]["okx"]["ws"] == f"ws://127.0.0.1:{port}/okx/ws"
    assert (out["plain_get"], out["unknown_path"], out["rest_symbol"]) == (400, 404, "BTCUSDT")
    doc = settings_document(out["rest"], out["ws"])["venues"]
    assert doc["binance"] == {"rest_urls": out["rest"]["binance"], "ws_urls": out["ws"]["binance"]}
    assert settings_document(out["rest"])["venues"]["okx"] == {"rest_urls": out["rest"]["okx"]}


def test_stopping_the_server_closes_open_connections() -> None:
    async def main() -> list[aiohttp.WSMessage]:
        server = await start_sim(seed=SEED)
        async with aiohttp.ClientSession() as session:
            sockets = [await subscribed(server, session, venue) for venue in ("bybit", "deribit")]
            for ws, venue in zip(sockets, ("bybit", "deribit"), strict=True):
                await data_frames(ws, venue, 1)
            await asyncio.wait_for(server.stop(), TIMEOUT)
            ends = [await closed(ws) for ws in sockets]
            for ws in sockets:
                await ws.close()
            return ends

    ends = asyncio.run(main())
    assert [end.data for end in ends] == [aiohttp.WSCloseCode.GOING_AWAY] * 2


# --- faults and options ---------------------------------------------------------------------------------------------


def test_stream_faults_parse_beside_rest_faults() -> None:
    def parsed(*specs: str) -> tuple[dict[str, str], dict[str, str]]:
        faults = Faults.from_specs(specs, SIM_VENUES)
        return faults.venues, faults.streams

    assert STREAM_FAULT_KINDS == ("disconnect", "stall", "malformed") and "malformed" in FAULT_KINDS
    assert parsed("bybit=stall") == ({}, {"bybit": "stall"})
    assert parsed("okx=429", "okx=disconnect") == ({"okx": "429"}, {"okx": "disconnect"})
    assert parsed("okx=malformed") == ({"okx": "malformed"}, {"okx": "malformed"})  # alone: both sides
    assert parsed("okx=429", "okx=malformed") == ({"okx": "429"}, {"okx": "malformed"})
    assert parsed("okx=malformed", "okx=stall") == ({"okx": "malformed"}, {"okx": "stall"})
    assert Faults.from_specs(["okx=malformed", "bybit=stall"], SIM_VENUES).labels() == ["okx=malformed",
                                                                                      "bybit=stall"]
    for specs, needle in ((["okx=stall", "okx=disconnect"], "--fault names okx twice (okx=stall, okx=disconnect)"),
                          (["okx=malformed", "okx=malformed"], "one REST fault and one stream fault per venue"),
                          (["okx=429", "okx=stall", "okx=down"], "--fault names okx 3 times"),
                          (["okx=hang"], "or disconnect, stall, malformed (WebSocket streams)")):
        with pytest.raises(ValueError, match=re.escape(needle)):
            Faults.from_specs(specs, SIM_VENUES)
    with pytest.raises(ValueError, match="stream fault of okx: 'down' is not one of disconnect, stall, malformed"):
        Faults(streams={"okx": "down"})
    for after in (-1, True, 2.5):
        with pytest.raises(ValueError, match="stream_after"):
            Faults(stream_after=after)  # type: ignore[arg-type]
    assert Faults().stream_after == 20


def test_stream_options_refuse_nonsense() -> None:
    for bad in ({"cadence_scale": 0}, {"ping_interval_s": -1}, {"idle_close_s": float("nan")},
                {"heartbeat_scale": True}):
        with pytest.raises(ValueError, match="is not a positive number of seconds"):
            StreamOptions(**bad)


def test_sim_serve_help_names_the_stream_faults_and_the_frame_log() -> None:
    result = CliRunner().invoke(sim_serve, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    text_ = " ".join(result.output.split())
    assert "disconnect, stall or malformed for its WebSocket streams" in text_
    assert "per WebSocket frame sent or received" in text_


def test_frame_builders_are_pure() -> None:
    row = {"symbol": "BTCUSDT", "markPrice": "1.5", "indexPrice": "1.4", "estimatedSettlePrice": "1.4",
           "lastFundingRate": "0.00010000", "interestRate": "0.00010000", "nextFundingTime": 9, "time": 8}
    assert binance_ws.combined("s", [binance_ws.mark_price_update(row)]) == {"stream": "s", "data": [{
        "e": "markPriceUpdate", "E": 8, "s": "BTCUSDT", "p": "1.5", "i": "1.4", "P": "1.4", "r": "0.00010000",
        "T": 9}]}
    assert okx_ws.push({"channel": "mark-price", "instId": "X-SWAP"}, {"markPx": "1"}) == {
        "arg": {"channel": "mark-price", "instId": "X-SWAP"}, "data": [{"markPx": "1"}]}
    assert (okx_ws.inst_type("BTC-USD-SWAP"), okx_ws.inst_type("BTC-USD-261225")) == ("SWAP", "FUTURES")
    future = {"symbol": "BTC-26DEC25", "deliveryTime": "1766736000000", "fundingCap": "", "preQty": "", "basis": "1"}
    assert bybit_ws.ws_ticker(future) == {"symbol": "BTC-26DEC25", "deliveryTime": "2025-12-26T08:00:00Z",
                                          "basis": "1"}
    assert bybit_ws.ws_ticker({"symbol": "BTCUSDT", "deliveryTime": "0", "basis": "", "fundingCap": "0.005"}) == {
        "symbol": "BTCUSDT", "fundingCap": "0.005"}
    assert deribit_ws.test_request()["params"] == {"type": "test_request"}
    assert json.loads(dumps({"a": [1, 2]})) == {"a": [1, 2]} and " " not in dumps({"a": [1, 2]})
