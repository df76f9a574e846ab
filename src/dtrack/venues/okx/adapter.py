"""OKX adapter: the venue's only I/O.

Current funding is one round of concurrent requests once the swap list is cached:
funding-rate?instId=ANY (every perpetual), open-interest and mark-price (every swap) and one
index-tickers call per quote currency asked. A failed enrichment call (OI, mark, index) leaves
that field None and is recorded in ``FundingResult.errors``; a failed funding-rate call fails the venue.
Only the rows of the asked swaps are read from those bulk answers, so an odd row of another swap
never fails the venue. History pages funding-rate-history backwards (asking 400 rows a page) until
the window is covered or OKX answers an empty page.

Known limitation (interval of the current rate): OKX gives no start of the current period, only
``fundingTime`` and ``nextFundingTime``, whose spacing is the length of the period AFTER the current
one. In the single period where OKX changes a swap's interval (say 8 h -> 4 h) the current rate is
therefore labelled with the new interval although it accrued over the old one. The settled history
(``fetch_funding_history``) is not affected: each settlement is measured from the one before it.
The current period's true length is ``fundingTime`` minus the latest settlement, which only the
history knows; rates and histories are fetched independently by the shared pipeline, and one extra
history request per swap for every rates query is not made, so the rate keeps OKX's spacing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from dtrack.errors import DtrackError, ParseError, RateLimited, VenueError
from dtrack.net.http import RateLimit
from dtrack.records import FundingHistory, FundingPoint, FundingRate, Instrument
from dtrack.venues.base import Adapter, FundingResult
from dtrack.venues.fields import Listing, latest_spacing, points_from_settlements, utc_to_ms, within
from dtrack.venues.okx import api
from dtrack.venues.okx.parse import (
    HistoryRow,
    SwapFunding,
    SwapOpenInterest,
    funding_rate,
    index_id,
    parse_funding,
    parse_history,
    parse_index,
    parse_instruments,
    parse_marks,
    parse_open_interest,
    swap_funding,
)

T = TypeVar("T")


class OkxAdapter(Adapter):
    """OKX v5 perpetual swaps (USDT, USDC and coin-margined USD)."""

    name = api.VENUE
    hosts = api.HOSTS
    main_host = api.REST
    instruments_endpoint = api.INSTRUMENTS
    limits = api.LIMITS

    def budget(self, host: str, path: str, params: Mapping[str, Any] | None) -> tuple[RateLimit | None, str]:
        """OKX meters each endpoint separately (funding endpoints per instrument): one bucket each."""
        per_2s = api.REQUESTS_PER_2S.get(path)
        if per_2s is None:
            return api.LIMIT, path
        inst = str((params or {}).get("instId", "")) if path in api.PER_INSTRUMENT else ""
        return RateLimit(per_2s, 2.0), f"{path}|{inst}"
    funding_history_depth = api.HISTORY_RETENTION

    def check(self, body: Any) -> None:
        """Raise for an error envelope: ``code`` other than "0" (50011/50061 -> ``RateLimited``)."""
        if not isinstance(body, Mapping) or "code" not in body:
            return
        code = str(body["code"])
        if code == api.OK:
            return
        message = f"error code {code}: {body.get('msg') or 'no message'}"
        if code in api.RATE_LIMIT_CODES:
            raise RateLimited(self.name, f"rate limited ({message}); OKX limits are per endpoint per 2 s",
                              status=None, code=code)
        raise VenueError(self.name, message, code=code)

    async def listing(self) -> Listing:
        """Live perpetual swaps (disk-cached for ``instruments_ttl``)."""
        return await self.cached_get(api.REST, api.INSTRUMENTS, {"instType": api.SWAP},
                                     ttl=self.ctx.settings.instruments_ttl, parse=parse_instruments)

    async def fetch_funding_rates(self, instruments: Sequence[Instrument]) -> FundingResult:
        """Funding, mark, index and OI of these swaps from one round of bulk requests."""
        received = self.ctx.now()
        quotes = sorted({i.quote for i in instruments} & api.INDEX_QUOTES)
        funding, oi, marks, *indices = await asyncio.gather(
            self.get(api.REST, api.FUNDING_RATE, {"instId": api.ALL_INSTRUMENTS}),
            self.get(api.REST, api.OPEN_INTEREST, {"instType": api.SWAP}),
            self.get(api.REST, api.MARK_PRICE, {"instType": api.SWAP}),
            *(self.get(api.REST, api.INDEX_TICKERS, {"quoteCcy": q}) for q in quotes),
            return_exceptions=True,
        )
        if isinstance(funding, BaseException):
            raise funding
        result = FundingResult(self.name)
        symbols = {i.symbol for i in instruments}
        rows = parse_funding(funding, symbols)
        oi_rows = _enrichment(result, oi, lambda b: parse_open_interest(b, symbols))
        mark_rows = _enrichment(result, marks, lambda b: parse_marks(b, symbols))
        index_ids = {index_id(i) for i in instruments}
        index_rows: dict[str, float] = {}
        for body in indices:
            index_rows.update(_enrichment(result, body, lambda b: parse_index(b, index_ids)))
        for inst in instruments:
            row = rows.get(inst.symbol)
            if row is None:
                result.errors.append(VenueError(self.name, f"{api.FUNDING_RATE}: no funding row for {inst.symbol}"))
                continue
            result.rates.append(_rate(inst, row, received, oi_rows, mark_rows, index_rows, bool(indices)))
        return result

    async def fetch_funding_history(self, instrument: Instrument, start: datetime, end: datetime) -> FundingHistory:
        """Settled funding of one swap over ``[start, end]``, paging back (up to 400 rows a page)."""
        symbol = instrument.symbol
        try:
            rows, exhausted = await self._history_rows(symbol, start, end)
        except VenueError as exc:
            if exc.code != api.INSTRUMENT_NOT_FOUND:
                raise
            raise VenueError(self.name, f"{api.FUNDING_HISTORY}: OKX does not know {symbol} (code {exc.code})",
                             status=exc.status, code=exc.code) from None
        # Each settlement's interval is the spacing to the one before; rows older than ``start`` were
        # fetched too (the last page crosses it), so the first point in the window is measured as well.
        points = points_from_settlements(((r.time, r.rate) for r in rows),
                                         await self._lone_interval(symbol, rows)) if rows else ()
        inside = within(points, start, end)
        notes = _history_notes(rows, inside, start, end, exhausted)
        return FundingHistory(self.name, symbol, start, end, inside, "; ".join(notes))

    async def _history_rows(self, symbol: str, start: datetime, end: datetime) -> tuple[list[HistoryRow], bool]:
        """Pages of funding-rate-history from ``end`` back past ``start``; True when OKX ran out first.

        A page shorter than asked does not mean the end: OKX may cap pages below ``limit`` (its
        maximum was 100 before 2025). Paging stops at an empty page (OKX has nothing older) or once
        the oldest row reaches ``start``; each page must go back in time, which bounds the loop.
        """
        rows: list[HistoryRow] = []
        after = utc_to_ms(end) + 1  # `after` returns rows strictly older than this fundingTime
        while True:
            body = await self.get(api.REST, api.FUNDING_HISTORY,
                                  {"instId": symbol, "limit": api.HISTORY_PAGE, "after": after})
            page = parse_history(body)
            if not page:
                return rows, True
            rows += page
            oldest = min(r.time for r in page)
            if oldest <= start:
                return rows, False
            if utc_to_ms(oldest) >= after:
                raise ParseError(self.name, api.FUNDING_HISTORY, f"page after={after} did not go back in time")
            after = utc_to_ms(oldest)

    async def _lone_interval(self, symbol: str, rows: Sequence[HistoryRow]) -> float:
        """The interval for a settlement with no neighbour: the latest spacing in ``rows``, or (with a
        single settlement) the swap's current interval from funding-rate."""
        spacing = latest_spacing(r.time for r in rows)
        if spacing is not None:
            return spacing
        return await self.cached_get(api.REST, api.FUNDING_RATE, {"instId": symbol},
                                     ttl=self.ctx.settings.funding_interval_ttl,
                                     parse=lambda body: swap_funding(body, symbol).interval_hours)


