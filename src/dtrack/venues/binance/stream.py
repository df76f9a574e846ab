"""Binance live funding, prices and liquidations: ``!markPrice@arr@1s`` and ``!forceOrder@arr`` on both futures
WebSocket hosts (pure parsing).

Hosts: ``fstream`` (USDⓈ-M, path ``/market/stream``: the 2026 split of the USDⓈ-M base URL puts mark prices and
liquidations under ``/market``) and ``dstream`` (COIN-M, ``/stream``), combined streams. One connection per host
carries the asked channels: ``{"method": "SUBSCRIBE", "params": ["!markPrice@arr@1s", "!forceOrder@arr"], "id": N}``,
acknowledged ``{"result": null, "id": N}`` (an ``error`` object instead refuses it).

Mark prices: ``{"stream": "!markPrice@arr@1s", "data": [update, ...]}`` with every symbol of the host each second;
an update (``binance-usdm__ws_markPrice__docs.json``): ``{"e": "markPriceUpdate", "E": event ms, "s": symbol,
"p": mark, "i": index, "P": estimated settle price, "r": funding rate, "T": next funding ms}``, numbers as strings.
COIN-M dated futures come with ``"r": ""`` and ``"T": 0`` (as in premiumIndex): they yield quotes, not funding.
The stream carries no interval and no open interest: the interval and its source are the REST funding's at
stream start (``StreamRequest.funding``: fundingInfo, or Binance's 8 h default), and a ``T`` off that interval's
grid says so in the note, as the REST parser does. Prices are divided by the multiplier (``1000PEPEUSDT``).

Liquidations: ``{"stream": "!forceOrder@arr", "data": {"e": "forceOrder", "E": event ms, "o": order}}``, one event
per message for any symbol of the host (``binance-usdm__ws_forceOrder__docs.json``,
``binance-coinm__ws_forceOrder__docs.json``); only the watched symbols become records. ``o.S`` is the liquidation
ORDER's side: ``SELL`` closes a long, so ``SELL`` = a long liquidated (Binance's docs; Tardis maps it the same
way). The quantity is ``o.z`` (filled, accumulated; an event with nothing filled is skipped): the venue's base on
USDⓈ-M, contracts of ``contractSize`` USD on COIN-M. The price is ``o.ap`` (average fill), or the order's limit
price ``o.p`` when ``ap`` is 0; the time ``o.T``. Binance pushes "only the latest one liquidation order within
1000ms" per symbol: ``Coverage.SAMPLED``, a lower bound. No id: the key is ``s:T:S:z:ap`` as sent.

Keep-alive: the server pings every 3 minutes and wants a PONG with the ping's payload (aiohttp answers), and
cuts every connection at 24 h: the connection is renewed after 23.5 h. At most 10 incoming messages per second
per connection (``send_interval``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from dtrack.errors import Implausible
from dtrack.net.ws import CONTROL, Frame, MalformedFrame, StreamProtocol, decode
from dtrack.records import Coverage, DataKind, FundingRate, Instrument, Kind, Liquidation, PriceKind, Unit
from dtrack.venues import plausible
from dtrack.venues.binance import api
from dtrack.venues.fields import HOUR_MS, MAX_MS, MIN_MS, ms_to_utc
from dtrack.venues.streaming import (
    ORDER_SIDE,
    QUIET,
    Collected,
    LiquidationTerms,
    StreamRequest,
    make_funding,
    make_quote,
)

log = logging.getLogger(__name__)

CHANNEL = "!markPrice@arr@1s"
FORCE_ORDER = "!forceOrder@arr"
#: WebSocket host key and path of each futures REST host
WS_HOSTS: Mapping[str, tuple[str, str]] = {api.USDM: ("fstream", "/market/stream"), api.COINM: ("dstream", "/stream")}
NOTE = f"stream {CHANNEL}: no open interest in it"


class _Watched:
    """One watched symbol, everything its records need precomputed (and its last next-funding time read)."""

    __slots__ = ("funding", "hours", "instrument", "multiplier", "next_ms", "next_time", "note", "source", "step")

    def __init__(self, instrument: Instrument, funding: FundingRate | None) -> None:
        self.instrument = instrument
        self.multiplier = instrument.multiplier
        self.funding = funding is not None and instrument.kind is Kind.PERP
        self.hours = funding.interval_hours if funding is not None else 0.0
        self.source = funding.interval_source if funding is not None else ""
        self.step = round(self.hours * HOUR_MS)
        self.next_ms = 0
        self.next_time: datetime | None = None
        self.note = NOTE

    def settles(self, next_ms: int) -> datetime:
        """The next funding time of ``next_ms`` (read once per settlement, not per frame), and its note: a
        time off the interval's grid (Binance settles at whole multiples of it since 00:00 UTC) says the
        interval may have changed, as the REST parser does."""
        if next_ms != self.next_ms or self.next_time is None:
            self.next_time = ms_to_utc(next_ms)
            self.next_ms = next_ms
            self.note = NOTE
            if self.step <= 0 or next_ms % self.step:
                self.note += (f"; interval unconfirmed: T {self.next_time:%Y-%m-%d %H:%M} UTC is not on the "
                              f"{self.hours:g} h grid ({self.source}), the interval may have changed")
        return self.next_time


def force_order_terms(instrument: Instrument, endpoint: str) -> LiquidationTerms:
    """How a ``forceOrder`` of ``instrument`` is counted: COIN-M in contracts of ``contract_size`` USD, USDⓈ-M in
    the venue's base (``1000PEPE`` units)."""
    return LiquidationTerms(instrument, endpoint, Unit.CONTRACTS if instrument.contract_unit is Unit.USD else Unit.BASE)


