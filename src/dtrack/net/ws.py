"""WebSocket streams for every venue, written once: connect, subscribe, keep alive, watch, reconnect, and say
what was missed. Knows no venue: each venue plugs in a ``StreamProtocol`` (``venues/<v>/stream.py``).

One ``Connection`` is one socket to one venue host, carrying ``protocol.channels``:

- connect through the shared aiohttp session (``connect_timeout`` bounds connect + handshake). Proxies: with a
  session that trusts the environment (``trust_env``, dtrack's default outside the sim), aiohttp itself only
  looks up ``WS_PROXY`` / ``WSS_PROXY`` for ws:// and wss:// URLs, not ``HTTP(S)_PROXY``; ``env_proxy`` adds
  that mapping (wss -> ``HTTPS_PROXY``, ws -> ``HTTP_PROXY``, ``NO_PROXY`` honoured), so a user behind a proxy
  streams through the same proxy as REST (a wss:// URL is tunnelled with CONNECT);
- send the protocol's opening messages, then its subscriptions in chunks of ``per_request`` channels, paced
  by ``send_interval`` (a venue's incoming-message limit);
- keep alive per the venue's rule: a periodic (or idle-time) client message (``ping_every``), answers to server
  messages (``Frame.reply``), or WebSocket PING frames, which aiohttp answers with a PONG echoing the payload
  (``autoping``); a venue that cuts connections at a fixed age is reconnected before it (``max_age``);
- a stall watchdog per channel: a channel without a data frame for longer than its threshold
  (``protocol.stall_seconds``, or settings ``streams.stall_seconds``) restarts the connection;
- reconnect with jittered exponential backoff (``streams.backoff_base`` .. ``backoff_cap``) and resubscribe.

Every interruption becomes a ``Gap`` record among the data: emitted OPEN (``end=None``) when it is noticed and
again CLOSED (same venue, stream, start; ``end`` = the arrival of the channel's next data frame) when data of
that channel resumes. ``start`` is the arrival time of the channel's last data frame (or, before any, the
time the connection was first attempted). Reasons: ``disconnect`` (the socket closed or was closed on purpose
to renew it), ``stall`` (the watchdog), ``error`` (no connection could be made, or the venue refused the
subscription), ``malformed`` (a frame that did not parse: skipped, counted, logged, and one gap with
``start == end`` = its arrival; the stream goes on). Values a parser finds implausible are dropped and
logged, not gaps: the frame itself was fine.

``stream()`` runs several connections concurrently and yields their records as one async iterator; closing
it (``aclose()`` or leaving an ``async for``) cancels every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import urllib.request
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import orjson

from dtrack.errors import DtrackError, Implausible, ParseError
from dtrack.records import Gap, Record

if TYPE_CHECKING:
    import aiohttp

    from dtrack.config import StreamSettings

log = logging.getLogger(__name__)

#: the JSON reader of frames (orjson: 3-4x faster than json.loads, which was most of a ticker frame's parse cost);
#: its JSONDecodeError is a ValueError
decode = orjson.loads

T = TypeVar("T")

#: seconds a close handshake may take before the socket is dropped (a stalled server never answers it)
CLOSE_TIMEOUT = 2.0
#: how many records may wait for the consumer before the connections stop reading (backpressure)
QUEUE_SIZE = 10_000
#: reasons of a ``Gap``
DISCONNECT, STALL, MALFORMED, ERROR = "disconnect", "stall", "malformed", "error"


class MalformedFrame(ParseError):
    """A frame that is not what the venue's protocol documents (not JSON, a missing field, an unknown shape)."""


@dataclass(slots=True)
class Frame:
    """What one received message means.

    ``channel``: the data channel it belongs to (None for acks, pongs, heartbeats); ``records``: what it
    carried; ``dropped``: values the plausibility rules refused (logged, not gaps); ``reply``: a message to
    send back (a heartbeat answer); ``refused``: channels the venue refused to subscribe, with why.
    """

    channel: str | None = None
    records: Sequence[Record] = ()
    dropped: Sequence[Implausible] = ()
    reply: str | None = None
    refused: Sequence[str] = ()
    detail: str = ""


#: the frame of a message that needs nothing done (an ack, a pong)
CONTROL = Frame()


