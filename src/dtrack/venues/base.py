"""The adapter contract every venue implements, and the generic funding pipeline over it.

A venue package has three files: ``api.py`` (hosts, paths, weights, error codes: data only),
``parse.py`` (pure: JSON -> records, receive time passed in) and ``adapter.py`` (its only I/O,
a subclass of ``Adapter``). Unsupported data raises ``UnsupportedError``.

The funding pipeline runs per venue as: instruments (disk-cached) -> current rates and all
per-symbol histories concurrently. With a warm cache that is one round of requests. A venue's
instrument list is a ``Listing``: a row that did not parse fails only a query for its asset.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from dtrack.errors import ConfigError, DtrackError, ParseError, UnsupportedError
from dtrack.records import (
    FundingHistory,
    FundingRate,
    Instrument,
    Kind,
    LongShortRatio,
    OIHistory,
    OpenInterest,
    OptionQuote,
    OptionTrade,
    PricePoint,
    PriceQuote,
    SpotPrice,
    VolPoint,
)
from dtrack.venues.fields import Listing

T = TypeVar("T")

if TYPE_CHECKING:
    from dtrack.config import Settings
    from dtrack.net.cache import DiskCache
    from dtrack.net.http import HttpClient, RateLimit


@dataclass(slots=True)
class VenueContext:
    """What an adapter is given: the HTTP client, settings, the disk cache and a UTC clock."""

    http: HttpClient
    settings: Settings
    cache: DiskCache
    now: Callable[[], datetime]


@dataclass(slots=True)
class FundingResult:
    """One venue's answer to a funding query.

    ``errors`` holds problems that did not stop the venue (a symbol's history, an enrichment).
    """

    venue: str
    rates: list[FundingRate] = field(default_factory=list)
    history: dict[str, FundingHistory] = field(default_factory=dict)
    errors: list[DtrackError] = field(default_factory=list)


@dataclass(slots=True)
class Answer(Generic[T]):
    """One venue's answer to a bulk query: the items it could read and the problems that did not stop it
    (an enrichment that failed, a part of the venue that could not be read)."""

    venue: str
    items: list[T] = field(default_factory=list)
    errors: list[DtrackError] = field(default_factory=list)


class Adapter:
    """Base of the venue adapters. Subclasses set ``name``, ``hosts``, ``main_host`` and ``instruments_endpoint``."""

    name: ClassVar[str]
    #: host key -> default base URL, e.g. {"usdm": "https://fapi.binance.com"}
    hosts: ClassVar[Mapping[str, str]]
    main_host: ClassVar[str]
    #: the endpoint of the instrument list, named in the ParseError of an asked asset's broken row
    instruments_endpoint: ClassVar[str]
    #: host key -> request budget
    limits: ClassVar[Mapping[str, RateLimit]] = {}
    #: how far back the venue keeps funding history (None: unknown / since listing)
    funding_history_depth: ClassVar[timedelta | None] = None

    def __init__(self, ctx: VenueContext) -> None:
        self.ctx = ctx
        unknown = set(ctx.settings.venue(self.name).rest_urls) - set(self.hosts)
        if unknown:
            raise ConfigError(f"settings key 'venues.{self.name}.rest_urls.{sorted(unknown)[0]}' is not a "
                              f"{self.name} host; known hosts: {', '.join(self.hosts)}")

    # --- plumbing shared by all venues -------------------------------------------------------

    def url(self, host: str) -> str:
        """Base URL of one of the venue's hosts, after settings overrides."""
        vs = self.ctx.settings.venue(self.name)
        if host in vs.rest_urls:
            return vs.rest_urls[host]
        if host == self.main_host and vs.rest_url:
            return vs.rest_url
        return self.hosts[host]

    def budget(self, host: str, path: str, params: Mapping[str, Any] | None) -> tuple[RateLimit | None, str]:
        """The request budget a call draws on and its bucket name: by default one budget per host
        (override for venues that meter per endpoint)."""
        return self.limits.get(host), ""

    def check(self, body: Any) -> None:
        """Raise the venue's error for an error envelope in a 200 answer (override per venue)."""

    def remap_status(self, status: int, text: str) -> tuple[int, float | None] | None:
        """Reinterpret an error status the venue uses unusually: (status, Retry-After s) or None."""
        return None

    async def get(self, host: str, path: str, params: Mapping[str, Any] | None = None, *,
                  weight: int = 1, endpoint: str | None = None) -> Any:
        """GET from one of the venue's hosts through the shared HTTP client."""
        limit, bucket = self.budget(host, path, params)
        return await self.ctx.http.get(self.name, self.url(host), path, params, endpoint=endpoint or path,
                                       weight=weight, limit=limit, bucket=bucket, check=self.check,
                                       remap=self.remap_status)

    async def post(self, host: str, path: str, body: Any, *, weight: int = 1,
                   endpoint: str | None = None) -> Any:
        """POST JSON to one of the venue's hosts through the shared HTTP client."""
        limit, bucket = self.budget(host, path, None)
        return await self.ctx.http.post(self.name, self.url(host), path, body, endpoint=endpoint or path,
                                        weight=weight, limit=limit, bucket=bucket, check=self.check,
                                        remap=self.remap_status)

    async def cached_get(self, host: str, path: str, params: Mapping[str, Any] | None = None, *,
                         ttl: float, parse: Callable[[Any], T], weight: int = 1, endpoint: str | None = None) -> T:
        """GET through the on-disk cache (instrument lists, funding intervals), returning ``parse(body)``.

        A body is stored only after it parsed, and a stored body that no longer parses is dropped and
        fetched again: one bad answer never poisons the cache for a whole TTL.
        """
        key = self.ctx.cache.key(self.url(host) + path, params)
        return await self._cached(key, ttl, parse, self.url(host) + path,
                                  lambda: self.get(host, path, params, weight=weight, endpoint=endpoint))

    async def cached_post(self, host: str, path: str, body: Any, *, ttl: float, parse: Callable[[Any], T],
                          weight: int = 1, endpoint: str | None = None) -> T:
        """POST through the on-disk cache, returning ``parse(answer)`` (see ``cached_get``)."""
        key = self.ctx.cache.key(self.url(host) + path, None, body)
        return await self._cached(key, ttl, parse, self.url(host) + path,
                                  lambda: self.post(host, path, body, weight=weight, endpoint=endpoint))

    async def _cached(self, key: str, ttl: float, parse: Callable[[Any], T], url: str,
                      fetch: Callable[[], Awaitable[Any]]) -> T:
        cache = self.ctx.cache
        stored = cache.get(key, ttl)
        if stored is not None:
            try:
                return parse(stored)
            except ParseError:
                cache.drop(key)
        body = await fetch()
        parsed = parse(body)
        cache.put(key, body, url)
        return parsed

    # --- what each venue implements -----------------------------------------------------------

    async def listing(self) -> Listing:
        """Every listed instrument the adapter knows (at least the perpetuals), and the rows that did
        not parse by asset; disk-cached."""
        raise UnsupportedError(f"{self.name}: instrument list not implemented")

    async def fetch_funding_rates(self, instruments: Sequence[Instrument]) -> FundingResult:
        """Current funding of these perpetuals (bulk endpoints where the venue has them)."""
        raise UnsupportedError(f"{self.name}: funding not implemented")

    async def fetch_funding_history(self, instrument: Instrument, start: datetime, end: datetime) -> FundingHistory:
        """Funding history of one perpetual over ``[start, end]``, paging as needed."""
        raise UnsupportedError(f"{self.name}: funding history not implemented")

    # --- open interest, positioning, prices (issue 3) ------------------------------------------

    #: why the venue has no open-interest history (None: it has one)
    oi_history_missing: ClassVar[str | None] = "no open-interest history endpoint"

    async def fetch_open_interest(self, instruments: Sequence[Instrument]) -> Answer[OpenInterest]:
        """Current open interest of these perpetuals and dated futures (bulk endpoints where the venue
        has them), one side, with the unit, contract size and price used to convert it."""
        raise UnsupportedError(f"{self.name}: open interest not implemented")

    async def fetch_oi_history(self, instrument: Instrument, start: datetime, end: datetime,
                               period_hours: int) -> OIHistory:
        """Open-interest history of one contract over ``[start, end]`` at ``period_hours`` (1, 4 or 24),
        ascending; every page needed is requested concurrently (the window is known in advance)."""
        raise UnsupportedError(f"{self.name}: {self.oi_history_missing or 'open-interest history not implemented'}")

    async def fetch_long_short(self, asset: str, perps: Sequence[Instrument]) -> Answer[LongShortRatio]:
        """The latest long/short ratios the venue publishes for ``asset`` (each with its definition)."""
        raise UnsupportedError(f"{self.name}: publishes no long/short ratio")

    async def fetch_price_history(self, instrument: Instrument, start: datetime, end: datetime,
                                  period_hours: int) -> tuple[PricePoint, ...]:
        """Closes of the contract's klines over ``[start, end]`` at ``period_hours``, ascending, per one
        unit of the asset."""
        raise UnsupportedError(f"{self.name}: klines not implemented")

    async def fetch_quotes(self, instruments: Sequence[Instrument]) -> Answer[PriceQuote]:
        """Mark, index and last prices of these perpetuals and dated futures (bulk where possible)."""
        raise UnsupportedError(f"{self.name}: prices not implemented")

    async def fetch_spot(self, assets: Sequence[str]) -> Answer[SpotPrice]:
        """Spot prices of ``assets`` against USD stablecoins from the venue's spot tickers."""
        raise UnsupportedError(f"{self.name}: no spot market in dtrack")

    # --- options (issue 4) ----------------------------------------------------------------------

    async def fetch_option_chain(self, asset: str) -> Answer[OptionQuote]:
        """Every listed option on ``asset`` with marks, IVs, OI and volume (bulk endpoints)."""
        raise UnsupportedError(f"{self.name}: no options in dtrack")

    async def fetch_vol_index(self, asset: str, start: datetime, end: datetime) -> tuple[VolPoint, ...]:
        """Daily closes of the venue's implied-volatility index (Deribit DVOL) over ``[start, end]``."""
        raise UnsupportedError(f"{self.name}: publishes no volatility index")

    async def fetch_realized_vol(self, asset: str, start: datetime, end: datetime) -> tuple[VolPoint, ...]:
        """The venue's published realized (historical) volatility over ``[start, end]``."""
        raise UnsupportedError(f"{self.name}: publishes no realized volatility")

    async def fetch_option_trades(self, asset: str, start: datetime, end: datetime) -> Answer[OptionTrade]:
        """Recent option trades on ``asset`` in ``[start, end]`` (block trades marked)."""
        raise UnsupportedError(f"{self.name}: option trades not implemented")

    # --- generic pipeline ---------------------------------------------------------------------

    async def contracts(self, assets: Sequence[str]) -> list[Instrument]:
        """The venue's perpetuals and dated futures on ``assets`` (see ``perpetuals``)."""
        return (await self.listing()).for_assets(self.name, self.instruments_endpoint, assets,
                                                 (Kind.PERP, Kind.FUTURE))

    async def instruments(self) -> list[Instrument]:
        """Every listed instrument the adapter knows (rows that did not parse are left out)."""
        return list((await self.listing()).instruments)

    async def perpetuals(self, assets: Sequence[str]) -> list[Instrument]:
        """The venue's perpetuals on these assets; a ParseError when a row of one of them did not parse
        (a malformed row of an asset nobody asked for is ignored)."""
        return (await self.listing()).for_assets(self.name, self.instruments_endpoint, assets)

    async def fetch_funding(self, assets: Sequence[str], history: timedelta | None = None) -> FundingResult:
        """Current funding of every perpetual on ``assets`` and, with ``history``, each one's history.

        Rates and histories are requested concurrently; a failed history is recorded in ``errors``
        and does not drop the venue's rates, nor does a part of the instrument list that could not be
        fetched (``Listing.missing``). A failure of the rates themselves propagates.
        """
        listing = await self.listing()
        perps = listing.for_assets(self.name, self.instruments_endpoint, assets)
        if not perps:
            return FundingResult(self.name, errors=list(listing.missing))
        end = self.ctx.now()
        start = end - history if history else end
        jobs: list[Any] = [self.fetch_funding_rates(perps)]
        if history:
            jobs += [self.fetch_funding_history(i, start, end) for i in perps]
        done = await asyncio.gather(*jobs, return_exceptions=True)
        rates: FundingResult | BaseException = done[0]
        if isinstance(rates, BaseException):
            raise rates
        for inst, item in zip(perps if history else [], done[1:], strict=True):
            if isinstance(item, DtrackError):
                rates.errors.append(item)
            elif isinstance(item, BaseException):
                raise item
            else:
                rates.history[inst.symbol] = item
        rates.errors += listing.missing
        return rates