def force_order(order: Any, watched: Mapping[str, LiquidationTerms], endpoint: str,
                received_at: datetime) -> Liquidation | None:
    """The liquidation of one ``forceOrder`` event's order ``o`` (None: a symbol not watched, or nothing filled);
    a shape the docs do not give is ``MalformedFrame``, an implausible value ``Implausible``."""
    try:
        symbol = order["s"]
        terms = watched.get(symbol)
        if terms is None:
            return None
        side_text, filled_text, average_text = order["S"], order["z"], order["ap"]
        side = ORDER_SIDE[side_text]
        filled = float(filled_text)
        price, kind = float(average_text), PriceKind.AVERAGE
        if price == 0.0:  # nothing filled at an average yet: the order's limit price
            price, kind = float(order["p"]), PriceKind.ORDER
        ms = int(order["T"])
    except (KeyError, TypeError, ValueError) as exc:
        what = f"{type(exc).__name__} {exc}"
        raise MalformedFrame(api.VENUE, endpoint, f"a forceOrder order {str(order)[:80]!r}: {what}") from None
    if filled == 0.0:
        return None
    return terms.record(side=side, price=price, price_kind=kind, amount=filled, ms=ms, received_at=received_at,
                        coverage=Coverage.SAMPLED, key=f"{symbol}:{ms}:{side_text}:{filled_text}:{average_text}")


