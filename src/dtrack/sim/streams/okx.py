"""Simulated OKX v5 public stream: ``wss://ws.okx.com:8443/ws/v5/public`` (WebSocket host ``ws``), channels
``funding-rate`` (perpetual swaps), ``mark-price`` and ``open-interest`` (swaps and dated futures) per ``instId``.

Each push is ``{"arg": {"channel", "instId"}, "data": [row]}`` where ``row`` is the REST answer of the same moment
(``/api/v5/public/funding-rate``, ``mark-price``, ``open-interest`` of ``dtrack.sim.venues.okx``), whose fields are
those of OKX's push-data examples for the three channels (numbers as strings). The current value is pushed right
after the subscription, then ``mark-price`` every 200 ms (OKX: every 200 ms while it changes), ``open-interest``
every 3 s and ``funding-rate`` every 30 s (OKX: every 30 to 90 s).

Messages as OKX documents them: ``{"op": "subscribe", "args": [{"channel", "instId"}, ...], "id"?}`` -> one
``{"id"?, "event": "subscribe", "arg": {...}, "connId"}`` per arg; an instrument or channel the sim does not serve
-> ``{"id"?, "event": "error", "code": "60018", "msg": "Wrong URL or channel:..,instId:.. doesn't exist. ..."}``
(the error-code table's wording); a message that is not a request -> 60012 ``Invalid request: ...``; an unknown op ->
60019 ``Invalid op: ...``. Keep-alive: the text ``ping`` is answered with the text ``pong``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from dtrack.sim.server import SimHttpError
from dtrack.sim.streams import Connection, Protocol, dumps, loads

VENUE = "okx"
REST_HOST = "rest"


@dataclass(frozen=True, slots=True)
class Channel:
    """A served channel: the REST endpoint whose row it pushes, and how often (seconds)."""

    path: str
    cadence_s: float
    with_inst_type: bool  # the endpoint also needs ``instType``


CHANNELS = {
    "funding-rate": Channel("/api/v5/public/funding-rate", 30.0, with_inst_type=False),
    "mark-price": Channel("/api/v5/public/mark-price", 0.2, with_inst_type=True),
    "open-interest": Channel("/api/v5/public/open-interest", 3.0, with_inst_type=True),
}


def inst_type(inst_id: str) -> str:
    """``SWAP`` for a perpetual swap's instId (``BTC-USDT-SWAP``), else ``FUTURES``."""
    return "SWAP" if inst_id.endswith("-SWAP") else "FUTURES"


def push(arg: Mapping[str, str], row: Mapping[str, Any]) -> dict[str, Any]:
    """One push message of a channel."""
    return {"arg": dict(arg), "data": [dict(row)]}


def not_served(arg: Mapping[str, Any]) -> str:
    """Error 60018's message for an arg naming a channel or instrument that does not exist."""
    return (f"Wrong URL or channel:{arg.get('channel')},instId:{arg.get('instId')} doesn't exist. Please use the "
            f"correct URL, channel and parameters referring to API document.")


class OkxProtocol(Protocol):
    """The public endpoint's three channels."""

    venue = VENUE
    hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {"ws": ("/ws/v5/public",)}

    async def received(self, conn: Connection, text: str) -> None:
        """Answer ``ping``, ``subscribe`` and ``unsubscribe``."""
        if text == "ping":
            await conn.reply("pong")
            return
        msg = loads(text)
        if not isinstance(msg, dict) or not isinstance(msg.get("args"), list) or "op" not in msg:
            await conn.reply(self._error(conn, msg, "60012", f"Invalid request: {text}"))
            return
        op = msg["op"]
        if op not in ("subscribe", "unsubscribe"):
            await conn.reply(self._error(conn, msg, "60019", f"Invalid op: {op}"))
            return
        for arg in msg["args"]:
            await self._one(conn, msg, str(op), arg)

    @staticmethod
    def _error(conn: Connection, msg: Any, code: str, text: str) -> dict[str, Any]:
        head = {"id": msg["id"]} if isinstance(msg, dict) and "id" in msg else {}
        return {**head, "event": "error", "code": code, "msg": text, "connId": conn.id[:8]}

    async def _one(self, conn: Connection, msg: dict[str, Any], op: str, arg: Any) -> None:
        """Ack (or refuse) one arg of a request, then start or stop its pushes."""
        if not isinstance(arg, dict) or self._row(arg, self.rest.now_ms()) is None:
            await conn.reply(self._error(conn, msg, "60018", not_served(arg if isinstance(arg, dict) else {})))
            return
        arg = {"channel": str(arg["channel"]), "instId": str(arg["instId"])}
        head = {"id": msg["id"]} if "id" in msg else {}
        await conn.reply({**head, "event": op, "arg": arg, "connId": conn.id[:8]})
        key = f"{arg['channel']}:{arg['instId']}"
        if op == "unsubscribe":
            conn.unsubscribe(key)
            return

        def build(now_ms: int) -> str | None:
            row = self._row(arg, now_ms)
            if row is None:  # a dated future delivered under the subscription
                raise LookupError(key)
            return dumps(push(arg, row))

        conn.subscribe(key, arg["channel"], build, CHANNELS[arg["channel"]].cadence_s, first_now=True)

    def _row(self, arg: Mapping[str, Any], now_ms: int) -> dict[str, Any] | None:
        """The REST row of an arg's channel and instrument at ``now_ms``, None if either is not served."""
        channel, inst_id = CHANNELS.get(str(arg.get("channel"))), arg.get("instId")
        if channel is None or not isinstance(inst_id, str):
            return None
        query = {"instId": inst_id, **({"instType": inst_type(inst_id)} if channel.with_inst_type else {})}
        try:
            answer = self.rest.answer(VENUE, REST_HOST, channel.path, now_ms, query)
        except SimHttpError:
            return None
        rows = answer.get("data") if answer.get("code") == "0" else None
        return dict(rows[0]) if rows else None


PROTOCOL = OkxProtocol
