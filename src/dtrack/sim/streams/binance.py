"""Simulated Binance futures market streams: USDⓈ-M at ``wss://fstream.binance.com/market/stream`` (WebSocket host
``fstream``) and COIN-M at ``wss://dstream.binance.com/stream`` (host ``dstream``), both combined-stream endpoints.

Streams: ``!markPrice@arr@1s`` / ``!markPrice@arr`` (every perpetual of the host in one array, each 1 s / 3 s) and
``<symbol>@markPrice@1s`` / ``<symbol>@markPrice`` (one perpetual or quarterly, lowercase symbol), pushed in the
combined envelope ``{"stream": name, "data": ...}``. A ``markPriceUpdate`` has the fields of the docs example
(``binance-usdm__ws_markPrice__docs.json``): ``e``, ``E``, ``s``, ``p``, ``i``, ``P``, ``r``, ``T``, taken from the
host's REST premiumIndex row of the same moment (``E`` is its ``time``), so stream and REST agree; a quarterly
shows ``"r": ""`` and ``"T": 0`` as the COIN-M docs do. Whether the COIN-M host serves ``!markPrice@arr`` is not in
Binance's COIN-M docs (they list per-symbol and per-pair streams only): the sim serves it, as dtrack's contract says.

Liquidations: ``!forceOrder@arr`` (every perpetual and quarterly of the host) and ``<symbol>@forceOrder``, one
``forceOrder`` event a frame (``{"e": "forceOrder", "E", "o": {"s", "ps" (COIN-M), "S", "o", "f", "q", "p", "ap",
"X", "l", "z", "T"}}``, the docs examples' fields) in the combined envelope. Sampled as Binance documents it: of the
liquidations of ``dtrack.sim.liquidations``, at most the latest of a symbol in each 1000 ms window (market time,
aligned on the second) is pushed once the window has closed, and only if it comes at least 1000 ms after the latest
of the window before (so no two pushed events of a symbol are less than 1000 ms apart); the others are never sent.
``S`` is the ORDER side (SELL closes a long), ``p`` the bankruptcy price, ``ap`` the fill, ``q`` in coins (USDⓈ-M)
or contracts (COIN-M). Only windows that start after the subscription are pushed.

Subscriptions: ``?streams=a/b`` on connect (names the sim does not serve are ignored), and the live methods
``SUBSCRIBE`` / ``UNSUBSCRIBE`` (``{"result": null, "id": N}``), ``LIST_SUBSCRIPTIONS``, ``GET_PROPERTY`` /
``SET_PROPERTY`` ``combined``. Errors as Binance sends them: a stream name that is not a served stream answers
``{"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": N}`` (and subscribes none of the request);
a non-integer id, an unknown method or bad JSON get the documented code 2 / 3 messages. A well-formed per-symbol
stream of a symbol the host does not list is accepted and stays silent, as Binance does.
Keep-alive: a ping frame every ``StreamOptions.ping_interval_s`` (3 min, payload the market time in ms); a
connection whose pong has not come ``pong_timeout_s`` (10 min) after a ping is closed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from dtrack.sim.liquidations import SAMPLE_MS, SimLiquidation, by_time, plain, quantity_step
from dtrack.sim.model import SimFuture, SimPerp
from dtrack.sim.server import SimHttpError
from dtrack.sim.streams import Connection, Protocol, StreamHub, dumps, loads
from dtrack.sim.venues.binance import Host, _on_tick, _pair, _tick, premium_row  # REST's rows, ticks and pairs

VENUE = "binance"
#: WebSocket host -> the REST host whose contracts it streams
REST_HOSTS = {"fstream": "usdm", "dstream": "coinm"}
ALL_MARKETS = "!markPrice@arr"
#: the ``@1s`` suffix: one push a second instead of every 3 s
FAST = "@1s"
_ONE_SYMBOL = re.compile(r"(?P<symbol>[a-z0-9_]+)@markPrice(?P<fast>@1s)?")
ALL_FORCE_ORDERS = "!forceOrder@arr"
_ONE_FORCE_ORDER = re.compile(r"(?P<symbol>[a-z0-9_]+)@forceOrder")
#: how often a forceOrder subscription looks for sampling windows that have closed (each pushed once)
FORCE_ORDER_CADENCE_S = 1.0
METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")


@dataclass(frozen=True, slots=True)
class MarkPriceStream:
    """A served stream name, parsed: every perpetual of the host or one symbol, and its cadence (seconds)."""

    name: str
    symbol: str | None  # None: every perpetual (``!markPrice@arr``)
    cadence_s: float


def parse_stream(name: Any) -> MarkPriceStream | None:
    """A mark-price stream name (``!markPrice@arr@1s``, ``btcusdt@markPrice``), None for any other."""
    if not isinstance(name, str):
        return None
    if name in (ALL_MARKETS, ALL_MARKETS + FAST):
        return MarkPriceStream(name, None, 1.0 if name.endswith(FAST) else 3.0)
    if (m := _ONE_SYMBOL.fullmatch(name)) is None:
        return None
    return MarkPriceStream(name, m["symbol"].upper(), 1.0 if m["fast"] else 3.0)


@dataclass(frozen=True, slots=True)
class ForceOrderStream:
    """A served liquidation stream: every contract of the host (``!forceOrder@arr``) or one symbol's."""

    name: str
    symbol: str | None


