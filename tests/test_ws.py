"""The WebSocket runner (``dtrack.net.ws``) against real aiohttp WebSocket servers on loopback.

Each test scripts what the server does per connection (send frames, close, fall silent, send a truncated frame,
ping with a payload, refuse) and checks what the runner yields: every frame sent before a clean close, a gap
opened when the interruption is noticed and closed with the same start when data resumes, the reasons, the
resubscription, the keep-alive, the ping echo, backoff through refused connections, proxies from the
environment. No wall-clock assertions: waits are bounded and generous; counts are "at least".
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import net_helpers
from dtrack.config import StreamSettings
from dtrack.net import ws as wsmod
from dtrack.net.ws import Frame, MalformedFrame, StreamProtocol, backoff_delay, chunks, env_proxy
from dtrack.records import Gap, Instrument, Kind, Margin, PriceQuote, Record

INST = Instrument(venue="testv", symbol="T", asset="BTC", quote="USD", settle="USD", kind=Kind.PERP,
                  margin=Margin.LINEAR)
FAST = StreamSettings(backoff_base=0.01, backoff_cap=0.05, stall_seconds=None, connect_timeout=5.0)
WAIT = 20.0  # seconds any one expectation may take on a busy machine


class EchoProtocol(StreamProtocol):
    """A toy protocol: subscribe ``{"op": "sub", "args": [...]}``; data ``{"ch": .., "seq": n, "px": ..}``;
    ``{"event": "refused", "ch": ..}`` refuses a channel; ``{"op": "pong"}`` is control."""

    venue = "testv"
    host = "ws"
    path = "/feed"
    per_request = 2

    def __init__(self, channels: Sequence[str], *, stall_after: float = 60.0, ping_every: float | None = None,
                 max_age: float | None = None) -> None:
        super().__init__(channels)
        self.stall_after = stall_after
        self.ping_every = ping_every
        self.max_age = max_age

    def subscribe_messages(self, channels: Sequence[str]) -> list[str]:
        return [json.dumps({"op": "sub", "args": list(channels)})]

    def ping_message(self) -> str | None:
        return "ping"

    def handle(self, text: str, received_at: datetime) -> Frame:
        msg = json.loads(text)
        if msg.get("op") == "pong":
            return wsmod.CONTROL
        if msg.get("event") == "refused":
            return Frame(refused=[msg["ch"]], detail="no such channel")
        if "ch" not in msg or "seq" not in msg:
            raise MalformedFrame("testv", "feed", f"unknown message {text[:40]!r}")
        quote = PriceQuote(instrument=INST, time=None, received_at=received_at, mark_price=float(msg["px"]),
                           last_price=float(msg["seq"]))
        return Frame(channel=msg["ch"], records=[quote])


def frame(ch: str, seq: int) -> str:
    return json.dumps({"ch": ch, "seq": seq, "px": 100.0 + seq})


Script = Callable[[web.WebSocketResponse, "Conn"], Awaitable[None]]


@dataclass
class Conn:
    """One accepted connection: what the client sent on it."""

    received: list[str] = field(default_factory=list)
    pongs: list[bytes] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def subscribed(self) -> list[str]:
        out: list[str] = []
        for text in self.received:
            if text.startswith("{") and json.loads(text).get("op") == "sub":
                out += json.loads(text)["args"]
        return out


class Server:
    """A loopback WebSocket server running one script per connection (the last one repeats)."""

    def __init__(self, scripts: Sequence[Script]) -> None:
        self.scripts = list(scripts)
        self.conns: list[Conn] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, port: int = 0) -> Server:
        app = web.Application()
        app.router.add_get("/feed", self._handler)
        self.runner = web.AppRunner(app, shutdown_timeout=0.2)  # scripts that hang are cut at stop
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    @property
    def base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        conn = Conn()
        self.conns.append(conn)
        script = self.scripts[min(len(self.conns) - 1, len(self.scripts) - 1)]
        reader = asyncio.ensure_future(self._read(ws, conn))
        try:
            await script(ws, conn)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            conn.closed.set()
        return ws

    @staticmethod
    async def _read(ws: web.WebSocketResponse, conn: Conn) -> None:
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                conn.received.append(msg.data)
                if msg.data == "ping":
                    await ws.send_str(json.dumps({"op": "pong"}))
            elif msg.type is aiohttp.WSMsgType.PONG:
                conn.pongs.append(msg.data)
        conn.closed.set()


async def until(cond: Callable[[], bool], what: str) -> None:
    for _ in range(int(WAIT / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def wait_subscribed(conn: Conn, n: int) -> None:
    await until(lambda: len(conn.subscribed()) >= n, "the subscription")


def send_then(n: int, channels: Sequence[str], after: str) -> Script:
    """Wait for the subscription, send ``n`` frames per channel, then close | hang | keep sending."""

    async def script(ws: web.WebSocketResponse, conn: Conn) -> None:
        await wait_subscribed(conn, len(channels))
        for seq in range(n):
            for ch in channels:
                await ws.send_str(frame(ch, seq))
        if after == "close":
            await ws.close()
        elif after == "hang":
            await asyncio.sleep(3600)
        else:  # keep sending
            seq = n
            while not ws.closed:
                for ch in channels:
                    await ws.send_str(frame(ch, seq))
                seq += 1
                await asyncio.sleep(0.01)

    return script


async def collect(it: AsyncIterator[Record], stop: Callable[[list[Record]], bool], what: str) -> list[Record]:
    return await net_helpers.collect(it, stop, what, WAIT)


def now() -> datetime:
    return datetime.now(UTC)


def gaps(items: Sequence[Record], *, closed: bool | None = None) -> list[Gap]:
    out = [g for g in items if isinstance(g, Gap)]
    return [g for g in out if closed is None or (g.end is not None) == closed]


def closes_an_open_gap(items: Sequence[Record], gap: Gap) -> bool:
    """A closed gap matches an open one emitted before it (same venue, stream, start, reason)."""
    before = items[:items.index(gap)]
    return any(isinstance(g, Gap) and g.end is None and (g.venue, g.stream, g.start, g.reason)
               == (gap.venue, gap.stream, gap.start, gap.reason) for g in before)


def run_stream(server_scripts: Sequence[Script], protocol: StreamProtocol,
               body: Callable[[AsyncIterator[Record], Server], Awaitable[Any]],
               settings: StreamSettings = FAST) -> Any:
    async def main() -> Any:
        server = await Server(server_scripts).start()
        try:
            async with aiohttp.ClientSession() as session:
                it = wsmod.stream(session, [(server.base, protocol)], settings, now=now)
                try:
                    return await body(it, server)
                finally:
                    await it.aclose()  # type: ignore[attr-defined]
        finally:
            await server.stop()

    return asyncio.run(main())


# --- the tests -------------------------------------------------------------------------------------------------


def test_every_frame_before_a_clean_close_arrives_then_a_gap_opens_and_closes_after_resubscription() -> None:
    n = 50

    async def body(it: AsyncIterator[Record], server: Server) -> None:
        items = await collect(it, lambda got: len(gaps(got, closed=True)) >= 2, "two closed gaps")
        quotes = [r for r in items if isinstance(r, PriceQuote)]
        first_gap = items.index(gaps(items)[0])
        before = [int(q.last_price or 0) for q in quotes if items.index(q) < first_gap]
        # no frame sent before the clean close is lost: both channels' 0..n-1 precede the first gap
        assert sorted(before) == sorted(list(range(n)) * 2)
        opened = gaps(items, closed=False)
        assert {(g.stream, g.reason) for g in opened} == {("a", "disconnect"), ("b", "disconnect")}
        for gap in gaps(items, closed=True):
            assert closes_an_open_gap(items, gap) and gap.end is not None and gap.end >= gap.start
        # start = the arrival of the channel's last frame before the cut
        last_a = max(q.received_at for q in quotes[:first_gap] if items.index(q) < first_gap)
        assert next(g for g in opened if g.stream == "a").start <= last_a
        assert len(server.conns) >= 2 and server.conns[1].subscribed() == ["a", "b"]  # resubscribed

    run_stream([send_then(n, ["a", "b"], "close"), send_then(5, ["a", "b"], "keep")], EchoProtocol(["a", "b"]),
               body)


def test_a_silent_connection_is_a_stall_reconnected_and_closed_when_data_resumes() -> None:
    async def body(it: AsyncIterator[Record], server: Server) -> None:
        items = await collect(it, lambda got: len(gaps(got, closed=True)) >= 1, "a closed stall gap")
        assert gaps(items, closed=False)[0].reason == "stall"
        closed = gaps(items, closed=True)[0]
        assert closed.reason == "stall" and closes_an_open_gap(items, closed)
        assert len(server.conns) >= 2

    run_stream([send_then(3, ["a"], "hang"), send_then(3, ["a"], "keep")], EchoProtocol(["a"], stall_after=0.3),
               body)


def test_the_stall_threshold_from_settings_overrides_the_protocol() -> None:
    settings = StreamSettings(backoff_base=0.01, backoff_cap=0.05, stall_seconds=0.2, connect_timeout=5.0)

    async def body(it: AsyncIterator[Record], server: Server) -> None:
        items = await collect(it, lambda got: bool(gaps(got)), "a stall gap")
        assert gaps(items)[0].reason == "stall"

    run_stream([send_then(2, ["a"], "hang"), send_then(2, ["a"], "keep")], EchoProtocol(["a"], stall_after=3600),
               body, settings)


class QuietProtocol(EchoProtocol):
    """Channel "liq" publishes only when something happens (a QUIET channel: never stalled); "tick" is periodic."""

    def stall_seconds(self, channel: str) -> float:
        return math.inf if channel == "liq" else self.stall_after


def test_a_quiet_channel_is_never_stalled_and_its_gap_spans_only_the_disconnect() -> None:
    """A liquidation-like channel: silent for long, never a stall (not even with settings' stall_seconds), and
    after a disconnect its gap starts at the connection's last message (not at its own last frame, long before)
    and closes when the new connection is heard from, not at its next event (which may be hours away)."""
    settings = StreamSettings(backoff_base=0.01, backoff_cap=0.05, stall_seconds=0.2, connect_timeout=5.0)

    async def first(ws: web.WebSocketResponse, conn: Conn) -> None:
        await wait_subscribed(conn, 2)
        await ws.send_str(frame("liq", 0))  # one event, then only ticks
        for seq in range(1, 40):
            await ws.send_str(frame("tick", seq))
            await asyncio.sleep(0.02)  # 0.8 s of ticks: longer than stall_seconds, yet liq is not stalled
        await ws.close()

    async def second(ws: web.WebSocketResponse, conn: Conn) -> None:
        await wait_subscribed(conn, 2)
        seq = 100
        while not ws.closed:
            await ws.send_str(frame("tick", seq))
            seq += 1
            await asyncio.sleep(0.01)

    async def body(it: AsyncIterator[Record], server: Server) -> None:
        def done(got: list[Record]) -> bool:
            return any(g.stream == "liq" for g in gaps(got, closed=True))

        items = await collect(it, done, "the quiet channel's gap closed")
        assert all(g.reason == "disconnect" for g in gaps(items)), gaps(items)  # no stall of liq
        liq_event = next(r for r in items if isinstance(r, PriceQuote) and r.last_price == 0)
        last_tick = max(r.received_at for r in items if isinstance(r, PriceQuote) and r.last_price == 39)
        opened = next(g for g in gaps(items, closed=False) if g.stream == "liq")
        assert opened.start == last_tick > liq_event.received_at
        closed = next(g for g in gaps(items, closed=True) if g.stream == "liq")
        assert closes_an_open_gap(items, closed)
        assert not any(isinstance(r, PriceQuote) and r.last_price == 0 and items.index(r) > items.index(closed)
                       for r in items)  # closed without a liq event after the reconnect

    run_stream([first, second], QuietProtocol(["liq", "tick"]), body, settings)


def test_a_malformed_frame_is_skipped_with_a_point_gap_and_the_stream_goes_on() -> None:
    async def script(ws: web.WebSocketResponse, conn: Conn) -> None:
        await wait_subscribed(conn, 1)
        await ws.send_str(frame("a", 0))
        await ws.send_str(frame("a", 1)[:-7])  # truncated
        await ws.send_str(json.dumps({"ch": "a"}))  # valid JSON, not a documented shape
        await ws.send_str(frame("a", 2))
        await asyncio.sleep(3600)

    async def body(it: AsyncIterator[Record], server: Server) -> None:
        items = await collect(it, lambda got: sum(isinstance(r, PriceQuote) for r in got) >= 2, "two quotes")
        seqs = [int(r.last_price or 0) for r in items if isinstance(r, PriceQuote)]
        assert seqs == [0, 2]
        bad = gaps(items)
        assert [g.reason for g in bad] == ["malformed", "malformed"]
        assert all(g.start == g.end and g.stream == "a" for g in bad)
        assert len(server.conns) == 1  # no reconnect for a bad frame

    run_stream([script], EchoProtocol(["a"]), body)


def test_a_server_ping_is_answered_with_its_payload() -> None:
    async def script(ws: web.WebSocketResponse, conn: Conn) -> None:
        await wait_subscribed(conn, 1)
        await ws.ping(b"dtrack-ping-42")
        await until(lambda: bool(conn.pongs), "the pong")
        await ws.send_str(frame("a", 0))
        await asyncio.sleep(3600)

    async def body(it: AsyncIterator[Record], server: Server) -> None:
        await collect(it, lambda got: any(isinstance(r, PriceQuote) for r in got), "a quote")
        assert server.conns[0].pongs[0] == b"dtrack-ping-42"

    run_stream([script], EchoProtocol(["a"]), body)


def test_the_client_keep_alive_message_is_sent_and_its_answer_is_not_data() -> None:
    async def body(it: AsyncIterator[Record], server: Server) -> None:
        await collect(it, lambda got: sum(isinstance(r, PriceQuote) for r in got) >= 1, "a quote")
        await until(lambda: server.conns[0].received.count("ping") >= 2, "two pings")

    run_stream([send_then(1, ["a"], "keep")], EchoProtocol(["a"], ping_every=0.05), body)


def test_refused_connections_are_retried_with_backoff_until_the_server_comes_up() -> None:
    async def main() -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = Server([send_then(3, ["a"], "keep")])
        async with aiohttp.ClientSession() as session:
            it = wsmod.stream(session, [(f"ws://127.0.0.1:{port}", EchoProtocol(["a"]))], FAST, now=now)
            try:
                first = await collect(it, lambda got: bool(got), "the error gap")
                assert isinstance(first[0], Gap) and first[0].reason == "error" and first[0].end is None
                await server.start(port)  # the venue comes back on the same port
                items = await collect(it, lambda got: bool(gaps(got, closed=True)) and isinstance(got[-1], PriceQuote),
                                      "the closed gap and data")
                closed = gaps(items, closed=True)[0]
                assert (closed.stream, closed.reason, closed.start) == ("a", "error", first[0].start)
                assert any(isinstance(r, PriceQuote) for r in items)
            finally:
                await it.aclose()  # type: ignore[attr-defined]
                await server.stop()

    asyncio.run(main())


def test_the_connection_is_renewed_before_the_venue_cuts_it() -> None:
    async def body(it: AsyncIterator[Record], server: Server) -> None:
        items = await collect(it, lambda got: bool(gaps(got, closed=True)), "a renewal")
        assert gaps(items)[0].reason == "disconnect"
        await until(lambda: len(server.conns) >= 2 and server.conns[0].closed.is_set(), "the old socket closed")

    run_stream([send_then(1, ["a"], "keep")], EchoProtocol(["a"], max_age=0.3), body)


def test_a_refused_subscription_is_an_error_gap_and_does_not_stop_the_others() -> None:
    async def script(ws: web.WebSocketResponse, conn: Conn) -> None:
        await wait_subscribed(conn, 2)
        await ws.send_str(json.dumps({"event": "refused", "ch": "bad"}))
        seq = 0
        while True:
            await ws.send_str(frame("a", seq))
            seq += 1
            await asyncio.sleep(0.01)

    async def body(it: AsyncIterator[Record], server: Server) -> None:
        items = await collect(it, lambda got: sum(isinstance(r, PriceQuote) for r in got) >= 40, "40 quotes")
        refused = gaps(items)
        assert [(g.stream, g.reason, g.end) for g in refused] == [("bad", "error", None)]
        assert len(server.conns) == 1  # the silent refused channel does not trip the watchdog

    run_stream([script], EchoProtocol(["a", "bad"], stall_after=0.2), body)


def test_closing_the_iterator_closes_the_socket() -> None:
    async def body(it: AsyncIterator[Record], server: Server) -> None:
        await collect(it, lambda got: bool(got), "a record")
        await it.aclose()  # type: ignore[attr-defined]
        await until(lambda: server.conns[0].closed.is_set(), "the server to see the close")

    run_stream([send_then(1, ["a"], "keep")], EchoProtocol(["a"]), body)


def test_subscriptions_are_chunked_per_request() -> None:
    async def body(it: AsyncIterator[Record], server: Server) -> None:
        await collect(it, lambda got: bool(got), "a record")
        subs = [json.loads(t)["args"] for t in server.conns[0].received if t.startswith("{")]
        assert subs == [["a", "b"], ["c", "d"], ["e"]]

    run_stream([send_then(1, ["a", "b", "c", "d", "e"], "keep")], EchoProtocol(["a", "b", "c", "d", "e"]), body)


def test_ws_urls_go_through_the_proxy_of_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """aiohttp alone only reads WS(S)_PROXY for ws(s) URLs; dtrack maps them to HTTP(S)_PROXY too."""
    lines: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines.append(await reader.readline())
        writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(proxy, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
        for var in ("NO_PROXY", "no_proxy", "WS_PROXY", "WSS_PROXY", "ws_proxy", "wss_proxy", "http_proxy",
                    "https_proxy"):
            monkeypatch.delenv(var, raising=False)
        async with server, aiohttp.ClientSession(trust_env=True) as session:
            it = wsmod.stream(session, [("wss://venue.invalid:9443", EchoProtocol(["a"])),
                                        ("ws://plain.invalid:8080", EchoProtocol(["b"]))], FAST, now=now)
            try:
                items = await collect(it, lambda got: len(got) >= 2, "two error gaps")
            finally:
                await it.aclose()  # type: ignore[attr-defined]
        assert {(g.stream, g.reason) for g in gaps(items)} == {("a", "error"), ("b", "error")}
        seen = b"".join(lines)
        assert b"CONNECT venue.invalid:9443" in seen  # wss: tunnelled through HTTPS_PROXY
        assert b"plain.invalid:8080" in seen  # ws: sent to HTTP_PROXY

    asyncio.run(main())


def test_env_proxy_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("NO_PROXY", "no_proxy", "WS_PROXY", "WSS_PROXY", "ws_proxy", "wss_proxy", "http_proxy",
                "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    assert env_proxy("wss://a.example/ws", True) is None
    monkeypatch.setenv("HTTPS_PROXY", "http://p1:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://p2:3128")
    assert env_proxy("wss://a.example/ws", True) == "http://p1:3128"
    assert env_proxy("ws://a.example/ws", True) == "http://p2:3128"
    assert env_proxy("wss://a.example/ws", False) is None  # the sim: never through a proxy
    monkeypatch.setenv("WSS_PROXY", "http://p3:3128")
    assert env_proxy("wss://a.example/ws", True) == "http://p3:3128"
    monkeypatch.setenv("NO_PROXY", "a.example")
    assert env_proxy("wss://a.example/ws", True) is None


def test_backoff_grows_to_the_cap_with_jitter() -> None:
    import random

    rng = random.Random(1)
    delays = [backoff_delay(k, 0.5, 30.0, rng) for k in range(12)]
    assert all(0.25 <= d < 30.0 for d in delays)
    assert all(0.5 * 0.5 * 2**k <= d < 0.5 * 2**k for k, d in enumerate(delays[:6]))
    assert all(15.0 <= d < 30.0 for d in delays[7:])
    assert chunks(list(range(5)), 2) == [[0, 1], [2, 3], [4]]


# --- batches: one list per frame, through every layer ----------------------------------------------------------


class PairProtocol(EchoProtocol):
    """``EchoProtocol`` whose data frames carry two records each (seq and seq + 0.5)."""

    def handle(self, text: str, received_at: datetime) -> Frame:
        frame = super().handle(text, received_at)
        if frame.channel is None:
            return frame
        (quote,) = frame.records
        half = PriceQuote(instrument=INST, time=None, received_at=received_at, mark_price=quote.mark_price,
                          last_price=(quote.last_price or 0.0) + 0.5)
        return Frame(channel=frame.channel, records=[quote, half])


class ByChannel(EchoProtocol):
    """``EchoProtocol`` whose quotes name their channel as the instrument's symbol."""

    def handle(self, text: str, received_at: datetime) -> Frame:
        frame = super().handle(text, received_at)
        if frame.channel is None:
            return frame
        (quote,) = frame.records
        return Frame(channel=frame.channel, records=[replace(quote, instrument=replace(INST, symbol=frame.channel))])


def seqs(batch: Sequence[Record]) -> list[float]:
    return [r.last_price or 0.0 for r in batch if isinstance(r, PriceQuote)]


def test_stream_batches_hand_on_each_frame_whole_with_the_gap_it_closes_first() -> None:
    async def main() -> list[list[Record]]:
        server = await Server([send_then(3, ["a"], "close"), send_then(2, ["a"], "hang")]).start()
        try:
            async with aiohttp.ClientSession() as session:
                it = wsmod.stream_batches(session, [(server.base, PairProtocol(["a"]))], FAST, now=now)
                got: list[list[Record]] = []
                try:
                    async with asyncio.timeout(WAIT):
                        async for batch in it:
                            got.append(batch)
                            if any(isinstance(r, Gap) and r.end is not None for r in batch) or len(got) > 20:
                                break
                finally:
                    await it.aclose()
                return got
        finally:
            await server.stop()

    got = asyncio.run(main())
    assert all(type(b) is list and b for b in got)
    assert [seqs(b) for b in got[:3]] == [[0.0, 0.5], [1.0, 1.5], [2.0, 2.5]]  # a frame's records together
    (opened,) = got[3]  # the gap opened when the venue closed: a batch of its own
    assert isinstance(opened, Gap) and (opened.stream, opened.reason, opened.end) == ("a", "disconnect", None)
    closed, *rest = got[4]  # the first frame after the reconnect: the closed gap first, then its records
    assert isinstance(closed, Gap) and (closed.stream, closed.start, closed.reason) == ("a", opened.start,
                                                                                         "disconnect")
    assert closed.end is not None and seqs(rest) == [0.0, 0.5] and len(got) == 5


def test_stream_yields_the_same_records_one_by_one() -> None:
    async def body(it: AsyncIterator[Record], server: Server) -> None:
        items = await collect(it, lambda got: len(got) >= 6, "six records")
        assert [r.last_price for r in items if isinstance(r, PriceQuote)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]

    run_stream([send_then(3, ["a"], "hang")], PairProtocol(["a"]), body)


def test_linger_reads_in_rounds_and_loses_nothing_of_a_busy_socket() -> None:
    n = 300

    async def burst(ws: web.WebSocketResponse, conn: Conn) -> None:
        await wait_subscribed(conn, 2)
        for seq in range(n):
            for ch in ("a", "b"):
                await ws.send_str(frame(ch, seq))
            if seq % 50 == 0:
                await asyncio.sleep(0.02)  # several rounds of reading
        await asyncio.sleep(3600)

    async def main() -> tuple[list[list[Record]], bool]:
        server = await Server([burst]).start()
        try:
            async with aiohttp.ClientSession() as session:
                probe = await session.ws_connect(f"{server.base}/feed")
                hooks = wsmod._ReadRounds.of(probe) is not None  # this aiohttp offers what the rounds need
                await probe.close()
                it = wsmod.stream_batches(session, [(server.base, ByChannel(["a", "b"]))], FAST, now=now,
                                          linger=0.05)
                got: list[list[Record]] = []
                try:
                    async with asyncio.timeout(WAIT):
                        async for batch in it:
                            got.append(batch)
                            if sum(len(b) for b in got) >= 2 * n:
                                break
                finally:
                    await it.aclose()
                await until(lambda: all(c.closed.is_set() for c in server.conns[1:]), "the socket closed")
                return got, hooks
        finally:
            await server.stop()

    got, hooks = asyncio.run(main())
    assert hooks
    items = [r for b in got for r in b]
    quotes = [q for q in items if isinstance(q, PriceQuote)]
    assert quotes == items  # no gap
    for ch in ("a", "b"):  # every frame, in the order sent
        assert [int(q.last_price or 0) for q in quotes if q.instrument.symbol == ch] == list(range(n))


def test_time_waiting_for_a_slow_consumer_is_not_silence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wsmod, "QUEUE_SIZE", 1)  # the connection waits for the consumer after every record

    async def body(it: AsyncIterator[Record], server: Server) -> None:
        got: list[Record] = []
        async with asyncio.timeout(WAIT):
            async for record in it:
                got.append(record)
                if len(got) >= 5:
                    break
                await asyncio.sleep(0.5)  # longer than the stall threshold, each time
        assert all(isinstance(r, PriceQuote) for r in got)  # no stall gap
        assert len(server.conns) == 1

    run_stream([send_then(1, ["a"], "keep")], EchoProtocol(["a"], stall_after=0.3), body)


