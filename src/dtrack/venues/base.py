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
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Collection, Hashable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from dtrack.errors import ConfigError, DtrackError, ParseError, UnsupportedError
from dtrack.records import (
    Candle,
    DataKind,
    FundingHistory,
    FundingRate,
    Instrument,
    Kind,
    LongShortRatio,
    MarginTier,
    OIHistory,
    OpenInterest,
    OptionQuote,
    OptionTrade,
    OrderBook,
    PricePoint,
    PriceQuote,
    Record,
    SpotPrice,
    VolPoint,
)
from dtrack.results import Answer, Fold, settle
from dtrack.venues.fields import Listing

__all__ = ["Adapter", "Answer", "FundingAnswer", "VenueContext"]

T = TypeVar("T")
_log = logging.getLogger(__name__)
NOT_STREAMED = "not streamed by dtrack"

if TYPE_CHECKING:
    from dtrack.config import Settings
    from dtrack.net.cache import DiskCache
    from dtrack.net.http import HttpClient, RateLimit
    from dtrack.net.ws import Batch, Put, StreamProtocol
    from dtrack.venues import Capability
    from dtrack.venues.streaming import Plan


@dataclass(slots=True)
class VenueContext:
    """What an adapter is given: the HTTP client, settings, the disk cache and a UTC clock."""

    http: HttpClient
    settings: Settings
    cache: DiskCache
    now: Callable[[], datetime]