def parse_force_order(name: Any) -> ForceOrderStream | None:
    """A liquidation stream name (``!forceOrder@arr``, ``btcusdt@forceOrder``), None for any other."""
    if name == ALL_FORCE_ORDERS:
        return ForceOrderStream(name, None)
    if not isinstance(name, str) or (m := _ONE_FORCE_ORDER.fullmatch(name)) is None:
        return None
    return ForceOrderStream(name, m["symbol"].upper())


def force_order(host: Host, e: SimLiquidation, now_ms: int) -> dict[str, Any]:
    """A ``forceOrder`` event of one liquidation (the docs example's fields, in its order): ``S`` the ORDER side
    (SELL closes a long), ``p`` the order's price (the position's bankruptcy price), ``ap`` the average fill, ``q``
    = ``l`` = ``z`` the quantity (coins on USDⓈ-M, contracts on COIN-M, which adds the pair ``ps``), ``T`` the
    liquidation's time and ``E`` the push's."""
    tick, (_unit, lot) = _tick(host, e.contract), quantity_step(e.contract)
    qty = plain(e.qty, lot)
    order: dict[str, Any] = {"s": e.contract.symbol}
    if host.host == "coinm":
        order["ps"] = _pair(e.contract)
    order |= {"S": e.order_side.upper(), "o": "LIMIT", "f": "IOC", "q": qty, "p": _on_tick(e.bankruptcy, tick),
              "ap": _on_tick(e.price, tick), "X": "FILLED", "l": qty, "z": qty, "T": e.t_ms}
    return {"e": "forceOrder", "E": now_ms, "o": order}


