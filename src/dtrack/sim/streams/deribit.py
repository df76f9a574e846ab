"""Simulated Deribit API v2 over WebSocket: ``wss://www.deribit.com/ws/api/v2`` (WebSocket host ``ws``), JSON-RPC
2.0, channel ``ticker.{instrument}.{interval}``.

``public/subscribe`` ``{"channels": [...]}`` answers the list of channels subscribed: ``ticker.<name>.100ms`` or
``.agg2`` of any instrument REST ``public/ticker`` knows (perpetuals and dated futures; options too). A channel it
cannot serve (an unknown instrument, another channel, or ``raw``, which Deribit keeps for authenticated connections)
is left out of the answer, as Deribit does. Every 100 ms a notification
``{"jsonrpc": "2.0", "method": "subscription", "params": {"channel", "data"}}`` carries the REST ticker of that
moment (``dtrack.sim.venues.deribit``), whose fields are the real capture's (``deribit__ws_ticker__capture.json``)
for an option and those of the perpetual ticker docs example for a perpetual or future.
Trades: ``trades.{instrument}.100ms`` (or ``.agg2``) of a perpetual or listed future: every 100 ms the trades since
the last notification (none: nothing is sent), from the subscription on, with the fields of Deribit's trade objects
(``trade_seq``, ``trade_id``, ``timestamp``, ``tick_direction``, ``price``, ``mark_price``, ``index_price``,
``instrument_name``, ``direction`` (the taker's side), ``amount`` (USD on inverse, coins on linear), ``contracts``).
The tape (``Tape``) has ``TRADES_PER_MINUTE`` trades a minute, ``trade_seq`` consecutive: the model's liquidations of
the contract (``dtrack.sim.liquidations``, every one) as trades with ``liquidation`` "T" (the taker was liquidated:
``direction`` is the liquidation order's side, sell for a long), "M" (the maker: ``direction`` the opposite) or "MT"
(both: one long and one short liquidated by the trade), the others ordinary trades around the mark.
Also served: ``public/unsubscribe``, ``public/unsubscribe_all``, ``public/test``, ``public/set_heartbeat``,
``public/disable_heartbeat``; another method answers -32601 ``Method not found``.

Keep-alive: after ``public/set_heartbeat`` ``{"interval": N}`` (N >= 10 seconds, x ``StreamOptions.heartbeat_scale``)
the server sends ``{"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}}`` every N seconds;
a connection that has not called ``public/test`` since the previous test_request is closed, as Deribit does.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from dtrack.sim.liquidations import BLOCK_MS, LiquidationModel, SimLiquidation, draws, pareto, quantity_step
from dtrack.sim.model import ASSETS, DAY_MS, MarketModel, SimFuture, SimPerp
from dtrack.sim.server import SimHttpError
from dtrack.sim.streams import Connection, Protocol, StreamHub, dumps, loads
from dtrack.sim.venues.deribit import (  # envelope: the usIn / usOut / usDiff / testnet fields of every answer
    PERPETUALS_LISTED_MS,
    _on_tick,
    _tick,
    envelope,
)

VENUE = "deribit"
REST_HOST = "rest"
TICKER = "/api/v2/public/ticker"
INTERVALS = ("100ms", "agg2")
CADENCE_S = 0.1
MIN_HEARTBEAT_S = 10
VERSION = "1.2.26"
#: trades of a perpetual or future a minute (liquidations among them), so that ``trade_seq`` counts on without gaps
TRADES_PER_MINUTE = 120
#: of the liquidation trades: the liquidated side was the taker ("T") below TAKER_ODDS, the maker ("M") below
#: MAKER_ODDS, both ("MT", a long and a short liquidated by one trade) above
TAKER_ODDS, MAKER_ODDS = 0.6, 0.95
#: the minute trade_seq counts from (the perpetuals' listing)
SEQ_EPOCH_MINUTE = PERPETUALS_LISTED_MS // BLOCK_MS
#: connection state: whether the last test_request is still unanswered, and the heartbeat timer
AWAITING_TEST = "awaiting_test"
HEARTBEAT = "heartbeat"


def ticker_instrument(channel: Any) -> str | None:
    """The instrument of a ``ticker.<instrument>.<interval>`` channel the sim can serve, else None."""
    if not isinstance(channel, str) or not channel.startswith("ticker."):
        return None
    name, _, interval = channel[len("ticker."):].rpartition(".")
    return name if name and interval in INTERVALS else None


def trades_instrument(channel: Any) -> str | None:
    """The instrument of a ``trades.<instrument>.<interval>`` channel (100ms or agg2), else None."""
    if not isinstance(channel, str) or not channel.startswith("trades."):
        return None
    name, _, interval = channel[len("trades."):].rpartition(".")
    return name if name and interval in INTERVALS else None


@dataclass(frozen=True, slots=True)
class TapeTrade:
    """One trade of a perpetual or future: ``amount`` in USD (inverse) or coins (linear), ``direction`` the
    taker's side, ``liquidation`` "T" / "M" / "MT" (who was liquidated) or None, ``seq`` its trade_seq."""

    t_ms: int
    price: float
    mark: float
    index: float
    amount: float
    direction: str
    liquidation: str | None
    seq: int
    trade_id: str


