"""Measure stream parsing: messages per second one core turns into records, per venue.

Usage: python benchmarks/bench_ws_parse.py [--seconds 2] [--kinds funding,open_interest,quotes,liquidations]

What is timed is ``StreamProtocol.handle(text, received_at)``, the hot path of ``dtrack.net.ws``: ``json.loads`` of
one single-instrument ticker frame, the instrument lookup, the record(s) built and held to the plausibility rules
(``venues.plausible``), in a ``Frame``. No socket: the figure is the parser's ceiling, not the network's. Each
venue's frame is its real shape (the rows of the payloads the parser tests read; Bybit also as a delta carrying
a new mark and last price, the bulk of its traffic), 1,000 variants with shifted prices and times cycled so
that nothing is parsed twice in a row. Kinds: every kind the venue streams unless ``--kinds`` narrows them.

Liquidation frames (kind ``liquidations``): each venue's documented sample in its channel's envelope (Binance
``!forceOrder@arr``, also of a symbol not asked, which the market-wide stream mostly carries; Bybit
``allLiquidation``; OKX ``liquidation-orders``; Deribit ``trades`` with one trade flagged ``T``, and ``MT``: two
records), 1,000 variants with shifted prices, sizes and times. OKX remembers the keys it handed on (a backlog
re-pushed is not handed on again): its memory is cleared after each pass over the variants, so every frame is
read as news (the clearing is timed too).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dtrack.net.ws import StreamProtocol
from dtrack.records import DataKind, FundingRate, Instrument, Kind, Margin, Unit
from dtrack.venues.binance.stream import MarkPriceStream
from dtrack.venues.bybit.stream import TickerStream as BybitTickers
from dtrack.venues.deribit.stream import TickerStream as DeribitTickers
from dtrack.venues.hyperliquid.stream import AssetCtxStream
from dtrack.venues.okx.stream import PublicStream
from dtrack.venues.streaming import TICKER_KINDS

PAYLOADS = Path(__file__).resolve().parents[1] / "tests" / "payloads"
VARIANTS = 1000
T0 = 1_796_110_400_000  # 2026-12-01


def raw(name: str, index: int = 0) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))["cases"][index]["raw"]


def inst(venue: str, symbol: str, *, quote: str = "USDT", margin: Margin = Margin.LINEAR, market: str = "",
         size: float = 1.0, unit: Unit = Unit.BASE) -> Instrument:
    return Instrument(venue=venue, symbol=symbol, asset="BTC", quote=quote, settle=quote, kind=Kind.PERP,
                      margin=margin, contract_size=size, contract_unit=unit, market=market)


def terms(i: Instrument, hours: float) -> dict[str, FundingRate]:
    return {i.symbol: FundingRate(instrument=i, rate=0.0, interval_hours=hours, interval_source="REST",
                                  time=None, received_at=datetime(2026, 12, 1, tzinfo=UTC))}


def shifted(k: int) -> tuple[int, str]:
    """The k-th variant's time (ms) and a price that moves with it."""
    return T0 + 100 * k, f"{90000 + k * 0.5:.1f}"


def binance(kinds: frozenset[DataKind]) -> tuple[StreamProtocol, list[str]]:
    i = inst("binance", "BTCUSDT", market="usdm")
    update = raw("binance-usdm__ws_markPrice__docs.json")
    frames = []
    for k in range(VARIANTS):
        t, px = shifted(k)
        frames.append(json.dumps({"stream": "!markPrice@arr@1s", "data": [
            {**update, "E": t, "p": px, "T": T0 - T0 % 28_800_000 + 28_800_000}]}, separators=(",", ":")))
    return MarkPriceStream("usdm", [i], terms(i, 8.0), kinds), frames


def bybit(kinds: frozenset[DataKind], delta: bool) -> tuple[StreamProtocol, list[str]]:
    i = inst("bybit", "BTCUSDT", market="linear")
    snap = raw("bybit__ws_tickers__docs.json")
    p = BybitTickers("linear", [i], {}, kinds)
    p.handle(json.dumps({**snap, "ts": T0}), datetime.now(UTC))
    frames = []
    for k in range(VARIANTS):
        t, px = shifted(k)
        if delta:
            msg = {"topic": "tickers.BTCUSDT", "type": "delta", "data": {"symbol": "BTCUSDT", "markPrice": px,
                                                                         "lastPrice": px}, "cs": k, "ts": t}
        else:
            msg = {**snap, "ts": t, "data": {**snap["data"], "markPrice": px}}
        frames.append(json.dumps(msg, separators=(",", ":")))
    return p, frames


