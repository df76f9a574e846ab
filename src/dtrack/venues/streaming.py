"""What the venues' stream modules (``venues/<v>/stream.py``) share: the request a venue's protocols are built
from, the stream kinds, the collector a frame parser fills (records, and the values the plausibility rules
refused), and the one builder of liquidation records. Pure: no I/O. The runner itself (connect, keep-alive,
watchdog, gaps) is ``dtrack.net.ws``.

Two stream kinds: the ticker kinds (funding, open interest, prices: ``TICKER_KINDS``) and liquidations. A venue
runs the channels of both on the same connections where they share a host, so that the ticker channels' steady
flow also vouches for a liquidation channel's silence: a liquidation feed publishes only when a liquidation
happens, so its channels are never declared stalled for being quiet (``QUIET``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from dtrack.errors import Implausible, UsageError, clip
from dtrack.records import (
    LIQUIDATION_SIDES,
    Coverage,
    DataKind,
    FundingRate,
    Instrument,
    Kind,
    Liquidation,
    PriceKind,
    PriceQuote,
    Record,
    Unit,
    builder,
    oi_base_and_usd,
)
from dtrack.venues.fields import MAX_MS, MIN_MS, Reader, ms_to_utc
from dtrack.venues.plausible import AHEAD, EARLIEST, Rules

if TYPE_CHECKING:
    from dtrack.net.ws import StreamProtocol

T = TypeVar("T")

#: ``FundingRate(...)`` and ``PriceQuote(...)``, built faster (``records.builder``: the same keywords, equal records):
#: the stream parsers build a few per message
make_funding = builder(FundingRate)
make_quote = builder(PriceQuote)
make_liquidation = builder(Liquidation)


def opt_time_ms(r: Reader, row: Mapping[str, Any], key: str) -> datetime | None:
    """``r.opt_time_ms(row, key)`` (the same time, the same errors) with the number read once, not three times."""
    value = r.opt_num(row, key)
    if not value:
        return None
    if not MIN_MS <= value <= MAX_MS:
        raise r.fail(f"field {key!r} is {row.get(key)!r}, expected epoch milliseconds (2010..2100)")
    return ms_to_utc(int(value))


#: the data kinds a ticker stream can carry (the first stream kind)
TICKER_KINDS: tuple[DataKind, ...] = (DataKind.FUNDING, DataKind.OPEN_INTEREST, DataKind.QUOTES)
#: every kind a stream can carry: the ticker kinds, then liquidation events (the second stream kind)
STREAM_KINDS: tuple[DataKind, ...] = (*TICKER_KINDS, DataKind.LIQUIDATIONS)
#: the stall threshold of a liquidation channel: none. A venue publishes on it only when a liquidation happens
#: (Binance: "If no liquidation happens in the interval of 1000ms, no stream will be pushed"), so hours of silence
#: are normal and say nothing of the connection (the ticker channels beside it, and the keep-alive, do).
QUIET = math.inf
_ALIASES = {"oi": DataKind.OPEN_INTEREST, "liquidation": DataKind.LIQUIDATIONS, "liqs": DataKind.LIQUIDATIONS}


def stream_kinds(kinds: DataKind | str | Collection[DataKind | str]) -> frozenset[DataKind]:
    """``kinds`` as data kinds (``"funding"``, ``"open_interest"``, ``"quotes"``, ``"liquidations"`` or
    ``DataKind``s); anything else is a ``UsageError`` in one line naming what can be streamed."""
    items = [kinds] if isinstance(kinds, DataKind | str) else list(kinds)
    known = ", ".join(k.value for k in STREAM_KINDS)
    if not items:
        raise UsageError(f"no stream kind given; streamable kinds: {known}")
    out: set[DataKind] = set()
    for item in items:
        text = item.value if isinstance(item, DataKind) else item
        if not isinstance(text, str):
            raise UsageError(f"stream kind {clip(repr(item))} is not a name; streamable kinds: {known}")
        key = text.strip().lower().replace("-", "_")
        kind = next((k for k in STREAM_KINDS if k.value == key), None) or _ALIASES.get(key)
        if kind is None:
            raise UsageError(f"cannot stream {clip(text)!r}; streamable kinds: {known}")
        out.add(kind)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """What a venue builds its stream protocols from: the kinds asked, the contracts, and each perpetual's current
    funding as the REST side read it at stream start (by symbol): its interval and where the interval came from,
    which the stream frames do not all carry."""

    kinds: frozenset[DataKind]
    instruments: Sequence[Instrument]
    funding: Mapping[str, FundingRate] = field(default_factory=dict)

    def wants(self, kind: DataKind) -> bool:
        """Whether ``kind`` was asked."""
        return kind in self.kinds

    @property
    def tickers(self) -> bool:
        """Whether a ticker kind (funding, open interest, prices) was asked."""
        return any(kind in self.kinds for kind in TICKER_KINDS)

    @property
    def liquidations(self) -> bool:
        """Whether liquidations were asked."""
        return DataKind.LIQUIDATIONS in self.kinds

    def contracts(self) -> list[Instrument]:
        """The perpetuals and dated futures asked (one each, in order)."""
        seen: dict[tuple[str, str], Instrument] = {}
        for inst in self.instruments:
            if inst.kind in (Kind.PERP, Kind.FUTURE):
                seen.setdefault((inst.market, inst.symbol), inst)
        return list(seen.values())


#: builds a venue's protocols (one per connection) from a request
Plan = Callable[[StreamRequest], "Sequence[StreamProtocol]"]


class Collected:
    """What one frame yields: records, and the values the plausibility rules refused (dropped, logged)."""

    __slots__ = ("dropped", "records")

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.dropped: list[Implausible] = []

    def add(self, make: Callable[[], Record | None]) -> None:
        """Append ``make()`` (None: nothing to add); an ``Implausible`` it raises is kept in ``dropped``."""
        try:
            record = make()
        except Implausible as exc:
            self.dropped.append(exc)
            return
        if record is not None:
            self.records.append(record)


# --- liquidations -----------------------------------------------------------------------------------------------

#: a venue's side word -> the side of the POSITION liquidated, for venues that name the liquidation ORDER's side
#: (Binance ``S``, OKX ``side``, a Deribit taker's ``direction``): a sell order closes a long
ORDER_SIDE = {"SELL": "long", "BUY": "short", "sell": "long", "buy": "short"}


class SeenKeys:
    """The liquidation keys a connection handed on, the latest ``limit`` of them (oldest forgotten first), so that
    a backlog a venue repeats on subscribing (OKX ``liquidation-orders``, dYdX ``v4_trades``) or after a reconnect
    is never counted twice."""

    __slots__ = ("_keys", "limit")

    def __init__(self, limit: int) -> None:
        self._keys: dict[str, None] = {}
        self.limit = limit

    def fresh(self, records: list[Liquidation]) -> list[Liquidation]:
        """The records whose key was not seen before (now remembered), in order."""
        keys, out = self._keys, []
        for record in records:
            if record.key not in keys:
                keys[record.key] = None
                out.append(record)
        while len(keys) > self.limit:
            del keys[next(iter(keys))]
        return out

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)


class LiquidationTerms:
    """What the liquidation records of one contract share, worked out once per contract: the contract, the
    plausibility rules naming it, and the unit its venue counts a liquidation in."""

    __slots__ = ("_latest", "_ms", "_received", "_when", "instrument", "multiplier", "rules", "unit")

    def __init__(self, instrument: Instrument, endpoint: str, unit: Unit) -> None:
        self.instrument = instrument
        self.multiplier = instrument.multiplier
        self.rules = Rules(instrument.venue, endpoint, instrument.symbol)
        self.unit = unit
        # the last frame's receive time and the latest venue time it allows, the last venue time read (a Deribit
        # MT trade is two records of one time)
        self._received: datetime | None = None
        self._latest = self._when = EARLIEST
        self._ms = -1

    def record(self, *, side: str, price: float, price_kind: PriceKind, amount: float, ms: int,
               received_at: datetime, coverage: Coverage, key: str, note: str = "") -> Liquidation:
        """``Liquidation.of`` of the venue's figures once they are plausible, else ``Implausible`` (the frame goes
        on): ``price`` (per unit of the venue's base: divided here by the multiplier) and ``amount`` (in ``unit``)
        > 0, and the venue's time ``ms`` (epoch milliseconds) from 2010 to a day past ``received_at``."""
        price = price / self.multiplier
        if not (0.0 < price < math.inf and 0.0 < amount < math.inf and MIN_MS <= ms <= MAX_MS):
            self._refuse(price, amount, ms)
        if ms != self._ms:
            self._ms, self._when = ms, ms_to_utc(ms)
        when = self._when
        if received_at is not self._received:
            self._received, self._latest = received_at, received_at + AHEAD
        if when > self._latest:
            self.rules.time("time", when, received_at)
        inst = self.instrument
        if side not in LIQUIDATION_SIDES:  # ``Liquidation.of``'s own check, kept on the fast path
            raise ValueError(f"liquidation side {side!r}: expected long or short (the position liquidated)")
        base, usd = oi_base_and_usd(inst, amount, self.unit, price)
        return make_liquidation(instrument=inst, side=side, price=price, price_kind=price_kind, amount=amount,
                                unit=self.unit, base=base, usd=usd, time=when, received_at=received_at,
                                coverage=coverage, key=key, note=note)

    def _refuse(self, price: float, amount: float, ms: int) -> None:
        rules = self.rules
        rules.price("price", price)
        if not (0.0 < amount < math.inf):
            raise rules.refuse("amount", amount, "a liquidated quantity must be > 0")
        raise rules.refuse("time", ms, "epoch milliseconds of 2010..2100 expected")