class MarkPriceStream(StreamProtocol):
    """One futures host's connection: ``!markPrice@arr@1s`` when a ticker kind is asked and ``!forceOrder@arr``
    when liquidations are, read for the watched symbols."""

    venue = api.VENUE
    per_request = 2
    per_connection = 2
    send_interval = 0.2  # Binance: at most 10 incoming messages per second per connection
    max_age = 23.5 * 3600.0  # Binance cuts every connection at 24 h
    stall_after = 30.0  # mark prices are pushed every second

    def __init__(self, market: str, instruments: Sequence[Instrument], funding: Mapping[str, FundingRate],
                 kinds: frozenset[DataKind]) -> None:
        self.want_funding = DataKind.FUNDING in kinds
        self.want_quotes = DataKind.QUOTES in kinds
        want_marks = self.want_funding or self.want_quotes or DataKind.OPEN_INTEREST in kinds
        want_liquidations = DataKind.LIQUIDATIONS in kinds
        super().__init__(([CHANNEL] if want_marks else []) + ([FORCE_ORDER] if want_liquidations else []))
        self.host, self.path = WS_HOSTS[market]
        self.endpoint = f"{self.host} {CHANNEL}"
        self.liquidation_endpoint = f"{self.host} {FORCE_ORDER}"
        self.watched = {i.symbol: _Watched(i, funding.get(i.symbol)) for i in instruments} if want_marks else {}
        self.liquidations = ({i.symbol: force_order_terms(i, self.liquidation_endpoint) for i in instruments}
                             if want_liquidations else {})
        self._next_id = 0
        self._pending: dict[int, list[str]] = {}

    def gap_stream(self, channel: str) -> str:
        """``fstream !forceOrder@arr``: both futures hosts serve the same all-market channels, so a gap names its
        host (two connections dropping in the same millisecond would otherwise share one gap's key)."""
        return f"{self.host} {channel}"

    def stall_seconds(self, channel: str) -> float:
        return QUIET if channel == FORCE_ORDER else self.stall_after

    def reset(self) -> None:
        self._pending.clear()

    def subscribe_messages(self, channels: Sequence[str]) -> list[str]:
        self._next_id += 1
        self._pending[self._next_id] = list(channels)
        return [json.dumps({"method": "SUBSCRIBE", "params": list(channels), "id": self._next_id})]

    def handle(self, text: str, received_at: datetime) -> Frame:
        msg = decode(text)
        if not isinstance(msg, dict):
            raise MalformedFrame(api.VENUE, self.endpoint, f"a {type(msg).__name__}, expected an object")
        data = msg.get("data")
        if data is None:
            return self._control(msg)
        stream = msg.get("stream")
        if stream == CHANNEL and isinstance(data, list) and self.watched:
            out = Collected()
            for update in data:
                self._update(update, received_at, out)
            return Frame(channel=CHANNEL, records=out.records, dropped=out.dropped)
        if stream == FORCE_ORDER and self.liquidations:
            return self._force_orders(data, received_at)
        raise MalformedFrame(api.VENUE, self.endpoint, f"unexpected frame {text[:60]!r}")

    def _force_orders(self, data: Any, received_at: datetime) -> Frame:
        """A ``!forceOrder@arr`` message: one event (as documented), or a list of them."""
        events = data if data.__class__ is list else (data,)
        records: list[Liquidation] = []
        dropped: list[Implausible] = []
        for event in events:
            order = event.get("o") if isinstance(event, dict) else None
            if not isinstance(order, dict):
                raise MalformedFrame(api.VENUE, self.liquidation_endpoint, f"an event without an order: {event!r:.80}")
            try:
                record = force_order(order, self.liquidations, self.liquidation_endpoint, received_at)
            except Implausible as exc:
                dropped.append(exc)
                continue
            if record is not None:
                records.append(record)
        return Frame(channel=FORCE_ORDER, records=records, dropped=dropped)

    def _control(self, msg: dict[str, object]) -> Frame:
        ident = msg.get("id")
        channels = self._pending.pop(ident, []) if isinstance(ident, int) else []
        error = msg.get("error")
        if error is not None:
            return Frame(refused=channels, detail=f"SUBSCRIBE refused: {error}")
        if "result" in msg:
            return CONTROL
        raise MalformedFrame(api.VENUE, self.endpoint, f"unexpected message {str(msg)[:60]!r}")

    def _update(self, update: object, received_at: datetime, out: Collected) -> None:
        """One symbol's markPriceUpdate (skipped unread unless watched)."""
        if not isinstance(update, dict):
            raise MalformedFrame(api.VENUE, self.endpoint, f"an update is a {type(update).__name__}")
        watched = self.watched.get(update.get("s"))  # type: ignore[arg-type]
        if watched is None:
            return
        try:
            event_ms = int(update["E"])
            mark = float(update["p"]) / watched.multiplier
            index = float(update["i"]) / watched.multiplier
            rate_text, next_ms = update["r"], int(update["T"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedFrame(api.VENUE, self.endpoint, f"{update.get('s')}: {type(exc).__name__} {exc}") from None
        if not MIN_MS <= event_ms <= MAX_MS:
            raise MalformedFrame(api.VENUE, self.endpoint, f"{watched.instrument.symbol}: E={event_ms} is not epoch ms")
        when = ms_to_utc(event_ms)
        inst = watched.instrument
        try:
            if self.want_quotes:
                out.records.append(plausible.price_quote(self.endpoint, make_quote(
                    instrument=inst, time=when, received_at=received_at, mark_price=mark, index_price=index)))
            if self.want_funding and watched.funding and rate_text != "" and next_ms:
                out.records.append(self._funding(watched, float(rate_text), next_ms, mark, index, when, received_at))
        except Implausible as exc:
            out.dropped.append(exc)

    def _funding(self, watched: _Watched, rate: float, next_ms: int, mark: float, index: float, when: datetime,
                 received_at: datetime) -> FundingRate:
        if not MIN_MS <= next_ms <= MAX_MS:
            raise MalformedFrame(api.VENUE, self.endpoint, f"{watched.instrument.symbol}: T={next_ms} is not epoch ms")
        next_time = watched.settles(next_ms)
        return plausible.funding_rate(self.endpoint, make_funding(
            instrument=watched.instrument, rate=rate, interval_hours=watched.hours, interval_source=watched.source,
            time=when, received_at=received_at, next_funding_time=next_time, mark_price=mark, index_price=index,
            note=watched.note))


def protocols(request: StreamRequest) -> list[MarkPriceStream]:
    """One connection per futures host with asked contracts, carrying ``!markPrice@arr@1s`` (ticker kinds) and
    ``!forceOrder@arr`` (liquidations). A perpetual whose REST funding could not be read at stream start streams
    quotes only (its interval is unknown), with a warning."""
    out: list[MarkPriceStream] = []
    contracts = [i for i in request.contracts() if i.market in WS_HOSTS]
    if request.wants(DataKind.FUNDING):
        unknown = [i.symbol for i in contracts if i.kind is Kind.PERP and i.symbol not in request.funding]
        if unknown:
            log.warning("binance: no funding interval for %s at stream start: no funding records for them",
                        ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""))
    for market in WS_HOSTS:
        mine = [i for i in contracts if i.market == market]
        if mine:
            out.append(MarkPriceStream(market, mine, request.funding, request.kinds))
    return out
