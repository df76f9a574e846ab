"""dYdX v4 liquidations: the trades of type LIQUIDATED, parsed (``dydx.parse.trade_liquidations``) and streamed from
the indexer's ``v4_trades`` channel (``dydx.stream``), against real payloads and, over real sockets, the simulated
indexer WebSocket (``dtrack.sim.streams.dydx``).

The side convention is restated here from its sources, not from dtrack's parser: a trade is the TAKER's fill and a
liquidation's taker is the protocol's liquidation order, which buys to close a short and sells to close a long
(v4-chain ``liquidations.go``: ``isBuy = !isLiquidatingLong``). So SELL = a long liquidated.

The sim's streams are served for the venues of ``dtrack.sim.server.STREAMED_VENUES``; until dYdX is listed there
the tests below add it for their own servers (``served_dydx``).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import dtrack
from conftest import load_payload
from dtrack.errors import ParseError
from dtrack.net.ws import CONTROL, MalformedFrame
from dtrack.records import Coverage, DataKind, Gap, Liquidation, PriceKind, Record, Unit
from dtrack.sim import server as sim_server
from dtrack.sim.faults import Faults
from dtrack.sim.liquidations import LiquidationModel
from dtrack.sim.model import MarketModel
from dtrack.sim.server import start_sim
from dtrack.venues import VENUES
from dtrack.venues.dydx import parse
from dtrack.venues.dydx.stream import SEEN, TradesStream, channel_name, protocols
from dtrack.venues.streaming import StreamRequest
from net_helpers import collect
from test_streams_sim import FAST, settings_for

SEED = 7
#: a pinned market clock (2026-12-01 ~07:33 UTC)
PINNED_MS = 1_796_110_400_000
WAIT = 120.0
ASSETS = ["BTC", "ETH", "SOL"]
#: the liquidation order's side -> the position it closed (restated from the protocol; see the module docstring)
CLOSES = {"SELL": "long", "BUY": "short"}
REST_ENDPOINT = "GET /v4/trades/perpetualMarket/BTC-USD"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "WS_PROXY", "WSS_PROXY", "http_proxy", "https_proxy", "ws_proxy",
                "wss_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture()
def served_dydx(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sim serves dYdX's WebSocket (a no-op once ``STREAMED_VENUES`` lists it)."""
    if "dydx" not in sim_server.STREAMED_VENUES:
        monkeypatch.setattr(sim_server, "STREAMED_VENUES", (*sim_server.STREAMED_VENUES, "dydx"))


def read(trades: Any, ticker: str, received: datetime, endpoint: str = REST_ENDPOINT
         ) -> tuple[list[Liquidation], list[Any]]:
    records: list[Liquidation] = []
    dropped: list[Any] = []
    parse.trade_liquidations(trades, parse.liquidation_terms(parse.instrument(ticker), endpoint), received, records,
                             dropped)
    return records, dropped


# --- the parser on real payloads ---------------------------------------------------------------------------------

def test_a_real_liquidated_sell_is_a_long_liquidated_with_the_rows_own_figures() -> None:
    cases = load_payload("dydx__rest_trades_liquidated__capture.json")["cases"]
    received = datetime(2026, 9, 17, 14, 0, tzinfo=UTC)
    records, dropped = read(cases[0]["raw"]["trades"], "BTC-USD", received)
    assert dropped == [] and len(records) == 1
    r = records[0]
    assert (r.instrument.venue, r.instrument.symbol, r.instrument.asset) == ("dydx", "BTC-USD", "BTC")
    assert r.side == "long" and r.price_kind is PriceKind.TRADE and r.coverage is Coverage.TRADE_FLAG
    assert (r.amount, r.unit, r.base, r.price) == (0.0004, Unit.BASE, 0.0004, 75974.0)
    assert r.usd == pytest.approx(30.3896, abs=1e-9)  # 0.0004 BTC x 75,974 USD
    assert r.time == datetime(2026, 9, 17, 13, 39, 47, 542_000, tzinfo=UTC) and r.received_at == received
    assert r.key == "064e89330000000200000002"
    # the other market's liquidated SELL: 660 coins at 1.276 (the source reads it as XRP-USD)
    records, dropped = read(cases[2]["raw"]["trades"], cases[2]["input"]["ticker"], received)
    assert dropped == [] and [(x.side, x.amount, x.price, x.key) for x in records] == [
        ("long", 660.0, 1.276, "064aeb220000000200000005")]
    assert records[0].usd == pytest.approx(842.16, abs=1e-9)
    assert records[0].time == datetime(2026, 9, 15, 20, 19, 50, 34_000, tzinfo=UTC)


