"""Liquidations streamed from the simulated venues over real sockets (``AsyncClient.stream``), beside a ticker kind
on the same connections: every venue that publishes them (Binance, Bybit, OKX, Deribit) delivers them, each record
is the event of a frame the sim sent (its frame log) read with the venue's side convention, its side is the side
the sim's market model liquidated, no event is handed on twice (OKX's backlog on subscribing included), and quiet
liquidation channels are never reported as stalled.

The sim's liquidations follow its model's price path in real time (a few a minute per contract, in bursts): the
stream runs until each venue delivered one (several assets, so that one comes soon; typically within seconds),
bounded by a generous ``WAIT``; counts drive the test, never durations.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import dtrack
from dtrack.records import Coverage, Gap, Liquidation, PriceQuote, Record
from dtrack.sim.liquidations import LiquidationModel
from dtrack.sim.model import MarketModel
from dtrack.sim.server import start_sim
from net_helpers import collect
from test_streams_sim import FAST, ms, sent_frames, settings_for, venue_of

SEED = 7
#: seconds the stream may take to bring a liquidation of every venue (the quietest, Deribit, flags several trades a
#: minute over these assets' contracts: three minutes without one would be a broken stream, not bad luck)
WAIT = 180.0
ASSETS = ["BTC", "ETH", "SOL"]
LIQUIDATING = ("binance", "bybit", "okx", "deribit", "dydx")
#: the liquidating venues that stream quotes too (dtrack reads dYdX's trades channel only)
QUOTING = ("binance", "bybit", "okx", "deribit")
COVERAGE = {"binance": Coverage.SAMPLED, "bybit": Coverage.COMPLETE, "okx": Coverage.SAMPLED,
            "deribit": Coverage.TRADE_FLAG, "dydx": Coverage.TRADE_FLAG}
#: the venues' documented side conventions, restated here from their docs (not from dtrack's parsers)
ORDER_SIDE = {"SELL": "long", "BUY": "short", "sell": "long", "buy": "short"}  # a sell order closes a long
BYBIT_POSITION = {"Buy": "long", "Sell": "short"}  # allLiquidation S: the position's side


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "WS_PROXY", "WSS_PROXY", "http_proxy", "https_proxy", "ws_proxy",
                "wss_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


def missing(got: list[Record]) -> str:
    """What the stream has not delivered yet: a liquidation of every venue (and of which it has)."""
    return f"a liquidation of every venue (only of {sorted({venue_of(r) for r in got if isinstance(r, Liquidation)})})"


def each_venue_liquidated(got: list[Record]) -> bool:
    venues = {venue_of(r) for r in got if isinstance(r, Liquidation)}
    quoted = {venue_of(r) for r in got if isinstance(r, PriceQuote)}
    return set(LIQUIDATING) <= venues and set(QUOTING) <= quoted


def sent_sides(venue: str, record: Liquidation, frames: list[tuple[str, Any]]) -> list[str]:
    """The liquidated sides the sim's frames give the event of ``record`` (matched on the venue's own fields: symbol,
    time, size), by the venue's documented convention."""
    symbol, t = record.instrument.symbol, ms(record.time)
    out: list[str] = []
    for channel, f in frames:
        if venue == "binance" and channel == "!forceOrder@arr":
            o = f["data"]["o"]
            if o["s"] == symbol and o["T"] == t and float(o["z"]) == record.amount:
                out.append(ORDER_SIDE[o["S"]])
        elif venue == "bybit" and channel == f"allLiquidation.{symbol}":
            out += [BYBIT_POSITION[row["S"]] for row in f["data"]
                    if row["T"] == t and float(row["v"]) == record.amount]
        elif venue == "okx" and channel == "liquidation-orders":
            for row in f["data"]:
                for d in row["details"] if row["instId"] == symbol else ():
                    if int(d["ts"]) == t and float(d["sz"]) == record.amount:
                        out.append(d["posSide"] if d["posSide"] in ("long", "short") else ORDER_SIDE[d["side"]])
        elif venue == "deribit" and channel == f"trades.{symbol}.100ms":
            for trade in f["params"]["data"]:
                if trade["trade_id"] == record.key.split(":")[0] and "liquidation" in trade:
                    taker = ORDER_SIDE[trade["direction"]]
                    maker = "short" if taker == "long" else "long"
                    out += {"T": [taker], "M": [maker], "MT": [taker, maker]}[trade["liquidation"]]
        elif venue == "dydx" and channel == "v4_trades" and f.get("id") == symbol:
            contents = f["contents"] if isinstance(f["contents"], list) else [f["contents"]]  # batch: a list
            out += [ORDER_SIDE[row["side"]] for c in contents for row in c["trades"]
                    if row["type"] == "LIQUIDATED" and row["id"] == record.key]
    return out


def model_side(model: LiquidationModel, record: Liquidation) -> str | None:
    """The side of the sim's own liquidation at the record's contract and time (the truth the frames encode)."""
    inst = record.instrument
    now = MarketModel(SEED).now_ms()
    contract = MarketModel.perp(inst.venue, inst.symbol) or MarketModel.future(inst.venue, inst.symbol, now)
    assert contract is not None, inst.symbol
    t = ms(record.time)
    assert t is not None
    sides = {e.side for e in model.events(contract, t, t + 1)}
    assert len(sides) == 1, (inst.symbol, t, sides)
    return sides.pop()


def test_every_venue_streams_liquidations_with_the_side_its_frames_and_the_market_say(tmp_path: Path) -> None:
    log = tmp_path / "frames.jsonl"

    async def main() -> list[Record]:
        server = await start_sim(seed=SEED, log_requests=str(log), stream_options=FAST)
        try:
            async with dtrack.AsyncClient(config=settings_for(server, tmp_path)) as dt:
                it = dt.stream(["liquidations", "quotes"], ASSETS)
                return await collect(it, each_venue_liquidated, missing, WAIT, close=True)
        finally:
            await server.stop()

    records = asyncio.run(main())
    assert [g for g in records if isinstance(g, Gap)] == []  # quiet liquidation channels are not stalls
    liquidations = [r for r in records if isinstance(r, Liquidation)]
    keys = [(r.instrument.venue, r.instrument.symbol, r.key) for r in liquidations]
    assert len(keys) == len(set(keys))  # OKX's backlog on subscribing included: no event handed on twice
    truth = LiquidationModel(MarketModel(SEED))
    for venue in LIQUIDATING:
        frames = sent_frames(log, venue)
        mine = [r for r in liquidations if r.instrument.venue == venue]
        assert mine, venue
        for rec in mine:
            assert rec.coverage is COVERAGE[venue] and rec.instrument.asset in ASSETS
            sent = sent_sides(venue, rec, frames)
            assert rec.side in sent, (venue, rec)
            if len(sent) == 1:  # (a Deribit trade flagged MT liquidated both parties: the model has the taker's)
                assert rec.side == model_side(truth, rec), (venue, rec)
            assert rec.usd > 0 and rec.base > 0 and rec.amount > 0
