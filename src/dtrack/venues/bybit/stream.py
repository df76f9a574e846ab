"""Bybit live funding, open interest and prices: ``tickers.{symbol}`` on the public linear / inverse streams
(pure parsing; the merging state is per connection).

Host ``stream`` (``wss://stream.bybit.com``), paths ``/v5/public/linear`` and ``/v5/public/inverse`` (the
instrument's category). Subscribe ``{"op": "subscribe", "args": ["tickers.BTCUSDT", ...], "req_id": ...}``,
answered ``{"success": true, "ret_msg": "", "op": "subscribe", "req_id": ..., "conn_id": ...}`` (``success``
false refuses it). Keep-alive: the client sends ``{"op": "ping"}`` every 20 s; the answer
(``{"op": "pong", ...}``, or ``"op": "ping"`` with ``"ret_msg": "pong"``) is not data.

Frames (``bybit__ws_tickers__docs.json``): ``{"topic": "tickers.BTCUSDT", "type": "snapshot" | "delta",
"data": {...}, "cs": ..., "ts": ms}``: a snapshot first, then deltas carrying ONLY the fields that changed. The
connection keeps each symbol's merged row (reset on reconnect, when Bybit sends a new snapshot); a delta before
any snapshot is malformed. The merged row is a REST tickers row and is read with the REST conventions: one-sided
open interest by the presence of ``singleOpenInterest``, inverse OI in USD, prices per unit of the asset,
``fundingCap`` as the bound. For speed (a delta every 100 ms per symbol) the numbers are parsed once when they
arrive, and what depends on one field's value only (the interval and its source, the cap, the notes) is asked of
the REST readers (``parse.ticker_interval``, ``funding_cap``, ``ticker_funding``, ``ticker_open_interest``) once
per distinct value; ``test_stream_parsers`` holds the records equal to the REST readers' reading of the same row.
A delta yields the kinds whose fields it touches; ``time`` is the frame's ``ts``. Older frames without
``fundingIntervalHour`` take the interval the REST side read at stream start.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from dtrack.errors import Implausible
from dtrack.net.ws import CONTROL, Frame, MalformedFrame, StreamProtocol, chunks, decode
from dtrack.records import DataKind, FundingRate, Instrument, Kind, Margin, PriceQuote, Record, Unit
from dtrack.venues import plausible
from dtrack.venues.bybit import parse
from dtrack.venues.fields import MAX_MS, MIN_MS, Reader, Stamp, ms_to_utc
from dtrack.venues.streaming import StreamRequest

VENUE = "bybit"
HOST = "stream"
TOPIC = "tickers."
#: the fields each record reads: a delta touching none of them yields no new record of that kind
FUNDING_FIELDS = frozenset({"fundingRate", "nextFundingTime", "fundingIntervalHour", "fundingCap", "markPrice",
                            "indexPrice", "openInterest", "singleOpenInterest"})
OI_FIELDS = frozenset({"openInterest", "singleOpenInterest", "markPrice"})
QUOTE_FIELDS = frozenset({"markPrice", "indexPrice", "lastPrice"})
#: the numeric fields read, parsed once when they arrive (a delta re-reads only what it changed)
NUMBERS = FUNDING_FIELDS | QUOTE_FIELDS
_UNSEEN = object()


def _number(key: str, value: Any) -> float | None:
    """A Bybit number (sent as a string; "" and null: none)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MalformedFrame(VENUE, "tickers", f"{key} is a boolean")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise MalformedFrame(VENUE, "tickers", f"{key} is {value!r}, expected a number") from None
    if out - out != 0.0:  # NaN or an infinity
        raise MalformedFrame(VENUE, "tickers", f"{key} is {value!r}, expected a finite number")
    return out


class _Symbol:
    """One watched contract: its merged ticker (as sent, and its numbers read once) and what its records share,
    learnt from the REST readers once per distinct value (the interval and its source, the cap, the notes)."""

    __slots__ = ("cache", "instrument", "numbers", "row")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.row: dict[str, Any] | None = None
        self.numbers: dict[str, float | None] = {}
        self.cache: dict[tuple[str, Any], Any] = {}

    def merge(self, data: dict[str, Any], snapshot: bool) -> None:
        if snapshot or self.row is None:
            self.row, self.numbers = dict(data), {}
        else:
            self.row.update(data)
        numbers = self.numbers
        for key, value in data.items():
            if key in NUMBERS:
                numbers[key] = _number(key, value)  # also refuses lists and objects: every cache key hashes


