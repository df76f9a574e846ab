"""Deribit live funding, open interest and prices (``ticker.{instrument}.100ms``) and liquidations (the trades of
``trades.{instrument}.100ms`` flagged ``liquidation``) over JSON-RPC (pure parsing).

Host ``ws`` (``wss://www.deribit.com``), path ``/ws/api/v2``. On every connection the client first asks
``public/set_heartbeat`` (interval 15 s, the venue's minimum is 10); the server then sends
``{"method": "heartbeat", "params": {"type": "test_request"}}`` and expects ``public/test`` back (a
``"type": "heartbeat"`` needs no answer). Subscribe ``{"method": "public/subscribe", "params": {"channels": [...]},
"id": N}``: the ``result`` lists the channels subscribed; an asked channel it leaves out, or an ``error``, is
refused. Unauthenticated clients get ``100ms`` (``raw`` needs a login). ``public/subscribe`` is limited to about
3 requests per second (``send_interval``).

Notifications ``{"method": "subscription", "params": {"channel": "ticker.BTC-PERPETUAL.100ms", "data": {...}}}``
carry the ``public/ticker`` result (``deribit__ws_ticker__capture.json`` for options;
``deribit__rest_ticker__docs.json`` for a perpetual's fields), numbers as JSON numbers. They are read by the REST
parser's conventions (``parse.ticker_funding``, ``parse.open_interest``): ``funding_8h`` is the 8 h-equivalent of
continuous funding (interval 8 h, no settlement time); open interest is one side, USD for inverse contracts and
the coin for linear ones; prices per one coin. ``time`` is the ticker's ``timestamp``. For speed the first
record of each contract and kind (and any row with an odd value) is built by those REST readers; later ones are
built from the row's numbers with the notes they wrote (``test_stream_parsers`` holds both equal).

Liquidations: ``trades.{instrument}.100ms`` notifications carry a list of trades (the fields of
``public/get_last_trades_by_instrument``: ``trade_id``, ``timestamp``, ``price``, ``amount``, ``direction``, ...).
A trade caused by a liquidation has the optional field ``liquidation`` (Deribit's docs): ``"M"`` when the maker
side was under liquidation, ``"T"`` the taker side, ``"MT"`` both. ``direction`` is the TAKER's order side, so the
taker's liquidated position is long when it sold, and the maker's is the other one; ``MT`` is two events (one long,
one short). ``amount`` is USD for inverse perpetuals and futures and the coin for linear (USDC) ones ("For
perpetual and inverse futures the amount is in USD units ... linear futures ... the underlying base currency
coin"), as open interest (``parse.oi_unit``); the price is the trade's, the time its ``timestamp``. Every
liquidation that fills in the book is flagged: ``Coverage.TRADE_FLAG``. The key is ``trade_id:side``. A connection
carries both channels of its contracts when both kinds are asked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from dtrack.errors import Implausible
from dtrack.net.ws import CONTROL, Frame, MalformedFrame, StreamProtocol, chunks, decode
from dtrack.records import Coverage, DataKind, Instrument, Kind, Liquidation, PriceKind, PriceQuote, oi_base_and_usd
from dtrack.venues import plausible
from dtrack.venues.deribit import api, parse
from dtrack.venues.fields import MAX_MS, MIN_MS, Reader, ms_to_utc
from dtrack.venues.streaming import (
    ORDER_SIDE,
    QUIET,
    LiquidationTerms,
    StreamRequest,
    make_funding,
    make_quote,
)

HOST = "ws"
PATH = "/ws/api/v2"
INTERVAL = "100ms"
HEARTBEAT_SECONDS = 15
_READER = Reader(api.VENUE, f"{PATH} ticker")
TRADES_ENDPOINT = f"{PATH} trades"


def channel_of(instrument: Instrument) -> str:
    """``ticker.BTC-PERPETUAL.100ms``."""
    return f"ticker.{instrument.symbol}.{INTERVAL}"


def trades_channel_of(instrument: Instrument) -> str:
    """``trades.BTC-PERPETUAL.100ms``."""
    return f"trades.{instrument.symbol}.{INTERVAL}"


def liquidation_terms(instrument: Instrument) -> LiquidationTerms:
    """How a trade's ``amount`` of ``instrument`` is counted: as its open interest (``parse.oi_unit``: USD inverse,
    the coin linear)."""
    return LiquidationTerms(instrument, TRADES_ENDPOINT, parse.oi_unit(instrument))


#: a trade's ``liquidation`` flag -> the sides of the positions it liquidated, by the taker's position side (its
#: ``direction`` closed it: a sell, a long): the taker's (T), the maker's, the other one (M), or both (MT)
_FLAGS: dict[str, dict[str, tuple[str, ...]]] = {
    "T": {"long": ("long",), "short": ("short",)},
    "M": {"long": ("short",), "short": ("long",)},
    "MT": {"long": ("long", "short"), "short": ("short", "long")},
}


def trade_liquidations(trade: Any, terms: LiquidationTerms, received_at: datetime, records: list[Liquidation],
                       dropped: list[Implausible]) -> None:
    """The liquidations one trade row stands for, into ``records`` (none unless it has a ``liquidation`` flag; two
    for ``MT``; implausible ones into ``dropped``); a shape the docs do not give is ``MalformedFrame``."""
    if trade.__class__ is not dict:
        raise MalformedFrame(api.VENUE, TRADES_ENDPOINT, f"a trade is a {type(trade).__name__}")
    flag = trade.get("liquidation")
    if flag is None:
        return
    try:
        sides = _FLAGS[flag][ORDER_SIDE[trade["direction"]]]
        amount, price, ms = float(trade["amount"]), float(trade["price"]), int(trade["timestamp"])
        trade_id = trade["trade_id"]
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedFrame(api.VENUE, TRADES_ENDPOINT, f"a trade {str(trade)[:80]!r}: {type(exc).__name__} {exc}"
                             ) from None
    for side in sides:
        try:
            records.append(terms.record(side=side, price=price, price_kind=PriceKind.TRADE, amount=amount, ms=ms,
                                        received_at=received_at, coverage=Coverage.TRADE_FLAG,
                                        key=f"{trade_id}:{side}"))
        except Implausible as exc:
            dropped.append(exc)


def ticker_quote(r: Reader, row: Mapping[str, Any], inst: Instrument, received: datetime) -> PriceQuote:
    """Mark, index and last price of one contract from a ticker row, per one coin, at its ``timestamp``."""
    mult = inst.multiplier
    index, last = r.opt_num(row, "index_price"), r.opt_num(row, "last_price")
    return plausible.price_quote(r.endpoint, PriceQuote(
        instrument=inst, time=r.opt_time_ms(row, "timestamp"), received_at=received,
        mark_price=r.num(row, "mark_price") / mult, index_price=None if index is None else index / mult,
        last_price=None if last is None else last / mult))


class TickerStream(StreamProtocol):
    """The asked perpetuals and futures on one connection: ``ticker.{instrument}.100ms`` when a ticker kind is asked,
    ``trades.{instrument}.100ms`` when liquidations are."""

    venue = api.VENUE
    host = HOST
    path = PATH
    per_request = 100
    per_connection = 500
    send_interval = 0.35  # public/subscribe: about 3 requests per second
    stall_after = 60.0  # pushed every 100 ms while the ticker changes; the mark moves with the index

    def __init__(self, instruments: Sequence[Instrument], kinds: frozenset[DataKind]) -> None:
        self.want_funding = DataKind.FUNDING in kinds
        self.want_oi = DataKind.OPEN_INTEREST in kinds
        self.want_quotes = DataKind.QUOTES in kinds
        tickers = self.want_funding or self.want_oi or self.want_quotes
        self.watched = {channel_of(i): i for i in instruments} if tickers else {}
        self.trades = ({trades_channel_of(i): liquidation_terms(i) for i in instruments}
                       if DataKind.LIQUIDATIONS in kinds else {})
        super().__init__([*self.watched, *self.trades])
        #: the records a ticker yields, in order (funding: of a perpetual's row that has ``funding_8h``)
        self.kinds = tuple(kind for wanted, kind in ((self.want_funding, "funding"), (self.want_oi, "oi"),
                                                     (self.want_quotes, "quote")) if wanted)
        self._next_id = 0
        self._requests: dict[int, list[str]] = {}
        self._notes: dict[tuple[str, str, bool], str] = {}

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def stall_seconds(self, channel: str) -> float:
        return QUIET if channel in self.trades else self.stall_after

    def reset(self) -> None:
        self._requests.clear()

    def open_messages(self) -> list[str]:
        return [json.dumps({"jsonrpc": "2.0", "id": self._id(), "method": "public/set_heartbeat",
                            "params": {"interval": HEARTBEAT_SECONDS}})]

    def subscribe_messages(self, channels: Sequence[str]) -> list[str]:
        ident = self._id()
        self._requests[ident] = list(channels)
        return [json.dumps({"jsonrpc": "2.0", "id": ident, "method": "public/subscribe",
                            "params": {"channels": list(channels)}})]

    def handle(self, text: str, received_at: datetime) -> Frame:
        msg = decode(text)
        if not isinstance(msg, dict):
            raise MalformedFrame(api.VENUE, PATH, f"a {type(msg).__name__}, expected an object")
        method = msg.get("method")
        if method == "subscription":
            params = msg.get("params")
            if not isinstance(params, dict):
                raise MalformedFrame(api.VENUE, PATH, "a subscription without params")
            return self.notification(params.get("channel"), params.get("data"), received_at)
        if method == "heartbeat":
            params = msg.get("params")
            if isinstance(params, dict) and params.get("type") == "test_request":
                return Frame(reply=json.dumps({"jsonrpc": "2.0", "id": self._id(), "method": "public/test",
                                               "params": {}}))
            return CONTROL
        if "id" in msg:
            return self._answer(msg)
        raise MalformedFrame(api.VENUE, PATH, f"unexpected message {text[:60]!r}")

    def notification(self, channel: Any, data: Any, received_at: datetime) -> Frame:
        """One notification's records (a channel not subscribed here: data of no watched contract)."""
        inst = self.watched.get(channel) if isinstance(channel, str) else None
        if inst is None and isinstance(channel, str) and channel in self.trades:
            return self._trades(channel, self.trades[channel], data, received_at)
        if not isinstance(data, dict):
            raise MalformedFrame(api.VENUE, PATH, f"{channel}: data is a {type(data).__name__}")
        if inst is None:
            raise MalformedFrame(api.VENUE, PATH, f"a notification of {channel!r}, which was not subscribed")
        records: list[Any] = []
        dropped: list[Implausible] = []
        fast = _Ticker.read(data, inst.multiplier)  # None: something odd, left to the REST readers (which name it)
        for kind in self.kinds:
            if kind == "funding" and not (inst.kind is Kind.PERP and "funding_8h" in data):
                continue
            try:
                records.append(self._record(kind, inst, data, fast, received_at))
            except Implausible as exc:
                dropped.append(exc)
        return Frame(channel=channel, records=records, dropped=dropped)

    def _trades(self, channel: str, terms: LiquidationTerms, data: Any, received_at: datetime) -> Frame:
        """A ``trades`` notification: the liquidations among its trades."""
        if data.__class__ is not list:
            raise MalformedFrame(api.VENUE, TRADES_ENDPOINT, f"{channel}: data is a {type(data).__name__}")
        records: list[Liquidation] = []
        dropped: list[Implausible] = []
        for trade in data:
            trade_liquidations(trade, terms, received_at, records, dropped)
        return Frame(channel=channel, records=records, dropped=dropped)

    def _record(self, kind: str, inst: Instrument, data: Mapping[str, Any], fast: _Ticker | None,
                received_at: datetime) -> Any:
        """One record of a ticker: read by the REST readers the first time (per contract, kind and whether open
        interest is there) and whenever the row is odd; else built from ``fast`` with what they wrote then (the
        notes), which ``test_stream_parsers`` holds equal to their reading."""
        key = (inst.symbol, kind, fast is not None and fast.oi is None)
        note = self._notes.get(key) if fast is not None else None
        if note is None:
            record = _REST[kind](_READER, data, inst, received_at)
            if fast is not None:
                self._notes[key] = getattr(record, "note", "")
            return record
        assert fast is not None
        if kind == "quote":
            return plausible.price_quote(_READER.endpoint, make_quote(
                instrument=inst, time=fast.when, received_at=received_at, mark_price=fast.mark,
                index_price=fast.index, last_price=fast.last))
        if kind == "oi":
            if fast.oi is None:
                return _REST[kind](_READER, data, inst, received_at)  # raises what REST says of a missing figure
            return plausible.open_interest(_READER.endpoint, instrument=inst, amount=fast.oi, unit=parse.oi_unit(inst),
                                           price=fast.mark, price_source="mark", time=fast.when,
                                           received_at=received_at, note=note)
        if fast.funding is None:
            return _REST[kind](_READER, data, inst, received_at)  # raises what REST says of a missing rate
        usd = None if fast.oi is None else oi_base_and_usd(inst, fast.oi, parse.oi_unit(inst), fast.mark)[1]
        return plausible.funding_rate(_READER.endpoint, make_funding(
            instrument=inst, rate=fast.funding, interval_hours=parse.INTERVAL_HOURS,
            interval_source=parse.INTERVAL_SOURCE, time=fast.when, received_at=received_at, mark_price=fast.mark,
            index_price=fast.index, open_interest_usd=usd, note=note))

    def _answer(self, msg: dict[str, Any]) -> Frame:
        """The answer to one of the client's requests (subscribe, set_heartbeat, test)."""
        asked = self._requests.pop(msg["id"], None) if isinstance(msg.get("id"), int) else None
        if "error" in msg:
            return Frame(refused=asked or [], detail=f"error {msg['error']}")
        if asked is not None:
            result = msg.get("result")
            got = set(result) if isinstance(result, list) else set()
            missing = [c for c in asked if c not in got]
            if missing:
                return Frame(refused=missing, detail="not in the subscribe result")
        return CONTROL


