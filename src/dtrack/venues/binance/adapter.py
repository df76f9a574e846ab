"""Binance derivatives I/O: USDⓈ-M (fapi) and COIN-M (dapi) perpetuals.

Requests per funding query (both hosts concurrently, only hosts with asked-for perpetuals):
- ``exchangeInfo`` (disk-cached for ``instruments_ttl``) -> the perpetuals;
- ``premiumIndex`` without symbol (bulk, weight 10) -> rate of the next settlement, its time,
  mark and index; ``fundingInfo`` (disk-cached for ``funding_interval_ttl``) -> per-symbol
  intervals; ``openInterest`` per symbol (weight 1) -> OI for weighting. These three run in
  ONE concurrent round; with a cold cache exchangeInfo comes first, so at most two rounds.
- when a row's ``nextFundingTime`` is off the grid of its cached interval (Binance switches
  symbols between 1 h, 4 h and 8 h at runtime), ``fundingInfo`` once more past the disk cache:
  at most one extra request per host per ``funding_interval_ttl``, shared by concurrent callers.
  A row still off the grid keeps the venue's interval and says so in its ``note``.
- history: ``fundingRate`` pages from ``startTime``, moving past the last ``fundingTime``, until
  an empty page or until the next settlement would fall after ``end`` (a page shorter than the
  ``limit`` asked is no sign of the end: a venue may cap pages lower).

A failed openInterest call leaves that row's ``open_interest_usd`` None and is recorded in
``FundingResult.errors``; a failed premiumIndex or fundingInfo fails the venue (no rate or no
interval means no trustworthy row). A malformed premiumIndex or fundingInfo row of an asked symbol
drops that symbol with an ``errors`` entry; a malformed exchangeInfo row of an asked asset fails
the query, as on every venue (``Listing``); odd rows of symbols nobody asked for are skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from dtrack.errors import DtrackError, ParseError, RateLimited, VenueError
from dtrack.net.http import RateLimit
from dtrack.records import FundingHistory, Instrument, Kind
from dtrack.venues.base import Adapter, FundingResult, VenueContext
from dtrack.venues.binance import api, parse
from dtrack.venues.fields import Listing, latest_spacing, utc_to_ms

T = TypeVar("T")

Intervals = parse.BySymbol[float]
Premiums = parse.BySymbol[parse.Premium]


def _ok(item: T | BaseException) -> T:
    """A gathered result, or raise what it failed with."""
    if isinstance(item, BaseException):
        raise item
    return item


class BinanceAdapter(Adapter):
    """Binance USDⓈ-M and COIN-M perpetual funding, over the public REST API."""

    name: ClassVar[str] = api.VENUE
    hosts: ClassVar[Mapping[str, str]] = api.HOSTS
    main_host: ClassVar[str] = api.MAIN_HOST
    #: one path per host (``/fapi/v1/exchangeInfo``, ``/dapi/v1/exchangeInfo``): a broken row's reason names it
    instruments_endpoint: ClassVar[str] = "exchangeInfo"
    limits: ClassVar[Mapping[str, RateLimit]] = api.LIMITS
    funding_history_depth = None  # Binance serves funding history back to each symbol's listing

    def __init__(self, ctx: VenueContext) -> None:
        super().__init__(ctx)
        self._intervals_inflight: dict[str, asyncio.Future[Intervals]] = {}
        #: host -> (when, request) of the last fundingInfo fetched past the disk cache
        self._refreshed: dict[str, tuple[datetime, asyncio.Future[Intervals]]] = {}

    def check(self, body: Any) -> None:
        """Raise for Binance's ``{"code": -1121, "msg": ...}`` envelope if it ever comes with HTTP 200.

        Binance normally sends it with a 4xx status, which the HTTP layer maps; negative codes are
        errors (``-1003`` = too many requests).
        """
        if not (isinstance(body, Mapping) and "msg" in body and isinstance(body.get("code"), int)):
            return
        code = int(body["code"])
        if code >= 0:
            return
        message = f"error {code}: {body['msg']}"
        if code in api.RATE_LIMIT_CODES:
            raise RateLimited(self.name, message, status=None, code=str(code))
        raise VenueError(self.name, message, code=str(code))

    # --- instruments ----------------------------------------------------------------------------

    async def listing(self) -> Listing:
        """The trading perpetuals of both hosts (exchangeInfo, disk-cached), the hosts concurrently;
        a host that cannot be read is ``missing`` while the other still serves."""
        return Listing.of_parts(await asyncio.gather(*(self._exchange_info(h) for h in self.hosts),
                                                     return_exceptions=True))

    async def _exchange_info(self, host: str) -> Listing:
        return await self.cached_get(host, api.PATHS[host].exchange_info, ttl=self.ctx.settings.instruments_ttl,
                                     parse=lambda body: parse.parse_exchange_info(body, host),
                                     weight=api.WEIGHT_EXCHANGE_INFO)

    # --- current funding ------------------------------------------------------------------------

    async def fetch_funding_rates(self, instruments: Sequence[Instrument]) -> FundingResult:
        """premiumIndex + fundingInfo per host and openInterest per symbol, all concurrently; then
        fundingInfo again past the cache for a host whose cached intervals contradict premiumIndex."""
        perps = [i for i in instruments if i.kind is Kind.PERP and i.market in self.hosts]
        hosts = [h for h in self.hosts if any(i.market == h for i in perps)]
        asked = {h: {i.symbol for i in perps if i.market == h} for h in hosts}
        received = self.ctx.now()
        # Inner gathers collect failures, so every request finishes before anything is raised.
        premium_done, interval_done, oi_done = await asyncio.gather(
            asyncio.gather(*(self._premium_index(h, asked[h]) for h in hosts), return_exceptions=True),
            asyncio.gather(*(self._funding_intervals(h) for h in hosts), return_exceptions=True),
            asyncio.gather(*(self._open_interest(i) for i in perps)),
        )
        premiums = {h: _ok(item) for h, item in zip(hosts, premium_done, strict=True)}
        intervals = {h: _ok(item) for h, item in zip(hosts, interval_done, strict=True)}
        result = FundingResult(self.name)
        stale = [h for h in hosts if any(_off_schedule(i, premiums[h], intervals[h]) for i in perps if i.market == h)]
        refreshed = await asyncio.gather(*(self._refresh_intervals(h) for h in stale), return_exceptions=True)
        for host, item in zip(stale, refreshed, strict=True):
            if isinstance(item, DtrackError):
                result.errors.append(item)  # keep the cached intervals; the rows' notes flag them
            else:
                intervals[host] = _ok(item)
        for inst, oi_or_error in zip(perps, oi_done, strict=True):
            oi = None
            if isinstance(oi_or_error, DtrackError):
                result.errors.append(oi_or_error)
            else:
                oi = oi_or_error
            try:
                row = premiums[inst.market].get(inst.symbol)
                if row is None:
                    result.errors.append(VenueError(self.name, f"{api.PATHS[inst.market].premium_index}: "
                                                               f"no row for {inst.symbol} (delisted?)"))
                    continue
                result.rates.append(parse.funding_rate(inst, row, intervals[inst.market], oi, received))
            except DtrackError as exc:
                result.errors.append(exc)
        return result

    async def _premium_index(self, host: str, symbols: set[str]) -> Premiums:
        body = await self.get(host, api.PATHS[host].premium_index, weight=api.WEIGHT_PREMIUM_INDEX_ALL)
        return parse.parse_premium_index(body, host, symbols)

    async def _funding_intervals(self, host: str) -> Intervals:
        """fundingInfo of a host; concurrent callers (rates and every history) share one request.

        After a refresh past the disk cache (``_refresh_intervals``) that answer is used while it is
        younger than ``funding_interval_ttl``, even if the disk cache could not store it.
        """
        done = self._refreshed.get(host)
        if done is not None and self._recent(done[0]) and _succeeded(done[1]):
            return done[1].result()
        pending = self._intervals_inflight.get(host)
        if pending is None:
            pending = asyncio.ensure_future(self._load_funding_intervals(host))
            self._intervals_inflight[host] = pending
            pending.add_done_callback(lambda _done: self._intervals_inflight.pop(host, None))
        return await asyncio.shield(pending)

    async def _load_funding_intervals(self, host: str) -> Intervals:
        return await self.cached_get(host, api.PATHS[host].funding_info, ttl=self.ctx.settings.funding_interval_ttl,
                                     parse=lambda body: parse.parse_funding_intervals(body, host),
                                     weight=api.WEIGHT_FUNDING_INFO)

    async def _refresh_intervals(self, host: str) -> Intervals:
        """fundingInfo fetched past the disk cache, because the cached one contradicts premiumIndex.

        At most one request per host per ``funding_interval_ttl`` (a failed one may be retried):
        concurrent and later callers share it. The answer replaces the disk-cache entry.
        """
        last = self._refreshed.get(host)
        if last is None or not self._recent(last[0]) or (last[1].done() and not _succeeded(last[1])):
            last = (self.ctx.now(), asyncio.ensure_future(self._fetch_funding_intervals(host)))
            self._refreshed[host] = last
        return await asyncio.shield(last[1])

    async def _fetch_funding_intervals(self, host: str) -> Intervals:
        path = api.PATHS[host].funding_info
        body = await self.get(host, path, weight=api.WEIGHT_FUNDING_INFO)
        intervals = parse.parse_funding_intervals(body, host)
        cache = self.ctx.cache
        cache.put(cache.key(self.url(host) + path, None), body, self.url(host) + path)
        return intervals

    def _recent(self, when: datetime) -> bool:
        return (self.ctx.now() - when).total_seconds() < self.ctx.settings.funding_interval_ttl

    async def _open_interest(self, inst: Instrument) -> float | DtrackError:
        """Raw openInterest of one symbol, or the error (OI only enriches the row)."""
        path = api.PATHS[inst.market].open_interest
        try:
            body = await self.get(inst.market, path, {"symbol": inst.symbol}, weight=api.WEIGHT_OPEN_INTEREST,
                                  endpoint=f"{path}?symbol={inst.symbol}")
            return parse.parse_open_interest(body, inst.market, inst.symbol)
        except DtrackError as exc:
            return exc

    # --- history --------------------------------------------------------------------------------

    async def fetch_funding_history(self, instrument: Instrument, start: datetime, end: datetime) -> FundingHistory:
        """Settled funding of one perpetual in ``[start, end]``, paging forward from ``start``.

        Binance returns the FIRST ``limit`` settlements from ``startTime``, ascending. Paging stops
        on an empty page or once the next settlement (one interval after the last row) would fall
        after ``end``; never because a page came back shorter than asked.
        """
        host, symbol = instrument.market, instrument.symbol
        path = api.PATHS[host].funding_rate
        cursor, stop = utc_to_ms(start), utc_to_ms(end)

        async def page_from(cursor: int) -> list[tuple[datetime, float]]:
            params = {"symbol": symbol, "startTime": cursor, "endTime": stop, "limit": api.FUNDING_RATE_LIMIT_MAX}
            body = await self.get(host, path, params, weight=api.WEIGHT_FUNDING_RATE,
                                  endpoint=f"{path}?symbol={symbol}")
            return parse.parse_funding_history(body, host, symbol)

        # The first page needs no interval: ask for it together with fundingInfo (one round, not two).
        # The current interval serves a lone settlement and, with the data's spacing, tells when the
        # window is covered.
        page, intervals = await asyncio.gather(page_from(cursor), self._funding_intervals(host))
        hours, _source = parse.interval_of(instrument, intervals)
        rows: list[tuple[datetime, float]] = []
        while page:
            rows += page
            last = utc_to_ms(max(t for t, _ in page))
            if last < cursor:
                raise ParseError(self.name, path, f"page for {symbol} from {cursor} ends before it starts ({last})")
            step = min(hours, latest_spacing(t for t, _ in rows) or hours)
            if last + step * parse.HOUR_MS > stop:
                break
            cursor = last + 1
            page = await page_from(cursor)
        return parse.funding_history(instrument, rows, start, end, hours)


def _succeeded(request: asyncio.Future[Any]) -> bool:
    """Whether a request finished with an answer (not an error, not cancelled)."""
    return request.done() and not request.cancelled() and request.exception() is None


def _off_schedule(instrument: Instrument, premiums: Premiums, intervals: Intervals) -> bool:
    """Whether a perpetual's premiumIndex row contradicts its interval (a malformed row: no)."""
    try:
        premium = premiums.get(instrument.symbol)
    except ParseError:
        return False
    return premium is not None and parse.off_schedule(instrument, premium, intervals)