def okx(kinds: frozenset[DataKind]) -> tuple[StreamProtocol, list[str]]:
    i = inst("okx", "BTC-USDT-SWAP", market="SWAP", size=0.01)
    p = PublicStream([i], kinds)
    oi_row = raw("okx__ccxt_fetchOpenInterest.json")["data"][0]
    frames = []
    for k in range(VARIANTS):
        t, px = shifted(k)
        if k % 3 == 0:
            msg = {"arg": {"channel": "mark-price", "instId": i.symbol},
                   "data": [{"instType": "SWAP", "instId": i.symbol, "markPx": px, "ts": str(t)}]}
        elif k % 3 == 1:
            msg = {"arg": {"channel": "open-interest", "instId": i.symbol}, "data": [{**oi_row, "ts": str(t)}]}
        else:  # the documented funding-rate fields (no capture of this channel exists)
            settle = T0 - T0 % 28_800_000 + 28_800_000
            msg = {"arg": {"channel": "funding-rate", "instId": i.symbol}, "data": [{
                "instType": "SWAP", "instId": i.symbol, "fundingRate": "0.0001", "nextFundingRate": "",
                "fundingTime": str(settle), "nextFundingTime": str(settle + 28_800_000), "minFundingRate": "-0.00375",
                "maxFundingRate": "0.00375", "method": "current_period", "ts": str(t)}]}
        frames.append(json.dumps(msg, separators=(",", ":")))
    return p, frames


def deribit(kinds: frozenset[DataKind]) -> tuple[StreamProtocol, list[str]]:
    i = inst("deribit", "BTC-PERPETUAL", quote="USD", margin=Margin.INVERSE, market="BTC", size=10.0, unit=Unit.USD)
    row = raw("deribit__rest_ticker__docs.json")["result"]
    p = DeribitTickers([i], kinds)
    frames = []
    for k in range(VARIANTS):
        t, px = shifted(k)
        data = {**row, "timestamp": t, "mark_price": float(px)}
        frames.append(json.dumps({"jsonrpc": "2.0", "method": "subscription",
                                  "params": {"channel": p.channels[0], "data": data}}, separators=(",", ":")))
    return p, frames


def hyperliquid(kinds: frozenset[DataKind]) -> tuple[StreamProtocol, list[str]]:
    meta, ctxs = raw("hyperliquid__rest_info_metaAndAssetCtxs__docs.json")
    coin = meta["universe"][0]["name"]
    i = Instrument(venue="hyperliquid", symbol=coin, asset=coin, quote="USDC", settle="USDC", kind=Kind.PERP,
                   margin=Margin.LINEAR)
    p = AssetCtxStream([i], {}, kinds)
    frames = []
    for k in range(VARIANTS):
        _, px = shifted(k)
        msg = {"channel": "activeAssetCtx", "data": {"coin": coin, "ctx": {**ctxs[0], "markPx": px}}}
        frames.append(json.dumps(msg, separators=(",", ":")))
    return p, frames


LIQ = frozenset({DataKind.LIQUIDATIONS})


def binance_liquidations(watched: bool) -> tuple[StreamProtocol, list[str]]:
    asked = "BTCUSDT" if watched else "ETHUSDT"
    p = MarkPriceStream("usdm", [inst("binance", asked, market="usdm")], {}, LIQ)
    event = raw("binance-usdm__ws_forceOrder__docs.json")
    frames = []
    for k in range(VARIANTS):
        t, px = shifted(k)
        order = {**event["o"], "ap": px, "z": f"{0.001 * (k + 1):.3f}", "T": t}
        frames.append(json.dumps({"stream": "!forceOrder@arr", "data": {**event, "E": t + 1, "o": order}},
                                 separators=(",", ":")))
    return p, frames


def bybit_liquidations() -> tuple[StreamProtocol, list[str]]:
    msg = raw("bybit__ws_allLiquidation__docs.json")
    p = BybitTickers("linear", [inst("bybit", "ROSEUSDT", market="linear")], {}, LIQ)
    frames = []
    for k in range(VARIANTS):
        t, _ = shifted(k)
        row = {**msg["data"][0], "T": t, "v": str(20000 + k), "S": "Buy" if k % 2 else "Sell"}
        frames.append(json.dumps({**msg, "ts": t + 200, "data": [row]}, separators=(",", ":")))
    return p, frames


