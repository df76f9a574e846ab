"""Simulated Bybit v5 public streams: ``wss://stream.bybit.com/v5/public/linear`` and ``/v5/public/inverse``
(WebSocket host ``stream``), topic ``tickers.{symbol}``.

Each path serves its category's perpetuals and dated futures (``BTCUSDT``, ``BTCPERP``, ``BTCUSDT-29MAY26``,
``BTC-26JUN26`` on linear; ``BTCUSD``, ``BTCUSDH26`` on inverse). After the subscription ack comes a ``snapshot``
with every field, then every 100 ms a ``delta`` carrying ``symbol`` and only the fields that changed (none changed:
nothing is sent), as Bybit documents: ``{"topic", "type", "data", "cs", "ts"}``. The fields are those of the REST
tickers row at the same moment (``dtrack.sim.venues.bybit``) shaped as the WebSocket docs example
(``bybit__ws_tickers__docs.json``): ``tickDirection`` added (from the last-price moves), a perpetual without the
futures-only fields (basis, basisRate, basisRateYear, deliveryFeeRate, deliveryTime, predictedDeliveryPrice), a
future without ``fundingIntervalHour`` / ``fundingCap`` (and the pre-listing fields on USDC and inverse futures)
and with ``deliveryTime`` as a UTC datetime (``2025-12-26T08:00:00Z``).

Liquidations: ``allLiquidation.{symbol}`` (any listed perpetual or future of the category): every 500 ms a
``snapshot`` ``{"topic", "type", "ts", "data": [{"T", "s", "S", "v", "p"}]}`` with EVERY liquidation of the symbol
(``dtrack.sim.liquidations``) since the last push (none: nothing is sent), from the subscription on. ``S`` is the
POSITION side (``Buy``: a long was liquidated), ``v`` the size (coins on linear, USD contracts on inverse), ``p``
the bankruptcy price on the symbol's tick.

Messages as Bybit's linear/inverse docs show them: ``{"op": "subscribe", "args": [...], "req_id": ...}`` ->
``{"success": true, "ret_msg": "", "conn_id": ..., "req_id": ..., "op": "subscribe"}``; ``{"op": "ping"}`` ->
``{"success": true, "ret_msg": "pong", "conn_id": ..., "req_id": ..., "op": "ping"}``. A symbol the category does
not list answers ``"success": false`` with ``"ret_msg": "Invalid symbol :[tickers.X]"`` (as seen from Bybit; the
request's valid topics are still subscribed); another topic type answers ``error:handler not found,topic:...``
and a topic already subscribed ``error:already subscribed,topic:...`` (wording not confirmed from a capture).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from dtrack.sim.liquidations import SimLiquidation, plain, quantity_step
from dtrack.sim.model import MarketModel, SimFuture, SimPerp
from dtrack.sim.server import SimHttpError
from dtrack.sim.streams import Connection, Protocol, dumps, loads
from dtrack.sim.venues.bybit import tick_size

VENUE = "bybit"
REST_HOST = "rest"
TICKERS = "/v5/market/tickers"
TOPIC = "tickers."
CADENCE_S = 0.1
LIQUIDATION_TOPIC = "allLiquidation."
#: allLiquidation pushes every 500 ms every liquidation since the last push
LIQUIDATION_CADENCE_S = 0.5
#: REST tickers fields a perpetual's stream ticker does not carry (futures-only per the WebSocket docs)
FUTURES_ONLY = ("basis", "basisRate", "basisRateYear", "deliveryFeeRate", "deliveryTime", "predictedDeliveryPrice")
PERPETUAL_ONLY = ("fundingIntervalHour", "fundingCap")
#: pre-market fields, absent on USDC and inverse futures
PRE_LISTING = ("preOpenPrice", "preQty", "curPreListingPhase")


def is_future(row: Mapping[str, Any]) -> bool:
    """Whether a REST tickers row is a dated future's (it has a delivery time)."""
    return row.get("deliveryTime", "0") not in ("", "0")