RECORD = PriceQuote(instrument=INST, time=None, received_at=datetime(2026, 1, 1, tzinfo=UTC), mark_price=1.0)


def test_the_batch_queue_counts_records_not_batches() -> None:
    async def main() -> None:
        q = wsmod._BatchQueue(5)
        q.put_nowait([RECORD, RECORD, RECORD])
        assert not q.full() and q.records == 3
        q.put_nowait([RECORD, RECORD, RECORD])  # admitted: fewer than 5 waited
        assert q.full() and q.records == 6 and q.qsize() == 2
        with pytest.raises(asyncio.QueueFull):
            q.put_nowait([RECORD])
        assert q.get_nowait() == [RECORD] * 3 and q.records == 3 and not q.full()

    asyncio.run(main())


def test_a_job_that_dies_while_the_queue_is_full_still_ends_the_iteration_with_its_error() -> None:
    class Boom(Exception):
        pass

    async def job(put: wsmod.Put) -> None:
        await put([RECORD] * wsmod.QUEUE_SIZE)
        await put([RECORD] * wsmod.QUEUE_SIZE)  # waits for the first to be taken; then the queue is full again
        raise Boom("a bug in a venue's stream")  # ... and the failure marker does not fit in it

    async def main() -> list[int]:
        got: list[int] = []
        with pytest.raises(Boom):
            async with asyncio.timeout(WAIT):
                async for batch in wsmod.fan_in([job]):
                    got.append(len(batch))
                    await asyncio.sleep(0.01)  # a consumer busy with each batch: the job dies meanwhile
        return got

    assert asyncio.run(main()) == [wsmod.QUEUE_SIZE] * 2  # both batches, then the error (not a wait forever)