@dataclass(slots=True)
class FundingAnswer(Answer[FundingRate]):
    """One venue's answer to a funding query: ``items`` are the current rates, ``history`` each perpetual's
    history (when asked), ``errors`` the problems that did not stop the venue (a symbol's history, an
    enrichment, a part of the instrument list)."""

    history: dict[str, FundingHistory] = field(default_factory=dict)

    @property
    def rates(self) -> list[FundingRate]:
        """The current rates (``items``)."""
        return self.items


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
    #: the data kinds ``stream()`` carries (the capability table declares a channel for exactly these)
    stream_kinds: ClassVar[frozenset[DataKind]] = frozenset()

    def __init__(self, ctx: VenueContext) -> None:
        self.ctx = ctx
        #: requests (and cached loads) in flight, which concurrent callers share: key -> the one request
        self._inflight: dict[Hashable, asyncio.Future[Any]] = {}
        unknown = set(ctx.settings.venue(self.name).rest_urls) - set(self.hosts)
        if unknown:
            raise ConfigError(f"settings key 'venues.{self.name}.rest_urls.{sorted(unknown)[0]}' is not a "
                              f"{self.name} host; known hosts: {', '.join(self.hosts)}")

    # --- plumbing shared by all venues -------------------------------------------------------

    def capability(self, kind: DataKind) -> Capability:
        """The registry's declaration of how dtrack reads ``kind`` from this venue."""
        from dtrack.venues import VENUES

        return VENUES[self.name].capability(kind)

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

    async def shared(self, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
        """``make()``, or the same work already in flight under ``key``: concurrent callers share one
        request (never kept once it is answered). A caller that gives up (a deadline) does not cancel it
        for the others."""
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(make())
            self._inflight[key] = pending
            pending.add_done_callback(lambda done: self._settled(key, done))
        return cast(T, await asyncio.shield(pending))

    async def cancel_inflight(self) -> None:
        """Cancel the shared requests still in flight (nobody waits for them any more) and let them end."""
        pending = list(self._inflight.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _settled(self, key: Hashable, done: asyncio.Future[Any]) -> None:
        if self._inflight.get(key) is done:
            del self._inflight[key]
        if not done.cancelled():
            done.exception()  # retrieved: a failure whose waiters all gave up is not logged as lost

    async def get(self, host: str, path: str, params: Mapping[str, Any] | None = None, *,
                  weight: int = 1, endpoint: str | None = None) -> Any:
        """GET from one of the venue's hosts through the shared HTTP client; an identical GET already in
        flight is shared, not sent twice."""
        limit, bucket = self.budget(host, path, params)
        key = ("GET", host, path, tuple(sorted((str(k), str(v)) for k, v in (params or {}).items())))
        return await self.shared(key, lambda: self.ctx.http.get(
            self.name, self.url(host), path, params, endpoint=endpoint or path, weight=weight, limit=limit,
            bucket=bucket, check=self.check, remap=self.remap_status))

    async def post(self, host: str, path: str, body: Any, *, weight: int = 1,
                   endpoint: str | None = None) -> Any:
        """POST JSON to one of the venue's hosts through the shared HTTP client; an identical POST already in
        flight is shared, not sent twice."""
        limit, bucket = self.budget(host, path, None)
        key = ("POST", host, path, json.dumps(body, sort_keys=True, default=str))
        return await self.shared(key, lambda: self.ctx.http.post(
            self.name, self.url(host), path, body, endpoint=endpoint or path, weight=weight, limit=limit,
            bucket=bucket, check=self.check, remap=self.remap_status))

    async def cached_get(self, host: str, path: str, params: Mapping[str, Any] | None = None, *,
                         ttl: float, parse: Callable[[Any], T], weight: int = 1, endpoint: str | None = None) -> T:
        """GET through the on-disk cache (instrument lists, funding intervals), returning ``parse(body)``.

        A body is stored only after it parsed, and a stored body that no longer parses is dropped and
        fetched again: one bad answer never poisons the cache for a whole TTL.
        """
        key = self.ctx.cache.key(self.url(host) + path, params)
        return await self.shared(("cache", key), lambda: self._cached(
            key, ttl, parse, self.url(host) + path, lambda: self.get(host, path, params, weight=weight,
                                                                     endpoint=endpoint)))

    async def cached_post(self, host: str, path: str, body: Any, *, ttl: float, parse: Callable[[Any], T],
                          weight: int = 1, endpoint: str | None = None) -> T:
        """POST through the on-disk cache, returning ``parse(answer)`` (see ``cached_get``)."""
        key = self.ctx.cache.key(self.url(host) + path, None, body)
        return await self.shared(("cache", key), lambda: self._cached(
            key, ttl, parse, self.url(host) + path, lambda: self.post(host, path, body, weight=weight,
                                                                      endpoint=endpoint)))

    async def _cached(self, key: str, ttl: float, parse: Callable[[Any], T], url: str,
                      fetch: Callable[[], Awaitable[Any]]) -> T:
        cache = self.ctx.cache
        stored = cache.get(key, ttl, url)
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

    async def fetch_funding_rates(self, instruments: Sequence[Instrument]) -> Answer[FundingRate]:
        """Current funding of these perpetuals (bulk endpoints where the venue has them)."""
        raise UnsupportedError(f"{self.name}: funding not implemented")

    async def fetch_funding_history(self, instrument: Instrument, start: datetime, end: datetime) -> FundingHistory:
        """Funding history of one perpetual over ``[start, end]``, paging as needed."""
        raise UnsupportedError(f"{self.name}: funding history not implemented")

    # --- open interest, positioning, prices (issue 3) ------------------------------------------

    async def fetch_open_interest(self, instruments: Sequence[Instrument]) -> Answer[OpenInterest]:
        """Current open interest of these perpetuals and dated futures (bulk endpoints where the venue
        has them), one side, with the unit, contract size and price used to convert it."""
        raise UnsupportedError(f"{self.name}: open interest not implemented")

    async def fetch_oi_history(self, instrument: Instrument, start: datetime, end: datetime,
                               period_hours: int) -> OIHistory:
        """Open-interest history of one contract over ``[start, end]`` at ``period_hours`` (1, 4 or 24),
        ascending; every page needed is requested concurrently (the window is known in advance)."""
        why = self.capability(DataKind.OI_HISTORY).note or "no open-interest history"
        raise UnsupportedError(f"{self.name}: {why}")

    async def fetch_long_short(self, asset: str, perps: Sequence[Instrument]) -> Answer[LongShortRatio]:
        """The latest long/short ratios the venue publishes for ``asset`` (each with its definition)."""
        raise UnsupportedError(f"{self.name}: publishes no long/short ratio")

    async def fetch_price_history(self, instrument: Instrument, start: datetime, end: datetime,
                                  period_hours: int) -> tuple[PricePoint, ...]:
        """The contract's klines over ``[start, end]`` at ``period_hours``, ascending, per one unit of the asset:
        each bar's close at its close time, with its high and low where the venue's klines give them."""
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

    async def option_assets(self) -> set[str]:
        """Every asset the venue lists options on (to name them when an asked asset has none), where one
        request (or the cached option list) tells."""
        raise UnsupportedError(f"{self.name}: no option list across assets in dtrack")

    async def fetch_option_trades(self, asset: str, start: datetime, end: datetime) -> Answer[OptionTrade]:
        """Recent option trades on ``asset`` in ``[start, end]`` (block trades marked)."""
        raise UnsupportedError(f"{self.name}: option trades not implemented")

    # --- order books, candles, margin tiers (the quant toolkit) -------------------------------------------

    async def fetch_order_book(self, instrument: Instrument, depth: int) -> OrderBook:
        """The L2 order book of one contract with at least ``depth`` levels a side asked (the venue's smallest
        allowed limit >= ``depth``, capped at its maximum: ``OrderBook.limit`` says what was asked)."""
        raise UnsupportedError(f"{self.name}: {self.capability(DataKind.ORDER_BOOK).note or 'no order book'}")

    async def fetch_candles(self, instrument: Instrument, start: datetime, end: datetime,
                            period_seconds: int) -> tuple[Candle, ...]:
        """OHLCV bars of one contract opening in ``[start, end]``, ascending, ``period_seconds`` long (3,600 and
        86,400 at least), paging as needed (every page requested concurrently: the window is known)."""
        raise UnsupportedError(f"{self.name}: {self.capability(DataKind.KLINES).note or 'no klines'}")

    async def fetch_margin_tiers(self, instrument: Instrument) -> tuple[MarginTier, ...]:
        """The contract's maintenance-margin tiers from the venue's public endpoint, lowest first."""
        raise UnsupportedError(f"{self.name}: {self.capability(DataKind.MARGIN_TIERS).note or 'no margin tiers'}")

    # --- streams -----------------------------------------------------------------------------------

    def stream(self, kinds: Collection[DataKind], instruments: Sequence[Instrument]) -> AsyncIterator[Record]:
        """Live records of ``kinds`` for ``instruments`` over the venue's WebSocket, with a ``Gap`` record for
        every interruption (disconnect, stall, malformed frame), until the consumer stops iterating.
        Unsupported by default: a venue that streams overrides it (with ``open_streams``) and declares the
        channel in its capability table."""
        raise UnsupportedError(f"{self.name}: streams are not supported by dtrack yet "
                               f"({', '.join(k.value for k in kinds)})")

    def stream_batches(self, kinds: Collection[DataKind], instruments: Sequence[Instrument]) -> AsyncIterator[Batch]:
        """``stream`` a frame at a time: lists of records and gaps, in arrival order (see ``dtrack.net.ws``). The
        batches of ``open_streams`` as they come; a ``stream`` that yields records (an override that does not use
        ``open_streams``) in batches of one."""
        from dtrack.net import ws

        records = self.stream(kinds, instruments)
        if isinstance(records, ws.Records):
            return records.batches()
        return ws.one_by_one(records)

    async def stream_into(self, kinds: Collection[DataKind], instruments: Sequence[Instrument], put: Put, *,
                          linger: float = 0.0) -> None:
        """``stream_batches`` pushed: each batch handed to ``put`` as it comes, until cancelled (returns only if the
        stream ends). The connections of ``open_streams`` call ``put`` themselves, with no queue between, and read
        their sockets in rounds ``linger`` seconds apart (see ``dtrack.net.ws``)."""
        from dtrack.net import ws

        records = self.stream(kinds, instruments)
        if isinstance(records, ws.Records):
            await records.into(put, linger=linger)
            return
        async with aclosing(ws.one_by_one(records)) as batches:
            async for batch in batches:
                await put(batch)

    def ws_url(self, host: str) -> str:
        """Base URL of one of the venue's WebSocket hosts, after settings overrides (``ws_urls``)."""
        from dtrack.venues import VENUES

        vs = self.ctx.settings.venue(self.name)
        if host in vs.ws_urls:
            return vs.ws_urls[host]
        return VENUES[self.name].ws_hosts[host]

    async def stream_terms(self, instruments: Sequence[Instrument]) -> dict[str, FundingRate]:
        """Each perpetual's current funding as the REST side reads it, by symbol (read once at stream start: the
        interval and its source, which not every stream frame carries). A perpetual the answer lacks is logged
        and left out; a failure of the whole request propagates (the caller retries the venue)."""
        perps = [i for i in instruments if i.kind is Kind.PERP]
        if not perps:
            return {}
        answer = await self.fetch_funding_rates(perps)
        for problem in answer.errors:
            _log.warning("%s: stream funding terms: %s", self.name, problem)
        return {rate.instrument.symbol: rate for rate in answer.items}

    def open_streams(self, kinds: Collection[DataKind], instruments: Sequence[Instrument], plan: Plan, *,
                     terms: bool) -> AsyncIterator[Record]:
        """The records of ``open_stream_batches`` one by one (a ``dtrack.net.ws.Records``: ``stream_batches``
        takes its batches whole, ``stream_into`` has the connections push them)."""
        from dtrack.net import ws

        async def feed(put: Put, linger: float) -> None:
            connections = await self._stream_connections(kinds, instruments, plan, terms=terms)
            await ws.stream_into(put, self.ctx.http.session, connections, self.ctx.settings.streams, now=self.ctx.now,
                                 linger=linger)

        return ws.Records(lambda: self.open_stream_batches(kinds, instruments, plan, terms=terms), feed)

    async def open_stream_batches(self, kinds: Collection[DataKind], instruments: Sequence[Instrument], plan: Plan,
                                  *, terms: bool) -> AsyncGenerator[Batch, None]:
        """The venue's stream, run by ``dtrack.net.ws``, a batch per frame (see ``_stream_connections``)."""
        from dtrack.net import ws

        connections = await self._stream_connections(kinds, instruments, plan, terms=terms)
        async with aclosing(ws.stream_batches(self.ctx.http.session, connections, self.ctx.settings.streams,
                                              now=self.ctx.now)) as batches:
            async for batch in batches:
                yield batch

    async def _stream_connections(self, kinds: Collection[DataKind], instruments: Sequence[Instrument], plan: Plan,
                                  *, terms: bool) -> list[tuple[str, StreamProtocol]]:
        """The (base URL, protocol) of each connection of the venue's stream: ``plan`` (the venue's
        ``stream.protocols``) builds one protocol per connection from the request; with ``terms``, each
        perpetual's REST funding is read first (``stream_terms``) when funding is asked. A kind the capability
        table does not stream here is an ``UnsupportedError``."""
        from dtrack.venues.streaming import StreamRequest, stream_kinds

        wanted = stream_kinds(kinds)
        missing = [k.value for k in sorted(wanted) if k not in self.stream_kinds]
        if missing:
            raise UnsupportedError(f"{self.name}: no stream of {', '.join(missing)} "
                                   f"({self.capability(DataKind(missing[0])).note or NOT_STREAMED})")
        funding = await self.stream_terms(instruments) if terms and DataKind.FUNDING in wanted else {}
        protocols = plan(StreamRequest(wanted, list(instruments), funding))
        connections = [(self.ws_url(p.host), p) for p in protocols]
        if not connections:
            raise UnsupportedError(f"{self.name}: nothing to stream among the given contracts")
        return connections

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

    async def fetch_funding(self, assets: Sequence[str], history: timedelta | None = None) -> FundingAnswer:
        """Current funding of every perpetual on ``assets`` and, with ``history``, each one's history.

        Rates and histories are requested concurrently; a failed history is recorded in ``errors``
        and does not drop the venue's rates, nor does a part of the instrument list that could not be
        fetched (``Listing.missing``). A failure of the rates themselves propagates.
        """
        listing = await self.listing()
        perps = listing.for_assets(self.name, self.instruments_endpoint, assets)
        if not perps:
            return FundingAnswer(self.name, errors=list(listing.missing))
        end = self.ctx.now()
        start = end - history if history else end
        rates, histories = await asyncio.gather(
            settle([self.fetch_funding_rates(perps)]),
            settle([self.fetch_funding_history(i, start, end) for i in perps] if history else []))
        if isinstance(rates[0], DtrackError):
            raise rates[0]  # no rate: the venue failed
        fold = Fold()
        out = FundingAnswer(self.name, fold.items(rates[0]))
        for inst, item in zip(perps if history else [], histories, strict=True):
            if (got := fold.value(item)) is not None:
                out.history[inst.symbol] = got
        out.errors = fold.errors + list(listing.missing)
        return out