def test_ordinary_trades_are_no_liquidations() -> None:
    received = datetime(2026, 9, 17, 20, 0, tzinfo=UTC)
    limit = load_payload("dydx__rest_trades_liquidated__capture.json")["cases"][1]["raw"]["trades"]
    assert limit[0]["type"] == "LIMIT" and read(limit, "BTC-USD", received) == ([], [])
    ccxt = load_payload("dydx__ccxt_fetchTrades.json")["cases"][0]["raw"]["trades"]
    assert ccxt[0]["type"] == "LIMIT" and read(ccxt, "BTC-USD", datetime(2025, 7, 29, 6, tzinfo=UTC)) == ([], [])


def test_the_documented_channel_data_message_is_read_by_the_stream() -> None:
    raw = load_payload("dydx__ws_v4_trades__docs.json")["cases"][0]["raw"]
    stream = TradesStream([parse.instrument("BTC-USD")])
    received = datetime(2024, 8, 23, 0, 1, tzinfo=UTC)
    frame = stream.handle(json.dumps(raw), received)
    assert frame.channel == "v4_trades:BTC-USD" and list(frame.records) == [] and list(frame.dropped) == []
    # the same message with the type's other alternatives (LIQUIDATED, SELL): a long liquidated
    trade = raw["contents"]["trades"][0]
    liquidated = {**raw, "contents": {"trades": [{**trade, "type": "LIQUIDATED", "side": "SELL"}]}}
    frame = stream.handle(json.dumps(liquidated), received)
    [r] = frame.records
    assert isinstance(r, Liquidation)
    assert (r.side, r.amount, r.price, r.key) == ("long", 0.0001, 60392.0, "0165e6170000000200000002")
    assert r.usd == pytest.approx(6.0392, abs=1e-12)
    assert r.time == datetime(2024, 8, 23, 0, 0, 57, 627_000, tzinfo=UTC)
    short = {**raw, "contents": {"trades": [{**trade, "type": "LIQUIDATED", "id": "b"}]}}  # BUY
    assert [x.side for x in stream.handle(json.dumps(short), received).records] == ["short"]  # type: ignore[attr-defined]


def test_deleveraged_and_twap_fills_are_not_counted() -> None:
    row = load_payload("dydx__rest_trades_liquidated__capture.json")["cases"][0]["raw"]["trades"][0]
    received = datetime(2026, 9, 17, 14, 0, tzinfo=UTC)
    for kind in ("DELEVERAGED", "TWAP_SUBORDER", "LIMIT"):
        assert read([{**row, "type": kind}], "BTC-USD", received) == ([], []), kind


def test_odd_rows_are_malformed_and_implausible_ones_dropped() -> None:
    row = load_payload("dydx__rest_trades_liquidated__capture.json")["cases"][0]["raw"]["trades"][0]
    received = datetime(2026, 9, 17, 14, 0, tzinfo=UTC)
    for bad in ({**row, "side": "HOLD"}, {**row, "size": "lots"}, {**row, "createdAt": "yesterday"},
                {**row, "createdAt": "2026-09-17T13:39:47"}, {k: v for k, v in row.items() if k != "id"}):
        with pytest.raises(ParseError, match="dydx GET /v4/trades/perpetualMarket/BTC-USD"):
            read([bad], "BTC-USD", received)
    with pytest.raises(ParseError, match="trades is a dict"):
        read({"trades": []}, "BTC-USD", received)
    records, dropped = read([{**row, "price": "0"}, row], "BTC-USD", received)
    assert [r.key for r in records] == [row["id"]] and len(dropped) == 1 and "price" in str(dropped[0])
    ahead = {**row, "createdAt": "2026-09-19T13:39:47.542Z"}  # two days past its receipt
    assert read([ahead], "BTC-USD", received)[1] != []


# --- the protocol ---------------------------------------------------------------------------------------------

def test_subscriptions_one_market_a_message_and_32_a_connection() -> None:
    tickers = [f"C{i}-USD" for i in range(40)]
    conns = protocols(StreamRequest(frozenset({DataKind.LIQUIDATIONS}), [parse.instrument(t) for t in tickers]))
    assert [len(p.channels) for p in conns] == [32, 8]
    assert conns[0].subscribe_messages(["v4_trades:C0-USD"]) == [
        '{"type": "subscribe", "channel": "v4_trades", "id": "C0-USD"}']
    assert conns[0].marker("v4_trades:C3-USD") == '"id":"C3-USD"'
    assert (conns[0].host, conns[0].url(VENUES["dydx"].ws_hosts["ws"])) == ("ws", "wss://indexer.dydx.trade/v4/ws")