def test_fan_in_with_linger_yields_every_batch_in_order() -> None:
    async def job(put: wsmod.Put, name: str) -> None:
        for i in range(30):
            await put([Gap(venue=name, stream=str(i), start=RECORD.received_at, end=None, reason="x",
                           received_at=RECORD.received_at)])
            if i % 7 == 0:
                await asyncio.sleep(0.001)
        await asyncio.sleep(3600)

    async def main() -> list[list[Record]]:
        it = wsmod.fan_in([lambda put: job(put, "x"), lambda put: job(put, "y")], linger=0.02)
        got: list[list[Record]] = []
        async with asyncio.timeout(WAIT):
            async for batch in it:
                got.append(batch)
                if len(got) == 60:
                    break
        await it.aclose()
        return got

    got = asyncio.run(main())
    for name in ("x", "y"):
        assert [g.stream for (g,) in got if isinstance(g, Gap) and g.venue == name] == [str(i) for i in range(30)]


def test_run_into_hands_on_directly_and_a_failing_job_cancels_the_others() -> None:
    async def main() -> None:
        cancelled: list[str] = []
        got: list[list[Record]] = []

        async def put(batch: list[Record]) -> None:
            got.append(batch)

        async def waits(put: wsmod.Put) -> None:
            await put([RECORD])
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append("waits")
                raise

        async def breaks(put: wsmod.Put) -> None:
            await asyncio.sleep(0)
            raise KeyError("a bug")

        with pytest.raises(KeyError, match="a bug"):
            await wsmod.run_into([waits, breaks], put)
        assert got == [[RECORD]] and cancelled == ["waits"]
        task = asyncio.ensure_future(wsmod.run_into([waits, waits], put))
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled() and cancelled == ["waits"] * 3 and len(got) == 3

    asyncio.run(main())


