"""Bybit live funding, open interest and prices (``tickers.{symbol}``) and liquidations
(``allLiquidation.{symbol}``) on the public linear / inverse streams (pure parsing; the merging state is per
connection).

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

Liquidations (``bybit__ws_allLiquidation__docs.json``): ``{"topic": "allLiquidation.ROSEUSDT", "type": "snapshot",
"ts": ms, "data": [{"T": ms, "s": symbol, "S": "Buy" | "Sell", "v": size, "p": price}]}``, every liquidation of
the symbol ("push all liquidations that occur on Bybit", every 500 ms): ``Coverage.COMPLETE``. ``S`` is the side
of the POSITION: "When you receive a ``Buy`` update, this means that a long position has been liquidated" (Bybit
re-labelled it from "Order side" on 2023-08-31; libraries older than that map it the other way). ``v`` is the
executed size (the venue's base coin on linear contracts, USD contracts on inverse ones, as open interest),
``p`` the bankruptcy price, ``T`` the event time. No id: the key is ``s:T:S:v:p`` as sent. A connection carries
both topics of its symbols when both kinds are asked (the topic limit counts them together).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from dtrack.errors import Implausible
from dtrack.net.ws import CONTROL, Frame, MalformedFrame, StreamProtocol, chunks, decode
from dtrack.records import Coverage, DataKind, FundingRate, Instrument, Kind, Margin, PriceKind, Record, Unit
from dtrack.venues import plausible
from dtrack.venues.bybit import parse
from dtrack.venues.fields import MAX_MS, MIN_MS, Reader, Stamp, ms_to_utc
from dtrack.venues.streaming import QUIET, LiquidationTerms, StreamRequest, make_funding, make_quote

VENUE = "bybit"
HOST = "stream"
TOPIC = "tickers."
LIQUIDATION_TOPIC = "allLiquidation."
#: ``allLiquidation``'s ``S``: the side of the POSITION liquidated (Bybit's docs since 2023-08-31)
POSITION_SIDE = {"Buy": "long", "Sell": "short"}
#: the fields each record reads: a delta touching none of them yields no new record of that kind
FUNDING_FIELDS = frozenset({"fundingRate", "nextFundingTime", "fundingIntervalHour", "fundingCap", "markPrice",
                            "indexPrice", "openInterest", "singleOpenInterest"})
OI_FIELDS = frozenset({"openInterest", "singleOpenInterest", "markPrice"})
QUOTE_FIELDS = frozenset({"markPrice", "indexPrice", "lastPrice"})
#: the 24 h volume a quote carries (``parse.day_volume``): read, but a delta touching only them yields no quote
VOLUME_FIELDS = frozenset({"volume24h", "turnover24h"})
#: the numeric fields read, parsed once when they arrive (a delta re-reads only what it changed)
NUMBERS = FUNDING_FIELDS | QUOTE_FIELDS | VOLUME_FIELDS


def _number(key: str, value: Any) -> float | None:
    """A Bybit number (sent as a string; "" and null: none)."""
    if value.__class__ is str and value:  # what Bybit sends: the checks below that cannot apply are skipped
        try:
            out = float(value)
        except ValueError:
            raise MalformedFrame(VENUE, "tickers", f"{key} is {value!r}, expected a number") from None
    else:
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
    learnt from the REST readers once per distinct value (the interval and its source, the cap, the next settlement
    time, the notes by record and by the field its one side is read from)."""

    __slots__ = ("caps", "instrument", "intervals", "inverse", "notes", "numbers", "oi_unit", "perp", "read", "row",
                 "settlements")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.perp = instrument.kind is Kind.PERP
        self.inverse = instrument.margin is Margin.INVERSE
        self.oi_unit = Unit.USD if self.inverse else Unit.BASE
        self.row: dict[str, Any] | None = None
        self.numbers: dict[str, float | None] = {}
        self.read: dict[str, tuple[str, float | None]] = {}  # the last text of each numeric field, and its number
        self.intervals: dict[Any, tuple[float, str]] = {}
        self.caps: dict[Any, plausible.FundingCap | None] = {}
        self.settlements: dict[float, datetime] = {}
        self.notes: dict[str, dict[str, str]] = {"funding": {}, "oi": {}}

    def merge(self, data: dict[str, Any], snapshot: bool) -> None:
        """Merge one frame's ``data`` (a snapshot replaces the row) and read the numbers it carries."""
        if snapshot or self.row is None:
            self.row, self.numbers = data, {}  # the frame's own decoded object, not shared: kept, not copied
        else:
            self.row.update(data)
        numbers, read = self.numbers, self.read
        for key, value in data.items():
            if key in NUMBERS:
                known = read.get(key)
                if known is not None and value.__class__ is str and known[0] == value:
                    numbers[key] = known[1]  # the same text as last time (a snapshot repeats most fields)
                    continue
                numbers[key] = number = _number(key, value)  # also refuses lists and objects: cache keys hash
                if value.__class__ is str:
                    read[key] = (value, number)