class StreamProtocol:
    """One venue connection's protocol: where to connect, what to send, how to read what comes.

    A venue implements one subclass per channel family; an instance holds the channels of ONE connection and
    its parse state (``reset`` forgets it on reconnect). ``handle`` is the hot path: one message in, one
    ``Frame`` out, no I/O; a message it cannot read raises ``MalformedFrame`` (or ``ValueError`` from ``decode``).
    """

    venue: str = ""
    #: the WebSocket host key (settings ``venues.<venue>.ws_urls.<host>``) and the path after its base URL
    host: str = ""
    path: str = ""
    #: channels per subscribe message and per connection (the venue's limits)
    per_request: int = 50
    per_connection: int = 200
    #: least seconds between two client messages (the venue's incoming-message limit); 0: none
    send_interval: float = 0.0
    #: keep-alive: seconds between client pings (None: the venue pings, or data alone keeps it open) and
    #: whether to ping only after that long without any message from the venue
    ping_every: float | None = None
    ping_when_idle: bool = False
    #: renew the connection after this many seconds (a venue that cuts connections at a fixed age)
    max_age: float | None = None
    #: a channel silent longer than this (seconds) is stalled, unless ``stall_seconds`` says otherwise
    stall_after: float = 60.0

    def __init__(self, channels: Sequence[str]) -> None:
        self.channels: tuple[str, ...] = tuple(dict.fromkeys(channels))

    def url(self, base: str) -> str:
        """The URL to connect to, from the host's base URL."""
        return base.rstrip("/") + self.path

    def reset(self) -> None:
        """Forget what the previous connection's frames left behind (called before every connection)."""

    def open_messages(self) -> list[str]:
        """Messages sent first on every connection (e.g. a heartbeat request)."""
        return []

    def subscribe_messages(self, channels: Sequence[str]) -> list[str]:
        """The message(s) subscribing ``channels`` (at most ``per_request`` of them)."""
        raise NotImplementedError

    def ping_message(self) -> str | None:
        """The client keep-alive message (sent every ``ping_every`` seconds), or None."""
        return None

    def stall_seconds(self, channel: str) -> float:
        """The silence after which ``channel`` counts as stalled (its venue's normal cadence, with margin)."""
        return self.stall_after

    def marker(self, channel: str) -> str:
        """Text that a frame of ``channel`` contains (to name the channel of a frame that did not parse)."""
        return channel

    def handle(self, text: str, received_at: datetime) -> Frame:
        """Read one text message received at ``received_at``."""
        raise NotImplementedError


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size`` (one per subscribe message or connection)."""
    step = max(1, size)
    return [items[i:i + step] for i in range(0, len(items), step)]


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before reconnect attempt ``attempt`` (0, 1, ...): ``base * 2**attempt`` capped at ``cap``,
    times a jitter in [0.5, 1.0) so that many clients cut at once do not come back at once."""
    return min(cap, base * (2.0 ** min(attempt, 30))) * (0.5 + 0.5 * rng.random())


def env_proxy(url: str, trust_env: bool) -> str | None:
    """The proxy a ws:// or wss:// URL goes through: none unless ``trust_env``; then ``WS(S)_PROXY``, else
    ``HTTP(S)_PROXY`` (wss -> https, ws -> http), unless ``NO_PROXY`` exempts the host."""
    if not trust_env:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    proxies = urllib.request.getproxies()
    if host and urllib.request.proxy_bypass(host):
        return None
    fallback = {"ws": "http", "wss": "https"}.get(parts.scheme.lower())
    for key in (parts.scheme.lower(), fallback):
        if key and proxies.get(key):
            return proxies[key]
    return None