def test_records_read_one_by_one_or_as_batches() -> None:
    batches = [[RECORD], [RECORD, Gap(venue="v", stream="s", start=RECORD.received_at, end=None, reason="x",
                                      received_at=RECORD.received_at)]]

    async def make() -> AsyncIterator[list[Record]]:
        for batch in batches:
            yield batch

    async def main() -> None:
        records = wsmod.Records(make)  # type: ignore[arg-type]
        got: list[list[Record]] = []

        async def put(batch: list[Record]) -> None:
            got.append(batch)

        await records.into(put)  # no feed: the batches, pushed
        assert got == batches
        assert [b async for b in records.batches()] == batches
        assert [r async for r in records] == [r for b in batches for r in b]
        with pytest.raises(RuntimeError, match="record by record"):
            records.batches()
        await records.aclose()

    asyncio.run(main())


def test_the_alarm_interrupts_a_wait_and_yields_to_another_cancellation() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        alarm = wsmod._Alarm(loop)
        alarm.set(loop.time() + 0.01)
        alarm.armed = True
        with pytest.raises(asyncio.CancelledError):
            await loop.create_future()
        alarm.armed = False
        assert alarm.rang() and task.cancelling() == 0  # its own: undone
        alarm.set(loop.time() + 0.01)  # not waiting when it rings: nothing happens
        await asyncio.sleep(0.05)
        assert not alarm.rang()
        alarm.set(loop.time())
        alarm.armed = True
        loop.call_soon(task.cancel)  # someone else cancels at the same time
        with pytest.raises(asyncio.CancelledError):
            await loop.create_future()
        alarm.armed = False
        assert not alarm.rang() and task.cancelling() == 1  # the other cancellation stands
        task.uncancel()
        alarm.clear()

    asyncio.run(main())
