"""Deribit adapter: the venue's only I/O (instrument list, current funding, funding history).

Requests per funding query: the instrument list once (disk-cached), one book summary per settlement
currency the asked perpetuals need (BTC, ETH, USDC), concurrently; a ticker only for a perpetual the
book summary does not cover. History: one request per 30-day window of hourly samples.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from dtrack.errors import DtrackError, RateLimited, VenueError
from dtrack.net.http import RateLimit
from dtrack.records import FundingHistory, FundingPoint, FundingRate, Instrument, Kind
from dtrack.venues.base import Adapter, FundingResult
from dtrack.venues.deribit import api
from dtrack.venues.deribit.parse import (
    HISTORY_NOTE,
    history_points,
    parse_book_summary,
    parse_funding_history,
    parse_instruments,
    parse_ticker,
)
from dtrack.venues.fields import utc_to_ms

HOUR_MS = 3_600_000


def history_windows(start: datetime, end: datetime, chunk: timedelta = api.HISTORY_CHUNK) -> list[tuple[int, int]]:
    """``(start_timestamp, end_timestamp)`` pairs covering ``[start, end]`` with at most ``chunk`` of hours each.

    Deribit answers the hours after ``start_timestamp`` up to and including ``end_timestamp`` (the docs
    example asks 00:00-04:00 and gets 01:00-04:00), so the first window opens 1 ms before ``start`` and
    each next one where the previous closed. Windows are cut at whole hours so that each holds at most
    ``chunk`` of hourly rows (720 for 30 days); the last one runs to ``end``.
    """
    per_window = int(chunk / timedelta(hours=1))
    lo, hi = utc_to_ms(start) - 1, utc_to_ms(end)
    windows: list[tuple[int, int]] = []
    while lo < hi:
        last_hour = (lo // HOUR_MS + per_window) * HOUR_MS  # the window's last whole hour
        if last_hour + HOUR_MS > hi:  # no whole hour would be left for another window
            windows.append((lo, hi))
            break
        windows.append((lo, last_hour))
        lo = last_hour
    return windows


class DeribitAdapter(Adapter):
    """Deribit perpetuals: inverse BTC/ETH (USD contracts) and linear USDC-settled ones."""

    name: ClassVar[str] = api.VENUE
    hosts: ClassVar[Mapping[str, str]] = api.HOSTS
    main_host: ClassVar[str] = api.MAIN_HOST
    limits: ClassVar[Mapping[str, RateLimit]] = api.LIMITS
    funding_history_depth: ClassVar[timedelta | None] = None  # kept since each perpetual's listing

    def check(self, body: Any) -> None:
        """Raise for a JSON-RPC ``error`` member; ``too_many_requests`` (10028) is a rate limit."""
        if not isinstance(body, Mapping) or body.get("error") is None:
            return
        error = body["error"]
        fields = error if isinstance(error, Mapping) else {"message": error}
        code, message = fields.get("code"), fields.get("message", "")
        data = fields.get("data")
        detail = f"error {code}: {message}" + (f" {data}" if data else "")
        if code == api.TOO_MANY_REQUESTS:
            # the venue ends the session and refills credits continuously; no Retry-After is given
            raise RateLimited(self.name, f"{detail} (out of request credits)", retry_after=None, status=None,
                              code=str(code))
        raise VenueError(self.name, detail, code=None if code is None else str(code))

    async def instruments(self) -> list[Instrument]:
        """Every active future and perpetual, from one disk-cached ``get_instruments?currency=any`` call."""
        body = await self.cached_get(api.MAIN_HOST, api.INSTRUMENTS, api.INSTRUMENTS_PARAMS,
                                     ttl=self.ctx.settings.instruments_ttl, endpoint="public/get_instruments")
        return parse_instruments(body)

    async def fetch_funding_rates(self, instruments: Sequence[Instrument]) -> FundingResult:
        """Funding of these perpetuals from the book summaries of their settlement currencies.

        A perpetual missing from its book summary (or without ``funding_8h`` there) is asked through
        ``public/ticker``; if that fails its error goes to ``errors`` and the perpetual has no row.
        A failed book summary fails the venue.
        """
        perps = {i.symbol: i for i in instruments if i.kind is Kind.PERP}
        result = FundingResult(self.name)
        if not perps:
            return result
        currencies = sorted({i.settle for i in perps.values()})
        bodies = await asyncio.gather(*(self._book_summary(c) for c in currencies))
        received = self.ctx.now()
        found: dict[str, FundingRate] = {}
        for body in bodies:
            found.update(parse_book_summary(body, perps, received))
        missing = [i for s, i in perps.items() if s not in found]
        if missing:
            await self._tickers(missing, found, result)
        result.rates = [found[s] for s in perps if s in found]
        return result

    async def _book_summary(self, currency: str) -> Any:
        params = {"currency": currency, "kind": api.BOOK_SUMMARY_KIND}
        return await self.get(api.MAIN_HOST, api.BOOK_SUMMARY, params,
                              endpoint=f"public/get_book_summary_by_currency?currency={currency}")

    async def _tickers(self, perps: Sequence[Instrument], found: dict[str, FundingRate],
                       result: FundingResult) -> None:
        """Fill ``found`` from one ticker per perpetual; failures go to ``result.errors``."""
        done = await asyncio.gather(*(self.fetch_ticker(i) for i in perps), return_exceptions=True)
        for inst, item in zip(perps, done, strict=True):
            if isinstance(item, DtrackError):
                result.errors.append(item)
            elif isinstance(item, BaseException):
                raise item
            else:
                found[inst.symbol] = item

    async def fetch_ticker(self, instrument: Instrument) -> FundingRate:
        """Funding of one perpetual from ``public/ticker`` (the fallback of the book summary)."""
        body = await self.get(api.MAIN_HOST, api.TICKER, {"instrument_name": instrument.symbol},
                              endpoint="public/ticker")
        return parse_ticker(body, instrument, self.ctx.now())

    async def fetch_funding_history(self, instrument: Instrument, start: datetime, end: datetime) -> FundingHistory:
        """Hourly 8 h-equivalent samples over ``[start, end]``, one request per 30-day window."""
        bodies = await asyncio.gather(*(self._history_window(instrument.symbol, lo, hi)
                                        for lo, hi in history_windows(start, end)))
        samples = [(t, rate) for body in bodies for t, rate in parse_funding_history(body) if start <= t <= end]
        points = history_points(samples)
        return FundingHistory(self.name, instrument.symbol, start, end, points, _history_note(points, start, end))

    async def _history_window(self, symbol: str, lo: int, hi: int) -> Any:
        params = {"instrument_name": symbol, "start_timestamp": lo, "end_timestamp": hi}
        return await self.get(api.MAIN_HOST, api.FUNDING_HISTORY, params, endpoint="public/get_funding_rate_history")


def _history_note(points: Sequence[FundingPoint], start: datetime, end: datetime) -> str:
    """The history note, saying so when Deribit has fewer samples than the window asks."""
    if end - start < timedelta(hours=1):
        return HISTORY_NOTE
    if not points:
        return f"{HISTORY_NOTE}; Deribit returned no samples in the window"
    first = points[0].time
    if first - start > timedelta(hours=1):
        return (f"{HISTORY_NOTE}; Deribit has samples only from {first:%Y-%m-%d %H:%M} UTC "
                f"(asked from {start:%Y-%m-%d %H:%M} UTC)")
    return HISTORY_NOTE