class Connection:
    """One venue socket: runs until cancelled, reconnecting as needed; hands every record and gap to ``emit``."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, protocol: StreamProtocol,
                 settings: StreamSettings, emit: Callable[[Record], Awaitable[None]], *,
                 now: Callable[[], datetime], rng: random.Random | None = None) -> None:
        self.session = session
        self.url = protocol.url(base_url)
        self.protocol = protocol
        self.settings = settings
        self._emit = emit
        self.now = now
        self.rng = rng or random.Random()
        #: channel -> arrival (UTC) of its last data frame
        self.last_data: dict[str, datetime] = {}
        #: channel -> the open gap
        self.open_gaps: dict[str, Gap] = {}
        #: channels the venue refused (not watched until the next connection)
        self.refused: set[str] = set()
        self.malformed = 0
        self.dropped = 0
        self.connections = 0
        self._first_attempt: datetime | None = None
        self._heard: dict[str, float] = {}  # channel -> monotonic time of its last data frame (the watchdog's)
        self._thresholds: dict[str, float] = {}  # channel -> its stall threshold (seconds), fixed per connection
        self._flowing: set[str] = set()  # channels that sent data on the current connection
        self._last_message = 0.0  # monotonic time of the last message of any kind (idle keep-alive)

    @property
    def name(self) -> str:
        """``venue host+path`` for log lines."""
        return f"{self.protocol.venue} {self.protocol.host}{self.protocol.path}"

    async def run(self) -> None:
        """Connect, read, reconnect with backoff, until cancelled."""
        import aiohttp

        attempt = 0
        while True:
            attempted = self.now()
            if self._first_attempt is None:
                self._first_attempt = attempted
            try:
                ws = await self._connect()
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:  # refused, handshake refused, proxy said no
                await self._interrupted(ERROR, f"cannot connect to {self.url} ({_why(exc)})")
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1
                continue
            self.connections += 1
            end = _End(DISCONNECT, "connection lost")
            try:
                end = await self._session(ws, end)
            except (aiohttp.ClientError, OSError) as exc:  # a send on a socket the venue just dropped
                end.detail = f"connection lost ({_why(exc)})"
            finally:
                await _close(ws)
            await self._interrupted(end.reason, end.detail)
            if end.got_data:
                attempt = 0
            if not end.renew:
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, self.settings.backoff_base, self.settings.backoff_cap, self.rng)

    async def _connect(self) -> aiohttp.ClientWebSocketResponse:
        import aiohttp

        proxy = env_proxy(self.url, getattr(self.session, "trust_env", False))
        options: dict[str, Any] = {"autoping": True, "heartbeat": None, "proxy": proxy}
        if hasattr(aiohttp, "ClientWSTimeout"):
            options["timeout"] = aiohttp.ClientWSTimeout(ws_close=CLOSE_TIMEOUT)
        else:  # aiohttp < 3.11: a float is the close timeout
            options["timeout"] = CLOSE_TIMEOUT
        async with asyncio.timeout(self.settings.connect_timeout):
            ws: aiohttp.ClientWebSocketResponse = await self.session.ws_connect(self.url, **options)
        return ws

    async def _session(self, ws: aiohttp.ClientWebSocketResponse, end: _End) -> _End:
        """One connection's life: subscribe, then read until it ends; how it ended (filled into ``end``)."""
        import aiohttp

        protocol = self.protocol
        protocol.reset()
        self.refused.clear()
        self._flowing.clear()
        loop = asyncio.get_running_loop()
        opened = loop.time()
        self._last_message = opened
        keepalive = asyncio.ensure_future(self._keepalive(ws)) if protocol.ping_every else None
        try:
            await self._send_all(ws, protocol.open_messages())
            for part in chunks(protocol.channels, protocol.per_request):
                await self._send_all(ws, protocol.subscribe_messages(part))
            start = loop.time()
            self._heard = {ch: start for ch in protocol.channels}
            self._thresholds = {ch: self._threshold(ch) for ch in protocol.channels}
            # The watchdog looks only when its next deadline comes (a message just moves its channel's time), so
            # a busy connection pays nothing per message for it.
            check_at, renew = self._next_deadline(start, opened)
            while True:
                now = loop.time()
                if now >= check_at - 1e-3:
                    if renew:
                        end.reason, end.renew = DISCONNECT, True
                        end.detail = f"renewing the connection after {protocol.max_age:g} s"
                        return end
                    late = await self._stalled(now, end.got_data)
                    if late:
                        end.reason = STALL
                        end.detail = f"no data on {', '.join(late[:3])} for {self._thresholds[late[0]]:g} s"
                        return end
                    check_at, renew = self._next_deadline(now, opened)
                    continue
                try:
                    msg = await ws.receive(timeout=max(check_at - now, 0.001))
                except TimeoutError:
                    continue
                self._last_message = loop.time()
                if msg.type is aiohttp.WSMsgType.TEXT:
                    text = msg.data
                elif msg.type is aiohttp.WSMsgType.BINARY:
                    text = msg.data.decode("utf-8", "replace")
                else:  # CLOSE, CLOSING, CLOSED, ERROR: the socket is gone
                    code = ws.close_code
                    end.detail = f"closed by the venue (code {code})" if code else "connection lost"
                    return end
                if await self._message(ws, text):
                    end.got_data = True
        finally:
            if keepalive is not None:
                keepalive.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await keepalive

    async def _message(self, ws: aiohttp.ClientWebSocketResponse, text: str) -> bool:
        """Handle one text message; whether it was data."""
        received = self.now()
        try:
            frame = self.protocol.handle(text, received)
        except (ValueError, DtrackError, KeyError, TypeError, IndexError, AttributeError) as exc:
            # JSONDecodeError is a ValueError, ParseError a DtrackError; the others: a shape no parser foresaw
            await self._malformed(text, received, exc)
            return False
        if frame.reply is not None:
            await ws.send_str(frame.reply)
        if frame.refused:
            await self._refused(frame.refused, received, frame.detail)
        elif frame.detail:
            log.warning("%s: the venue says: %s", self.name, frame.detail)
        for problem in frame.dropped:
            self.dropped += 1
            log.warning("%s: dropped an implausible value: %s", self.name, problem)
        channel = frame.channel
        if channel is None:
            return False
        self.last_data[channel] = received
        self._flowing.add(channel)
        if channel in self._heard:
            self._heard[channel] = asyncio.get_running_loop().time()
        gap = self.open_gaps.pop(channel, None)
        if gap is not None:
            log.info("%s: %s resumed (%s since %s)", self.name, channel, gap.reason, gap.start.isoformat())
            await self._put(Gap(venue=gap.venue, stream=channel, start=gap.start, end=received, reason=gap.reason,
                                received_at=received))
        for record in frame.records:
            await self._put(record)
        return True

    def _threshold(self, channel: str) -> float:
        override = self.settings.stall_seconds
        return override if override is not None else self.protocol.stall_seconds(channel)

    def _next_deadline(self, now: float, opened: float) -> tuple[float, bool]:
        """When (loop time) the watchdog must look again, and whether the connection is due for renewal then."""
        when, renew = now + 3600.0, False
        thresholds = self._thresholds
        for channel, heard in self._heard.items():
            if channel not in self.refused:
                when = min(when, heard + thresholds[channel])
        age = self.protocol.max_age
        if age is not None and opened + age <= when:
            when, renew = opened + age, True
        return when, renew

    async def _stalled(self, now: float, got_data: bool) -> list[str]:
        """The channels whose silence restarts the connection: one that flowed on it and stopped, or any when
        nothing at all came. A channel that never sent a frame while others flow is left unwatched until the
        next connection, with an open stall gap (the venue accepted it but publishes nothing: reconnecting
        would interrupt the others for nothing)."""
        late = [ch for ch, heard in self._heard.items()
                if ch not in self.refused and now - heard >= self._thresholds[ch] - 1e-3]
        if not got_data or any(ch in self._flowing for ch in late):
            return late
        received = self.now()
        for channel in late:
            self.refused.add(channel)
            log.warning("%s: no frame on %s since the subscription while others flow; not watched until the "
                        "next connection", self.name, channel)
            if channel not in self.open_gaps:
                await self._open_gap(channel, STALL, received)
        return []

    async def _keepalive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Send the protocol's ping every ``ping_every`` s (or after that long without any message)."""
        protocol = self.protocol
        every = protocol.ping_every or 0.0
        message = protocol.ping_message()
        if not every or message is None:
            return
        loop = asyncio.get_running_loop()
        while True:
            if protocol.ping_when_idle:
                await asyncio.sleep(max(0.0, self._last_message + every - loop.time()))
                if loop.time() - self._last_message < every:
                    continue
            else:
                await asyncio.sleep(every)
            await ws.send_str(message)
            if protocol.ping_when_idle:
                self._last_message = loop.time()

    async def _send_all(self, ws: aiohttp.ClientWebSocketResponse, messages: Sequence[str]) -> None:
        pause = self.protocol.send_interval
        for i, message in enumerate(messages):
            if i and pause:
                await asyncio.sleep(pause)
            await ws.send_str(message)
        if messages and pause:
            await asyncio.sleep(pause)

    async def _put(self, record: Record) -> None:
        """Hand a record on; time spent waiting for a slow consumer is not silence of the venue."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self._emit(record)
        waited = loop.time() - started
        if waited > 0.01:
            for channel in self._heard:
                self._heard[channel] += waited

    async def _interrupted(self, reason: str, detail: str) -> None:
        """Open a gap on every channel of the connection that has none open yet."""
        noticed = self.now()
        opened = [ch for ch in self.protocol.channels if ch not in self.open_gaps]
        if opened:
            level = logging.INFO if reason == DISCONNECT and "renewing" in detail else logging.WARNING
            log.log(level, "%s: %s (%s); reconnecting", self.name, reason, detail)
        else:
            log.info("%s: still interrupted: %s (%s)", self.name, reason, detail)
        for channel in opened:
            await self._open_gap(channel, reason, noticed)

    async def _open_gap(self, channel: str, reason: str, noticed: datetime) -> None:
        start = self.last_data.get(channel) or self._first_attempt or noticed
        gap = Gap(venue=self.protocol.venue, stream=channel, start=start, end=None, reason=reason, received_at=noticed)
        self.open_gaps[channel] = gap
        await self._put(gap)

    async def _refused(self, channels: Sequence[str], received: datetime, detail: str) -> None:
        for channel in channels:
            if channel in self.refused or channel not in self.protocol.channels:
                continue
            self.refused.add(channel)
            log.warning("%s: the venue refused %s: %s", self.name, channel, detail or "no reason given")
            if channel not in self.open_gaps:
                await self._open_gap(channel, ERROR, received)

    async def _malformed(self, text: str, received: datetime, exc: Exception) -> None:
        self.malformed += 1
        channel = self._channel_of(text)
        log.warning("%s: skipped a malformed frame on %s (%d so far): %s", self.name, channel, self.malformed,
                    _why(exc))
        await self._put(Gap(venue=self.protocol.venue, stream=channel, start=received, end=received,
                            reason=MALFORMED, received_at=received))

    def _channel_of(self, text: str) -> str:
        """The channel a frame that did not parse most likely belongs to (else the connection's URL path)."""
        channels = self.protocol.channels
        if len(channels) == 1:
            return channels[0]
        for channel in channels:
            if self.protocol.marker(channel) in text:
                return channel
        return f"{self.protocol.host}{self.protocol.path}"


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


async def _close(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Close a socket; a peer that does not answer the close handshake is dropped after ``CLOSE_TIMEOUT``."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT + 1.0):
            await ws.close()
    except (TimeoutError, OSError):
        pass


@dataclass(slots=True)
class _End:
    """How a connection ended: the gap reason, why, whether data came, whether it was renewed on purpose."""

    reason: str
    detail: str
    got_data: bool = False
    renew: bool = False


@dataclass(slots=True)
class _Failed:
    """A task that died of a bug: re-raised to the consumer."""

    error: BaseException


#: hands one record on to the consumer (waits while the consumer is QUEUE_SIZE records behind)
Put = Callable[[Record], Awaitable[None]]


async def fan_in(jobs: Sequence[Callable[[Put], Awaitable[None]]]) -> AsyncGenerator[Record, None]:
    """Run every ``job(put)`` concurrently and yield what they put, as it comes.

    Runs until the consumer stops iterating (``aclose()``, ``break``) or is cancelled; then every job is cancelled
    and awaited. A job that dies of an unexpected exception (a bug) ends the iteration with that exception.
    """
    queue: asyncio.Queue[Record | _Failed] = asyncio.Queue(QUEUE_SIZE)

    def died(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(_Failed(task.exception()))  # type: ignore[arg-type]

    tasks = []
    for job in jobs:
        task = asyncio.ensure_future(job(queue.put))
        task.add_done_callback(died)
        tasks.append(task)
    try:
        while True:
            item = await queue.get()
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def stream(session: aiohttp.ClientSession, connections: Sequence[tuple[str, StreamProtocol]],
           settings: StreamSettings, *, now: Callable[[], datetime],
           rng: random.Random | None = None) -> AsyncGenerator[Record, None]:
    """Records and gaps of every ``(base URL, protocol)`` connection, run concurrently, as they come (``fan_in``:
    closing the iterator cancels and closes every connection)."""
    shared = rng or random.Random()

    def job(base: str, protocol: StreamProtocol) -> Callable[[Put], Awaitable[None]]:
        return lambda put: Connection(session, base, protocol, settings, put, now=now, rng=shared).run()

    return fan_in([job(base, protocol) for base, protocol in connections])
