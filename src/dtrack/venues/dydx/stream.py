"""dYdX v4 liquidations over the indexer's WebSocket: the trades of type ``LIQUIDATED`` on ``v4_trades`` (pure
parsing; the only state is the set of keys already handed on).

Host ``ws`` (``wss://indexer.dydx.trade``), path ``/v4/ws`` (the indexer's ``socks`` service, dydxprotocol/v4-chain
``indexer/services/socks``). On connecting the server sends ``{"type": "connected", "connection_id", "message_id":
0}``. Subscribe one market a message: ``{"type": "subscribe", "channel": "v4_trades", "id": "BTC-USD"}`` (at most
32 ``v4_trades`` subscriptions a connection: ``V4_TRADES_CHANNEL_LIMIT``; subscribing is limited per connection,
channel and id, 2 a second, so markets need no pacing). Messages (socks ``helpers/message.ts``):

- ``{"type": "subscribed", "channel": "v4_trades", "id": ticker, "contents": {"trades": [...]}}``: the answer of
  ``GET /v4/trades/perpetualMarket/{ticker}`` (the market's recent trades, newest first) — a BACKLOG: trades that
  happened before the subscription, which an earlier connection may have handed on already;
- ``{"type": "channel_data", "channel": "v4_trades", "id": ticker, "version", "contents": {"trades": [...]}}``: the
  new trades of one block (``{id, size, price, side, createdAt, type}``: ender's ``TradeContent``);
  ``channel_batch_data`` (a subscription with ``batched: true``, not asked by dtrack but read) has ``contents`` a
  list of such ``{"trades": [...]}``;
- ``{"type": "error", "message", "channel"?, "id"?}``: a refused subscription (``Invalid subscription id for
  channel: (v4_trades-XYZ)`` names it only in the text), a subscription limit, an invalid message;
- ``unsubscribed`` (not asked by dtrack).

Every trade is a taker fill; those of type LIQUIDATED become ``Liquidation`` records (``parse.trade_liquidations``:
SELL closes a long; DELEVERAGED fills are not counted, and why), ``Coverage.TRADE_FLAG``, price the fill's, size in
coins. The key is the trade id (unique on the chain). The protocol remembers the keys it handed on (the last
``SEEN``, across reconnects) and hands none on twice: a backlog repeated on a reconnect yields only the trades not
seen yet; on a first connection the backlog's liquidations are news (each keeps its own ``createdAt``).

Keep-alive: the server pings every 30 s with WebSocket PING frames and closes (code 1011) a connection whose PONG
is 10 s late; aiohttp answers them (``autoping``). A client ``{"type": "ping"}`` is ignored by the server (no
answer since v4-chain PR #1301, 2024), so dtrack sends none. A ``v4_trades`` channel carries every trade of its
market, but a quiet market may trade rarely: the channels are never declared stalled for silence (``QUIET``); a
dropped connection is a disconnect gap, as always.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dtrack.errors import Implausible
from dtrack.net.ws import CONTROL, Frame, MalformedFrame, StreamProtocol, chunks, decode
from dtrack.records import Instrument, Liquidation
from dtrack.venues.dydx import api, parse
from dtrack.venues.streaming import QUIET, LiquidationTerms, SeenKeys, StreamRequest

HOST = api.WS
PATH = api.WS_PATH
CHANNEL = api.TRADES_CHANNEL
ENDPOINT = f"{PATH} {CHANNEL}"
#: how many liquidation keys the protocol remembers to hand none on twice (a backlog is at most one REST page,
#: 1,000 trades, a market; few of them are liquidations)
SEEN = 20_000
#: a refusal that names its subscription only in its text: ``Invalid subscription id for channel: (v4_trades-XYZ)``
_NAMED = re.compile(r"\((v4_\w+)-([^)]+)\)")


def channel_name(ticker: str) -> str:
    """How dtrack names one market's trades channel in records and gaps: ``v4_trades:BTC-USD``."""
    return f"{CHANNEL}:{ticker}"


