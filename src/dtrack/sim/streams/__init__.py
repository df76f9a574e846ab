"""WebSocket channels of the simulated venues, in each venue's real protocol: the generic server side.

The server (``dtrack.sim.server``) mounts every venue protocol's real paths under ``/<venue>/<ws host>`` on the REST
port (``ws://127.0.0.1:PORT/bybit/stream/v5/public/linear``). This module accepts a connection, hands each client
message to the venue's ``Protocol``, runs one push task per subscription at its channel's cadence, applies the
stream faults (``Faults.streams``, once per connection after ``Faults.stream_after`` data frames) and writes the
frame log. The venue modules (``binance``, ``bybit``, ``okx``, ``deribit``, ``hyperliquid``, ``dydx``) hold the
protocols: subscribe / ack / error messages, keep-alive, and pure frame builders over the REST handlers' own answers
(``Rest``), so a frame carries what REST answers at that moment (same model, same clock, same faults and odd rows).
Liquidation channels (Binance ``!forceOrder@arr``, Bybit ``allLiquidation.{symbol}``, OKX ``liquidation-orders``,
Deribit ``trades.{instrument}.100ms``, dYdX ``v4_trades``) carry the events of ``dtrack.sim.liquidations``
(``StreamHub.liquidations``, one cache for every connection), each venue sampling them as it does.

Stream faults (read on every frame, so a test may change them while connections run):
``disconnect`` closes the connection (close code 1001) instead of sending the data frame after the first
``stream_after``; ``stall`` sends nothing more on the connection (no data, acks, pongs, heartbeats or pings, and no
server-side close) until the client goes away; ``malformed`` sends that one data frame cut in half, then normal ones.

Frame log (``--log-requests``): one JSON line per text frame sent (``dir`` "send") and per client message received
(``dir`` "recv"): ``time`` (ISO ms, Z), ``venue``, ``host`` (the WebSocket host key), ``dir``, ``channel`` (the venue's
channel name of a data frame, e.g. ``tickers.BTCUSDT``; null for control frames: acks, errors, pongs, heartbeats and
client messages) and ``frame`` (the exact text). Protocol-level frames (ping, pong, close) are not logged.
Liquidation frames are logged alike, under their channel: ``!forceOrder@arr`` (or ``<symbol>@forceOrder``: one
event a frame), ``allLiquidation.<symbol>`` (every row of ``data``), ``liquidation-orders`` (every ``details`` row;
the first push of a subscription is a backlog repeating events pushed before) and ``trades.<instrument>.100ms``
(the trades with a ``liquidation`` flag; ``MT`` is two liquidations). The log has no connection id: the same event
sent on two connections (or again after a reconnect) is logged twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import math
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiohttp import WSCloseCode, WSMsgType, web

from dtrack.sim.liquidations import LiquidationModel
from dtrack.sim.model import MarketModel
from dtrack.sim.server import SimReply, SimRequest, SimRoutes

log = logging.getLogger(__name__)

#: Writes one log line: ``write(when, **row)`` (the server's request log).
FrameLog = Callable[..., None]
#: A push builder: market time (epoch ms) -> the frame's text, the texts of several frames (sent in order, each a
#: data frame), or None when there is nothing to push.
Build = Callable[[int], str | list[str] | None]


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """Timing of the simulated streams, in seconds (the venues' own by default; tests shrink them).

    ``cadence_scale`` multiplies every channel's push interval (0.1: ten times as often). ``ping_interval_s`` and
    ``pong_timeout_s``: Binance sends a ping frame every 3 minutes and drops a connection whose pong has not come
    within 10 minutes. ``idle_close_s``: Hyperliquid closes a connection the client left silent for 60 s.
    ``heartbeat_scale``: seconds per second of a Deribit ``public/set_heartbeat`` interval (which must be >= 10).
    ``close_timeout_s``: how long a server-side close waits for the client's close frame.
    """

    cadence_scale: float = 1.0
    ping_interval_s: float = 180.0
    pong_timeout_s: float = 600.0
    idle_close_s: float = 60.0
    heartbeat_scale: float = 1.0
    close_timeout_s: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"StreamOptions.{f.name}: {value!r} is not a positive number of seconds")


def dumps(message: Any) -> str:
    """A message as the venues send JSON: compact, serialized once."""
    return json.dumps(message, separators=(",", ":"))


def loads(text: str) -> Any:
    """A client message's JSON, or None when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return None


class Rest:
    """The simulated venues' REST handlers called in-process, so that a stream frame shows what REST answers."""

    def __init__(self, model: MarketModel, routes: SimRoutes) -> None:
        self.model = model
        self.routes = routes

    def now_ms(self) -> int:
        """The market clock."""
        return self.model.now_ms()

    def answer(self, venue: str, host: str, path: str, now_ms: int, query: Mapping[str, str] | None = None,
               body: Any = None, method: str = "GET") -> Any:
        """What ``method path`` of ``venue``'s REST ``host`` answers at ``now_ms`` (its odd rows applied); raises
        ``SimHttpError`` where REST answers an error."""
        handler = self.routes.table[(venue, host, method, path)]
        payload = handler(SimRequest(venue, host, path, dict(query or {}), body, now_ms, self.routes.faults))
        if isinstance(payload, SimReply):
            payload = payload.body
        return self.routes.faults.dress(venue, path, payload)


class Connection:
    """One client's WebSocket connection: its subscriptions (one push task each), timers, stream-fault state and
    every send (each logged)."""

    def __init__(self, hub: StreamHub, ws: web.WebSocketResponse, venue: str, host: str, path: str,
                 query: Mapping[str, str]) -> None:
        self.hub, self.ws = hub, ws
        self.venue, self.host, self.path, self.query = venue, host, path, dict(query)
        self.id = str(uuid.uuid4())
        self.state: dict[str, Any] = {}  # the protocol's own per-connection state
        self.data_sent = 0
        self.faulted = False
        self.stalled = False
        loop = asyncio.get_running_loop()
        self.last_recv = self.last_pong = loop.time()
        self.ping_due: float | None = None  # when the oldest unanswered ping frame was sent
        self._subs: dict[str, asyncio.Task[None]] = {}
        self._timers: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()

    @property
    def options(self) -> StreamOptions:
        """The server's stream timing."""
        return self.hub.options

    @staticmethod
    def clock() -> float:
        """The event loop's clock (seconds), which the keep-alive timers measure with."""
        return asyncio.get_running_loop().time()

    @property
    def closed(self) -> bool:
        """Whether the connection is closed or closing."""
        return self.ws.closed

    # --- sending -------------------------------------------------------------------------------------------

    async def reply(self, message: Any) -> None:
        """Send a control frame (ack, error, pong, heartbeat): JSON, or text as is."""
        async with self._lock:
            await self._write(message if isinstance(message, str) else dumps(message), None)

    async def send_data(self, channel: str, text: str) -> None:
        """Send one data frame of ``channel``, applying the venue's stream fault once the connection has had
        ``stream_after`` data frames (decided under the send lock: concurrent subscriptions count exactly)."""
        async with self._lock:
            faults = self.hub.rest.routes.faults
            kind = faults.streams.get(self.venue)
            if kind is not None and not self.faulted and self.data_sent >= faults.stream_after:
                self.faulted = True
                if kind == "disconnect":
                    await self.close(WSCloseCode.GOING_AWAY, b"simulated disconnect")
                    return
                if kind == "stall":
                    self.stalled = True
                    return
                text = text[: max(1, len(text) // 2)]  # malformed: one frame cut short
            if await self._write(text, channel):
                self.data_sent += 1

    async def _write(self, text: str, channel: str | None) -> bool:
        """Send and log one text frame (nothing while stalled or closed; the caller holds the send lock); whether
        it went out."""
        if self.stalled or self.ws.closed:
            return False
        try:
            await self.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            return False
        self.hub.log_frame(self, "send", channel, text)
        return True

    async def ping(self, payload: bytes = b"") -> None:
        """Send a protocol-level ping frame (not while stalled)."""
        if not self.stalled and not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.ping(payload)

    async def close(self, code: int = WSCloseCode.GOING_AWAY, message: bytes = b"") -> None:
        """Close the connection (shielded: a push task closing its own connection is not cut short)."""
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError, TimeoutError):
                await asyncio.shield(asyncio.wait_for(self.ws.close(code=code, message=message),
                                                      self.options.close_timeout_s))

    # --- subscriptions and timers -------------------------------------------------------------------------

    def subscribed(self, key: str) -> bool:
        """Whether subscription ``key`` runs."""
        return key in self._subs

    def keys(self) -> list[str]:
        """The running subscriptions' keys, in the order made."""
        return list(self._subs)

    def subscribe(self, key: str, channel: str, build: Build, cadence_s: float, *, first_now: bool) -> bool:
        """Push ``build(now)`` as data frames of ``channel`` every ``cadence_s`` (x the cadence scale), the first
        at once or after one interval (several frames of one push are sent in order, each a data frame: each
        counts toward ``stream_after``); False if ``key`` already runs."""
        if key in self._subs:
            return False
        every = cadence_s * self.options.cadence_scale
        self._subs[key] = asyncio.create_task(self._push(key, channel, build, every, first_now))
        return True

    def unsubscribe(self, key: str) -> bool:
        """Stop subscription ``key``; whether it ran."""
        task = self._subs.pop(key, None)
        if task is not None:
            task.cancel()
        return task is not None

    def every(self, interval_s: float, tick: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run ``tick`` every ``interval_s`` seconds (keep-alive timers) until the connection ends."""
        task = asyncio.create_task(self._repeat(interval_s, tick))
        self._timers = [t for t in self._timers if not t.done()] + [task]
        return task

    def stop(self) -> None:
        """Cancel every push task and timer (the current task excepted)."""
        current = asyncio.current_task()
        for task in [*self._subs.values(), *self._timers]:
            if task is not current:
                task.cancel()
        self._subs.clear()
        self._timers.clear()

    async def _push(self, key: str, channel: str, build: Build, every: float, first_now: bool) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + (0.0 if first_now else every)
        while not self.ws.closed:
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            due = max(due + every, loop.time())  # a late tick is not followed by a burst
            if self.stalled:
                continue
            try:
                text = build(self.hub.rest.now_ms())
            except Exception:  # e.g. a dated future that expired under the subscription
                log.debug("stream %s %s: no longer built", self.venue, key, exc_info=True)
                self._subs.pop(key, None)
                return
            for frame in [text] if isinstance(text, str) else text or []:
                await self.send_data(channel, frame)

    async def _repeat(self, interval_s: float, tick: Callable[[], Awaitable[None]]) -> None:
        while not self.ws.closed:
            await asyncio.sleep(interval_s)
            await tick()


class Protocol:
    """One venue's WebSocket protocol: its hosts and paths, and what it does with a connection and its messages."""

    venue: ClassVar[str]
    #: WebSocket host key -> the real paths served on it
    hosts: ClassVar[Mapping[str, tuple[str, ...]]]

    def __init__(self, hub: StreamHub) -> None:
        self.hub = hub
        self.rest = hub.rest

    def opened(self, conn: Connection) -> None:
        """A connection was accepted (start its keep-alive timers, URL subscriptions ...)."""

    async def received(self, conn: Connection, text: str) -> None:
        """Answer one client text message."""
        raise NotImplementedError


class StreamHub:
    """The WebSocket side of one simulated server: every venue's protocol and the open connections."""

    def __init__(self, model: MarketModel, routes: SimRoutes, options: StreamOptions | None = None,
                 frame_log: FrameLog | None = None, venues: Iterable[str] | None = None) -> None:
        self.rest = Rest(model, routes)
        self.liquidations = LiquidationModel(model)  # shared: every connection reads one cache
        self.options = options or StreamOptions()
        self._log = frame_log
        self.connections: set[Connection] = set()
        self.protocols: dict[str, Protocol] = {}
        for venue in venues if venues is not None else list(routes.hosts):
            module = importlib.import_module(f"dtrack.sim.streams.{venue}")
            self.protocols[venue] = module.PROTOCOL(self)

    def endpoints(self) -> list[tuple[str, str, str]]:
        """(venue, WebSocket host key, path) of every served channel endpoint."""
        return [(venue, host, path) for venue, p in self.protocols.items() for host, paths in p.hosts.items()
                for path in paths]

    def hosts(self) -> dict[str, list[str]]:
        """``{venue: [WebSocket host key, ...]}``."""
        return {venue: list(p.hosts) for venue, p in self.protocols.items()}

    def log_frame(self, conn: Connection, direction: str, channel: str | None, text: str) -> None:
        """One frame-log line (see the module docstring)."""
        if self._log is not None:
            self._log(datetime.now(UTC), venue=conn.venue, host=conn.host, dir=direction, channel=channel,
                      frame=text)

    def handler(self, venue: str, host: str, path: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """The aiohttp handler of one endpoint: upgrade, then hand every message to the venue's protocol."""
        protocol = self.protocols[venue]

        async def handle(request: web.Request) -> web.StreamResponse:
            ws = web.WebSocketResponse(autoping=False, compress=False, timeout=self.options.close_timeout_s)
            await ws.prepare(request)
            conn = Connection(self, ws, venue, host, path, request.query)
            self.connections.add(conn)
            try:
                protocol.opened(conn)
                await self._serve(conn, protocol)
            finally:
                conn.stop()
                self.connections.discard(conn)
            return ws

        return handle

    async def _serve(self, conn: Connection, protocol: Protocol) -> None:
        """Read the client's messages until it goes away (or the connection is closed)."""
        loop = asyncio.get_running_loop()
        async for msg in conn.ws:
            conn.last_recv = loop.time()
            if msg.type is WSMsgType.TEXT:
                self.log_frame(conn, "recv", None, msg.data)
                try:
                    await protocol.received(conn, msg.data)
                except Exception:  # a protocol bug must not take the server down
                    log.exception("stream %s: failed to answer %r", conn.venue, msg.data[:200])
            elif msg.type is WSMsgType.PING and not conn.stalled:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await conn.ws.pong(msg.data)
            elif msg.type is WSMsgType.PONG:
                conn.last_pong, conn.ping_due = loop.time(), None

    async def shutdown(self, _app: web.Application | None = None) -> None:
        """Close every open connection (the server is stopping)."""
        open_now = list(self.connections)
        for conn in open_now:
            conn.stop()
        await asyncio.gather(*(conn.close(WSCloseCode.GOING_AWAY, b"server shutdown") for conn in open_now))


#: Where ``build_app`` keeps the application's ``StreamHub``.
HUB_KEY = web.AppKey("dtrack_sim_streams", StreamHub)