def liquidation_terms(instrument: Instrument, endpoint: str) -> LiquidationTerms:
    """How an ``allLiquidation`` size of ``instrument`` is counted: as its open interest (``parse.oi_unit``)."""
    return LiquidationTerms(instrument, endpoint, parse.oi_unit(instrument)[0])


def liquidation_rows(data: Any, terms: LiquidationTerms, endpoint: str, received_at: datetime,
                     records: list[Record], dropped: list[Implausible]) -> None:
    """The liquidations of one ``allLiquidation`` push's ``data`` rows, into ``records`` (implausible ones into
    ``dropped``); a shape the docs do not give is ``MalformedFrame``."""
    if data.__class__ is not list:
        raise MalformedFrame(VENUE, endpoint, f"allLiquidation data is a {type(data).__name__}, expected a list")
    for row in data:
        try:
            side_text, size_text, price_text, ms = row["S"], row["v"], row["p"], int(row["T"])
            side = POSITION_SIDE[side_text]
            size, price = float(size_text), float(price_text)
            symbol = row.get("s", terms.instrument.symbol)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedFrame(VENUE, endpoint, f"an allLiquidation row {str(row)[:80]!r}: "
                                                  f"{type(exc).__name__} {exc}") from None
        try:
            records.append(terms.record(side=side, price=price, price_kind=PriceKind.BANKRUPTCY, amount=size, ms=ms,
                                        received_at=received_at, coverage=Coverage.COMPLETE,
                                        key=f"{symbol}:{ms}:{side_text}:{size_text}:{price_text}"))
        except Implausible as exc:
            dropped.append(exc)


