"""Simulated Hyperliquid WebSocket: ``wss://api.hyperliquid.xyz/ws`` (WebSocket host ``ws``), subscription type
``activeAssetCtx`` of a perp coin.

``{"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": "BTC"}}`` is answered with
``{"channel": "subscriptionResponse", "data": <the request>}``, then the coin's context is pushed at once and every
500 ms: ``{"channel": "activeAssetCtx", "data": {"coin", "ctx"}}``, where ``ctx`` is the coin's asset context of the
REST ``metaAndAssetCtxs`` answer of the same moment (``dtrack.sim.venues.hyperliquid``: funding, openInterest,
prevDayPx, dayNtlVlm, premium, oraclePx, markPx, midPx, impactPxs, dayBaseVlm, numbers as strings, as observed on
the real channel; the docs' type sketch says numbers). ``unsubscribe`` mirrors it.
Refusals come as ``{"channel": "error", "data": "..."}``: ``Invalid subscription {...}`` for another type or a coin
the perp universe does not list, ``Already subscribed: ...`` / ``Already unsubscribed: ...``, and a message that is
not a request ``Error parsing JSON into valid websocket request: ...`` (wording as seen from the venue, not
documented).
Keep-alive: ``{"method": "ping"}`` -> ``{"channel": "pong"}``; a connection the client left silent for
``StreamOptions.idle_close_s`` (60 s) is closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from dtrack.sim.streams import Connection, Protocol, dumps, loads

VENUE = "hyperliquid"
REST_HOST = "rest"
INFO = "/info"
CHANNEL = "activeAssetCtx"
CADENCE_S = 0.5


def push(coin: str, ctx: Any) -> dict[str, Any]:
    """One ``activeAssetCtx`` message."""
    return {"channel": CHANNEL, "data": {"coin": coin, "ctx": ctx}}


def error(text: str) -> dict[str, Any]:
    """A refusal."""
    return {"channel": "error", "data": text}


def subscription_key(subscription: Any) -> str | None:
    """The key of a well-formed ``activeAssetCtx`` subscription (its coin), else None."""
    if not isinstance(subscription, dict) or subscription.get("type") != CHANNEL:
        return None
    coin = subscription.get("coin")
    return coin if isinstance(coin, str) else None


class HyperliquidProtocol(Protocol):
    """The ``/ws`` endpoint: ``activeAssetCtx``, ping, idle close."""

    venue = VENUE
    hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {"ws": ("/ws",)}

    def opened(self, conn: Connection) -> None:
        """Watch for a client gone silent."""
        idle = conn.options.idle_close_s
        conn.every(min(1.0, idle / 4), lambda: self._close_if_idle(conn, idle))

    async def received(self, conn: Connection, text: str) -> None:
        """Answer ``ping``, ``subscribe`` and ``unsubscribe``."""
        msg = loads(text)
        method = msg.get("method") if isinstance(msg, dict) else None
        if method == "ping":
            await conn.reply({"channel": "pong"})
            return
        if method not in ("subscribe", "unsubscribe") or not isinstance(msg, dict):
            await conn.reply(error(f"Error parsing JSON into valid websocket request: {text}"))
            return
        subscription = msg.get("subscription")
        coin = subscription_key(subscription)
        if coin is None or self._ctx(coin, self.rest.now_ms()) is None:
            await conn.reply(error(f"Invalid subscription {dumps(subscription)}"))
        elif method == "subscribe" and conn.subscribed(coin):
            await conn.reply(error(f"Already subscribed: {dumps(subscription)}"))
        elif method == "unsubscribe" and not conn.unsubscribe(coin):
            await conn.reply(error(f"Already unsubscribed: {dumps(subscription)}"))
        else:
            await conn.reply({"channel": "subscriptionResponse", "data": msg})
            if method == "subscribe":
                self._start(conn, coin)

    def _ctx(self, coin: str, now_ms: int) -> Any:
        """The coin's asset context in the REST ``metaAndAssetCtxs`` answer at ``now_ms``, None if not listed."""
        meta, ctxs = self.rest.answer(VENUE, REST_HOST, INFO, now_ms, body={"type": "metaAndAssetCtxs"},
                                      method="POST")
        names = [entry["name"] for entry in meta["universe"]]
        return ctxs[names.index(coin)] if coin in names else None

    def _start(self, conn: Connection, coin: str) -> None:
        def build(now_ms: int) -> str | None:
            return dumps(push(coin, self._ctx(coin, now_ms)))

        conn.subscribe(coin, CHANNEL, build, CADENCE_S, first_now=True)

    @staticmethod
    async def _close_if_idle(conn: Connection, idle_s: float) -> None:
        if not conn.stalled and conn.clock() - conn.last_recv > idle_s:
            await conn.close()


PROTOCOL = HyperliquidProtocol
