"""Simulated dYdX v4 indexer WebSocket (the ``socks`` service): ``wss://indexer.dydx.trade/v4/ws`` (WebSocket host
``ws``), channel ``v4_trades`` per market, in the indexer's message formats (dydxprotocol/v4-chain@84d4664b
``indexer/services/socks``: ``helpers/message.ts``, ``websocket/index.ts``, ``lib/subscription.ts``; trade rows:
ender ``TradeContent``, comlink trades controller).

On connecting: ``{"type": "connected", "connection_id", "message_id": 0}``. A client message
``{"type": "subscribe", "channel": "v4_trades", "id": "BTC-USD"[, "batched": true]}`` is answered with
``{"type": "subscribed", "connection_id", "message_id", "channel", "id", "contents": {"trades": [...]}}``, whose
contents are what ``GET /v4/trades/perpetualMarket/{ticker}`` answers: the market's latest ``BACKLOG`` trades, newest
first, with ``createdAtHeight`` (a BACKLOG: earlier subscribers had them live). Then, as blocks pass, one
``{"type": "channel_data", "connection_id", "message_id", "id", "channel", "version": "2.1.0", "contents":
{"trades": [...]}}`` per block holding trades of the market (``{id, size, price, side, createdAt, type}``, in block
order), or with ``batched`` one ``channel_batch_data`` per push whose ``contents`` lists them. The pushes look for new
trades every ``CADENCE_S``. ``unsubscribe`` -> ``unsubscribed``; ``{"type": "ping"}`` gets no answer (as the indexer
since 2024). Errors ``{"type": "error", "message", "connection_id", "message_id"[, "channel", "id"]}`` with the
indexer's texts: not JSON, no type, an unknown type, no channel, an unknown channel, no id, an unknown market
(``Invalid subscription id for channel: (v4_trades-XYZ)``), a subscription already held, more than
``PER_CONNECTION`` of them. The other channels (``v4_orderbook``, ``v4_markets`` ...) are not simulated: a
subscription gets the indexer's initial-fetch error naming channel and id.

Keep-alive: a WebSocket PING every ``HEARTBEAT_S`` (30 s, socks ``WS_HEARTBEAT_INTERVAL_MS``) x the stream options'
``heartbeat_scale``; a connection whose PONG has not come ``PONG_TIMEOUT_S`` (10 s, x the scale) later is closed
with code 1011 ("Heartbeat timeout").

The trades (``Tape``): per market and minute, the model's liquidations of the contract (``dtrack.sim.liquidations``:
every event, dYdX publishing every fill) as type ``LIQUIDATED`` trades — ``side`` the liquidation order's, SELL for a
long — plus ``TRADES_PER_MINUTE`` ordinary ``LIMIT`` trades around the mark. Sizes on the market's step (at least
one), prices on its tick, ``createdAt`` the event's millisecond, ids the fill event id (block height, transaction
and event index, hex) unique across markets. The frame log names every data frame (the ``subscribed`` backlog
included) by channel ``v4_trades``; a frame's ``id`` is its market.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import WSCloseCode

from dtrack.sim.liquidations import BLOCK_MS, LiquidationModel, draws, pareto, plain
from dtrack.sim.model import SimPerp
from dtrack.sim.streams import Connection, Protocol, StreamHub, dumps, loads
from dtrack.sim.venues.dydx import _SPECS, _height, iso

VENUE = "dydx"
CHANNEL = "v4_trades"
#: every channel the indexer has (``Channel`` of socks ``types.ts``); only v4_trades is simulated
ALL_CHANNELS = ("v4_orderbook", "v4_subaccounts", "v4_trades", "v4_markets", "v4_candles", "v4_parent_subaccounts",
                "v4_block_height")
#: the trades messages' ``version`` (indexer/packages/kafka ``TRADES_WEBSOCKET_MESSAGE_VERSION``)
VERSION = "2.1.0"
#: v4_trades subscriptions a connection may hold (socks ``V4_TRADES_CHANNEL_LIMIT``)
PER_CONNECTION = 32
#: seconds between two looks for new trades (about a block)
CADENCE_S = 1.0
#: trades the ``subscribed`` message repeats: the REST answer without ``limit``, whose default is comlink's
#: ``API_LIMIT_V4`` (1,000)
BACKLOG = 1000
#: ordinary (LIMIT) trades of a market a minute, beside its liquidations
TRADES_PER_MINUTE = 30
#: server pings and how long a PONG may take (socks ``WS_HEARTBEAT_INTERVAL_MS``, ``WS_HEARTBEAT_TIMEOUT_MS``)
HEARTBEAT_S, PONG_TIMEOUT_S = 30.0, 10.0
#: how far back the backlog looks for trades (minutes)
BACKLOG_MINUTES = 240
MESSAGE_ID = "message_id"
SUBSCRIPTIONS = "subscriptions"


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade of a market: ``side`` the taker's order side (BUY / SELL), ``kind`` LIMIT or LIQUIDATED, ``size``
    and ``price`` as the indexer writes them."""

    t_ms: int
    trade_id: str
    side: str
    size: str
    price: str
    kind: str
    height: str

    def row(self) -> dict[str, Any]:
        """The REST row (``/v4/trades/perpetualMarket``; the ``subscribed`` backlog), in the real answer's order."""
        return {"id": self.trade_id, "side": self.side, "size": self.size, "price": self.price, "type": self.kind,
                "createdAt": iso(self.t_ms), "createdAtHeight": self.height}

    def content(self) -> dict[str, Any]:
        """The ``v4_trades`` message row (ender ``TradeContent``)."""
        return {"id": self.trade_id, "size": self.size, "price": self.price, "side": self.side,
                "createdAt": iso(self.t_ms), "type": self.kind}