def okx_liquidations() -> tuple[StreamProtocol, list[str]]:
    msg = raw("okx__ws_liquidation_orders__docs.json")
    p = PublicStream([inst("okx", "IOST-USDT-SWAP", market="SWAP", size=1000.0)], LIQ)
    row = msg["data"][0]
    frames = []
    for k in range(VARIANTS):
        t, _ = shifted(k)
        detail = {**row["details"][0], "ts": str(t), "sz": str(13 + k)}
        frames.append(json.dumps({**msg, "data": [{**row, "details": [detail]}]}, separators=(",", ":")))
    return p, frames


def deribit_liquidations(flag: str) -> tuple[StreamProtocol, list[str]]:
    i = inst("deribit", "BTC-PERPETUAL", quote="USD", margin=Margin.INVERSE, market="BTC", size=10.0, unit=Unit.USD)
    trade = raw("deribit__ws_user_trades__docs.json")["data"][0]
    p = DeribitTickers([i], LIQ)
    frames = []
    for k in range(VARIANTS):
        t, px = shifted(k)
        row = {**trade, "trade_id": str(48079254 + k), "timestamp": t, "price": float(px), "liquidation": flag}
        frames.append(json.dumps({"jsonrpc": "2.0", "method": "subscription",
                                  "params": {"channel": p.channels[0], "data": [row]}}, separators=(",", ":")))
    return p, frames


def rate(protocol: StreamProtocol, frames: list[str], seconds: float) -> tuple[float, float]:
    """Messages per second over about ``seconds``, and records per message."""
    received = datetime(2026, 12, 1, 12, tzinfo=UTC)
    handle = protocol.handle
    seen = getattr(protocol, "seen", None)  # OKX's memory of the liquidations it handed on
    forget = seen.clear if seen is not None else (lambda: None)
    records = sum(len(handle(f, received).records) for f in frames)  # warm-up, and a check that it parses
    forget()
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for f in frames:
            handle(f, received)
        forget()
        n += len(frames)
    return n / elapsed, records / len(frames)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--kinds", default="funding,open_interest,quotes,liquidations")
    args = ap.parse_args()
    kinds = frozenset(DataKind(k.strip()) for k in args.kinds.split(","))
    asked = kinds & frozenset(TICKER_KINDS)
    cases: list[tuple[str, Callable[[], tuple[StreamProtocol, list[str]]]]] = []
    if asked:
        cases += [
            ("binance !markPrice@arr@1s (1 symbol)", lambda: binance(asked)),
            ("bybit tickers snapshot", lambda: bybit(asked, delta=False)),
            ("bybit tickers delta (mark + last)", lambda: bybit(asked, delta=True)),
            ("okx mark-price / open-interest / funding", lambda: okx(asked)),
            ("deribit ticker.BTC-PERPETUAL.100ms", lambda: deribit(asked)),
            ("hyperliquid activeAssetCtx", lambda: hyperliquid(asked)),
        ]
    if DataKind.LIQUIDATIONS in kinds:
        cases += [
            ("binance !forceOrder@arr (asked symbol)", lambda: binance_liquidations(watched=True)),
            ("binance !forceOrder@arr (other symbol)", lambda: binance_liquidations(watched=False)),
            ("bybit allLiquidation.{symbol}", bybit_liquidations),
            ("okx liquidation-orders (SWAP)", okx_liquidations),
            ("deribit trades flagged T", lambda: deribit_liquidations("T")),
            ("deribit trades flagged MT (2 events)", lambda: deribit_liquidations("MT")),
        ]
    print(f"kinds: {', '.join(sorted(k.value for k in kinds))}; one core; {args.seconds:g} s per case")
    for label, make in cases:
        protocol, frames = make()
        per_s, per_msg = rate(protocol, frames, args.seconds)
        size = sum(map(len, frames)) / len(frames)
        print(f"{label:40s} {per_s:>10,.0f} msg/s  {per_msg:.1f} records/msg  {size:,.0f} bytes/msg")


if __name__ == "__main__":
    main()
