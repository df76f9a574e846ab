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

Records travel in batches: a connection hands on one list per data frame (the gap it closes, then the frame's
records), and every gap it opens or a malformed frame alone as a list of one; ``fan_in`` queues these lists and
the layers above pass them on whole, so a frame costs one hop per layer whatever it carries. ``stream_batches()``
runs several connections concurrently and yields their batches as one async iterator, in arrival order (a
connection's own order kept); ``stream()`` yields the same records one by one. Closing either (``aclose()`` or
leaving an ``async for``) cancels every connection.

``linger`` (seconds, default 0) is for a consumer that can take records a little late (the collector): a connection
then reads its socket in rounds, once every message read is handled leaving what arrives for ``linger`` seconds
to be read at once (one wake-up and one socket read for many frames, not one each: the main cost of a stream is
that per-message machinery, not parsing), and ``fan_in`` lets batches gather as long before waking its consumer.
``received_at`` is then when the frame was read: up to ``linger`` after its arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import urllib.request
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence, Sized
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
#: how many records (counted in the batches that carry them) may wait for the consumer before the connections
#: stop reading (backpressure): a batch is queued while fewer wait, so at most one batch more than this
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

    def gap_stream(self, channel: str) -> str:
        """The ``Gap.stream`` of ``channel``'s gaps: the channel, unless the venue serves the same channel name on
        several connections (a gap of one must not take another's key)."""
        return channel

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


#: the records and gaps of one frame, in order (or one gap alone): what every stream layer hands on at once
Batch = list[Record]


