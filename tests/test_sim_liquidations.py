"""The simulated liquidations: the model (``dtrack.sim.liquidations``) and the venues' liquidation channels over
real sockets (Binance ``!forceOrder@arr``, Bybit ``allLiquidation.{symbol}``, OKX ``liquidation-orders``, Deribit
``trades.{instrument}.100ms``).

The model is pure and seeded: the same seed gives the same events whatever window asks for them; cohort
liquidations happen where the price path reaches the cohorts' levels, longs on the way down and shorts on the way
up, in clusters. Each channel's frames have the documented shape (``shapes.shape_differences`` against the docs
payloads) and carry exactly the model's events as the venue samples them: Binance and OKX at most one per symbol
per second (never two of a symbol less than 1000 ms apart), Bybit every one, Deribit every one as a flagged trade
among ordinary trades; OKX's first push after a subscription is a backlog of events pushed before. Frames are in
the frame log, and stream faults act on these channels as on the tickers.

The sim's clock runs fast here (``FastModel``: a market minute in a second or two) so that liquidations come
quickly; waits are counts of frames bounded by ``TIMEOUT``, never durations.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from conftest import load_payload
from dtrack.sim.faults import Faults
from dtrack.sim.liquidations import (
    BLOCK_MS,
    LIFETIME_MS,
    MAX_DELAY_MS,
    SAMPLE_MS,
    LiquidationModel,
    SimLiquidation,
    plain,
    quantity_step,
    sized,
)
from dtrack.sim.model import MarketModel, SimFuture, SimPerp
from dtrack.sim.server import SimServer, start_sim
from dtrack.sim.streams import StreamOptions, dumps
from dtrack.sim.streams import binance as binance_ws
from dtrack.sim.streams import deribit as deribit_ws
from dtrack.sim.streams import okx as okx_ws
from shapes import shape_differences

T = TypeVar("T")
SEED = 7
TIMEOUT = 60.0
#: 2026-12-01 ~07:33 UTC, the market time the fast clock starts from
START_MS = 1_796_110_400_000
SPEED = 120.0  # market seconds per second
FAST = StreamOptions(cadence_scale=0.1)
Body = Callable[[SimServer, aiohttp.ClientSession], Awaitable[T]]


class FastModel(MarketModel):
    """The market model with a clock that starts at ``START_MS`` and runs ``speed`` times real time."""

    def __init__(self, speed: float = SPEED) -> None:
        super().__init__(SEED)
        self._t0 = time.monotonic()
        self._speed = speed

    def now_ms(self) -> int:
        return START_MS + int((time.monotonic() - self._t0) * 1000 * self._speed)


def served(body: Body[T], speed: float = SPEED, **sim: Any) -> T:
    """Run ``body(server, session)`` against a fresh fast-clock sim on port 0 (stopped after, even on failure)."""

    async def main() -> T:
        server = await start_sim(model=FastModel(speed), stream_options=FAST, **sim)
        try:
            async with aiohttp.ClientSession() as session:
                return await body(server, session)
        finally:
            await asyncio.wait_for(server.stop(), TIMEOUT)

    return asyncio.run(main())


def ws_url(server: SimServer, venue: str, host: str, path: str) -> str:
    return server.venue_ws_urls()[venue][host] + path


async def message(ws: aiohttp.ClientWebSocketResponse) -> Any:
    """The next JSON text message (protocol frames skipped)."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        if msg.type is aiohttp.WSMsgType.TEXT:
            return json.loads(msg.data)
        assert msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG), f"connection ended: {msg}"


async def data(ws: aiohttp.ClientWebSocketResponse, count: int, is_data: Callable[[Any], bool]) -> list[Any]:
    """The next ``count`` data messages (control messages skipped)."""
    out: list[Any] = []
    while len(out) < count:
        if is_data(found := await message(ws)):
            out.append(found)
    return out


def raw(name: str) -> Any:
    return load_payload(name)["cases"][0]["raw"]


def liquidations() -> LiquidationModel:
    return LiquidationModel(MarketModel(SEED))


def contract(venue: str, symbol: str, t_ms: int) -> SimPerp | SimFuture:
    found = MarketModel.perp(venue, symbol) or MarketModel.future(venue, symbol, t_ms)
    assert found is not None, symbol
    return found


