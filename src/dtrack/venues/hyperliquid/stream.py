"""Hyperliquid live funding, open interest and prices: ``activeAssetCtx`` per coin (pure parsing).

Host ``ws`` (``wss://api.hyperliquid.xyz``), path ``/ws``. One subscription per message:
``{"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": "BTC"}}``, answered
``{"channel": "subscriptionResponse", "data": {...}}``; ``{"channel": "error", "data": "..."}`` refuses the coins it
names. Keep-alive: the server closes a connection that sent nothing for 60 s, so the client sends
``{"method": "ping"}`` every 30 s (answer ``{"channel": "pong"}``). At most 1,000 subscriptions per IP.

Pushes ``{"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": {...}}}``: ``ctx`` is the perp's asset
context with the fields of ``metaAndAssetCtxs`` (``funding``, ``openInterest``, ``oraclePx``, ``markPx``,
``midPx``, ``premium``, ``impactPxs``, ``dayNtlVlm``, ...: numbers as strings; the SDKs' types, no capture in the
corpus), read by the REST parser's functions: ``funding`` is the hourly rate of the next whole-hour settlement,
``openInterest`` one side in coins of the symbol (USD = x ``markPx``), ``oraclePx`` the index, ``midPx`` the
"last". A context carries no time: ``time`` is None. The interval is the REST side's at stream start
(``predictedFundings``), else hourly per the venue docs. Channel names: ``activeAssetCtx:<coin>``. For speed the
first record of each coin and kind (and any odd context) is built by those REST readers; later ones from the
context's numbers with the notes they wrote (``test_stream_parsers`` holds both equal).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from dtrack.errors import Implausible
from dtrack.net.ws import CONTROL, Frame, MalformedFrame, StreamProtocol, chunks, decode
from dtrack.records import DataKind, FundingRate, Instrument, Unit
from dtrack.venues import plausible
from dtrack.venues.fields import HOUR_MS, Reader, utc_to_ms
from dtrack.venues.hyperliquid import api, parse
from dtrack.venues.streaming import StreamRequest, make_funding, make_quote

HOST = "ws"
PATH = "/ws"
CHANNEL = "activeAssetCtx"
_READER = Reader(parse.VENUE, f"{PATH} {CHANNEL}")


def channel_name(coin: str) -> str:
    """``activeAssetCtx:BTC``."""
    return f"{CHANNEL}:{coin}"


class AssetCtxStream(StreamProtocol):
    """``activeAssetCtx`` of the asked perps on one connection."""

    venue = parse.VENUE
    host = HOST
    path = PATH
    per_request = 1  # one subscription per message
    per_connection = 1000  # Hyperliquid: 1,000 subscriptions per IP
    ping_every = 30.0
    stall_after = 60.0

    def __init__(self, instruments: Sequence[Instrument], funding: Mapping[str, FundingRate],
                 kinds: frozenset[DataKind]) -> None:
        self.watched = {i.symbol: i for i in instruments}
        super().__init__([channel_name(coin) for coin in self.watched])
        self.intervals = {symbol: (rate.interval_hours, rate.interval_source) for symbol, rate in funding.items()
                          if rate.interval_hours != api.FUNDING_INTERVAL_HOURS}
        self.want_funding = DataKind.FUNDING in kinds
        self.want_oi = DataKind.OPEN_INTEREST in kinds
        self.want_quotes = DataKind.QUOTES in kinds
        self._notes: dict[tuple[str, str], str] = {}
        self._slot: tuple[int, int] = (0, 0)
        self._settles = datetime.min.replace(tzinfo=UTC)

    def marker(self, channel: str) -> str:
        return f'"{channel.split(":", 1)[1]}"'

    def subscribe_messages(self, channels: Sequence[str]) -> list[str]:
        return [json.dumps({"method": "subscribe", "subscription": {"type": CHANNEL, "coin": ch.split(":", 1)[1]}})
                for ch in channels]

    def ping_message(self) -> str:
        return '{"method":"ping"}'

    def handle(self, text: str, received_at: datetime) -> Frame:
        msg = decode(text)
        if not isinstance(msg, dict):
            raise MalformedFrame(parse.VENUE, PATH, f"a {type(msg).__name__}, expected an object")
        channel, data = msg.get("channel"), msg.get("data")
        if channel == CHANNEL and isinstance(data, dict):
            return self.context(data.get("coin"), data.get("ctx"), received_at)
        if channel in ("pong", "subscriptionResponse"):
            return CONTROL
        if channel == "error":
            text_of = str(data)
            refused = [channel_name(coin) for coin in self.watched if f"'{coin}'" in text_of
                       or f'"{coin}"' in text_of or text_of.endswith(coin)]
            return Frame(refused=refused, detail=f"error: {text_of[:160]}")
        raise MalformedFrame(parse.VENUE, PATH, f"unexpected message {text[:60]!r}")

    def context(self, coin: Any, ctx: Any, received_at: datetime) -> Frame:
        """The records of one coin's asset context."""
        inst = self.watched.get(coin) if isinstance(coin, str) else None
        if inst is None:
            raise MalformedFrame(parse.VENUE, PATH, f"a context of {coin!r}, which was not subscribed")
        if not isinstance(ctx, dict):
            raise MalformedFrame(parse.VENUE, PATH, f"{coin}: ctx is a {type(ctx).__name__}")
        records: list[Any] = []
        dropped: list[Implausible] = []
        fast = _Ctx.read(ctx)  # None: something odd, left to the REST readers (which name it)
        for wanted, kind in ((self.want_funding, "funding"), (self.want_oi, "oi"), (self.want_quotes, "quote")):
            if wanted:
                try:
                    records.append(self._record(kind, inst, ctx, fast, received_at))
                except Implausible as exc:
                    dropped.append(exc)
        return Frame(channel=channel_name(inst.symbol), records=records, dropped=dropped)

    def _record(self, kind: str, inst: Instrument, ctx: Mapping[str, Any], fast: _Ctx | None,
                received_at: datetime) -> Any:
        """One record of a context: read by the REST readers the first time per contract and kind and whenever the
        context is odd; else built from ``fast`` with the note they wrote (``test_stream_parsers`` holds the two
        equal)."""
        key = (inst.symbol, kind)
        note = self._notes.get(key) if fast is not None else None
        if note is None or fast is None:
            record = self._rest(kind, inst, ctx, received_at)
            if fast is not None:
                self._notes[key] = getattr(record, "note", "")
            return record
        mult = inst.multiplier
        if kind == "quote":
            return plausible.price_quote(_READER.endpoint, make_quote(
                instrument=inst, time=None, received_at=received_at, mark_price=fast.mark / mult,
                index_price=None if fast.oracle is None else fast.oracle / mult,
                last_price=None if fast.mid is None else fast.mid / mult, volume_24h_usd=fast.day_usd,
                volume_24h_base=None if fast.day_base is None else fast.day_base * mult))
        if kind == "oi":
            return plausible.open_interest(_READER.endpoint, instrument=inst, amount=fast.oi, unit=Unit.BASE,
                                           price=fast.mark / mult, price_source=parse.OI_PRICE_SOURCE, time=None,
                                           received_at=received_at, note=note)
        hours, source = self.intervals.get(inst.symbol, _HOURLY)
        return plausible.funding_rate(_READER.endpoint, make_funding(
            instrument=inst, rate=fast.funding, interval_hours=hours, interval_source=source, time=None,
            received_at=received_at, next_funding_time=self._next(received_at, hours), mark_price=fast.mark / mult,
            index_price=None if fast.oracle is None else fast.oracle / mult, open_interest_usd=fast.oi * fast.mark,
            note=note), _funding_cap(hours))

    def _rest(self, kind: str, inst: Instrument, ctx: Mapping[str, Any], received_at: datetime) -> Any:
        if kind == "quote":
            return parse.price_quote(inst, ctx, received_at, r=_READER)
        if kind == "oi":
            return parse.open_interest(inst, ctx, received_at, r=_READER)
        return self._funding(inst, ctx, received_at)

    def _funding(self, inst: Instrument, ctx: Mapping[str, Any], received_at: datetime) -> FundingRate:
        record = parse.funding_rate(inst, ctx, None, received_at, r=_READER)
        other = self.intervals.get(inst.symbol)
        if other is None:
            return record
        hours, source = other  # an interval the REST side read from predictedFundings, other than 1 h
        return replace(record, interval_hours=hours, interval_source=source,
                       next_funding_time=parse.next_settlement(received_at, hours))

    def _next(self, received_at: datetime, hours: float) -> datetime:
        """The next settlement after ``received_at`` (``parse.next_settlement``), once per interval."""
        step = round(hours * HOUR_MS)
        slot = utc_to_ms(received_at) // step
        if self._slot != (slot, step):
            self._slot, self._settles = (slot, step), parse.next_settlement(received_at, hours)
        return self._settles