class Connection:
    """One venue socket: runs until cancelled, reconnecting as needed; hands every frame's records (after the gap
    the frame closes, if any) to ``emit`` as one ``Batch``, and every other gap as a batch of one."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, protocol: StreamProtocol,
                 settings: StreamSettings, emit: Callable[[Batch], Awaitable[None]], *,
                 now: Callable[[], datetime], rng: random.Random | None = None, linger: float = 0.0) -> None:
        self.session = session
        self.url = protocol.url(base_url)
        self.protocol = protocol
        self.settings = settings
        self._emit = emit
        self.now = now
        self.rng = rng or random.Random()
        #: seconds between two rounds of reading (see the module doc); 0: every message as it comes
        self.linger = linger
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
        #: arrival (UTC) of the last message of any kind: what a quiet channel's gap starts from
        self._alive_at: datetime | None = None
        #: whether quiet channels have gaps to close at the next message (a new connection is up)
        self._quiet_pending = False

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
        alarm = _Alarm(loop)
        rounds = _ReadRounds.of(ws) if self.linger > 0 else None
        try:
            await self._send_all(ws, protocol.open_messages())
            for part in chunks(protocol.channels, protocol.per_request):
                await self._send_all(ws, protocol.subscribe_messages(part))
            start = loop.time()
            self._heard = {ch: start for ch in protocol.channels}
            self._thresholds = {ch: self._threshold(ch) for ch in protocol.channels}
            self._quiet_pending = any(math.isinf(self._thresholds[ch]) for ch in self.open_gaps)
            # The watchdog looks only when its next deadline comes (a message just moves its channel's time), so
            # a busy connection pays nothing per message for it: one timer (``alarm``) per deadline interrupts the
            # wait for messages, rather than a timeout around every receive.
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
                alarm.set(check_at)
                alarm.armed = True
                try:
                    msg = await ws.receive()
                except asyncio.CancelledError:
                    if alarm.rang():
                        continue
                    raise
                finally:
                    alarm.armed = False
                self._last_message = arrived = loop.time()
                if msg.type is aiohttp.WSMsgType.TEXT:
                    text = msg.data
                elif msg.type is aiohttp.WSMsgType.BINARY:
                    text = msg.data.decode("utf-8", "replace")
                else:  # CLOSE, CLOSING, CLOSED, ERROR: the socket is gone
                    code = ws.close_code
                    end.detail = f"closed by the venue (code {code})" if code else "connection lost"
                    return end
                if await self._message(ws, text, arrived):
                    end.got_data = True
                if rounds is not None and not rounds.buffer:  # all read handled: let the next ones gather
                    await rounds.pause(min(self.linger, check_at - loop.time()))
        finally:
            alarm.clear()
            if keepalive is not None:
                keepalive.cancel()
                # gather, not ``suppress(CancelledError): await keepalive``: that also swallowed a cancellation of
                # THIS task arriving right then, so the connection went on reconnecting and whoever cancelled it
                # (fan_in closing) waited forever; gather keeps the keep-alive's end and lets ours through
                await asyncio.gather(keepalive, return_exceptions=True)

    async def _message(self, ws: aiohttp.ClientWebSocketResponse, text: str, arrived: float) -> bool:
        """Handle one text message that arrived at loop time ``arrived``; whether it was data."""
        received = self.now()
        self._alive_at = received
        if self._quiet_pending:
            await self._close_quiet_gaps(received)
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
            self._heard[channel] = arrived
        records = frame.records
        gap = self.open_gaps.pop(channel, None)
        if gap is not None:
            log.info("%s: %s resumed (%s since %s)", self.name, channel, gap.reason, gap.start.isoformat())
            closed: Record = Gap(venue=gap.venue, stream=gap.stream, start=gap.start, end=received,
                                 reason=gap.reason, received_at=received)
            await self._put([closed, *records])
        elif records:
            await self._put(records if type(records) is list else list(records))
        return True

    def _threshold(self, channel: str) -> float:
        """The channel's stall threshold: the venue's cadence, or settings ``streams.stall_seconds``; a QUIET
        channel (infinite: it publishes only when something happens, like liquidations) is never stalled."""
        own = self.protocol.stall_seconds(channel)
        override = self.settings.stall_seconds
        return own if override is None or math.isinf(own) else override

    async def _close_quiet_gaps(self, received: datetime) -> None:
        """Close the open gaps of quiet channels at the first message of a new connection: such a channel has no
        data frame to wait for (it may stay silent for hours), and from here the connection is listening again."""
        self._quiet_pending = False
        for channel in [ch for ch in self.open_gaps if math.isinf(self._thresholds.get(ch, 0.0))]:
            gap = self.open_gaps.pop(channel)
            await self._put([Gap(venue=gap.venue, stream=gap.stream, start=gap.start, end=received,
                                 reason=gap.reason, received_at=received)])

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

    async def _put(self, batch: Batch) -> None:
        """Hand a batch on; time spent waiting for a slow consumer is not silence of the venue."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self._emit(batch)
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
        if math.isinf(self._thresholds.get(channel, 0.0)) and self._alive_at is not None and self._alive_at > start:
            start = self._alive_at  # a quiet channel missed nothing while its connection was heard from
        gap = Gap(venue=self.protocol.venue, stream=self.protocol.gap_stream(channel), start=start, end=None,
                  reason=reason, received_at=noticed)
        self.open_gaps[channel] = gap
        await self._put([gap])

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
        await self._put([Gap(venue=self.protocol.venue, stream=self.protocol.gap_stream(channel), start=received,
                             end=received,
                             reason=MALFORMED, received_at=received)])

    def _channel_of(self, text: str) -> str:
        """The channel a frame that did not parse most likely belongs to (else the connection's URL path)."""
        channels = self.protocol.channels
        if len(channels) == 1:
            return channels[0]
        for channel in channels:
            if self.protocol.marker(channel) in text:
                return channel
        return f"{self.protocol.host}{self.protocol.path}"