class TickerStream(StreamProtocol):
    """One category's connection: ``tickers.{symbol}`` of its contracts when a ticker kind is asked and
    ``allLiquidation.{symbol}`` when liquidations are."""

    venue = VENUE
    host = HOST
    per_request = 10  # Bybit documents 10 args per request on spot; the same is safe on linear / inverse
    per_connection = 200  # args up to 21,000 characters per connection
    ping_every = 20.0
    stall_after = 60.0  # tickers are pushed every 100 ms while anything changes

    def __init__(self, category: str, instruments: Sequence[Instrument], funding: Mapping[str, FundingRate],
                 kinds: frozenset[DataKind]) -> None:
        self.want_funding = DataKind.FUNDING in kinds
        self.want_oi = DataKind.OPEN_INTEREST in kinds
        self.want_quotes = DataKind.QUOTES in kinds
        tickers = self.want_funding or self.want_oi or self.want_quotes
        self.path = f"/v5/public/{category}"
        self.reader = Reader(VENUE, f"{self.path} tickers")
        self.liquidation_endpoint = f"{self.path} allLiquidation"
        self.watched = {i.symbol: _Symbol(i) for i in instruments}
        self.topics = {TOPIC + symbol: state for symbol, state in self.watched.items()} if tickers else {}  # by topic
        self.liquidations = ({LIQUIDATION_TOPIC + i.symbol: liquidation_terms(i, self.liquidation_endpoint)
                              for i in instruments} if DataKind.LIQUIDATIONS in kinds else {})
        super().__init__([*self.topics, *self.liquidations])
        self.intervals = {symbol: rate.interval_hours for symbol, rate in funding.items()}
        self._requests: dict[str, list[str]] = {}
        self._next_id = 0

    def stall_seconds(self, channel: str) -> float:
        return QUIET if channel in self.liquidations else self.stall_after

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
        symbol = self.topics.get(topic) if isinstance(topic, str) else None
        if symbol is None or not isinstance(data, dict):
            terms = self.liquidations.get(topic) if isinstance(topic, str) else None
            if terms is not None:
                records: list[Record] = []
                dropped: list[Implausible] = []
                liquidation_rows(data, terms, self.liquidation_endpoint, received_at, records, dropped)
                return Frame(channel=topic, records=records, dropped=dropped)
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
        return self._records(topic, symbol, touched, ms_to_utc(ts), received_at)

    def _records(self, topic: str, symbol: _Symbol, touched: Any, when: datetime, received_at: datetime) -> Frame:
        """The records of the merged row whose fields the frame touched (every kind for a snapshot), stamped
        ``when`` (the frame's ``ts``)."""
        inst = symbol.instrument
        funding = self.want_funding and symbol.perp and (touched is None or not FUNDING_FIELDS.isdisjoint(touched))
        oi = self.want_oi and (touched is None or not OI_FIELDS.isdisjoint(touched))
        quote = self.want_quotes and (touched is None or not QUOTE_FIELDS.isdisjoint(touched))
        if not (funding or oi or quote):
            return Frame(channel=topic)
        numbers = symbol.numbers
        mark = numbers.get("markPrice")
        if mark is None:
            raise MalformedFrame(VENUE, self.reader.endpoint, f"{topic}: no markPrice")
        mult = inst.multiplier
        index = numbers.get("indexPrice")
        mark_unit, index_unit = mark / mult, None if index is None else index / mult
        records: list[Record] = []
        dropped: list[Implausible] = []
        if funding:
            try:
                records.append(self._funding(symbol, mark, mark_unit, index_unit, when, received_at))
            except Implausible as exc:
                dropped.append(exc)
        if oi:
            try:
                amount, note = self._one_side(symbol, when, received_at, "oi")
                records.append(plausible.open_interest(
                    self.reader.endpoint, instrument=inst, amount=amount, unit=symbol.oi_unit, price=mark_unit,
                    price_source="mark", time=when, received_at=received_at, note=note))
            except Implausible as exc:
                dropped.append(exc)
        if quote:
            last = numbers.get("lastPrice")
            volume, turnover = numbers.get("volume24h"), numbers.get("turnover24h")
            if symbol.inverse:  # as parse.day_volume: inverse volume24h USD contracts, turnover24h coins
                usd = None if volume is None else volume * inst.contract_size
                base = None if turnover is None else turnover * mult
            else:
                usd, base = turnover, None if volume is None else volume * mult
            try:
                records.append(plausible.price_quote(self.reader.endpoint, make_quote(
                    instrument=inst, time=when, received_at=received_at, mark_price=mark_unit, index_price=index_unit,
                    last_price=None if last is None else last / mult, volume_24h_usd=usd, volume_24h_base=base)))
            except Implausible as exc:
                dropped.append(exc)
        return Frame(channel=topic, records=records, dropped=dropped)

    def _funding(self, symbol: _Symbol, mark: float, mark_unit: float, index_unit: float | None, when: datetime,
                 received_at: datetime) -> FundingRate:
        """As ``parse.ticker_funding`` reads the same row (``test_stream_parsers`` holds them equal); ``mark`` as
        sent, ``mark_unit`` and ``index_unit`` per one unit of the asset."""
        inst, numbers, row = symbol.instrument, symbol.numbers, symbol.row
        assert row is not None
        rate = numbers.get("fundingRate")
        next_ms = numbers.get("nextFundingTime")
        if rate is None or next_ms is None or not MIN_MS <= next_ms <= MAX_MS:
            raise MalformedFrame(VENUE, self.reader.endpoint, f"{inst.symbol}: fundingRate "
                                 f"{row.get('fundingRate')!r}, nextFundingTime {row.get('nextFundingTime')!r}")
        hours_raw, cap_raw = row.get("fundingIntervalHour"), row.get("fundingCap")
        interval = symbol.intervals.get(hours_raw)
        if interval is None:
            interval = symbol.intervals[hours_raw] = parse.ticker_interval(
                self.reader, {"fundingIntervalHour": hours_raw}, inst.symbol, self.intervals)
        hours, source = interval
        caps = symbol.caps
        if cap_raw in caps:
            cap = caps[cap_raw]
        else:
            cap = caps[cap_raw] = parse.funding_cap(self.reader, {"fundingCap": cap_raw})
        next_time = symbol.settlements.get(next_ms)
        if next_time is None:
            next_time = symbol.settlements[next_ms] = ms_to_utc(next_ms)
        amount, note = self._one_side(symbol, when, received_at, "funding")
        usd = amount * inst.contract_size if symbol.inverse else amount * mark
        return plausible.funding_rate(self.reader.endpoint, make_funding(
            instrument=inst, rate=rate, interval_hours=hours, interval_source=source, time=when,
            received_at=received_at, next_funding_time=next_time, mark_price=mark_unit, index_price=index_unit,
            open_interest_usd=usd, note=note), cap)

    def _one_side(self, symbol: _Symbol, when: datetime, received_at: datetime, record: str) -> tuple[float, str]:
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
        notes = symbol.notes[record]
        note = notes.get(which)
        if note is None:
            note = notes[which] = self._note(symbol.instrument, which, record, Stamp(when, received_at))
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
    """Connections per category (linear, inverse), ``per_connection`` topics each: ``tickers.{symbol}`` for the
    ticker kinds and ``allLiquidation.{symbol}`` for liquidations, a symbol's topics on the same connection."""
    out: list[TickerStream] = []
    contracts = request.contracts()
    per_symbol = int(request.tickers) + int(request.liquidations)
    for category in ("linear", "inverse"):
        mine = [i for i in contracts if i.market == category]
        for part in chunks(mine, TickerStream.per_connection // max(1, per_symbol)):
            out.append(TickerStream(category, part, request.funding, request.kinds))
    return out
