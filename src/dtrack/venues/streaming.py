"""What the venues' stream modules (``venues/<v>/stream.py``) share: the request a venue's protocols are built
from, the stream kinds, and the collector a frame parser fills (records, and the values the plausibility rules
refused). Pure: no I/O. The runner itself (connect, keep-alive, watchdog, gaps) is ``dtrack.net.ws``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from dtrack.errors import Implausible, UsageError, clip
from dtrack.records import DataKind, FundingRate, Instrument, Kind, PriceQuote, Record, builder
from dtrack.venues.fields import MAX_MS, MIN_MS, Reader, ms_to_utc

if TYPE_CHECKING:
    from dtrack.net.ws import StreamProtocol

T = TypeVar("T")

#: ``FundingRate(...)`` and ``PriceQuote(...)``, built faster (``records.builder``: the same keywords, equal records):
#: the stream parsers build a few per message
make_funding = builder(FundingRate)
make_quote = builder(PriceQuote)



def opt_time_ms(r: Reader, row: Mapping[str, Any], key: str) -> datetime | None:
    """``r.opt_time_ms(row, key)`` (the same time, the same errors) with the number read once, not three times."""
    value = r.opt_num(row, key)
    if not value:
        return None
    if not MIN_MS <= value <= MAX_MS:
        raise r.fail(f"field {key!r} is {row.get(key)!r}, expected epoch milliseconds (2010..2100)")
    return ms_to_utc(int(value))


#: the data kinds a ticker stream can carry (the first stream kind)
STREAM_KINDS: tuple[DataKind, ...] = (DataKind.FUNDING, DataKind.OPEN_INTEREST, DataKind.QUOTES)


def stream_kinds(kinds: DataKind | str | Collection[DataKind | str]) -> frozenset[DataKind]:
    """``kinds`` as data kinds (``"funding"``, ``"open_interest"``, ``"quotes"`` or ``DataKind``s); anything else is a
    ``UsageError`` in one line naming what can be streamed."""
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
        kind = next((k for k in STREAM_KINDS if k.value == key or (key == "oi" and k is DataKind.OPEN_INTEREST)),
                    None)
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