def test_the_backlog_and_repeats_are_handed_on_once_across_reconnects() -> None:
    row = load_payload("dydx__rest_trades_liquidated__capture.json")["cases"][0]["raw"]["trades"][0]
    stream = TradesStream([parse.instrument("BTC-USD")])
    received = datetime(2026, 9, 17, 14, 0, tzinfo=UTC)
    subscribed = {"type": "subscribed", "connection_id": "c", "message_id": 1, "channel": "v4_trades",
                  "id": "BTC-USD", "contents": {"trades": [row]}}
    first = stream.handle(json.dumps(subscribed), received)
    assert [r.key for r in first.records] == [row["id"]]  # type: ignore[attr-defined]
    later = {**row, "id": "064e89340000000200000001"}
    data = {"type": "channel_data", "connection_id": "c", "message_id": 2, "id": "BTC-USD", "channel": "v4_trades",
            "version": "2.1.0", "contents": {"trades": [{k: v for k, v in later.items() if k != "createdAtHeight"},
                                                        row]}}
    assert [r.key for r in stream.handle(json.dumps(data), received).records] == [later["id"]]  # type: ignore[attr-defined]
    stream.reset()  # a reconnect: the backlog comes again
    again = stream.handle(json.dumps({**subscribed, "contents": {"trades": [later, row]}}), received)
    assert again.channel == "v4_trades:BTC-USD" and list(again.records) == []
    batch = {**data, "type": "channel_batch_data", "contents": [{"trades": [row]},
                                                                {"trades": [{**row, "id": "x1"}]}]}
    assert [r.key for r in stream.handle(json.dumps(batch), received).records] == ["x1"]  # type: ignore[attr-defined]
    assert SEEN >= 1000


def test_control_messages_and_refusals() -> None:
    stream = TradesStream([parse.instrument("BTC-USD"), parse.instrument("ETH-USD")])
    now = datetime(2026, 9, 17, tzinfo=UTC)
    assert stream.handle('{"type":"connected","connection_id":"c","message_id":0}', now) is CONTROL
    refused = stream.handle(json.dumps({"type": "error", "connection_id": "c", "message_id": 1,
                                        "message": "Invalid subscription id for channel: (v4_trades-ETH-USD)"}), now)
    assert list(refused.refused) == [channel_name("ETH-USD")]
    fetch = stream.handle(json.dumps({"type": "error", "message": "Internal error, could not fetch data for "
                                      "subscription: v4_trades.", "connection_id": "c", "message_id": 2,
                                      "channel": "v4_trades", "id": "BTC-USD"}), now)
    assert list(fetch.refused) == ["v4_trades:BTC-USD"]
    limit = stream.handle(json.dumps({"type": "error", "connection_id": "c", "message_id": 3, "message":
                                      "Per-connection subscription limit reached for v4_trades (limit=32)."}), now)
    assert list(limit.refused) == [] and "limit reached" in limit.detail
    for bad in ('{"type":"channel_data","channel":"v4_trades","id":"DOGE-USD","contents":{"trades":[]}}',
                '{"type":"channel_data","channel":"v4_trades","id":"BTC-USD","contents":[]}',
                '{"type":"mystery"}', "[1]"):
        with pytest.raises(MalformedFrame):
            stream.handle(bad, now)


# --- against the simulated indexer, over real sockets ------------------------------------------------------------

class FastMarket(MarketModel):
    """The sim's market on a clock running ``speed`` times the wall clock from now, so that its liquidations
    (a few a minute per market) come within seconds."""

    def __init__(self, speed: float) -> None:
        super().__init__(SEED)
        self._t0 = time.time()
        self._speed = speed

    def now_ms(self) -> int:
        return int((self._t0 + (time.time() - self._t0) * self._speed) * 1000)


def logged_trades(log: Path) -> list[tuple[int, str, str, dict[str, Any]]]:
    """Every trade row of every dYdX data frame the sim sent, in the order sent: (frame number, message type,
    market, row)."""
    out = []
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    sent = [json.loads(r["frame"]) for r in rows
            if r.get("venue") == "dydx" and r.get("dir") == "send" and r.get("channel")]
    for n, msg in enumerate(sent):
        parts = msg["contents"] if msg["type"] == "channel_batch_data" else [msg["contents"]]
        out += [(n, msg["type"], msg["id"], row) for part in parts for row in part["trades"]]
    return out


def model_sides(truth: LiquidationModel, ticker: str, t_ms: int) -> set[str]:
    contract = MarketModel.perp("dydx", ticker)
    assert contract is not None
    return {e.side for e in truth.events(contract, t_ms, t_ms + 1)}


