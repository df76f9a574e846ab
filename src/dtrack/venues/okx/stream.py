"""OKX live funding, open interest and mark prices: the public ``funding-rate``, ``open-interest`` and
``mark-price`` channels per instrument, combined per instrument (pure parsing; the combining state is per
connection).

Host ``ws`` (``wss://ws.okx.com:8443``), path ``/ws/v5/public``. Subscribe
``{"op": "subscribe", "args": [{"channel": "mark-price", "instId": "BTC-USDT-SWAP"}, ...]}``, each arg answered
``{"event": "subscribe", "arg": {...}, "connId": ...}``; ``{"event": "error", "code": ..., "msg": ...}`` refuses
(the channels of the instId the message names). Keep-alive: the client sends the text ``ping`` after 20 s without
any message (OKX drops a connection idle for 30 s) and the server answers the text ``pong``.

Pushes ``{"arg": {"channel": ..., "instId": ...}, "data": [row]}``, numbers as strings, the current value right
after subscribing. The rows have the REST endpoints' fields (OKX docs; no capture of these channels exists in the
corpus): ``funding-rate`` = the REST funding-rate row (``fundingRate``, ``fundingTime``, ``nextFundingTime``,
``minFundingRate`` / ``maxFundingRate``, ``ts``), pushed every 30 to 90 s; ``open-interest`` = ``oi`` contracts,
``oiCcy`` coin, ``oiUsd`` USD, ``ts``, about every 3 s; ``mark-price`` = ``markPx``, ``ts``. They are read by the
REST parser's functions (``parse.funding_row``, ``parse.funding_rate``, ``parse.open_interest``): the interval is
``nextFundingTime - fundingTime``, the USD open interest is ``oiUsd``, and a funding record carries the latest
mark and open interest of its instrument. A mark-price push is a ``PriceQuote`` of the mark alone, at its ``ts``.
Channel names in records and gaps: ``<channel>:<instId>``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dtrack.errors import Implausible
from dtrack.net.ws import CONTROL, Frame, MalformedFrame, StreamProtocol, chunks, decode
from dtrack.records import DataKind, Instrument, Kind, Unit
from dtrack.venues import plausible
from dtrack.venues.fields import Reader
from dtrack.venues.okx import api, parse
from dtrack.venues.streaming import StreamRequest, make_funding, make_quote, opt_time_ms

HOST = "ws"
PATH = "/ws/v5/public"
FUNDING, OPEN_INTEREST, MARK = "funding-rate", "open-interest", "mark-price"
_READERS = {name: Reader(api.VENUE, f"{PATH} {name}") for name in (FUNDING, OPEN_INTEREST, MARK)}


#: the note of a funding record, before how its open interest was read
NOTE = f"stream {FUNDING} with the latest {MARK} and {OPEN_INTEREST}"


def _sound(oi: parse.ContractOpenInterest) -> bool:
    """The open interest's figures pass the rules ``parse`` holds them to (>= 0; they were read finite)."""
    return oi.contracts >= 0 and (oi.coin is None or oi.coin >= 0) and (oi.usd is None or oi.usd >= 0)


def channel_name(channel: str, inst_id: str) -> str:
    """How dtrack names one subscription in records and gaps: ``mark-price:BTC-USDT-SWAP``."""
    return f"{channel}:{inst_id}"


class _State:
    """What the connection knows of one instrument: its latest mark and open interest."""

    __slots__ = ("instrument", "mark", "oi")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.mark: float | None = None
        self.oi: parse.ContractOpenInterest | None = None


