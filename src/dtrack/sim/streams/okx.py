"""Simulated OKX v5 public stream: ``wss://ws.okx.com:8443/ws/v5/public`` (WebSocket host ``ws``), channels
``funding-rate`` (perpetual swaps), ``mark-price`` and ``open-interest`` (swaps and dated futures) per ``instId``.

Each push is ``{"arg": {"channel", "instId"}, "data": [row]}`` where ``row`` is the REST answer of the same moment
(``/api/v5/public/funding-rate``, ``mark-price``, ``open-interest`` of ``dtrack.sim.venues.okx``), whose fields are
those of OKX's push-data examples for the three channels (numbers as strings). The current value is pushed right
after the subscription, then ``mark-price`` every 200 ms (OKX: every 200 ms while it changes), ``open-interest``
every 3 s and ``funding-rate`` every 30 s (OKX: every 30 to 90 s).

Liquidations: ``liquidation-orders`` subscribed per ``instType`` (``{"channel": "liquidation-orders", "instType":
"SWAP"}`` or ``"FUTURES"``; no instId: one subscription covers every contract of the type). Pushes
``{"arg", "data": [{"details": [{"bkLoss", "bkPx", "ccy", "posSide", "side", "sz", "ts"}], "instFamily", "instId",
"instType", "uly"}]}`` (one row per contract, its events as ``details``), every second, of the liquidations of
``dtrack.sim.liquidations`` sampled as OKX says (at most one order per contract per second: the same sampling as
Binance's ``forceOrder``). ``side`` is the ORDER side (sell closes a long); ``posSide`` is ``long`` / ``short`` for a
hedge-mode position (about 60 %) and ``net`` otherwise; ``sz`` in contracts, ``bkPx`` the bankruptcy price, ``bkLoss``
mostly "0", ``ccy`` "". The FIRST push after a subscription (sent at once) is a backlog: the sampled liquidations
of the last minute, which earlier subscribers already had (a client must de-duplicate them; Tardis drops that push);
none when that minute had none.

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

from dtrack.sim.liquidations import SAMPLE_MS, SimLiquidation, by_time, plain
from dtrack.sim.model import SimFuture, SimPerp
from dtrack.sim.server import SimHttpError
from dtrack.sim.streams import Connection, Protocol, dumps, loads
from dtrack.sim.venues.okx import tick_size

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


LIQUIDATIONS = "liquidation-orders"
#: the instTypes whose liquidation orders the sim serves
LIQUIDATION_TYPES = ("SWAP", "FUTURES")
#: how often the channel looks for sampling windows that have closed
LIQUIDATION_CADENCE_S = 1.0
#: the first push after a subscription repeats the sampled liquidations of this last stretch (a backlog)
BACKLOG_MS = 60_000
#: share of liquidations of hedge-mode positions (posSide long / short); the others are net-mode (posSide net)
HEDGE_SHARE = 0.6


def inst_type(inst_id: str) -> str:
    """``SWAP`` for a perpetual swap's instId (``BTC-USDT-SWAP``), else ``FUTURES``."""
    return "SWAP" if inst_id.endswith("-SWAP") else "FUTURES"


def push(arg: Mapping[str, str], row: Mapping[str, Any]) -> dict[str, Any]:
    """One push message of a channel."""
    return {"arg": dict(arg), "data": [dict(row)]}


def liquidation_detail(e: SimLiquidation) -> dict[str, Any]:
    """One ``details`` row: ``side`` the ORDER side (sell closes a long), ``posSide`` ``long`` / ``short`` for a
    hedge-mode position or ``net``, ``sz`` in contracts, ``bkPx`` the bankruptcy price, ``bkLoss`` the loss past
    bankruptcy (mostly 0), ``ccy`` empty (MARGIN only)."""
    hedge = e.draw < HEDGE_SHARE
    # one in ten lost past bankruptcy: up to 0.1 % of the notional, in the margin currency (the coin on inverse)
    lost = e.usd * 0.01 * max(0.0, 10.0 * e.draw % 1.0 - 0.9)
    loss = plain(lost / e.price if e.contract.margin == "inverse" else lost, 1e-8) if lost else "0"
    return {"bkLoss": loss, "bkPx": plain(e.bankruptcy, tick_size(e.contract)), "ccy": "",
            "posSide": e.side if hedge else "net", "side": e.order_side, "sz": plain(e.qty, 1.0),
            "ts": str(e.t_ms)}


def family(contract: SimPerp | SimFuture) -> str:
    """An OKX contract's instFamily (and uly): ``BTC-USDT``, ``BTC-USD``."""
    return f"{contract.asset}-{contract.quote}"


def liquidation_push(arg: Mapping[str, str], events: list[SimLiquidation]) -> dict[str, Any]:
    """One push of ``liquidation-orders``: one data row per instrument (in order of its first event), its events as
    ``details``."""
    rows: dict[str, dict[str, Any]] = {}
    for e in events:
        c = e.contract
        row = rows.setdefault(c.symbol, {"details": [], "instFamily": family(c), "instId": c.symbol,
                                         "instType": inst_type(c.symbol), "uly": family(c)})
        row["details"].append(liquidation_detail(e))
    return {"arg": dict(arg), "data": list(rows.values())}


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
        if isinstance(arg, dict) and arg.get("channel") == LIQUIDATIONS:
            await self._liquidations(conn, msg, op, arg)
            return
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

    async def _liquidations(self, conn: Connection, msg: dict[str, Any], op: str, arg: dict[str, Any]) -> None:
        """``liquidation-orders`` of an instType: ack, then a backlog (the sampled liquidations of the last
        ``BACKLOG_MS``, already pushed to earlier subscribers) and, as each sampling window closes, its sampled
        liquidations of every contract of the type (at most one per contract per second)."""
        kind = arg.get("instType")
        if kind not in LIQUIDATION_TYPES:
            await conn.reply(self._error(conn, msg, "60018", f"Wrong URL or channel:{LIQUIDATIONS},instType:{kind} "
                                                             f"doesn't exist. Please use the correct URL, channel and "
                                                             f"parameters referring to API document."))
            return
        arg = {"channel": LIQUIDATIONS, "instType": str(kind)}
        head = {"id": msg["id"]} if "id" in msg else {}
        await conn.reply({**head, "event": op, "arg": arg, "connId": conn.id[:8]})
        key = f"{LIQUIDATIONS}:{kind}"
        if op == "unsubscribe":
            conn.unsubscribe(key)
            return
        model, liquidations = self.rest.model, self.hub.liquidations
        start = [-(-self.rest.now_ms() // SAMPLE_MS) * SAMPLE_MS - BACKLOG_MS]

        def contracts(now_ms: int) -> list[SimPerp | SimFuture]:
            if kind == "SWAP":
                return list(model.perps(VENUE, REST_HOST))
            return list(model.futures(VENUE, now_ms, REST_HOST))

        def build(now_ms: int) -> str | None:
            end = now_ms // SAMPLE_MS * SAMPLE_MS
            if end <= start[0]:
                return None
            found = by_time(e for c in contracts(now_ms) for e in liquidations.sampled(c, start[0], end))
            start[0] = end
            return dumps(liquidation_push(arg, found)) if found else None

        conn.subscribe(key, LIQUIDATIONS, build, LIQUIDATION_CADENCE_S, first_now=True)

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