# --- the model ----------------------------------------------------------------------------------------------------


def test_the_model_is_deterministic_per_seed_and_window() -> None:
    t0 = START_MS - 3 * 3_600_000
    perps = [MarketModel.perp("binance", "BTCUSDT"), MarketModel.perp("okx", "ETH-USD-SWAP"),
             MarketModel.perp("deribit", "BTC-PERPETUAL")]
    one, two = liquidations(), liquidations()
    for perp in perps:
        assert perp is not None
        whole = one.events(perp, t0, t0 + 3_600_000)
        assert whole  # an hour always holds some
        assert whole == two.events(perp, t0, t0 + 3_600_000)
        # any cut of the window gives the same events (a cache, not state)
        cut = t0 + 1_234_567
        assert two.events(perp, cut, t0 + 3_600_000) and whole == (
            two.events(perp, t0, cut) + two.events(perp, cut, t0 + 3_600_000))
        assert [e.t_ms for e in whole] == sorted(e.t_ms for e in whole)
        other = LiquidationModel(MarketModel(SEED + 1)).events(perp, t0, t0 + 3_600_000)
        assert other != whole


def test_cohorts_are_liquidated_where_the_path_reaches_their_levels_in_clusters_on_both_sides() -> None:
    liq = liquidations()
    first = (START_MS - 12 * 3_600_000) // BLOCK_MS
    minutes = range(first, first + 12 * 60)
    per_minute = []
    sides: Counter[str] = Counter()
    for minute in minutes:
        p0, p1 = liq.sample("BTC", minute), liq.sample("BTC", minute + 1)
        crossings = liq.crossings("BTC", minute)
        per_minute.append(len(crossings))
        for crossing in crossings:
            cohort = crossing.cohort
            sides[cohort.side] += 1
            # longs on a down move, shorts on an up move, the level within the minute's move
            assert (cohort.side == "long") == (p1 < p0)
            assert min(p0, p1) <= cohort.level <= max(p0, p1)
            assert minute * BLOCK_MS <= crossing.t_ms < (minute + 1) * BLOCK_MS
            assert abs(liq.path_price("BTC", crossing.t_ms) - cohort.level) <= abs(p1 - p0) / 30
            # alive until then: opened within its lifetime, the path never reached its level since
            assert minute * BLOCK_MS - LIFETIME_MS <= cohort.open_ms <= minute * BLOCK_MS
            before = [liq.sample("BTC", m) for m in range(cohort.open_ms // BLOCK_MS, minute + 1)]
            assert all(p > cohort.level for p in before) if cohort.side == "long" else all(
                p < cohort.level for p in before)
            # the bankruptcy price lies beyond the liquidation level
            assert (cohort.bankruptcy < cohort.level) == (cohort.side == "long")
    assert sides["long"] > 10 and sides["short"] > 10
    # clusters: most minutes have none, the busiest tenth holds most of them
    busiest = sorted(per_minute, reverse=True)[: len(per_minute) // 10]
    assert per_minute.count(0) > len(per_minute) / 2
    assert sum(busiest) > 0.6 * sum(per_minute)

    # a contract's cohort events follow a crossing within MAX_DELAY_MS, on the cohort's side
    perp = MarketModel.perp("bybit", "BTCUSDT")
    assert perp is not None
    events = liq.events(perp, minutes[0] * BLOCK_MS + MAX_DELAY_MS, minutes[-1] * BLOCK_MS)
    crossings = [c for m in minutes for c in liq.crossings("BTC", m)]
    for e in events:
        if e.cohort:
            assert any(c.cohort.side == e.side and 0 <= e.t_ms - c.t_ms <= MAX_DELAY_MS for c in crossings)
    assert {e.side for e in events if e.cohort} == {"long", "short"}
    # a quiet minute (no crossing near it) still has some (background) liquidations
    quiet = [m for m in minutes if not any(liq.crossings("BTC", k) for k in range(m - 1, m + 1))]
    assert quiet and sum(len(liq.minute_events(perp, m)) for m in quiet) > len(quiet) / 2
    assert all(not e.cohort for m in quiet for e in liq.minute_events(perp, m))


def test_events_are_sized_in_each_venue_unit_with_prices_on_the_right_side() -> None:
    liq = liquidations()
    t0 = START_MS - 2 * 3_600_000
    cases = {("binance", "BTCUSDT"): ("base", 0.001), ("binance", "1000PEPEUSDT"): ("base", 1.0),
             ("binance", "BTCUSD_PERP"): ("contracts", 1.0), ("bybit", "ETHUSD"): ("usd", 1.0),
             ("bybit", "SOLUSDT"): ("base", 0.001), ("okx", "BTC-USDT-SWAP"): ("contracts", 1.0),
             ("okx", "ETH-USD-SWAP"): ("contracts", 1.0), ("deribit", "BTC-PERPETUAL"): ("usd", 10.0),
             ("deribit", "ETH_USDC-PERPETUAL"): ("base", 0.01)}
    for (venue, symbol), step in cases.items():
        c = contract(venue, symbol, t0)
        assert quantity_step(c) == step
        events = liq.events(c, t0, t0 + 3_600_000)
        assert events
        for e in events:
            lots = e.qty / step[1]
            assert lots >= 1 and abs(lots - round(lots)) < 1e-6
            if step[0] == "contracts":
                per = c.contract_size * (1.0 if c.contract_unit == "usd" else e.price)
                assert abs(e.usd - e.qty * per) < 1e-6 * e.usd
            else:
                assert abs(e.usd - (e.qty if step[0] == "usd" else e.qty * e.price)) < 1e-6 * e.usd
            assert abs(e.base * e.price - e.usd) < 1e-6 * e.usd
            # a long is sold into (filled above its bankruptcy price), a short bought back below it
            assert (e.price > e.bankruptcy) == (e.side == "long")
            mark = c.multiplier * liq.path_price(c.asset, e.t_ms)
            assert abs(e.price / mark - 1) < 0.01
    okx_btc = contract("okx", "BTC-USDT-SWAP", t0)
    assert sized(okx_btc, 10.0, 90_000.0) == (1.0, 0.01, 900.0)  # never less than one lot
    assert plain(0.0140000001, 0.001) == "0.014" and plain(120.0, 10.0) == "120"


def test_sampling_keeps_at_most_one_event_per_symbol_per_second() -> None:
    liq = liquidations()
    perp = MarketModel.perp("binance", "ETHUSDT")
    assert perp is not None
    t0 = START_MS - 6 * 3_600_000
    every = liq.events(perp, t0, t0 + 6 * 3_600_000)
    shown = liq.sampled(perp, t0, t0 + 6 * 3_600_000)
    assert 0 < len(shown) < len(every) and set(shown) <= set(every)
    assert all(b.t_ms - a.t_ms >= SAMPLE_MS for a, b in itertools.pairwise(shown))
    by_window: dict[int, list[SimLiquidation]] = {}
    for e in every:
        by_window.setdefault(e.t_ms // SAMPLE_MS, []).append(e)
    for e in shown:  # the latest of its window
        assert e == by_window[e.t_ms // SAMPLE_MS][-1]
    # windows split anywhere give the same sample
    cut = (t0 + 2 * 3_600_000) // SAMPLE_MS * SAMPLE_MS
    assert liq.sampled(perp, t0, cut) + liq.sampled(perp, cut, t0 + 6 * 3_600_000) == shown


# --- the channels -------------------------------------------------------------------------------------------------


def _model_events(venue: str, symbols: set[str], start_ms: int, end_ms: int, *, sampled: bool
                  ) -> set[tuple[str, int, float]]:
    """(symbol, time, qty) of the model's events of ``symbols`` with start <= time <= end."""
    liq = liquidations()
    out = set()
    for symbol in symbols:
        c = contract(venue, symbol, start_ms)
        if sampled:
            found = liq.sampled(c, start_ms // SAMPLE_MS * SAMPLE_MS, (end_ms // SAMPLE_MS + 1) * SAMPLE_MS)
        else:
            found = liq.events(c, start_ms, end_ms + 1)
        out |= {(symbol, e.t_ms, e.qty) for e in found if start_ms <= e.t_ms <= end_ms}
    return out


def test_binance_force_orders_are_sampled_per_symbol_in_the_docs_shape() -> None:
    usdm, coinm = raw("binance-usdm__ws_forceOrder__docs.json"), raw("binance-coinm__ws_forceOrder__docs.json")

    async def body(server: SimServer, session: aiohttp.ClientSession) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        async with session.ws_connect(ws_url(server, "binance", "fstream", "/market/stream?streams="
                                                                          "!forceOrder@arr")) as ws:
            out["usdm"] = await data(ws, 25, lambda m: "stream" in m)
        async with session.ws_connect(ws_url(server, "binance", "dstream", "/stream")) as ws:
            await ws.send_str(dumps({"method": "SUBSCRIBE", "params": ["!forceOrder@arr", "btcusd_perp@forceOrder"],
                                     "id": 3}))
            out["coinm"] = await data(ws, 12, lambda m: "stream" in m)
            await ws.send_str(dumps({"method": "LIST_SUBSCRIPTIONS", "id": 4}))
            out["list"] = await data(ws, 1, lambda m: m.get("id") == 4)
        return out

    out = served(body)
    assert out["list"][0]["result"] == ["!forceOrder@arr", "btcusd_perp@forceOrder"]
    for host, real in (("usdm", usdm), ("coinm", coinm)):
        frames = [f for f in out[host] if f["stream"] == "!forceOrder@arr"]
        assert frames
        last: dict[str, int] = {}
        for frame in frames:
            event = frame["data"]
            assert set(frame) == {"stream", "data"}
            assert shape_differences(event, real) == [] and set(event["o"]) == set(real["o"])
            o = event["o"]
            assert (o["o"], o["f"], o["X"]) == ("LIMIT", "IOC", "FILLED") and o["q"] == o["l"] == o["z"]
            assert event["E"] >= o["T"]
            # a long liquidated is a SELL order, filled above its price (the bankruptcy price)
            assert (float(o["ap"]) > float(o["p"])) == (o["S"] == "SELL")
            if host == "coinm":
                assert o["ps"] == o["s"].split("_")[0] and float(o["q"]).is_integer()
            # never two events of one symbol within 1000 ms
            assert o["T"] - last.get(o["s"], -SAMPLE_MS) >= SAMPLE_MS
            last[o["s"]] = o["T"]
        # exactly the model's sample: every sampled event between the first and the last one received
        got = {(f["data"]["o"]["s"], f["data"]["o"]["T"], float(f["data"]["o"]["q"])) for f in frames}
        times = sorted(t for _s, t, _q in got)
        first_window = times[0] // SAMPLE_MS * SAMPLE_MS + SAMPLE_MS  # whole windows only
        symbols = {p.symbol for p in MarketModel.perps("binance", host)} | {
            f.symbol for f in MarketModel.futures("binance", times[0], host)}
        want = _model_events("binance", symbols, first_window, times[-1], sampled=True)
        assert want <= got and got - want <= {g for g in got if g[1] < first_window}
        # the side: SELL = a long liquidated in the model
        liq = liquidations()
        for frame in frames[:5]:
            o = frame["data"]["o"]
            c = contract("binance", o["s"], o["T"])
            (e,) = [e for e in liq.events(c, o["T"], o["T"] + 1) if e.qty == float(o["q"])][-1:]
            assert (e.side == "long") == (o["S"] == "SELL")
    assert {f["stream"] for f in out["coinm"]} <= {"!forceOrder@arr", "btcusd_perp@forceOrder"}


def test_bybit_all_liquidation_pushes_every_event_every_500_ms() -> None:
    real = raw("bybit__ws_allLiquidation__docs.json")

    async def body(server: SimServer, session: aiohttp.ClientSession) -> tuple[list[Any], list[Any]]:
        async with session.ws_connect(ws_url(server, "bybit", "stream", "/v5/public/linear")) as ws:
            await ws.send_str(dumps({"op": "subscribe", "args": ["allLiquidation.BTCUSDT", "allLiquidation.ETHUSDT",
                                                                 "allLiquidation.NOPEUSDT"], "req_id": "l"}))
            ack = await message(ws)
            linear = await data(ws, 12, lambda m: "topic" in m)
        async with session.ws_connect(ws_url(server, "bybit", "stream", "/v5/public/inverse")) as ws:
            await ws.send_str(dumps({"op": "subscribe", "args": ["allLiquidation.BTCUSD"]}))
            inverse = await data(ws, 3, lambda m: "topic" in m)
        return [ack], linear + inverse

    (ack,), frames = served(body)
    assert ack["success"] is False and ack["ret_msg"] == "Invalid symbol :[allLiquidation.NOPEUSDT]"
    liq = liquidations()
    received: dict[str, list[dict[str, Any]]] = {}
    for frame in frames:
        assert shape_differences(frame, real) == [] and set(frame) == set(real)
        assert frame["type"] == "snapshot" and frame["data"]
        symbol = frame["topic"].removeprefix("allLiquidation.")
        for row in frame["data"]:
            assert set(row) == set(real["data"][0]) and row["s"] == symbol and row["T"] <= frame["ts"]
            received.setdefault(symbol, []).append(row)
    for symbol, rows in received.items():
        c = contract("bybit", symbol, rows[0]["T"])
        unit = "usd" if symbol == "BTCUSD" else "base"
        assert quantity_step(c)[0] == unit
        # complete: every event of the model between the first and the last received, in order
        events = liq.events(c, rows[0]["T"], rows[-1]["T"] + 1)
        assert [(r["T"], float(r["v"])) for r in rows] == [(e.t_ms, e.qty) for e in events]
        for r, e in zip(rows, events, strict=True):
            assert r["S"] == ("Buy" if e.side == "long" else "Sell")  # Buy: a long position liquidated
            assert abs(float(r["p"]) / e.bankruptcy - 1) < 1e-4  # the bankruptcy price
    assert {"BTCUSDT", "BTCUSD"} <= set(received)


def test_okx_liquidation_orders_start_with_a_backlog_and_keep_one_per_contract_per_second() -> None:
    real = raw("okx__ws_liquidation_orders__docs.json")
    arg = {"channel": "liquidation-orders", "instType": "SWAP"}

    async def body(server: SimServer, session: aiohttp.ClientSession) -> dict[str, Any]:
        out: dict[str, Any] = {}
        url = ws_url(server, "okx", "ws", "/ws/v5/public")
        async with session.ws_connect(url) as first:
            await first.send_str(dumps({"id": "1", "op": "subscribe", "args": [arg]}))
            out["ack"] = await message(first)
            out["first"] = await data(first, 6, lambda m: "data" in m)
            async with session.ws_connect(url) as second:  # a later subscriber: its first push is a backlog
                await second.send_str(dumps({"op": "subscribe", "args": [arg]}))
                await message(second)
                out["second"] = await data(second, 1, lambda m: "data" in m)
            await first.send_str(dumps({"op": "subscribe", "args": [{"channel": "liquidation-orders",
                                                                     "instType": "OPTION"}]}))
            out["option"] = await data(first, 1, lambda m: m.get("event") == "error")
        return out

    out = served(body, speed=20.0)  # the backlog spans a market minute: 3 s here for the second to subscribe
    assert out["ack"] == {"id": "1", "event": "subscribe", "arg": arg, "connId": out["ack"]["connId"]}
    assert out["option"][0]["code"] == "60018"
    rows = []
    for push in out["first"] + out["second"]:
        assert shape_differences(push, real) == [] and push["arg"] == arg
        for row in push["data"]:
            assert set(row) == set(real["data"][0]) and row["instType"] == "SWAP"
            assert row["instFamily"] == row["uly"] == row["instId"].removesuffix("-SWAP")
            for detail in row["details"]:
                assert set(detail) == set(real["data"][0]["details"][0]) and detail["ccy"] == ""
                assert all(isinstance(v, str) for v in detail.values()) and float(detail["sz"]).is_integer()
                if detail["posSide"] != "net":  # hedge mode: the position, closed by the opposite order
                    assert detail["side"] == {"long": "sell", "short": "buy"}[detail["posSide"]]
                rows.append((row["instId"], int(detail["ts"]), float(detail["sz"]), detail))
    first = [r for push in out["first"] for r in push["data"]]
    first_keys = {(row["instId"], d["ts"], d["sz"], d["bkPx"]) for row in first for d in row["details"]}
    backlog = {(row["instId"], d["ts"], d["sz"], d["bkPx"]) for row in out["second"][0]["data"]
               for d in row["details"]}
    assert backlog & first_keys  # the backlog repeats events the first subscriber already had
    modes = Counter(r[3]["posSide"] == "net" for r in rows)
    assert modes[True] and modes[False]  # net-mode and hedge-mode positions
    # one per contract per second, and the model's sample: the side an order side (sell closes a long)
    liq = liquidations()
    unique = sorted({(inst, ts, sz) for inst, ts, sz, _d in rows})
    per_inst: dict[str, list[int]] = {}
    for inst, ts, _sz in unique:
        per_inst.setdefault(inst, []).append(ts)
    for times in per_inst.values():
        assert all(b - a >= SAMPLE_MS for a, b in itertools.pairwise(times))
    for inst, ts, sz, detail in rows[:20]:
        c = contract("okx", inst, ts)
        assert any(e.qty == sz and e.order_side == detail["side"] for e in liq.sampled(
            c, ts // SAMPLE_MS * SAMPLE_MS, ts // SAMPLE_MS * SAMPLE_MS + SAMPLE_MS))


def test_deribit_trades_carry_the_liquidations_as_flagged_trades() -> None:
    real = raw("deribit__rest_get_last_trades_by_currency__docs.json")["result"]["trades"][0]
    documented = raw("deribit__ws_user_trades__docs.json")["data"][0]
    private = frozenset(set(documented) - {"trade_seq", "trade_id", "timestamp", "tick_direction", "price",
                                           "mark_price", "index_price", "instrument_name", "direction", "amount"})
    channel = "trades.BTC-PERPETUAL.100ms"

    async def body(server: SimServer, session: aiohttp.ClientSession) -> tuple[Any, list[Any]]:
        async with session.ws_connect(ws_url(server, "deribit", "ws", "/ws/api/v2")) as ws:
            await ws.send_str(dumps({"jsonrpc": "2.0", "id": 2, "method": "public/subscribe", "params": {
                "channels": [channel, "trades.NOPE-PERPETUAL.100ms", "trades.BTC-PERPETUAL.raw"]}}))
            answer = await message(ws)
            trades: list[Any] = []
            while sum("liquidation" in t for t in trades) < 4:
                (note,) = await data(ws, 1, lambda m: m.get("method") == "subscription")
                assert note["params"]["channel"] == channel
                trades += note["params"]["data"]
            return answer, trades

    answer, trades = served(body)
    assert answer["result"] == [channel]
    assert [t["trade_seq"] for t in trades] == list(range(trades[0]["trade_seq"], trades[0]["trade_seq"] + len(trades)))
    for t in trades:
        assert shape_differences(t, real, optional=frozenset({"iv"})) == []
        assert shape_differences(t, documented, optional=private) == []
        assert t["instrument_name"] == "BTC-PERPETUAL" and t["amount"] % 10 == 0 and t["contracts"] == t["amount"] / 10
        assert t["tick_direction"] in (0, 1, 2, 3) and t["direction"] in ("buy", "sell")
    # the liquidation trades are the model's events: T -> the taker (direction) liquidated, M -> the maker
    liq = liquidations()
    perp = contract("deribit", "BTC-PERPETUAL", trades[0]["timestamp"])
    events = liq.events(perp, trades[0]["timestamp"], trades[-1]["timestamp"] + 1)
    flagged = [t for t in trades if "liquidation" in t]
    assert [(t["timestamp"], t["amount"]) for t in flagged] == [(e.t_ms, e.qty) for e in events]
    for t, e in zip(flagged, events, strict=True):
        assert t["liquidation"] in ("T", "M", "MT")
        taker = e.order_side if t["liquidation"] != "M" else {"sell": "buy", "buy": "sell"}[e.order_side]
        assert t["direction"] == taker


def test_the_frame_log_holds_every_liquidation_frame(tmp_path: Path) -> None:
    log = tmp_path / "frames.jsonl"

    async def body(server: SimServer, session: aiohttp.ClientSession) -> dict[str, list[str]]:
        got: dict[str, list[str]] = {}

        async def read(venue: str, host: str, path: str, request: Any, count: int, is_data: Callable[[Any], bool]
                       ) -> None:
            async with session.ws_connect(ws_url(server, venue, host, path)) as ws:
                if request is not None:
                    await ws.send_str(dumps(request))
                got[venue] = [dumps(m) for m in await data(ws, count, is_data)]

        await asyncio.gather(
            read("binance", "fstream", "/market/stream?streams=!forceOrder@arr", None, 4, lambda m: "stream" in m),
            read("bybit", "stream", "/v5/public/linear", {"op": "subscribe", "args": ["allLiquidation.ETHUSDT"]}, 3,
                 lambda m: "topic" in m),
            read("okx", "ws", "/ws/v5/public", {"op": "subscribe", "args": [{"channel": "liquidation-orders",
                                                                             "instType": "FUTURES"}]}, 2,
                 lambda m: "data" in m),
            read("deribit", "ws", "/ws/api/v2", {"jsonrpc": "2.0", "id": 1, "method": "public/subscribe",
                                                 "params": {"channels": ["trades.ETH-PERPETUAL.100ms"]}}, 3,
                 lambda m: m.get("method") == "subscription"))
        return got

    got = served(body, log_requests=str(log))
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    channels = {"binance": "!forceOrder@arr", "bybit": "allLiquidation.ETHUSDT", "okx": "liquidation-orders",
                "deribit": "trades.ETH-PERPETUAL.100ms"}
    for venue, frames in got.items():
        logged = [r["frame"] for r in rows if r["venue"] == venue and r["dir"] == "send"
                  and r["channel"] == channels[venue]]
        # the same texts (re-serialized compactly, as the sim sends them), in order
        assert [dumps(json.loads(f)) for f in logged[:len(frames)]] == frames
        assert all(set(r) == {"time", "venue", "host", "dir", "channel", "frame"} for r in rows)


def test_a_disconnect_fault_closes_a_liquidation_channel() -> None:
    subscriptions = {
        "binance": ("fstream", "/market/stream?streams=!forceOrder@arr", None, lambda m: "stream" in m),
        "bybit": ("stream", "/v5/public/linear", {"op": "subscribe", "args": ["allLiquidation.BTCUSDT"]},
                  lambda m: "topic" in m),
        "okx": ("ws", "/ws/v5/public", {"op": "subscribe", "args": [{"channel": "liquidation-orders",
                                                                     "instType": "SWAP"}]}, lambda m: "data" in m),
        "deribit": ("ws", "/ws/api/v2", {"jsonrpc": "2.0", "id": 1, "method": "public/subscribe",
                                         "params": {"channels": ["trades.BTC-PERPETUAL.100ms"]}},
                    lambda m: m.get("method") == "subscription"),
    }

    async def body(server: SimServer, session: aiohttp.ClientSession) -> dict[str, tuple[int, int | None]]:
        out = {}
        for venue, (host, path, request, is_data) in subscriptions.items():
            ws = await session.ws_connect(ws_url(server, venue, host, path))
            if request is not None:
                await ws.send_str(dumps(request))
            count = 0
            while (msg := await asyncio.wait_for(ws.receive(), TIMEOUT)).type not in (
                    aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                if msg.type is aiohttp.WSMsgType.TEXT and is_data(json.loads(msg.data)):
                    count += 1
            # the code the server's close frame carried (``ws.close_code`` after our own close may read 1006 when
            # the server dropped the socket right after its close frame, which a burst of frames makes likely)
            sent = msg.data if msg.type is aiohttp.WSMsgType.CLOSE else None
            await ws.close()
            out[venue] = (count, sent)
        return out

    faults = Faults(streams=dict.fromkeys(subscriptions, "disconnect"), stream_after=2)
    out = served(body, faults=faults)
    assert out == dict.fromkeys(subscriptions, (2, aiohttp.WSCloseCode.GOING_AWAY))


def test_channel_names_parse() -> None:
    assert binance_ws.parse_force_order("!forceOrder@arr") == binance_ws.ForceOrderStream("!forceOrder@arr", None)
    assert binance_ws.parse_force_order("ethusd_perp@forceOrder") == binance_ws.ForceOrderStream(
        "ethusd_perp@forceOrder", "ETHUSD_PERP")
    for bad in ("!forceOrder@arr@1s", "BTCUSDT@forceOrder", "btcusdt@forceorder", 3):
        assert binance_ws.parse_force_order(bad) is None
    assert deribit_ws.trades_instrument("trades.BTC-PERPETUAL.100ms") == "BTC-PERPETUAL"
    for bad in ("trades.BTC-PERPETUAL.raw", "ticker.BTC-PERPETUAL.100ms", "trades..100ms", None):
        assert deribit_ws.trades_instrument(bad) is None
    assert okx_ws.LIQUIDATION_TYPES == ("SWAP", "FUTURES")