def ws_ticker(row: Mapping[str, Any]) -> dict[str, Any]:
    """A REST tickers row (linear or inverse) shaped as the stream's ticker (``tickDirection`` aside)."""
    out = dict(row)
    if not is_future(row):
        dropped: tuple[str, ...] = FUTURES_ONLY
    else:
        usdt = "USDT-" in str(row["symbol"])
        dropped = PERPETUAL_ONLY if usdt else PERPETUAL_ONLY + PRE_LISTING
        when = datetime.fromtimestamp(int(row["deliveryTime"]) / 1000, UTC)
        out["deliveryTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    for key in dropped:
        out.pop(key, None)
    return out


def tick_direction(previous_last: str | None, last: str, previous: str | None) -> str:
    """Bybit's tick direction of a last-price move: PlusTick / MinusTick, or ZeroPlusTick / ZeroMinusTick when it
    did not move (after a rise / a fall)."""
    if previous_last is not None and float(last) != float(previous_last):
        return "PlusTick" if float(last) > float(previous_last) else "MinusTick"
    return "ZeroMinusTick" if previous in ("MinusTick", "ZeroMinusTick") else "ZeroPlusTick"


def liquidation_row(e: SimLiquidation) -> dict[str, Any]:
    """One ``allLiquidation`` data row: ``S`` the POSITION side (``Buy``: a long was liquidated), ``v`` the size
    (coins on linear, USD contracts on inverse), ``p`` the bankruptcy price."""
    return {"T": e.t_ms, "s": e.contract.symbol, "S": "Buy" if e.side == "long" else "Sell",
            "v": plain(e.qty, quantity_step(e.contract)[1]), "p": plain(e.bankruptcy, tick_size(e.contract))}


def delta(previous: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``current`` that differ from ``previous``, after ``symbol`` (always sent)."""
    return {"symbol": current["symbol"], **{k: v for k, v in current.items() if previous.get(k) != v}}


class TickerFeed:
    """One ``tickers.{symbol}`` subscription: the state the deltas are taken against."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.last: dict[str, Any] | None = None

    def next(self, row: Mapping[str, Any], now_ms: int) -> dict[str, Any] | None:
        """The message for the ticker ``row`` at ``now_ms``: the snapshot first, then deltas (None: no change)."""
        previous = self.last
        direction = tick_direction(None if previous is None else previous["lastPrice"], row["lastPrice"],
                                   None if previous is None else previous["tickDirection"])
        current = {"symbol": row["symbol"], "tickDirection": direction, **row}
        data = current if previous is None else delta(previous, current)
        if previous is not None and len(data) == 1:
            return None
        self.last = current
        return {"topic": self.topic, "type": "snapshot" if previous is None else "delta", "data": data,
                "cs": now_ms // 10, "ts": now_ms}


class BybitProtocol(Protocol):
    """The linear and inverse public endpoints."""

    venue = VENUE
    hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {"stream": ("/v5/public/linear", "/v5/public/inverse")}

    async def received(self, conn: Connection, text: str) -> None:
        """Answer ``ping``, ``subscribe`` and ``unsubscribe``."""
        msg = loads(text)
        if not isinstance(msg, dict):
            await conn.reply(self._ack(conn, "", "", False, "Invalid request"))
            return
        op, req_id = str(msg.get("op", "")), msg.get("req_id", "")
        raw_args = msg.get("args")
        args: list[Any] = raw_args if isinstance(raw_args, list) else []
        if op == "ping":
            await conn.reply(self._ack(conn, op, req_id, True, "pong"))
        elif op == "subscribe":
            await self._subscribe(conn, req_id, args)
        elif op == "unsubscribe":
            for topic in args:
                conn.unsubscribe(str(topic))
            await conn.reply(self._ack(conn, op, req_id, True, ""))
        else:
            await conn.reply(self._ack(conn, op, req_id, False, f"Invalid op: {op}"))

    @staticmethod
    def _ack(conn: Connection, op: str, req_id: Any, success: bool, ret_msg: str) -> dict[str, Any]:
        return {"success": success, "ret_msg": ret_msg, "conn_id": conn.id, "req_id": req_id, "op": op}

    async def _subscribe(self, conn: Connection, req_id: Any, topics: list[Any]) -> None:
        """Ack the request (naming the topics refused), then start the valid topics' feeds."""
        category = conn.path.rsplit("/", 1)[-1]
        valid: list[str] = []
        unknown: list[str] = []
        refused: list[str] = []
        for topic in map(str, topics):
            if not topic.startswith((TOPIC, LIQUIDATION_TOPIC)):
                refused.append(f"error:handler not found,topic:{topic}")
            elif conn.subscribed(topic) or topic in valid:
                refused.append(f"error:already subscribed,topic:{topic}")
            elif self._row(category, topic.partition(".")[2], self.rest.now_ms()) is None:
                unknown.append(topic)
            else:
                valid.append(topic)
        if unknown:
            refused.insert(0, f"Invalid symbol :[{','.join(unknown)}]")
        await conn.reply(self._ack(conn, "subscribe", req_id, not refused, "; ".join(refused)))
        for topic in valid:
            self._start(conn, category, topic)

    def _row(self, category: str, symbol: str, now_ms: int) -> dict[str, Any] | None:
        """The REST tickers row of one symbol of the category, None if the category does not list it."""
        try:
            answer = self.rest.answer(VENUE, REST_HOST, TICKERS, now_ms, {"category": category, "symbol": symbol})
        except SimHttpError:
            return None
        rows = answer["result"]["list"]
        return dict(rows[0]) if rows else None

    def _start(self, conn: Connection, category: str, topic: str) -> None:
        if topic.startswith(LIQUIDATION_TOPIC):
            self._start_liquidations(conn, topic)
            return
        feed = TickerFeed(topic)
        symbol = topic[len(TOPIC):]

        def build(now_ms: int) -> str | None:
            row = self._row(category, symbol, now_ms)
            if row is None:  # a dated future delivered under the subscription
                raise LookupError(topic)
            message = feed.next(ws_ticker(row), now_ms)
            return None if message is None else dumps(message)

        conn.subscribe(topic, topic, build, CADENCE_S, first_now=True)

    def _start_liquidations(self, conn: Connection, topic: str) -> None:
        """Every 500 ms, one ``snapshot`` with every liquidation of the symbol since the last push (none: nothing is
        sent), from the subscription on."""
        symbol = topic[len(LIQUIDATION_TOPIC):]
        model, liquidations = self.rest.model, self.hub.liquidations
        since = [self.rest.now_ms() + 1]  # events with since <= time <= now are new

        def build(now_ms: int) -> str | None:
            contract = contract_of(model, symbol, now_ms)
            if contract is None:  # a dated future delivered under the subscription
                raise LookupError(topic)
            found = liquidations.events(contract, since[0], now_ms + 1)
            since[0] = max(since[0], now_ms + 1)
            if not found:
                return None
            return dumps({"topic": topic, "type": "snapshot", "ts": now_ms,
                          "data": [liquidation_row(e) for e in found]})

        conn.subscribe(topic, topic, build, LIQUIDATION_CADENCE_S, first_now=False)


def contract_of(model: MarketModel, symbol: str, now_ms: int) -> SimPerp | SimFuture | None:
    """A Bybit perpetual or listed dated future by symbol."""
    return model.perp(VENUE, symbol) or model.future(VENUE, symbol, now_ms)


PROTOCOL = BybitProtocol