#: trade ids: trade_seq x ID_SPACE + the instrument's code (``instrument_code``), unique across instruments
ID_SPACE = 4096
_ASSET_CODES = {asset: i for i, asset in enumerate(ASSETS)}


def instrument_code(contract: SimPerp | SimFuture) -> int:
    """A number below ``ID_SPACE`` that no other Deribit perpetual or future listed at the same time has: a
    perpetual's place in the catalog, or a future's expiry day (within 900 days) and asset."""
    if isinstance(contract, SimPerp):
        return [p.symbol for p in MarketModel.perps(VENUE)].index(contract.symbol)
    return 16 + (contract.expiry_ms // DAY_MS % 900) * 4 + _ASSET_CODES[contract.asset] % 4


def liquidation_flag(e: SimLiquidation) -> str:
    """Who the liquidation trade of ``e`` liquidated: the taker ("T"), the maker ("M") or both ("MT")."""
    return "T" if e.draw < TAKER_ODDS else "M" if e.draw < MAKER_ODDS else "MT"


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


def trade_row(contract: SimPerp | SimFuture, trade: TapeTrade, tick_direction: int) -> dict[str, Any]:
    """A trade as Deribit sends it on ``trades.*`` (the fields of the trades docs example; ``liquidation`` only on
    a liquidation trade)."""
    row: dict[str, Any] = {
        "trade_seq": trade.seq, "trade_id": trade.trade_id, "timestamp": trade.t_ms, "tick_direction": tick_direction,
        "price": trade.price, "mark_price": trade.mark, "index_price": trade.index,
        "instrument_name": contract.symbol, "direction": trade.direction, "amount": _number(trade.amount),
        "contracts": _number(round(trade.amount / contract.contract_size, 8)),
    }
    if trade.liquidation is not None:
        row["liquidation"] = trade.liquidation
    return row


class Tape:
    """The trades of Deribit's perpetuals and futures: ``TRADES_PER_MINUTE`` a minute, the model's liquidations of
    the contract among them (``dtrack.sim.liquidations``), the others ordinary trades around the mark."""

    def __init__(self, liquidations: LiquidationModel) -> None:
        self.liquidations = liquidations
        self._minutes: dict[tuple[str, int], tuple[TapeTrade, ...]] = {}

    def minute(self, contract: SimPerp | SimFuture, minute: int) -> tuple[TapeTrade, ...]:
        """The trades of ``minute``, by time (trade_seq consecutive across minutes)."""
        key = (contract.symbol, minute)
        found = self._minutes.get(key)
        if found is not None:
            return found
        liq, tick = self.liquidations, _tick(contract)
        ratio = liq.ratio(contract, minute)
        _unit, lot = quantity_step(contract)
        rows: list[tuple[int, int, float, float, str, str | None]] = []  # time, order, price, amount, direction, flag
        events = liq.minute_events(contract, minute)[:TRADES_PER_MINUTE]
        for e in events:
            who = liquidation_flag(e)
            direction = e.order_side if who != "M" else ("buy" if e.order_side == "sell" else "sell")
            rows.append((e.t_ms, 0, _on_tick(e.price, tick), e.qty, direction, who))
        count = TRADES_PER_MINUTE - len(events)
        d = draws(3 * count, liq.seed, "tape", contract.symbol, minute)
        for i in range(count):
            at, side, size = d[3 * i: 3 * i + 3]
            t = minute * BLOCK_MS + int(at * BLOCK_MS)
            mark = liq.path_price(contract.asset, t) * ratio
            buy = side < 0.5
            price = _on_tick(mark + (tick if buy else -tick) * 0.5, tick)
            rows.append((t, 1, price, lot * max(1, round(2 * pareto(size))), "buy" if buy else "sell", None))
        rows.sort()
        code = instrument_code(contract)
        first = (minute - SEQ_EPOCH_MINUTE) * TRADES_PER_MINUTE
        out = []
        for rank, (t, _order, price, amount, direction, flag) in enumerate(rows):
            index = liq.path_price(contract.asset, t)
            seq = first + rank + 1
            out.append(TapeTrade(t, price, index * ratio, index, round(amount, 10), direction, flag, seq,
                                 str(seq * ID_SPACE + code)))
        if len(self._minutes) > 4096:
            self._minutes.clear()
        self._minutes[key] = found = tuple(out)
        return found

    def trades(self, contract: SimPerp | SimFuture, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """The trade rows with ``start_ms <= timestamp < end_ms``, by time, with their tick directions (against
        the trades before, this minute's and the last minute's)."""
        out: list[dict[str, Any]] = []
        for minute in range(start_ms // BLOCK_MS, (end_ms - 1) // BLOCK_MS + 1):
            tape = self.minute(contract, minute)
            times = [t.t_ms for t in tape]
            lo, hi = bisect.bisect_left(times, start_ms), bisect.bisect_left(times, end_ms)
            if lo == hi:
                continue
            before = [*self.minute(contract, minute - 1), *tape[:lo]]
            for trade in tape[lo:hi]:
                out.append(trade_row(contract, trade, tick_direction(before, trade.price)))
                before.append(trade)
        return out


def tick_direction(before: list[TapeTrade], price: float) -> int:
    """Deribit's tick direction: 0 plus tick, 1 zero-plus, 2 minus, 3 zero-minus (against the last different
    price among ``before``; 1 when there is none)."""
    last = before[-1].price if before else price
    if price > last:
        return 0
    if price < last:
        return 2
    moved = next((t.price for t in reversed(before) if t.price != price), None)
    return 1 if moved is None or moved < price else 3


def notification(channel: str, data: Any) -> dict[str, Any]:
    """A subscription notification."""
    return {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}


def test_request() -> dict[str, Any]:
    """The heartbeat message asking the client to call ``public/test``."""
    return {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}}


def result(request_id: Any, value: Any, now_ms: int) -> dict[str, Any]:
    """A JSON-RPC success answer."""
    return {"jsonrpc": "2.0", "id": request_id, "result": value, **envelope(now_ms)}


def failure(request_id: Any, code: int, message: str, now_ms: int, data: Any = None) -> dict[str, Any]:
    """A JSON-RPC error answer (``data``: Deribit's ``{reason, param}`` where it gives one)."""
    error: dict[str, Any] = {"message": message, "code": code} | ({"data": data} if data is not None else {})
    return {"jsonrpc": "2.0", "id": request_id, "error": error, **envelope(now_ms)}


class DeribitProtocol(Protocol):
    """The JSON-RPC endpoint: subscriptions, test and heartbeats."""

    venue = VENUE
    hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {"ws": ("/ws/api/v2",)}

    def __init__(self, hub: StreamHub) -> None:
        super().__init__(hub)
        self.tape = Tape(hub.liquidations)

    async def received(self, conn: Connection, text: str) -> None:
        """Answer one JSON-RPC request."""
        msg, now = loads(text), self.rest.now_ms()
        if not isinstance(msg, dict) or not isinstance(msg.get("method"), str):
            await conn.reply(failure(msg.get("id") if isinstance(msg, dict) else None, -32700, "Parse error", now))
            return
        request_id, method = msg.get("id"), msg["method"]
        raw_params = msg.get("params")
        params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
        if method == "public/subscribe":
            channels = [c for c in params.get("channels", [])
                        if self._ticker(c, now) is not None or self._traded(c, now) is not None]
            await conn.reply(result(request_id, channels, now))
            for channel in channels:
                self._start(conn, channel)
        elif method in ("public/unsubscribe", "public/unsubscribe_all"):
            asked = conn.keys() if method.endswith("_all") else params.get("channels", [])
            gone = [c for c in asked if isinstance(c, str) and conn.unsubscribe(c)]
            await conn.reply(result(request_id, "ok" if method.endswith("_all") else gone, now))
        elif method == "public/test":
            conn.state[AWAITING_TEST] = False
            await conn.reply(result(request_id, {"version": VERSION}, now))
        elif method == "public/set_heartbeat":
            await conn.reply(self._set_heartbeat(conn, request_id, params.get("interval"), now))
        elif method == "public/disable_heartbeat":
            self._stop_heartbeat(conn)
            await conn.reply(result(request_id, "ok", now))
        else:
            await conn.reply(failure(request_id, -32601, "Method not found", now))

    def _ticker(self, channel: Any, now_ms: int) -> dict[str, Any] | None:
        """The REST ticker of a served channel's instrument at ``now_ms``, None if the channel is not served."""
        name = ticker_instrument(channel)
        if name is None:
            return None
        try:
            answer = self.rest.answer(VENUE, REST_HOST, TICKER, now_ms, {"instrument_name": name})
        except SimHttpError:
            return None
        return dict(answer["result"])

    def _traded(self, channel: Any, now_ms: int) -> SimPerp | SimFuture | None:
        """The perpetual or listed future of a served ``trades.*`` channel, else None."""
        name = trades_instrument(channel)
        return None if name is None else contract_of(self.rest.model, name, now_ms)

    def _start(self, conn: Connection, channel: str) -> None:
        if trades_instrument(channel) is not None:
            self._start_trades(conn, channel)
            return

        def build(now_ms: int) -> str | None:
            data = self._ticker(channel, now_ms)
            if data is None:  # a dated future expired under the subscription
                raise LookupError(channel)
            return dumps(notification(channel, data))

        conn.subscribe(channel, channel, build, CADENCE_S, first_now=False)

    def _start_trades(self, conn: Connection, channel: str) -> None:
        """Every 100 ms, the trades since the last notification (none: nothing is sent), from the subscription on."""
        since = [self.rest.now_ms() + 1]

        def build(now_ms: int) -> str | None:
            contract = self._traded(channel, now_ms)
            if contract is None:  # a future expired under the subscription
                raise LookupError(channel)
            data = self.tape.trades(contract, since[0], now_ms + 1)
            since[0] = max(since[0], now_ms + 1)
            return dumps(notification(channel, data)) if data else None

        conn.subscribe(channel, channel, build, CADENCE_S, first_now=False)

    def _set_heartbeat(self, conn: Connection, request_id: Any, interval: Any, now_ms: int) -> dict[str, Any]:
        """Start the test_request heartbeats (replacing any running), or refuse an interval under 10 s."""
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < MIN_HEARTBEAT_S:
            return failure(request_id, -32602, "Invalid params", now_ms,
                           {"reason": f"must be a number >= {MIN_HEARTBEAT_S}", "param": "interval"})
        self._stop_heartbeat(conn)
        conn.state[AWAITING_TEST] = False
        conn.state[HEARTBEAT] = conn.every(interval * conn.options.heartbeat_scale, lambda: self._beat(conn))
        return result(request_id, "ok", now_ms)

    @staticmethod
    def _stop_heartbeat(conn: Connection) -> None:
        timer = conn.state.pop(HEARTBEAT, None)
        if timer is not None:
            timer.cancel()

    @staticmethod
    async def _beat(conn: Connection) -> None:
        """One heartbeat: close a connection that left the last test_request unanswered, else ask again."""
        if conn.stalled:
            return
        if conn.state.get(AWAITING_TEST):
            await conn.close()
            return
        conn.state[AWAITING_TEST] = True
        await conn.reply(test_request())


def contract_of(model: MarketModel, name: str, now_ms: int) -> SimPerp | SimFuture | None:
    """A Deribit perpetual or listed future by instrument name."""
    return model.perp(VENUE, name) or model.future(VENUE, name, now_ms)


PROTOCOL = DeribitProtocol
