"""The snapshot query: the current state of some assets as raw records, for whoever keeps them (the collector
writes them to the store). One round per venue after its (cached) instrument list, every kind concurrently:

- ``funding``: current funding of every perpetual (``FundingRate``);
- ``open_interest``: open interest of every perpetual and dated future (``OpenInterest``);
- ``basis``: mark / index / last of every perpetual and dated future and the venue's spot tickers
  (``PriceQuote``, ``SpotPrice``): what basis is computed from;
- ``options``: the per-expiry metrics of every listed expiry (``OptionExpiry``: per venue, and across venues),
  computed from the chains as the options query computes them, and with ``chains`` every listed option
  (``OptionQuote``); and what the options summary reads besides chains, so that ``options`` can answer from the
  store: a year of closed daily closes of the volatility index (``VolPoint``), the venue's published realized
  volatility (``VolPoint``) and 33 days of closed daily closes of the asset's price perpetual (``PricePoint``),
  with the contracts listed (``instruments``).

Each kind is asked only of the venues that offer it; a venue that fails is a failure row, never the end of
the others. No other analytics: the other records are what the venues said.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dtrack.client.fetch import on_venues
from dtrack.client.inputs import as_list, check_readable
from dtrack.errors import DtrackError, UsageError, clip
from dtrack.records import DataKind, Instrument, Kind, OptionQuote, Record
from dtrack.results import Answer, Failure, Fold, settle, unique

if TYPE_CHECKING:
    from dtrack.client.core import AsyncClient
    from dtrack.venues.base import Adapter

#: snapshot kind -> the data kind a venue must offer for it
NEEDS: dict[str, DataKind] = {"funding": DataKind.FUNDING, "open_interest": DataKind.OPEN_INTEREST,
                              "basis": DataKind.QUOTES, "options": DataKind.OPTION_CHAIN}
KINDS = tuple(NEEDS)


@dataclass(slots=True, kw_only=True)
class SnapshotResult:
    """What one snapshot round read: ``records`` (the venues' records, unchanged), ``instruments`` (the
    perpetuals and dated futures they are of), ``answered`` (kind -> the venues that answered it) and the
    ``failures`` (one row per venue and problem)."""

    as_of: datetime
    kinds: tuple[str, ...]
    records: list[Record] = field(default_factory=list)
    instruments: list[Instrument] = field(default_factory=list)
    answered: dict[str, list[str]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many records of each type (``{"FundingRate": 20, ...}``)."""
        out: dict[str, int] = {}
        for r in self.records:
            out[type(r).__name__] = out.get(type(r).__name__, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (counts, venues, failures; not the records)."""
        return {"as_of": self.as_of.isoformat().replace("+00:00", "Z"), "kinds": list(self.kinds),
                "counts": self.counts(), "answered": self.answered, "failures": [f.to_row() for f in self.failures]}


@dataclass(slots=True)
class VenueSnapshot:
    """One venue's answers."""

    venue: str
    records: list[Record] = field(default_factory=list)
    instruments: list[Instrument] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)
    errors: list[DtrackError] = field(default_factory=list)


def snapshot_kinds(kinds: str | Sequence[str]) -> tuple[str, ...]:
    """The asked kinds, checked (a usage error naming the known ones)."""
    names = tuple(dict.fromkeys(as_list(kinds)))
    if not names:
        raise UsageError(f"name at least one snapshot kind: {', '.join(KINDS)}")
    for name in names:
        if name not in NEEDS:
            raise UsageError(f"unknown snapshot kind {clip(name)!r}; expected one of {', '.join(KINDS)}")
    return names


def venues_offering(client: AsyncClient, kind: str, venues: Sequence[str] | None) -> list[str]:
    """The venues to ask ``kind`` of: those of ``venues`` (else the client's chosen ones, else every active
    venue enabled in settings) that offer it. A closed or unknown venue is a usage error."""
    from dtrack.venues import ACTIVE, VENUES, venue_info

    need = NEEDS[kind]
    chosen = list(venues) if venues is not None else client.chosen_venues
    if not chosen:
        return [v for v in ACTIVE if client.settings.venue(v).enabled and VENUES[v].offers(need)]
    out: list[str] = []
    for name in chosen:
        info = venue_info(name)
        if info.status == "closed":
            raise UsageError(f"{info.title} closed on {info.closed_on}: no live data exists; "
                             f"active venues: {', '.join(ACTIVE)}")
        if info.offers(need) and info.name not in out:
            out.append(info.name)
    return out


