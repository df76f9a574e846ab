"""Simulated Deribit API v2 over WebSocket: ``wss://www.deribit.com/ws/api/v2`` (WebSocket host ``ws``), JSON-RPC
2.0, channel ``ticker.{instrument}.{interval}``.

``public/subscribe`` ``{"channels": [...]}`` answers the list of channels subscribed: ``ticker.<name>.100ms`` or
``.agg2`` of any instrument REST ``public/ticker`` knows (perpetuals and dated futures; options too). A channel it
cannot serve (an unknown instrument, another channel, or ``raw``, which Deribit keeps for authenticated connections)
is left out of the answer, as Deribit does. Every 100 ms a notification
``{"jsonrpc": "2.0", "method": "subscription", "params": {"channel", "data"}}`` carries the REST ticker of that
moment (``dtrack.sim.venues.deribit``), whose fields are the real capture's (``deribit__ws_ticker__capture.json``)
for an option and those of the perpetual ticker docs example for a perpetual or future.
Also served: ``public/unsubscribe``, ``public/unsubscribe_all``, ``public/test``, ``public/set_heartbeat``,
``public/disable_heartbeat``; another method answers -32601 ``Method not found``.

Keep-alive: after ``public/set_heartbeat`` ``{"interval": N}`` (N >= 10 seconds, x ``StreamOptions.heartbeat_scale``)
the server sends ``{"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}}`` every N seconds;
a connection that has not called ``public/test`` since the previous test_request is closed, as Deribit does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from dtrack.sim.server import SimHttpError
from dtrack.sim.streams import Connection, Protocol, dumps, loads
from dtrack.sim.venues.deribit import envelope  # the usIn / usOut / usDiff / testnet fields of every answer

VENUE = "deribit"
REST_HOST = "rest"
TICKER = "/api/v2/public/ticker"
INTERVALS = ("100ms", "agg2")
CADENCE_S = 0.1
MIN_HEARTBEAT_S = 10
VERSION = "1.2.26"
#: connection state: whether the last test_request is still unanswered, and the heartbeat timer
AWAITING_TEST = "awaiting_test"
HEARTBEAT = "heartbeat"


def ticker_instrument(channel: Any) -> str | None:
    """The instrument of a ``ticker.<instrument>.<interval>`` channel the sim can serve, else None."""
    if not isinstance(channel, str) or not channel.startswith("ticker."):
        return None
    name, _, interval = channel[len("ticker."):].rpartition(".")
    return name if name and interval in INTERVALS else None


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
            channels = [c for c in params.get("channels", []) if self._ticker(c, now) is not None]
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

    def _start(self, conn: Connection, channel: str) -> None:
        def build(now_ms: int) -> str | None:
            data = self._ticker(channel, now_ms)
            if data is None:  # a dated future expired under the subscription
                raise LookupError(channel)
            return dumps(notification(channel, data))

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


PROTOCOL = DeribitProtocol
