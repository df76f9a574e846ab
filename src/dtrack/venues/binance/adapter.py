"""Binance derivatives I/O: USDⓈ-M (fapi) and COIN-M (dapi) perpetuals.

Requests per funding query (both hosts concurrently, only hosts with asked-for perpetuals):
- ``exchangeInfo`` (disk-cached for ``instruments_ttl``) -> the perpetuals;
- ``premiumIndex`` without symbol (bulk, weight 10) -> rate of the next settlement, its time,
  mark and index; ``fundingInfo`` (disk-cached for ``funding_interval_ttl``) -> per-symbol
  intervals; ``openInterest`` per symbol (weight 1) -> OI for weighting. These three run in
  ONE concurrent round; with a cold cache exchangeInfo comes first, so at most two rounds.
- history: ``fundingRate`` pages of 1000 from ``startTime``, moving past the last ``fundingTime``.

A failed openInterest call leaves that row's ``open_interest_usd`` None and is recorded in
``FundingResult.errors``; a failed premiumIndex or fundingInfo fails the venue (no rate or no
interval means no trustworthy row).
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
from dtrack.venues.fields import utc_to_ms

T = TypeVar("T")


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
    limits: ClassVar[Mapping[str, RateLimit]] = api.LIMITS
    funding_history_depth = None  # Binance serves funding history back to each symbol's listing

    def __init__(self, ctx: VenueContext) -> None:
        super().__init__(ctx)
        self._intervals_inflight: dict[str, asyncio.Future[dict[str, float]]] = {}

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

    async def instruments(self) -> list[Instrument]:
        """The trading perpetuals of both hosts (exchangeInfo, disk-cached)."""
        hosts = list(self.hosts)
        bodies = await asyncio.gather(*(self._exchange_info(h) for h in hosts))
        return [i for host, body in zip(hosts, bodies, strict=True) for i in parse.parse_instruments(body, host)]

    async def _exchange_info(self, host: str) -> Any:
        return await self.cached_get(host, api.PATHS[host].exchange_info, ttl=self.ctx.settings.instruments_ttl,
                                     weight=api.WEIGHT_EXCHANGE_INFO)

    # --- current funding ------------------------------------------------------------------------

    async def fetch_funding_rates(self, instruments: Sequence[Instrument]) -> FundingResult:
        """premiumIndex + fundingInfo per host and openInterest per symbol, all concurrently."""
        perps = [i for i in instruments if i.kind is Kind.PERP and i.market in self.hosts]
        hosts = [h for h in self.hosts if any(i.market == h for i in perps)]
        received = self.ctx.now()
        # Inner gathers collect failures, so every request finishes before anything is raised.
        premium_done, interval_done, oi_done = await asyncio.gather(
            asyncio.gather(*(self._premium_index(h) for h in hosts), return_exceptions=True),
            asyncio.gather(*(self._funding_intervals(h) for h in hosts), return_exceptions=True),
            asyncio.gather(*(self._open_interest(i) for i in perps)),
        )
        premiums = {h: _ok(item) for h, item in zip(hosts, premium_done, strict=True)}
        intervals = {h: _ok(item) for h, item in zip(hosts, interval_done, strict=True)}
        result = FundingResult(self.name)
        for inst, oi_or_error in zip(perps, oi_done, strict=True):
            oi = None
            if isinstance(oi_or_error, DtrackError):
                result.errors.append(oi_or_error)
            else:
                oi = oi_or_error
            row = premiums[inst.market].get(inst.symbol)
            if row is None:
                result.errors.append(VenueError(self.name, f"{api.PATHS[inst.market].premium_index}: "
                                                           f"no row for {inst.symbol} (delisted?)"))
                continue
            try:
                result.rates.append(parse.funding_rate(inst, row, intervals[inst.market], oi, received))
            except DtrackError as exc:
                result.errors.append(exc)
        return result

    async def _premium_index(self, host: str) -> dict[str, parse.Premium]:
        body = await self.get(host, api.PATHS[host].premium_index, weight=api.WEIGHT_PREMIUM_INDEX_ALL)
        return parse.parse_premium_index(body, host)

    async def _funding_intervals(self, host: str) -> dict[str, float]:
        """fundingInfo of a host; concurrent callers (rates and every history) share one request."""
        pending = self._intervals_inflight.get(host)
        if pending is None:
            pending = asyncio.ensure_future(self._load_funding_intervals(host))
            self._intervals_inflight[host] = pending
            pending.add_done_callback(lambda _done: self._intervals_inflight.pop(host, None))
        return await asyncio.shield(pending)

    async def _load_funding_intervals(self, host: str) -> dict[str, float]:
        body = await self.cached_get(host, api.PATHS[host].funding_info, ttl=self.ctx.settings.funding_interval_ttl,
                                     weight=api.WEIGHT_FUNDING_INFO)
        return parse.parse_funding_intervals(body, host)

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
        """Settled funding of one perpetual in ``[start, end]``, paging 1000 settlements at a time."""
        host, symbol = instrument.market, instrument.symbol
        path = api.PATHS[host].funding_rate
        rows: list[tuple[int, float]] = []
        cursor, stop = utc_to_ms(start), utc_to_ms(end)
        while cursor <= stop:
            # Binance returns the FIRST `limit` settlements from startTime, ascending.
            params = {"symbol": symbol, "startTime": cursor, "endTime": stop, "limit": api.FUNDING_RATE_LIMIT_MAX}
            body = await self.get(host, path, params, weight=api.WEIGHT_FUNDING_RATE,
                                  endpoint=f"{path}?symbol={symbol}")
            page = parse.parse_funding_history(body, host, symbol)
            rows += page
            if len(page) < api.FUNDING_RATE_LIMIT_MAX:
                break
            last = max(ms for ms, _ in page)
            if last < cursor:
                raise ParseError(self.name, path, f"page for {symbol} from {cursor} ends before it starts ({last})")
            cursor = last + 1
        # The current interval is used for a lone settlement (no spacing to measure).
        hours, _source = parse.interval_of(instrument, await self._funding_intervals(host))
        return parse.funding_history(instrument, rows, start, end, hours)