def stream_liquidations(log: Path, tmp: Path, model: MarketModel, done: Any, faults: Faults | None = None
                        ) -> list[Record]:
    async def main() -> list[Record]:
        server = await start_sim(seed=SEED, model=model, log_requests=str(log), stream_options=FAST,
                                 faults=faults or Faults())
        try:
            async with dtrack.AsyncClient(config=settings_for(server, tmp)) as dt:
                it = dt.stream(["liquidations"], ASSETS, venues=["dydx"])
                return await collect(it, done, "dYdX liquidations", WAIT, close=True)
        finally:
            await server.stop()

    return asyncio.run(main())


def check_against_log(records: list[Record], log: Path) -> tuple[list[Liquidation], dict[str, tuple[int, str]]]:
    """Every LIQUIDATED trade the sim sent up to the frame of the last record arrived exactly once, as the frame
    and the market model say; the records and where each was first sent."""
    liquidations = [r for r in records if isinstance(r, Liquidation)]
    keys = [r.key for r in liquidations]
    assert len(keys) == len(set(keys)), "a liquidation handed on twice"
    first: dict[str, tuple[int, str]] = {}
    rows: dict[str, tuple[str, dict[str, Any]]] = {}
    for n, kind, ticker, row in logged_trades(log):
        if row["type"] == "LIQUIDATED" and row["id"] not in first:
            first[row["id"]], rows[row["id"]] = (n, kind), (ticker, row)
    last = first[liquidations[-1].key][0]
    assert set(keys) == {k for k, (n, _kind) in first.items() if n <= last}
    truth = LiquidationModel(MarketModel(SEED))
    for r in liquidations:
        ticker, row = rows[r.key]
        assert (r.instrument.venue, r.instrument.symbol) == ("dydx", ticker)
        assert r.side == CLOSES[row["side"]] and model_sides(truth, ticker, round(r.time.timestamp() * 1000)) \
            == {r.side}, (r, row)
        assert (r.amount, r.price) == (float(row["size"]), float(row["price"]))
        assert r.usd == pytest.approx(float(row["size"]) * float(row["price"]), rel=1e-12)
        assert r.coverage is Coverage.TRADE_FLAG and r.price_kind is PriceKind.TRADE
    return liquidations, first


@pytest.mark.usefixtures("served_dydx")
def test_every_liquidated_trade_sent_arrives_once_backlog_and_live(tmp_path: Path) -> None:
    log = tmp_path / "frames.jsonl"

    def done(got: list[Record]) -> bool:  # a long and a short first sent live (the frame log is written first)
        mine = [r for r in got if isinstance(r, Liquidation)]
        if len({r.side for r in mine}) < 2:
            return False
        trades = logged_trades(log)
        live = {row["id"] for _n, kind, _t, row in trades if kind == "channel_data"} - {
            row["id"] for _n, kind, _t, row in trades if kind == "subscribed"}
        return len({r.side for r in mine if r.key in live}) == 2

    records = stream_liquidations(log, tmp_path, FastMarket(speed=60.0), done)
    assert [g for g in records if isinstance(g, Gap)] == []  # quiet channels are not stalls
    liquidations, first = check_against_log(records, log)
    kinds = {first[r.key][1] for r in liquidations}
    assert kinds == {"subscribed", "channel_data"}  # the backlog's and the live ones
    assert {r.side for r in liquidations} == {"long", "short"}
    assert {r.instrument.asset for r in liquidations} == set(ASSETS)


@pytest.mark.usefixtures("served_dydx")
def test_a_disconnect_is_a_gap_and_the_repeated_backlog_counts_once(tmp_path: Path) -> None:
    log = tmp_path / "frames.jsonl"
    # a clock standing still: every connection is sent the same backlogs, and is cut after two of them
    faults = Faults(streams={"dydx": "disconnect"}, stream_after=2)

    def done(got: list[Record]) -> bool:
        closed = [g for g in got if isinstance(g, Gap) and g.reason == "disconnect" and g.end is not None]
        return len({g.stream for g in closed}) == 3 and len(closed) >= 6

    records = stream_liquidations(log, tmp_path, MarketModel(SEED, now_ms=PINNED_MS), done, faults)
    liquidations, _first = check_against_log(records, log)
    sent = [row["id"] for _n, _kind, _t, row in logged_trades(log) if row["type"] == "LIQUIDATED"]
    assert len(sent) > 2 * len(set(sent)) and set(sent) == {r.key for r in liquidations}  # repeated, counted once
    gaps = [g for g in records if isinstance(g, Gap)]
    assert {g.reason for g in gaps} == {"disconnect"} and {g.venue for g in gaps} == {"dydx"}
    assert {g.stream for g in gaps} == {"v4_trades:BTC-USD", "v4_trades:ETH-USD", "v4_trades:SOL-USD"}
