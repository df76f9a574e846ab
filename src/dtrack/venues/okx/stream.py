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

Liquidations: ``liquidation-orders`` per instType (``{"channel": "liquidation-orders", "instType": "SWAP"}``, no
instId: one subscription covers every contract of the type; SWAP and FUTURES as asked), named
``liquidation-orders:SWAP``. A push (OKX's doc sample, ``okx__ws_liquidation_orders__docs.json``):
``{"arg": {...}, "data": [{"instId", "instType", "uly", "instFamily", "details": [{"side", "posSide", "bkPx",
"sz", "bkLoss", "ccy", "ts"}]}]}``; only the watched contracts become records. The side of the position: ``posSide``
when it is ``long`` / ``short`` (hedge mode), else (``net``) the ORDER side ``side``: ``sell`` closes a long.
``sz`` is in contracts (``ctVal`` each, as open interest), ``bkPx`` the bankruptcy price, ``ts`` the time. OKX
shows "a maximum of one order per one-second period" per contract, which "doesn't represent the total":
``Coverage.SAMPLED``. The first push after subscribing is a backlog of recent orders (Tardis drops it; cryptofeed
users saw an "avalanche" at start-up). It is not dropped here (it is news on a first connection), but the key
``instId:ts:side:sz:bkPx`` (the position side) is the same however often an order is pushed, and the connection
remembers the keys it has handed on (the last ``SEEN`` of them, across reconnects) and does not hand one on again:
a backlog re-pushed after a reconnect yields only the orders not seen yet.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dtrack.errors import Implausible
from dtrack.net.ws import CONTROL, Frame, MalformedFrame, StreamProtocol, chunks, decode
from dtrack.records import Coverage, DataKind, Instrument, Kind, Liquidation, PriceKind, Unit
from dtrack.venues import plausible
from dtrack.venues.fields import Reader
from dtrack.venues.okx import api, parse
from dtrack.venues.streaming import (
    ORDER_SIDE,
    QUIET,
    LiquidationTerms,
    SeenKeys,
    StreamRequest,
    make_funding,
    make_quote,
    opt_time_ms,
)

HOST = "ws"
PATH = "/ws/v5/public"
FUNDING, OPEN_INTEREST, MARK = "funding-rate", "open-interest", "mark-price"
LIQUIDATIONS = "liquidation-orders"
LIQUIDATION_ENDPOINT = f"{PATH} {LIQUIDATIONS}"
#: the instTypes whose liquidation orders dtrack reads (the contracts it lists)
LIQUIDATION_TYPES = (api.SWAP, api.FUTURES)
#: how many liquidation keys a connection remembers to hand none on twice (a backlog holds the recent orders of
#: every contract of the type; a few thousand is far more than one push)
SEEN = 20_000
_READERS = {name: Reader(api.VENUE, f"{PATH} {name}") for name in (FUNDING, OPEN_INTEREST, MARK)}
_POSITION = frozenset({"long", "short"})


#: the note of a funding record, before how its open interest was read
NOTE = f"stream {FUNDING} with the latest {MARK} and {OPEN_INTEREST}"


def _sound(oi: parse.ContractOpenInterest) -> bool:
    """The open interest's figures pass the rules ``parse`` holds them to (>= 0; they were read finite)."""
    return oi.contracts >= 0 and (oi.coin is None or oi.coin >= 0) and (oi.usd is None or oi.usd >= 0)


def channel_name(channel: str, inst_id: str) -> str:
    """How dtrack names one subscription in records and gaps: ``mark-price:BTC-USDT-SWAP``,
    ``liquidation-orders:SWAP``."""
    return f"{channel}:{inst_id}"


def liquidation_terms(instrument: Instrument) -> LiquidationTerms:
    """How a ``liquidation-orders`` size of ``instrument`` is counted: contracts of ``ctVal`` (as open interest)."""
    return LiquidationTerms(instrument, LIQUIDATION_ENDPOINT, Unit.CONTRACTS)


def liquidation_orders(row: Any, watched: dict[str, LiquidationTerms], received_at: datetime,
                       records: list[Liquidation], dropped: list[Implausible]) -> None:
    """The liquidations of one ``liquidation-orders`` data row (one contract, its ``details``) into ``records``
    (none for a contract not watched; implausible ones into ``dropped``); a shape the docs do not give is
    ``MalformedFrame``."""
    try:
        inst_id = row["instId"]
        terms = watched.get(inst_id)
        if terms is None:
            return
        details = row["details"]
        if details.__class__ is not list:
            raise TypeError(f"details is a {type(details).__name__}")
    except (KeyError, TypeError) as exc:
        raise MalformedFrame(api.VENUE, LIQUIDATION_ENDPOINT, f"a data row {str(row)[:80]!r}: {exc}") from None
    for detail in details:
        try:
            side = detail.get("posSide")
            if side not in _POSITION:  # net mode ("net"): the order's side says it
                side = ORDER_SIDE[detail["side"]]
            size_text, price_text = detail["sz"], detail["bkPx"]
            size, price, ms = float(size_text), float(price_text), int(detail["ts"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedFrame(api.VENUE, LIQUIDATION_ENDPOINT, f"{inst_id}: a detail {str(detail)[:80]!r}: "
                                                                  f"{type(exc).__name__} {exc}") from None
        try:
            records.append(terms.record(side=side, price=price, price_kind=PriceKind.BANKRUPTCY, amount=size, ms=ms,
                                        received_at=received_at, coverage=Coverage.SAMPLED,
                                        key=f"{inst_id}:{ms}:{side}:{size_text}:{price_text}"))
        except Implausible as exc:
            dropped.append(exc)


class _State:
    """What the connection knows of one instrument: its latest mark and open interest."""

    __slots__ = ("instrument", "mark", "oi")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.mark: float | None = None
        self.oi: parse.ContractOpenInterest | None = None


class PublicStream(StreamProtocol):
    """The ticker channels of the asked instruments on one public connection, and ``liquidation-orders`` of the
    instTypes of ``liquidated`` (the connection's instruments unless given; ``()``: none here) when liquidations
    are asked."""

    venue = api.VENUE
    host = HOST
    path = PATH
    per_request = 60  # a request is at most 64 KB
    per_connection = 300  # and at most 480 subscribe operations per hour per connection
    ping_every = 20.0
    ping_when_idle = True
    stall_after = 60.0

    def __init__(self, instruments: Sequence[Instrument], kinds: frozenset[DataKind],
                 liquidated: Sequence[Instrument] | None = None) -> None:
        self.want_funding = DataKind.FUNDING in kinds
        self.want_oi = DataKind.OPEN_INTEREST in kinds
        self.want_quotes = DataKind.QUOTES in kinds
        self.instruments = {i.symbol: i for i in instruments}
        self.subscriptions: dict[str, tuple[str, str]] = {}  # channel name -> (OKX channel, instId or instType)
        for inst in instruments:
            for channel in self._channels_of(inst):
                self.subscriptions[channel_name(channel, inst.symbol)] = (channel, inst.symbol)
        #: the contracts whose liquidations become records, by instId
        self.liquidated: dict[str, LiquidationTerms] = {}
        if DataKind.LIQUIDATIONS in kinds:
            watched = instruments if liquidated is None else liquidated
            self.liquidated = {i.symbol: liquidation_terms(i) for i in watched if i.market in LIQUIDATION_TYPES}
            for inst_type in LIQUIDATION_TYPES:
                if any(i.market == inst_type for i in watched):
                    self.subscriptions[channel_name(LIQUIDATIONS, inst_type)] = (LIQUIDATIONS, inst_type)
        super().__init__(list(self.subscriptions))
        self.states: dict[str, _State] = {}
        #: the keys of the liquidations handed on (kept across reconnects: a backlog re-pushed is not news)
        self.seen = SeenKeys(SEEN)
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
        # funding-rate is pushed every 30 to 90 s; the others every few seconds or on every change; liquidation
        # orders only when there are some
        if channel.startswith(LIQUIDATIONS):
            return QUIET
        return 200.0 if channel.startswith(FUNDING) else self.stall_after

    def marker(self, channel: str) -> str:
        okx_channel, ident = self.subscriptions[channel]
        return LIQUIDATIONS if okx_channel == LIQUIDATIONS else ident

    def reset(self) -> None:
        self.states = {symbol: _State(inst) for symbol, inst in self.instruments.items()}

    def subscribe_messages(self, channels: Sequence[str]) -> list[str]:
        args = []
        for c in channels:
            channel, ident = self.subscriptions[c]
            args.append({"channel": channel, "instType" if channel == LIQUIDATIONS else "instId": ident})
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
        if channel == LIQUIDATIONS:
            return self._liquidations(arg.get("instType"), data, received_at)
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

    def _liquidations(self, inst_type: Any, data: list[Any], received_at: datetime) -> Frame:
        """A ``liquidation-orders`` push: the orders of watched contracts not handed on before."""
        name = channel_name(LIQUIDATIONS, str(inst_type))
        if name not in self.subscriptions:
            raise MalformedFrame(api.VENUE, PATH, f"a push of {name}, which was not subscribed")
        records: list[Liquidation] = []
        dropped: list[Implausible] = []
        for row in data:
            liquidation_orders(row, self.liquidated, received_at, records, dropped)
        if not records:
            return Frame(channel=name, dropped=dropped)
        return Frame(channel=name, records=self.seen.fresh(records), dropped=dropped)

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
            if not precise and LIQUIDATIONS in text:  # an instType OKX did not name (or named otherwise)
                precise = [c for c, (okx_channel, _) in self.subscriptions.items() if okx_channel == LIQUIDATIONS]
            return Frame(refused=precise or named, detail=detail)
        return Frame(detail=detail)  # a notice (e.g. a service upgrade about to close the connection)


def protocols(request: StreamRequest) -> list[PublicStream]:
    """The asked swaps and dated futures, ``per_connection`` subscriptions per connection (three per perpetual
    with funding asked); ``liquidation-orders`` of their instTypes once, on the first connection, watching them
    all."""
    contracts = request.contracts()
    liquidated = contracts if request.liquidations else []
    if not request.tickers:
        return [PublicStream([], request.kinds, liquidated)] if liquidated else []
    per_inst = 3 if request.wants(DataKind.FUNDING) else 2 if request.wants(DataKind.OPEN_INTEREST) else 1
    room = PublicStream.per_connection - (len(LIQUIDATION_TYPES) if liquidated else 0)
    parts = chunks(contracts, max(1, room // per_inst))
    return [PublicStream(part, request.kinds, liquidated if k == 0 else ()) for k, part in enumerate(parts)]