def _enrichment(result: FundingResult, body: Any, parse: Callable[[Any], dict[str, T]]) -> dict[str, T]:
    """Parsed enrichment rows, or {} with the error recorded when the request or parse failed."""
    if isinstance(body, DtrackError):
        result.errors.append(body)
        return {}
    if isinstance(body, BaseException):
        raise body
    try:
        return parse(body)
    except ParseError as exc:
        result.errors.append(exc)
        return {}


def _rate(inst: Instrument, row: SwapFunding, received: datetime, oi: Mapping[str, SwapOpenInterest],
          marks: Mapping[str, float], indices: Mapping[str, float], asked_index: bool) -> FundingRate:
    """One swap's rate with whatever enrichment arrived; a missing index is noted."""
    notes = []
    index = indices.get(index_id(inst))
    if index is None and asked_index:
        notes.append(f"no {index_id(inst)} index in index-tickers")
    return funding_rate(inst, row, received, mark=marks.get(inst.symbol), index=index,
                        oi=oi.get(inst.symbol), notes=notes)


def _history_notes(rows: Sequence[HistoryRow], inside: Sequence[FundingPoint], start: datetime, end: datetime,
                   exhausted: bool) -> list[str]:
    """Why the history is shorter than asked, and where the charged rate was not available."""
    notes: list[str] = []
    earliest = min(rows, key=lambda r: r.time).time if rows else None
    first_gap = timedelta(hours=inside[0].interval_hours) if inside else timedelta(0)
    if exhausted and (earliest is None or earliest - start > first_gap):
        got = f"data from {earliest:%Y-%m-%d %H:%M} UTC" if earliest else "no data"
        if end - start > api.HISTORY_RETENTION:
            asked = (end - start).total_seconds() / 86400
            notes.append(f"OKX keeps about 3 months of funding history; asked {asked:.0f} days, got {got}")
        else:
            notes.append(f"OKX has no funding history before {earliest:%Y-%m-%d %H:%M} UTC" if earliest
                         else "OKX returned no funding history for this window")
    predicted = sum(1 for r in rows if not r.realized and start <= r.time <= end)
    if predicted:
        notes.append(f"{predicted} of {len(inside)} settlements had no realizedRate; fundingRate used for them")
    return notes