class TradesStream(StreamProtocol):
    """The ``v4_trades`` channels of the asked perpetuals on one connection (liquidations only)."""

    venue = parse.VENUE
    host = HOST
    path = PATH
    per_request = 1  # one market a subscribe message
    per_connection = api.TRADES_PER_CONNECTION

    def __init__(self, instruments: Sequence[Instrument]) -> None:
        #: dtrack's channel name -> (ticker, how its sizes are counted)
        self.terms: dict[str, LiquidationTerms] = {channel_name(i.symbol): parse.liquidation_terms(i, ENDPOINT)
                                                   for i in instruments}
        super().__init__(list(self.terms))
        #: the keys of the liquidations handed on (kept across reconnects: a backlog repeated is not news)
        self.seen = SeenKeys(SEEN)

    def stall_seconds(self, channel: str) -> float:
        return QUIET

    def marker(self, channel: str) -> str:
        return f'"id":"{self.terms[channel].instrument.symbol}"'

    def subscribe_messages(self, channels: Sequence[str]) -> list[str]:
        return [json.dumps({"type": "subscribe", "channel": CHANNEL, "id": self.terms[c].instrument.symbol})
                for c in channels]

    def handle(self, text: str, received_at: datetime) -> Frame:
        msg = decode(text)
        if msg.__class__ is not dict:
            raise MalformedFrame(parse.VENUE, PATH, f"a {type(msg).__name__}, expected an object")
        kind = msg.get("type")
        if kind == "channel_data" or kind == "subscribed":
            name, terms = self._channel(msg)
            contents = msg.get("contents")
            if contents.__class__ is not dict:
                raise MalformedFrame(parse.VENUE, ENDPOINT, f"{name}: contents is a {type(contents).__name__}")
            return self._trades(name, terms, [contents], received_at)
        if kind == "channel_batch_data":
            name, terms = self._channel(msg)
            contents = msg.get("contents")
            if contents.__class__ is not list:
                raise MalformedFrame(parse.VENUE, ENDPOINT, f"{name}: contents is a {type(contents).__name__}")
            return self._trades(name, terms, contents, received_at)
        if kind in ("connected", "unsubscribed", "pong"):
            return CONTROL
        if kind == "error":
            return self._error(msg)
        raise MalformedFrame(parse.VENUE, PATH, f"unexpected message {text[:80]!r}")

    def _channel(self, msg: dict[str, Any]) -> tuple[str, LiquidationTerms]:
        """The subscription a data message belongs to."""
        if msg.get("channel") != CHANNEL:
            raise MalformedFrame(parse.VENUE, PATH, f"a message of channel {msg.get('channel')!r}, not subscribed")
        name = channel_name(str(msg.get("id")))
        terms = self.terms.get(name)
        if terms is None:
            raise MalformedFrame(parse.VENUE, ENDPOINT, f"trades of {msg.get('id')!r}, which was not subscribed")
        return name, terms

    def _trades(self, name: str, terms: LiquidationTerms, contents: list[Any], received_at: datetime) -> Frame:
        """The liquidations of one message's trade lists not handed on before."""
        records: list[Liquidation] = []
        dropped: list[Implausible] = []
        for part in contents:
            if part.__class__ is not dict:
                raise MalformedFrame(parse.VENUE, ENDPOINT, f"{name}: a batch part is a {type(part).__name__}")
            parse.trade_liquidations(part.get("trades"), terms, received_at, records, dropped)
        if not records:
            return Frame(channel=name, dropped=dropped)
        return Frame(channel=name, records=self.seen.fresh(records), dropped=dropped)

    def _error(self, msg: dict[str, Any]) -> Frame:
        """An ``error`` message: a refusal of the subscription it names (by fields, else in its text); otherwise
        said and logged (a subscription limit, an invalid message)."""
        text = str(msg.get("message", ""))
        ticker = msg.get("id")
        if msg.get("channel") != CHANNEL or not isinstance(ticker, str):
            named = _NAMED.search(text)
            ticker = named.group(2) if named is not None and named.group(1) == CHANNEL else None
        name = channel_name(ticker) if ticker is not None else None
        if name in self.terms and "already subscribed" not in text:
            return Frame(refused=[name], detail=text or "error")
        return Frame(detail=f"error: {text or msg}")


def protocols(request: StreamRequest) -> list[TradesStream]:
    """The asked perpetuals' ``v4_trades`` channels, ``per_connection`` a connection (liquidations: the only kind
    dYdX streams in dtrack)."""
    return [TradesStream(part) for part in chunks(request.contracts(), TradesStream.per_connection)]