class PublicStream(StreamProtocol):
    """The three channels of the asked instruments on one public connection."""

    venue = api.VENUE
    host = HOST
    path = PATH
    per_request = 60  # a request is at most 64 KB
    per_connection = 300  # and at most 480 subscribe operations per hour per connection
    ping_every = 20.0
    ping_when_idle = True
    stall_after = 60.0

    def __init__(self, instruments: Sequence[Instrument], kinds: frozenset[DataKind]) -> None:
        self.want_funding = DataKind.FUNDING in kinds
        self.want_oi = DataKind.OPEN_INTEREST in kinds
        self.want_quotes = DataKind.QUOTES in kinds
        self.instruments = {i.symbol: i for i in instruments}
        self.subscriptions: dict[str, tuple[str, str]] = {}  # channel name -> (OKX channel, instId)
        for inst in instruments:
            for channel in self._channels_of(inst):
                self.subscriptions[channel_name(channel, inst.symbol)] = (channel, inst.symbol)
        super().__init__(list(self.subscriptions))
        self.states: dict[str, _State] = {}
        self.reset()

    def _channels_of(self, inst: Instrument) -> list[str]:
        funding = self.want_funding and inst.kind is Kind.PERP
        out = [FUNDING] if funding else []
        if funding or self.want_oi:
            out.append(OPEN_INTEREST)
        if funding or self.want_oi or self.want_quotes:
            out.append(MARK)
        return out

    def stall_seconds(self, channel: str) -> float:
        # funding-rate is pushed every 30 to 90 s; the others every few seconds or on every change
        return 200.0 if channel.startswith(FUNDING) else self.stall_after

    def marker(self, channel: str) -> str:
        return self.subscriptions[channel][1]

    def reset(self) -> None:
        self.states = {symbol: _State(inst) for symbol, inst in self.instruments.items()}

    def subscribe_messages(self, channels: Sequence[str]) -> list[str]:
        args = [{"channel": self.subscriptions[c][0], "instId": self.subscriptions[c][1]} for c in channels]
        return [json.dumps({"op": "subscribe", "args": args})]

    def ping_message(self) -> str:
        return "ping"

    def handle(self, text: str, received_at: datetime) -> Frame:
        if text == "pong":
            return CONTROL
        msg = decode(text)
        if not isinstance(msg, dict):
            raise MalformedFrame(api.VENUE, PATH, f"a {type(msg).__name__}, expected an object")
        if "event" in msg:
            return self._event(msg)
        arg, data = msg.get("arg"), msg.get("data")
        if not isinstance(arg, dict) or not isinstance(data, list):
            raise MalformedFrame(api.VENUE, PATH, f"unexpected message {text[:60]!r}")
        channel, inst_id = arg.get("channel"), arg.get("instId")
        state = self.states.get(inst_id)  # type: ignore[arg-type]
        reader = _READERS.get(channel)  # type: ignore[arg-type]
        if state is None or reader is None:
            raise MalformedFrame(api.VENUE, PATH, f"a push of {channel}:{inst_id}, which was not subscribed")
        records: list[Any] = []
        dropped: list[Implausible] = []
        for raw in data:
            row = reader.obj(raw, "data row")
            try:
                if channel == MARK:
                    self._mark(reader, row, state, received_at, records)
                elif channel == OPEN_INTEREST:
                    self._open_interest(reader, row, state, received_at, records)
                else:
                    self._funding(reader, row, state, received_at, records)
            except Implausible as exc:
                dropped.append(exc)
        return Frame(channel=channel_name(channel, inst_id), records=records, dropped=dropped)  # type: ignore[arg-type]

    def _mark(self, r: Reader, row: Any, state: _State, received_at: datetime, records: list[Any]) -> None:
        mark = r.num(row, "markPx")
        inst = state.instrument
        if not mark > 0:  # a number is finite: this is the rule's own test, and the rule names what is wrong
            plausible.Rules(api.VENUE, r.endpoint, inst.symbol).price("markPx", mark)
        state.mark = mark
        if self.want_quotes:
            records.append(plausible.price_quote(r.endpoint, make_quote(
                instrument=inst, time=opt_time_ms(r, row, "ts"), received_at=received_at,
                mark_price=mark / inst.multiplier)))

    def _open_interest(self, r: Reader, row: Any, state: _State, received_at: datetime, records: list[Any]) -> None:
        oi = parse.ContractOpenInterest(r.num(row, "oi"), r.opt_num(row, "oiCcy"), r.opt_num(row, "oiUsd"),
                                        opt_time_ms(r, row, "ts"))
        state.oi = oi
        if not self.want_oi:
            return
        inst, mark = state.instrument, state.mark
        if mark is not None and _sound(oi):  # what ``parse.open_interest`` builds from a mark, without its checks
            records.append(plausible.open_interest(       # of figures that pass them (``_sound``)
                api.MARK_PRICE, instrument=inst, amount=oi.contracts, unit=Unit.CONTRACTS, price=mark / inst.multiplier,
                price_source="mark", time=oi.time, received_at=received_at))
            return
        record = parse.open_interest(inst, oi, mark, received_at)
        if record is not None:
            records.append(record)

    def _funding(self, r: Reader, row: Any, state: _State, received_at: datetime, records: list[Any]) -> None:
        if row.get("instType") not in (None, api.SWAP):
            return  # "X-Perps" FUTURES rows are not read, as on REST
        funding = parse.funding_row(r, row)
        if not self.want_funding:
            return
        inst, mark, oi = state.instrument, state.mark, state.oi
        if oi is None or not _sound(oi):  # no OI, or an odd one: ``parse.funding_rate`` says so
            records.append(parse.funding_rate(inst, funding, received_at, mark=mark, oi=oi, notes=[NOTE]))
            return
        # ``parse.funding_rate`` of the same arguments, without the checks of figures that pass them (the mark
        # was held > 0 when it came, the OI by ``_sound``): ``test_stream_fastpath`` holds the two equal
        oi_usd, how = parse.open_interest_usd(oi, inst, mark)
        records.append(plausible.funding_rate(api.FUNDING_RATE, make_funding(
            instrument=inst, rate=funding.rate, interval_hours=funding.interval_hours,
            interval_source=parse.INTERVAL_SOURCE, time=funding.time, received_at=received_at,
            predicted_rate=funding.predicted_rate, next_funding_time=funding.funding_time,
            mark_price=None if mark is None else mark / inst.multiplier, open_interest_usd=oi_usd,
            note=f"{NOTE}; {how}"), funding.cap))

    def _event(self, msg: dict[str, Any]) -> Frame:
        event = msg.get("event")
        if event in ("subscribe", "unsubscribe"):
            return CONTROL
        detail = f"{event} {msg.get('code', '')}: {msg.get('msg', '')}".strip()
        if event == "error":
            text = str(msg.get("msg", ""))
            named = [c for c, (okx_channel, inst_id) in self.subscriptions.items() if inst_id in text]
            precise = [c for c in named if self.subscriptions[c][0] in text]
            return Frame(refused=precise or named, detail=detail)
        return Frame(detail=detail)  # a notice (e.g. a service upgrade about to close the connection)


def protocols(request: StreamRequest) -> list[PublicStream]:
    """The asked swaps and dated futures, ``per_connection`` subscriptions per connection (three per perpetual
    with funding asked)."""
    per_inst = 3 if request.wants(DataKind.FUNDING) else 2 if request.wants(DataKind.OPEN_INTEREST) else 1
    return [PublicStream(part, request.kinds)
            for part in chunks(request.contracts(), max(1, PublicStream.per_connection // per_inst))]