async def venue_job(adapter: Adapter, kinds: Sequence[str], assets: Sequence[str]) -> VenueSnapshot:
    """Every asked kind of one venue, concurrently (one round after the cached instrument list)."""
    out = VenueSnapshot(adapter.name)
    fold = Fold(out.errors)
    contracts: list[Instrument] = []
    if any(k != "options" for k in kinds):
        try:
            contracts = await adapter.contracts(assets)
        except DtrackError as exc:
            if "options" not in kinds:
                raise
            fold.errors.append(exc)
    perps = [i for i in contracts if i.kind is Kind.PERP]
    from dtrack.client.queries.options import summary_snapshot

    funding, oi, quotes, spots, chains, summary = await asyncio.gather(
        settle([adapter.fetch_funding_rates(perps)] if "funding" in kinds and perps else []),
        settle([adapter.fetch_open_interest(contracts)] if "open_interest" in kinds and contracts else []),
        settle([adapter.fetch_quotes(contracts)] if "basis" in kinds and contracts else []),
        settle([adapter.fetch_spot(assets)] if "basis" in kinds else []),
        settle([adapter.fetch_option_chain(a) for a in assets] if "options" in kinds else []),
        settle([summary_snapshot(adapter, assets)] if "options" in kinds else []))
    def take(kind: str, outcomes: Sequence[Answer[Any] | DtrackError], optional: bool = False) -> None:
        if not outcomes:
            return
        before, failed = len(out.records), len(fold.errors)
        out.records += fold.all_items(outcomes, optional=optional)
        if (len(out.records) > before or len(fold.errors) == failed) and kind not in out.answered:
            out.answered.append(kind)

    take("funding", funding)
    take("open_interest", oi)
    take("basis", quotes)
    take("basis", spots, optional=True)
    take("options", chains)
    # what the options summary reads besides chains (DVOL, realized vol, daily closes), and the contracts listed
    done = [s for s in summary if not isinstance(s, DtrackError)]
    out.records += fold.all_items([s if isinstance(s, DtrackError) else s[0] for s in summary])
    if not out.answered and out.errors:
        raise out.errors[0]  # nothing from this venue
    out.instruments = contracts or [i for _, listed in done for i in listed]
    return out


async def run(client: AsyncClient, kinds: str | Sequence[str], assets: str | Sequence[str],
              venues: Sequence[str] | None = None, chains: bool = True) -> SnapshotResult:
    """See ``AsyncClient.snapshot``."""
    from dtrack.symbols import parse_asset

    asked = snapshot_kinds(kinds)
    texts = as_list(assets)
    if not texts:
        raise UsageError("name at least one asset, e.g. BTC")
    check_readable(texts)
    names = list(dict.fromkeys(parse_asset(t).asset for t in texts))
    per_venue: dict[str, list[str]] = {}
    for kind in asked:
        for venue in venues_offering(client, kind, venues):
            per_venue.setdefault(venue, []).append(kind)
    deadline = client.deadline()
    pool = await client.pool()
    answers, failures = await on_venues(pool, list(per_venue), lambda ad: venue_job(ad, per_venue[ad.name], names),
                                        deadline.left())
    result = SnapshotResult(as_of=client.now(), kinds=asked)
    for venue in per_venue:
        got = answers.get(venue)
        if got is None:
            continue
        result.records += got.records
        result.instruments += got.instruments
        failures += [Failure.of(venue, e) for e in got.errors]
        for kind in got.answered:
            result.answered.setdefault(kind, []).append(venue)
    result.failures = unique(failures)
    if "options" in asked:
        result.records = await _with_expiries(result.records, result.as_of, chains)
    return result


async def _with_expiries(records: list[Record], now: datetime, chains: bool) -> list[Record]:
    """The records with the per-expiry metrics of the option quotes among them (computed in a worker thread:
    a round's chains are thousands of options); the quotes themselves only with ``chains``."""
    from dtrack.client.queries.options import expiry_records

    quotes = [r for r in records if isinstance(r, OptionQuote)]
    if not quotes:
        return records
    expiries = await asyncio.to_thread(expiry_records, now, quotes)
    kept = records if chains else [r for r in records if not isinstance(r, OptionQuote)]
    return [*kept, *expiries]