def mark_price_update(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ``markPriceUpdate`` from a REST premiumIndex row (the docs example's fields, in its order)."""
    return {"e": "markPriceUpdate", "E": row["time"], "s": row["symbol"], "p": row["markPrice"],
            "i": row["indexPrice"], "P": row["estimatedSettlePrice"], "r": row["lastFundingRate"],
            "T": row["nextFundingTime"]}


def combined(stream: str, data: Any) -> dict[str, Any]:
    """The combined-stream envelope."""
    return {"stream": stream, "data": data}


def stream_payload(host: Host, stream: MarkPriceStream, now_ms: int) -> Any:
    """The data of one push of ``stream`` at ``now_ms``: the array of every perpetual's update, or one symbol's
    update (None when the host does not list the symbol)."""
    if stream.symbol is None:
        return [mark_price_update(premium_row(host, p, now_ms)) for p in host.perps]
    try:
        contract = host.contract(stream.symbol, now_ms, 0)
    except SimHttpError:
        return None
    return mark_price_update(premium_row(host, contract, now_ms))


def error(code: int, msg: str, request_id: Any) -> dict[str, Any]:
    """Binance's answer to a request it refuses."""
    return {"error": {"code": code, "msg": msg}, "id": request_id}


class BinanceProtocol(Protocol):
    """The combined market-stream endpoints of the USDⓈ-M and COIN-M hosts."""

    venue = VENUE
    hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {"fstream": ("/market/stream",), "dstream": ("/stream",)}

    def __init__(self, hub: StreamHub) -> None:
        super().__init__(hub)
        faults = hub.rest.routes.faults
        self.rest_hosts = {ws: Host(hub.rest.model, rest, faults=faults) for ws, rest in REST_HOSTS.items()}

    def opened(self, conn: Connection) -> None:
        """Subscribe the URL's ``streams``; start the ping frames."""
        for name in conn.query.get("streams", "").split("/"):
            if (stream := self._parse(name)) is not None:
                self._start(conn, stream)
        conn.every(conn.options.ping_interval_s, lambda: self._ping(conn))

    async def received(self, conn: Connection, text: str) -> None:
        """Answer one live-subscription request."""
        msg = loads(text)
        if not isinstance(msg, dict):
            await conn.reply(error(3, "Invalid JSON: expected value at line 1 column 1", None))
            return
        request_id = msg.get("id")
        if isinstance(request_id, bool) or not isinstance(request_id, int) or request_id < 0:
            await conn.reply(error(2, "Invalid request: request ID must be an unsigned integer", None))
            return
        method = msg.get("method")
        if method not in METHODS:
            await conn.reply(error(2, f"Invalid request: unknown variant `{method}`, expected one of "
                                      f"{', '.join(f'`{m}`' for m in METHODS)}", request_id))
            return
        await conn.reply(self._answer(conn, str(method), msg.get("params"), request_id))

    def _answer(self, conn: Connection, method: str, params: Any, request_id: int) -> dict[str, Any]:
        """The reply to a well-formed request (subscriptions start before it is sent: Binance acks them after)."""
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": conn.keys(), "id": request_id}
        if method in ("GET_PROPERTY", "SET_PROPERTY"):
            return {"result": True if method == "GET_PROPERTY" else None, "id": request_id}
        names = params if isinstance(params, list) else []
        streams = [self._parse(name) for name in names]
        if not names or None in streams:
            return error(2, "Invalid request: invalid stream", request_id)
        for stream in streams:
            if stream is not None:
                if method == "SUBSCRIBE":
                    self._start(conn, stream)
                else:
                    conn.unsubscribe(stream.name)
        return {"result": None, "id": request_id}

    @staticmethod
    def _parse(name: Any) -> MarkPriceStream | ForceOrderStream | None:
        return parse_stream(name) or parse_force_order(name)

    def _start(self, conn: Connection, stream: MarkPriceStream | ForceOrderStream) -> None:
        host = self.rest_hosts[conn.host]
        if isinstance(stream, ForceOrderStream):
            self._start_force_orders(conn, host, stream)
            return

        def build(now_ms: int) -> str | None:
            payload = stream_payload(host, stream, now_ms)
            return None if payload is None else dumps(combined(stream.name, payload))

        conn.subscribe(stream.name, stream.name, build, stream.cadence_s, first_now=False)

    def _start_force_orders(self, conn: Connection, host: Host, stream: ForceOrderStream) -> None:
        """Push, once each sampling window has closed, the sampled liquidations of its contracts (one frame each,
        in time order), from the first window that starts after the subscription."""
        liquidations = self.hub.liquidations
        start = [-(-self.rest.now_ms() // SAMPLE_MS) * SAMPLE_MS]

        def contracts(now_ms: int) -> list[SimPerp | SimFuture]:
            if stream.symbol is None:
                return [*host.perps, *host.futures(now_ms)]
            try:
                return [host.contract(stream.symbol, now_ms, 0)]
            except SimHttpError:
                return []

        def build(now_ms: int) -> list[str] | None:
            end = now_ms // SAMPLE_MS * SAMPLE_MS
            if end <= start[0]:
                return None
            found = by_time(e for c in contracts(now_ms) for e in liquidations.sampled(c, start[0], end))
            start[0] = end
            return [dumps(combined(stream.name, force_order(host, e, now_ms))) for e in found]

        conn.subscribe(stream.name, stream.name, build, FORCE_ORDER_CADENCE_S, first_now=False)

    async def _ping(self, conn: Connection) -> None:
        """A ping frame; a connection that left the previous one unanswered too long is closed."""
        if conn.stalled:
            return
        now = conn.clock()
        if conn.ping_due is not None and now - conn.ping_due > conn.options.pong_timeout_s:
            await conn.close()
            return
        if conn.ping_due is None:
            conn.ping_due = now
        await conn.ping(str(self.rest.now_ms()).encode())


PROTOCOL = BinanceProtocol