class Tape:
    """The trades of dYdX's markets, per minute (cached): the model's liquidations and ordinary trades."""

    def __init__(self, liquidations: LiquidationModel) -> None:
        self.liquidations = liquidations
        self._minutes: dict[tuple[str, int], tuple[Trade, ...]] = {}

    def minute(self, perp: SimPerp, minute: int) -> tuple[Trade, ...]:
        """The trades of ``minute``, by time."""
        key = (perp.symbol, minute)
        found = self._minutes.get(key)
        if found is not None:
            return found
        liq = self.liquidations
        clob, tick, places, *_rest = _SPECS[perp.symbol]
        step = 10.0 ** -places
        rows: list[tuple[int, int, float, float, str, str]] = []  # time, order, price, size, side, type
        for e in liq.minute_events(perp, minute):
            rows.append((e.t_ms, 0, e.price, e.base, "SELL" if e.side == "long" else "BUY", "LIQUIDATED"))
        ratio = liq.ratio(perp, minute)
        d = draws(3 * TRADES_PER_MINUTE, liq.seed, "dydx-tape", perp.symbol, minute)
        for i in range(TRADES_PER_MINUTE):
            at, side_u, size_u = d[3 * i: 3 * i + 3]
            t = minute * BLOCK_MS + int(at * BLOCK_MS)
            buy = side_u < 0.5
            price = liq.path_price(perp.asset, t) * ratio + (tick if buy else -tick) * 0.5
            usd = 500.0 * pareto(size_u)
            rows.append((t, 1, price, usd / price, "BUY" if buy else "SELL", "LIMIT"))
        rows.sort()
        out = []
        for rank, (t, _order, price, size, side, kind) in enumerate(rows):
            height = int(_height(t))
            event = (minute % 65_536) * 4096 + rank
            out.append(Trade(t, f"{height:08x}{int(clob) + 2:08x}{event:08x}", side, plain(max(size, step), step),
                             plain(price, tick), kind, str(height)))
        if len(self._minutes) > 4096:
            self._minutes.clear()
        self._minutes[key] = found = tuple(out)
        return found

    def trades(self, perp: SimPerp, start_ms: int, end_ms: int) -> list[Trade]:
        """The trades with ``start_ms <= time < end_ms``, by time."""
        out: list[Trade] = []
        for minute in range(start_ms // BLOCK_MS, (end_ms - 1) // BLOCK_MS + 1):
            out += [t for t in self.minute(perp, minute) if start_ms <= t.t_ms < end_ms]
        return out

    def latest(self, perp: SimPerp, before_ms: int, count: int) -> list[Trade]:
        """The latest ``count`` trades before ``before_ms``, newest first (what REST answers)."""
        out: list[Trade] = []
        minute = (before_ms - 1) // BLOCK_MS
        while len(out) < count and minute > (before_ms - 1) // BLOCK_MS - BACKLOG_MINUTES:
            out += reversed([t for t in self.minute(perp, minute) if t.t_ms < before_ms])
            minute -= 1
        return out[:count]


def by_block(trades: list[Trade]) -> list[list[Trade]]:
    """Trades (by time) grouped by block: what ender publishes as one message per market."""
    out: list[list[Trade]] = []
    for t in trades:
        if out and out[-1][-1].height == t.height:
            out[-1].append(t)
        else:
            out.append([t])
    return out


class DydxProtocol(Protocol):
    """The socks endpoint: ``v4_trades`` subscriptions and the server's heartbeat."""

    venue = VENUE
    hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {"ws": ("/v4/ws",)}

    def __init__(self, hub: StreamHub) -> None:
        super().__init__(hub)
        self.tape = Tape(hub.liquidations)

    def opened(self, conn: Connection) -> None:
        """Say ``connected``; start the heartbeat."""
        conn.state[MESSAGE_ID] = 0
        conn.state[SUBSCRIPTIONS] = set()
        # sent before any answer: the task runs before the server reads the client's first message
        conn.state["hello"] = asyncio.get_running_loop().create_task(
            conn.reply(self._message(conn, "connected", first=True)))
        scale = conn.options.heartbeat_scale
        conn.every((HEARTBEAT_S - PONG_TIMEOUT_S) * scale, lambda: self._beat(conn, PONG_TIMEOUT_S * scale))

    @staticmethod
    def _message(conn: Connection, kind: str, first: bool = False, **fields: Any) -> dict[str, Any]:
        """A message of ``kind`` with the connection's id and the next message id."""
        if not first:
            conn.state[MESSAGE_ID] = conn.state.get(MESSAGE_ID, 0) + 1
        return {"type": kind, "connection_id": conn.id, "message_id": conn.state.get(MESSAGE_ID, 0), **fields}

    async def _error(self, conn: Connection, message: str, **where: Any) -> None:
        await conn.reply({"type": "error", "message": message, "connection_id": conn.id,
                          "message_id": conn.state.get(MESSAGE_ID, 0), **where})

    async def received(self, conn: Connection, text: str) -> None:
        """Answer ``subscribe``, ``unsubscribe`` and (silently) ``ping``."""
        msg = loads(text)
        if not isinstance(msg, dict):
            await self._error(conn, "Invalid message: could not parse")
            return
        kind = msg.get("type")
        if not kind:
            await self._error(conn, "Invalid message: type is required")
            return
        if kind == "ping":
            return
        if kind not in ("subscribe", "unsubscribe"):
            await self._error(conn, f"Invalid message type: {kind}")
            return
        channel, ticker = msg.get("channel"), msg.get("id")
        if not channel:
            await self._error(conn, "Invalid subscribe message: channel is required")
            return
        if channel not in ALL_CHANNELS:
            await self._error(conn, f"Invalid channel: {channel}")
            return
        if not isinstance(ticker, str):
            await self._error(conn, f"Invalid id: {'undefined' if ticker is None else ticker}")
            return
        subs: set[str] = conn.state[SUBSCRIPTIONS]
        if kind == "unsubscribe":
            subs.discard(ticker)
            conn.unsubscribe(ticker)
            await conn.reply(self._message(conn, "unsubscribed", channel=channel, id=ticker))
            return
        if channel != CHANNEL:
            await self._error(conn, f"Internal error, could not fetch data for subscription: {channel}.",
                              channel=channel, id=ticker)
            return
        perp = self.rest.model.perp(VENUE, ticker)
        if perp is None:
            await self._error(conn, f"Invalid subscription id for channel: ({channel}-{ticker})")
            return
        if len(subs) >= PER_CONNECTION:
            await self._error(conn, f"Per-connection subscription limit reached for {channel} "
                                    f"(limit={PER_CONNECTION}).")
            return
        if ticker in subs:
            await self._error(conn, f"Invalid subscribe message: already subscribed ({channel}-{ticker})",
                              channel=channel, id=ticker)
            return
        subs.add(ticker)
        await self._subscribe(conn, perp, bool(msg.get("batched")))

    async def _subscribe(self, conn: Connection, perp: SimPerp, batched: bool) -> None:
        """The ``subscribed`` backlog (a data frame), then a push of the trades since, block by block."""
        start = self.rest.now_ms() + 1
        backlog = [t.row() for t in self.tape.latest(perp, start, BACKLOG)]
        await conn.send_data(CHANNEL, dumps(self._message(conn, "subscribed", channel=CHANNEL, id=perp.symbol,
                                                          contents={"trades": backlog})))
        since = [start]

        def build(now_ms: int) -> list[str] | None:
            blocks = by_block(self.tape.trades(perp, since[0], now_ms + 1))
            since[0] = max(since[0], now_ms + 1)
            if not blocks:
                return None
            parts = [{"trades": [t.content() for t in block]} for block in blocks]
            if batched:
                return [dumps(self._message(conn, "channel_batch_data", id=perp.symbol, channel=CHANNEL,
                                            version=VERSION, contents=parts))]
            return [dumps(self._message(conn, "channel_data", id=perp.symbol, channel=CHANNEL, version=VERSION,
                                        contents=part)) for part in parts]

        conn.subscribe(perp.symbol, CHANNEL, build, CADENCE_S, first_now=False)

    @staticmethod
    async def _beat(conn: Connection, timeout_s: float) -> None:
        """A PING; the connection is closed (1011) when its PONG has not come ``timeout_s`` later."""
        if conn.stalled:
            return
        conn.ping_due = sent = conn.clock()
        await conn.ping()
        await asyncio.sleep(timeout_s)
        if conn.ping_due == sent and not conn.stalled:
            await conn.close(WSCloseCode.INTERNAL_ERROR, b"Heartbeat timeout")


PROTOCOL = DydxProtocol