_HOURLY = (api.FUNDING_INTERVAL_HOURS, "hourly (venue docs)")
#: ``parse.funding_cap``, made once per interval (an immutable ``FundingCap``)
_funding_cap = lru_cache(maxsize=64)(parse.funding_cap)
  # what ``parse.funding_rate`` says without a prediction


def _decimal(value: Any) -> float | None:
    """A number Hyperliquid sends as a string (or a number); None when absent; ``_ODD`` when not a finite number."""
    if value is None:
        return None
    if value.__class__ is str or value.__class__ is float or value.__class__ is int:
        try:
            out = float(value)
        except ValueError:
            return _ODD
        return out if out - out == 0 else _ODD
    return _ODD


_ODD: float = float("nan")  # compared by identity


class _Ctx:
    """The numbers of one asset context when they are what the docs say (``markPx`` > 0 and ``openInterest`` and
    ``funding`` there); ``read`` gives None otherwise, and the REST readers take the context."""

    __slots__ = ("day_base", "day_usd", "funding", "mark", "mid", "oi", "oracle")

    def __init__(self, mark: float, oi: float, funding: float, oracle: float | None, mid: float | None,
                 day_usd: float | None = None, day_base: float | None = None) -> None:
        self.mark, self.oi, self.funding, self.oracle, self.mid = mark, oi, funding, oracle, mid
        self.day_usd, self.day_base = day_usd, day_base

    @classmethod
    def read(cls, ctx: Mapping[str, Any]) -> _Ctx | None:
        """The context's numbers, or None when one of them is odd or missing."""
        mark, oi, funding = _decimal(ctx.get("markPx")), _decimal(ctx.get("openInterest")), \
            _decimal(ctx.get("funding"))
        oracle, mid = _decimal(ctx.get("oraclePx")), _decimal(ctx.get("midPx"))
        day_usd, day_base = _decimal(ctx.get("dayNtlVlm")), _decimal(ctx.get("dayBaseVlm"))
        if (mark is None or oi is None or funding is None or not mark > 0
                or oi is _ODD or funding is _ODD or oracle is _ODD or mid is _ODD or day_usd is _ODD
                or day_base is _ODD):
            return None
        return cls(mark, oi, funding, oracle, mid, day_usd, day_base)


def protocols(request: StreamRequest) -> list[AssetCtxStream]:
    """The asked perps, ``per_connection`` coins per connection."""
    return [AssetCtxStream(part, request.funding, request.kinds)
            for part in chunks(request.contracts(), AssetCtxStream.per_connection)]
