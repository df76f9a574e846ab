"""What dtrack knows of the venues: the registry with capability tables, and the listed contracts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dtrack.client.fetch import scope
from dtrack.client.inputs import as_list, check_readable
from dtrack.records import Instrument, Kind
from dtrack.results import InstrumentsResult, VenuesResult, unique

if TYPE_CHECKING:
    from dtrack.client.core import AsyncClient


def venue_rows() -> list[dict[str, Any]]:
    """One row per venue of the registry, with its capability table."""
    from dtrack.venues import VENUES

    return [{"venue": v.name, "title": v.title, "status": v.status, "closed_on": v.closed_on,
             "capabilities": list(v.supported()), "markets": v.markets, "funding_intervals": v.funding_intervals,
             "bulk_endpoints": v.bulk, "default_taker_fee_pct": v.taker_fee_pct, "note": v.note,
             "data": {k.value: c.to_row() for k, c in v.capabilities.items()}}
            for v in VENUES.values()]


def venues(client: AsyncClient) -> VenuesResult:
    """See ``AsyncClient.venues``."""
    return VenuesResult(as_of=client.now(), rows=venue_rows())


def instrument_row(inst: Instrument) -> dict[str, Any]:
    """One listed contract as a flat JSON-able dict."""
    from dtrack.report.format import iso

    return {"venue": inst.venue, "symbol": inst.symbol, "id": inst.normalized_id, "asset": inst.asset,
            "kind": inst.kind.value, "margin": inst.margin.value, "quote": inst.quote, "settle": inst.settle,
            "contract_size": inst.contract_size, "contract_unit": inst.contract_unit.value,
            "multiplier": inst.multiplier, "expiry": iso(inst.expiry), "market": inst.market}


async def instruments(client: AsyncClient, assets: str | Sequence[str] | None) -> InstrumentsResult:
    """See ``AsyncClient.instruments``."""
    texts = as_list(assets)
    check_readable(texts)
    kinds = (Kind.PERP, Kind.FUTURE)
    listed = await scope(client, "funding", texts, kinds, client.deadline())
    wanted = {w.asset for w in listed.wanted}
    rows = [i for v in listed.venues for i in listed.instruments.get(v, ())
            if i.kind in kinds and (not wanted or i.asset in wanted)]
    return InstrumentsResult(as_of=client.now(), failures=unique(listed.failures), all_failed=not listed.instruments,
                             rows=[instrument_row(i) for i in rows])