def _open_interest(r: Reader, row: Mapping[str, Any], inst: Instrument, received: datetime) -> Any:
    return parse.open_interest(row, inst, received, reader=r, time_key="timestamp")


#: the REST readers of a ticker row, by record kind
_REST: dict[str, Callable[[Reader, Mapping[str, Any], Instrument, datetime], Any]] = {
    "funding": parse.ticker_funding, "oi": _open_interest, "quote": ticker_quote}


def _plain(value: Any) -> float | None:
    """A finite JSON number as float (None when absent); anything else: ``_ODD``."""
    if value is None:
        return None
    if value.__class__ is float or value.__class__ is int:
        return float(value) if value - value == 0 else _ODD  # NaN / infinity
    return _ODD


_ODD: float = float("nan")  # compared by identity


class _Ticker:
    """The numbers of one ticker row when they are what the docs say (JSON numbers, a mark > 0, an epoch-ms
    timestamp), prices per one coin (divided by the multiplier once) and the time read once; ``read`` gives None
    otherwise, and the REST readers take the row."""

    __slots__ = ("funding", "index", "last", "mark", "oi", "when")

    def __init__(self, mark: float, index: float | None, last: float | None, oi: float | None,
                 funding: float | None, when: datetime) -> None:
        self.mark, self.index, self.last, self.oi, self.funding = mark, index, last, oi, funding
        self.when = when

    @classmethod
    def read(cls, data: Mapping[str, Any], multiplier: float) -> _Ticker | None:
        """The row's numbers (prices divided by ``multiplier``), or None when one of them is odd."""
        mark, index, last = _plain(data.get("mark_price")), _plain(data.get("index_price")), \
            _plain(data.get("last_price"))
        oi, funding, ts = _plain(data.get("open_interest")), _plain(data.get("funding_8h")), data.get("timestamp")
        if (mark is None or not mark > 0 or index is _ODD or last is _ODD or oi is _ODD or funding is _ODD
                or ts.__class__ is not int or not MIN_MS <= ts <= MAX_MS):
            return None
        return cls(mark / multiplier, None if index is None else index / multiplier,
                   None if last is None else last / multiplier, oi, funding, ms_to_utc(ts))


def protocols(request: StreamRequest) -> list[TickerStream]:
    """The asked perpetuals and futures, ``per_connection`` channels per connection (a contract's ticker and trades
    channels on the same one)."""
    per_contract = max(1, int(request.tickers) + int(request.liquidations))
    return [TickerStream(part, request.kinds)
            for part in chunks(request.contracts(), TickerStream.per_connection // per_contract)]