class TickerStream(StreamProtocol):
    """``tickers.{symbol}`` of one category's contracts on one connection."""

    venue = VENUE
    host = HOST
    per_request = 10  # Bybit documents 10 args per request on spot; the same is safe on linear / inverse
    per_connection = 200  # args up to 21,000 characters per connection
    ping_every = 20.0
    stall_after = 60.0  # pushed every 100 ms while anything changes

    def __init__(self, category: str, instruments: Sequence[Instrument], funding: Mapping[str, FundingRate],
                 kinds: frozenset[DataKind]) -> None:
        self.watched = {i.symbol: _Symbol(i) for i in instruments}
        super().__init__([TOPIC + symbol for symbol in self.watched])
        self.path = f"/v5/public/{category}"
        self.reader = Reader(VENUE, f"{self.path} tickers")
        self.intervals = {symbol: rate.interval_hours for symbol, rate in funding.items()}
        self.want_funding = DataKind.FUNDING in kinds
        self.want_oi = DataKind.OPEN_INTEREST in kinds
        self.want_quotes = DataKind.QUOTES in kinds
        self._requests: dict[str, list[str]] = {}
        self._next_id = 0

    def reset(self) -> None:
        for symbol in self.watched.values():
            symbol.row = None
        self._requests.clear()

    def subscribe_messages(self, channels: Sequence[str]) -> list[str]:
        self._next_id += 1
        req_id = f"dtrack-{self._next_id}"
        self._requests[req_id] = list(channels)
        return [json.dumps({"op": "subscribe", "args": list(channels), "req_id": req_id})]

    def ping_message(self) -> str:
        return '{"op":"ping"}'

    def handle(self, text: str, received_at: datetime) -> Frame:
        msg = decode(text)
        if not isinstance(msg, dict):
            raise MalformedFrame(VENUE, self.reader.endpoint, f"a {type(msg).__name__}, expected an object")
        topic = msg.get("topic")
        if topic is None:
            return self._control(msg)
        data = msg.get("data")
        symbol = self.watched.get(topic[len(TOPIC):]) if isinstance(topic, str) and topic.startswith(TOPIC) else None
        if symbol is None or not isinstance(data, dict):
            raise MalformedFrame(VENUE, self.reader.endpoint, f"unexpected frame {text[:60]!r}")
        kind = msg.get("type")
        if kind == "delta":
            if symbol.row is None:
                raise MalformedFrame(VENUE, self.reader.endpoint, f"{topic}: a delta before any snapshot")
            touched: Any = data
        elif kind == "snapshot":
            touched = None
        else:
            raise MalformedFrame(VENUE, self.reader.endpoint, f"{topic}: type {kind!r}")
        ts = msg.get("ts")
        if not isinstance(ts, int) or not MIN_MS <= ts <= MAX_MS:
            raise MalformedFrame(VENUE, self.reader.endpoint, f"{topic}: ts {ts!r} is not epoch ms")
        symbol.merge(data, touched is None)
        return self._records(topic, symbol, touched, Stamp(ms_to_utc(ts), received_at))

    def _records(self, topic: str, symbol: _Symbol, touched: Any, at: Stamp) -> Frame:
        """The records of the merged row whose fields the frame touched (every kind for a snapshot)."""
        inst = symbol.instrument
        records: list[Record] = []
        dropped: list[Implausible] = []
        funding = self.want_funding and inst.kind is Kind.PERP and (touched is None
                                                                   or not FUNDING_FIELDS.isdisjoint(touched))
        oi = self.want_oi and (touched is None or not OI_FIELDS.isdisjoint(touched))
        quote = self.want_quotes and (touched is None or not QUOTE_FIELDS.isdisjoint(touched))
        if not (funding or oi or quote):
            return Frame(channel=topic)
        numbers = symbol.numbers
        mark = numbers.get("markPrice")
        if mark is None:
            raise MalformedFrame(VENUE, self.reader.endpoint, f"{topic}: no markPrice")
        mult = inst.multiplier
        try:
            if funding:
                records.append(self._funding(symbol, mark, at))
        except Implausible as exc:
            dropped.append(exc)
        try:
            if oi:
                amount, note = self._one_side(symbol, at, "oi")
                unit = Unit.USD if inst.margin is Margin.INVERSE else Unit.BASE
                records.append(plausible.open_interest(
                    self.reader.endpoint, instrument=inst, amount=amount, unit=unit, price=mark / mult,
                    price_source="mark", time=at.time, received_at=at.received_at, note=note))
        except Implausible as exc:
            dropped.append(exc)
        try:
            if quote:
                index, last = numbers.get("indexPrice"), numbers.get("lastPrice")
                records.append(plausible.price_quote(self.reader.endpoint, PriceQuote(
                    instrument=inst, time=at.time, received_at=at.received_at, mark_price=mark / mult,
                    index_price=None if index is None else index / mult,
                    last_price=None if last is None else last / mult)))
        except Implausible as exc:
            dropped.append(exc)
        return Frame(channel=topic, records=records, dropped=dropped)

    def _funding(self, symbol: _Symbol, mark: float, at: Stamp) -> FundingRate:
        """As ``parse.ticker_funding`` reads the same row (``test_stream_parsers`` holds them equal)."""
        inst, numbers, row = symbol.instrument, symbol.numbers, symbol.row
        assert row is not None
        rate = numbers.get("fundingRate")
        next_ms = numbers.get("nextFundingTime")
        if rate is None or next_ms is None or not MIN_MS <= next_ms <= MAX_MS:
            raise MalformedFrame(VENUE, self.reader.endpoint, f"{inst.symbol}: fundingRate "
                                 f"{row.get('fundingRate')!r}, nextFundingTime {row.get('nextFundingTime')!r}")
        cache = symbol.cache
        hours_raw, cap_raw = row.get("fundingIntervalHour"), row.get("fundingCap")
        interval = cache.get(("interval", hours_raw))
        if interval is None:
            interval = self._learn(symbol, ("interval", hours_raw), lambda: parse.ticker_interval(
                self.reader, {"fundingIntervalHour": hours_raw}, inst.symbol, self.intervals))
        hours, source = interval
        cap = cache.get(("cap", cap_raw), _UNSEEN)
        if cap is _UNSEEN:
            cap = self._learn(symbol, ("cap", cap_raw), lambda: parse.funding_cap(self.reader, {"fundingCap": cap_raw}))
        next_time = cache.get(("next", next_ms))
        if next_time is None:
            next_time = self._learn(symbol, ("next", next_ms), lambda: ms_to_utc(next_ms))
        amount, note = self._one_side(symbol, at, "funding")
        index = numbers.get("indexPrice")
        usd = amount * inst.contract_size if inst.margin is Margin.INVERSE else amount * mark
        return plausible.funding_rate(self.reader.endpoint, FundingRate(
            instrument=inst, rate=rate, interval_hours=hours, interval_source=source, time=at.time,
            received_at=at.received_at, next_funding_time=next_time, mark_price=mark / inst.multiplier,
            index_price=None if index is None else index / inst.multiplier, open_interest_usd=usd, note=note), cap)

    def _one_side(self, symbol: _Symbol, at: Stamp, record: str) -> tuple[float, str]:
        """One side of the open interest (``parse.one_side``: by the PRESENCE of ``singleOpenInterest``) and the
        note the REST reader writes for ``record`` ("funding" or "oi") with that field."""
        numbers, row = symbol.numbers, symbol.row
        assert row is not None
        if "singleOpenInterest" not in row:
            amount, which = numbers.get("openInterest"), "openInterest"
        elif (single := numbers.get("singleOpenInterest")) is not None:
            amount, which = single, "singleOpenInterest"
        else:
            both = numbers.get("openInterest")
            amount, which = (None if both is None else both / 2.0), "openInterest / 2"
        if amount is None:
            raise MalformedFrame(VENUE, self.reader.endpoint, f"{symbol.instrument.symbol}: no openInterest")
        note = symbol.cache.get((record, which))
        if note is None:
            note = self._learn(symbol, (record, which), lambda: self._note(symbol.instrument, which, record, at))
        return amount, note

    def _note(self, inst: Instrument, which: str, record: str, at: Stamp) -> str:
        """The note the REST reader writes for a row whose one side is read from ``which``."""
        probe = {"symbol": inst.symbol, "markPrice": "1", "openInterest": "2", "fundingRate": "0",
                 "fundingIntervalHour": "8", "nextFundingTime": str(round(at.received_at.timestamp() * 1000))}
        if which != "openInterest":
            probe["singleOpenInterest"] = "1" if which == "singleOpenInterest" else ""
        if record == "funding":
            return parse.ticker_funding(self.reader, probe, inst, at, {}).note
        return parse.ticker_open_interest(self.reader, probe, inst, at).note

    @staticmethod
    def _learn(symbol: _Symbol, key: tuple[str, Any], learn: Any) -> Any:
        """``learn()``: what the REST readers make of one value, kept for the contract's next frames."""
        value = symbol.cache[key] = learn()
        return value

    def _control(self, msg: dict[str, Any]) -> Frame:
        op = msg.get("op")
        if op in ("ping", "pong"):
            return CONTROL
        if op == "subscribe":
            channels = self._requests.pop(str(msg.get("req_id")), [])
            if msg.get("success") is False:
                why = str(msg.get("ret_msg") or "")
                named = [ch for ch in channels if ch in why]
                return Frame(refused=named or channels, detail=f"subscribe refused: {why}")
            return CONTROL
        raise MalformedFrame(VENUE, self.reader.endpoint, f"unexpected message {str(msg)[:60]!r}")


def protocols(request: StreamRequest) -> list[TickerStream]:
    """``tickers.{symbol}`` connections per category (linear, inverse), ``per_connection`` topics each."""
    out: list[TickerStream] = []
    contracts = request.contracts()
    for category in ("linear", "inverse"):
        mine = [i for i in contracts if i.market == category]
        for part in chunks(mine, TickerStream.per_connection):
            out.append(TickerStream(category, part, request.funding, request.kinds))
    return out