class _Alarm:
    """The watchdog's deadline for a connection's task while it waits for a message: at ``set``'s loop time, a wait
    in progress (``armed``) is cancelled, and ``rang`` tells that cancellation from any other. One timer per
    deadline, however many messages come before it (``asyncio.timeout`` around each receive cost a timer and a
    context manager per message). Like ``asyncio.timeout``, a cancellation from elsewhere at the same time wins."""

    __slots__ = ("_fired", "_handle", "_loop", "_task", "_when", "armed")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._when = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._fired = False
        self.armed = False

    def set(self, when: float) -> None:
        """Ring at loop time ``when`` (a no-op when that is already set)."""
        if self._handle is not None and when == self._when:
            return
        self.clear()
        self._when = when
        self._handle = self._loop.call_at(when, self._ring)

    def clear(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _ring(self) -> None:
        self._handle = None
        if self.armed and not self._fired:  # not waiting: the task's loop sees the deadline by itself
            self._fired = True
            self._task.cancel()

    def rang(self) -> bool:
        """After a ``CancelledError`` in the armed wait: whether the alarm alone caused it (then undone)."""
        if not self._fired:
            return False
        self._fired = False
        return self._task.uncancel() == 0


class _ReadRounds:
    """A socket read in rounds (``Connection.linger``): ``pause`` stops reading it for a while, so that the frames
    arriving meanwhile are read at once. Through aiohttp's own flow control (its protocol's ``pause_reading`` /
    ``resume_reading``, as its message queue uses them) and that queue's ``buffer`` (to pause only once every
    message it holds was handled): not public API, so ``of`` is None on an aiohttp without them (then every
    message is read as it comes, as without ``linger``)."""

    __slots__ = ("buffer", "protocol")

    def __init__(self, protocol: Any, buffer: Sized) -> None:
        self.protocol = protocol
        self.buffer = buffer

    @staticmethod
    def of(ws: aiohttp.ClientWebSocketResponse) -> _ReadRounds | None:
        reader = getattr(ws, "_reader", None)
        protocol = getattr(reader, "_protocol", None)
        buffer = getattr(reader, "_buffer", None)
        if not (isinstance(buffer, Sized) and callable(getattr(protocol, "pause_reading", None))
                and callable(getattr(protocol, "resume_reading", None))):
            return None
        return _ReadRounds(protocol, buffer)

    async def pause(self, seconds: float) -> None:
        """Leave the socket unread for ``seconds`` (then read on, also when cancelled: closing needs to read)."""
        if seconds <= 0:
            return
        self.protocol.pause_reading()
        try:
            await asyncio.sleep(seconds)
        finally:
            self.protocol.resume_reading()


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


#: hands one batch on to the consumer (waits while the consumer is QUEUE_SIZE records behind)
Put = Callable[[Batch], Awaitable[None]]


class _BatchQueue(asyncio.Queue[Batch | _Failed]):
    """A queue of batches that is full while ``maxsize`` records or more wait in it (``QUEUE_SIZE`` keeps its
    meaning whatever the frames carry)."""

    def _init(self, maxsize: int) -> None:
        super()._init(maxsize)
        self.records = 0

    def _put(self, item: Batch | _Failed) -> None:
        super()._put(item)
        if type(item) is list:
            self.records += len(item)

    def _get(self) -> Batch | _Failed:
        item = super()._get()
        if type(item) is list:
            self.records -= len(item)
        return item

    def full(self) -> bool:
        return 0 < self.maxsize <= self.records


async def fan_in(jobs: Sequence[Callable[[Put], Awaitable[None]]], *,
                 linger: float = 0.0) -> AsyncGenerator[Batch, None]:
    """Run every ``job(put)`` concurrently and yield the batches they put, as they come (each job's in its order).

    ``linger`` (seconds): once it has yielded every batch waiting, wait that long for more before waiting for the
    next one, so that a consumer that can take them late (the collector) is woken once for many frames rather than
    for each; at most that much later, same order. Runs until the consumer stops iterating (``aclose()``,
    ``break``) or is cancelled; then every job is cancelled and awaited. A job that dies of an unexpected exception
    (a bug) ends the iteration with that exception.
    """
    queue = _BatchQueue(QUEUE_SIZE)
    failed: list[BaseException] = []  # kept here too: a full queue cannot take the _Failed marker

    def died(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            failed.append(task.exception())  # type: ignore[arg-type]
            with contextlib.suppress(asyncio.QueueFull):  # wakes a consumer waiting on an empty queue
                queue.put_nowait(_Failed(task.exception()))  # type: ignore[arg-type]

    tasks = []
    for job in jobs:
        task = asyncio.ensure_future(job(queue.put))
        task.add_done_callback(died)
        tasks.append(task)
    try:
        while True:
            if failed and not queue.qsize():  # what the jobs put before it, first
                raise failed[0]
            if linger > 0 and not queue.qsize():
                await asyncio.sleep(linger)
            item = queue.get_nowait() if queue.qsize() else await queue.get()
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_into(jobs: Sequence[Callable[[Put], Awaitable[None]]], put: Put) -> None:
    """Run every ``job(put)`` concurrently, handing what they put straight to ``put`` (no queue between), until
    cancelled (then every job is cancelled and awaited) or until one dies of an exception, which cancels the others
    and is raised (jobs that all return: this returns)."""
    tasks = [asyncio.ensure_future(job(put)) for job in jobs]
    if not tasks:
        return
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def flatten(batches: AsyncIterator[Batch]) -> AsyncGenerator[Record, None]:
    """The records of ``batches`` one by one; closing it closes ``batches``."""
    try:
        async for batch in batches:
            for record in batch:
                yield record
    finally:
        close = getattr(batches, "aclose", None)
        if close is not None:
            await close()


async def one_by_one(records: AsyncIterator[Record]) -> AsyncGenerator[Batch, None]:
    """Batches of one record each from a stream that does not batch; closing it closes ``records``."""
    try:
        async for record in records:
            yield [record]
    finally:
        close = getattr(records, "aclose", None)
        if close is not None:
            await close()


#: runs a stream, handing each batch to the ``Put`` it is given, until cancelled (with the ``linger`` given)
Feed = Callable[[Put, float], Awaitable[None]]


class Records(AsyncIterator[Record]):
    """A stream of batches (``batches()`` makes it) read as records one by one (``async for``, ``anext``,
    ``aclose()``); or, by a consumer that wants them whole and before any record was read, as the batches
    themselves (``batches()``) or pushed into a ``Put`` (``into``: ``feed`` when given, which hands them on without
    a queue of its own). What ``stream()`` and a venue's ``Adapter.stream`` return, so that the batch-level layers
    above skip the flattening."""

    def __init__(self, batches: Callable[[], AsyncGenerator[Batch, None]], feed: Feed | None = None) -> None:
        self._make = batches
        self._feed = feed
        self._records: AsyncGenerator[Record, None] | None = None

    def batches(self) -> AsyncGenerator[Batch, None]:
        """The batches themselves (each call runs the stream afresh; closing them closes it)."""
        if self._records is not None:
            raise RuntimeError("this stream is being read record by record already")
        return self._make()

    async def into(self, put: Put, *, linger: float = 0.0) -> None:
        """Hand every batch to ``put`` until cancelled (or until the stream ends); ``linger``: the connections'
        (see the module doc), when the stream has a ``feed``."""
        if self._feed is not None:
            if self._records is not None:
                raise RuntimeError("this stream is being read record by record already")
            await self._feed(put, linger)
            return
        batches = self.batches()
        try:
            async for batch in batches:
                await put(batch)
        finally:
            await batches.aclose()

    def __aiter__(self) -> AsyncGenerator[Record, None]:
        if self._records is None:
            self._records = flatten(self._make())
        return self._records

    async def __anext__(self) -> Record:
        return await self.__aiter__().__anext__()

    async def aclose(self) -> None:
        """Stop: cancel and close every connection (nothing to do before the first record was asked)."""
        if self._records is not None:
            await self._records.aclose()


def _jobs(session: aiohttp.ClientSession, connections: Sequence[tuple[str, StreamProtocol]],
          settings: StreamSettings, now: Callable[[], datetime], rng: random.Random | None,
          linger: float) -> list[Callable[[Put], Awaitable[None]]]:
    shared = rng or random.Random()

    def job(base: str, protocol: StreamProtocol) -> Callable[[Put], Awaitable[None]]:
        return lambda put: Connection(session, base, protocol, settings, put, now=now, rng=shared,
                                      linger=linger).run()

    return [job(base, protocol) for base, protocol in connections]


def stream_batches(session: aiohttp.ClientSession, connections: Sequence[tuple[str, StreamProtocol]],
                   settings: StreamSettings, *, now: Callable[[], datetime], rng: random.Random | None = None,
                   linger: float = 0.0) -> AsyncGenerator[Batch, None]:
    """The batches (one per data frame, see the module doc) of every ``(base URL, protocol)`` connection, run
    concurrently, as they come (``fan_in``: closing the iterator cancels and closes every connection)."""
    return fan_in(_jobs(session, connections, settings, now, rng, linger), linger=linger)


async def stream_into(put: Put, session: aiohttp.ClientSession, connections: Sequence[tuple[str, StreamProtocol]],
                      settings: StreamSettings, *, now: Callable[[], datetime], rng: random.Random | None = None,
                      linger: float = 0.0) -> None:
    """``stream_batches`` pushed: every connection hands its batches straight to ``put`` (``run_into``), until
    cancelled. For a consumer with a queue of its own (``client.streams``): one hand-over per frame fewer."""
    await run_into(_jobs(session, connections, settings, now, rng, linger), put)


def stream(session: aiohttp.ClientSession, connections: Sequence[tuple[str, StreamProtocol]],
           settings: StreamSettings, *, now: Callable[[], datetime], rng: random.Random | None = None) -> Records:
    """``stream_batches`` record by record: every record and gap of the connections, in the same order."""
    return Records(lambda: stream_batches(session, connections, settings, now=now, rng=rng),
                   lambda put, linger: stream_into(put, session, connections, settings, now=now, rng=rng,
                                                   linger=linger))
