"""Binance I/O: USDⓈ-M (fapi) and COIN-M (dapi) perpetuals and quarterlies, spot prices, and European
options (eapi).

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
the answer's ``errors``; a failed premiumIndex or fundingInfo fails the venue (no rate or no
interval means no trustworthy row). A malformed premiumIndex or fundingInfo row of an asked symbol
drops that symbol with an ``errors`` entry; a malformed exchangeInfo row of an asked asset fails
the query, as on every venue (``Listing``); odd rows of symbols nobody asked for are skipped.

Open interest, positioning and prices (every call is ONE concurrent round after the cached listing):
- ``fetch_open_interest``: ``openInterest`` per contract (Binance has no bulk variant) + bulk
  ``premiumIndex`` per host for the price (each contract's own mark) + ``premiumIndex?symbol=`` for
  USDⓈ-M quarterlies (whether the bulk answer lists them is UNCONFIRMED);
- ``fetch_oi_history``: every ``/futures/data/openInterestHist`` page of the window at once (500 rows
  per page, the latest 30 days only: clipped, with a note);
- ``fetch_long_short``: the three USDⓈ-M statistics of the asset's USDT perpetual, latest 5 m row each;
- ``fetch_price_history``: every ``klines`` page at once (1500 candles; COIN-M 200 days per page);
- ``fetch_quotes``: ``premiumIndex`` as above + bulk ``ticker/24hr`` per host (weight 40) for the last price and
  the 24 h volume (``ticker/price``, weight 2, has the same last price but no volume);
- ``fetch_spot``: spot ``/api/v3/ticker/price`` for every symbol (weight 4, the same as a list).
Concurrent callers (``basis`` asks quotes and funding together) share one bulk premiumIndex request
per host. A failed enrichment (a price, a last price, one symbol) is an ``errors`` entry; when
nothing could be read at all the first failure is raised.

European options (host ``options`` = eapi; ``listing()`` stays on the futures hosts):
- ``fetch_option_chain``: ``/eapi/v1/exchangeInfo`` (disk-cached for ``instruments_ttl``) -> the asset's
  options and expiries; bulk ``mark`` (every symbol, weight 5), bulk ``ticker`` (weight 5) and ``index``
  of the underlying, concurrently with it; ``openInterest`` per expiry (weight 0) as soon as the
  expiries are known. Warm cache: ONE round; cold: the openInterest requests follow exchangeInfo.
  exchangeInfo, mark and index are core (a failure raises); ticker (volume, bid/ask) and each
  expiry's openInterest are enrichments (a failure is an ``errors`` entry, the chain is served).
- ``fetch_option_trades``: bulk ``blockTrades`` (the latest 500 of every symbol, weight 5) with the
  cached listing and the index, one round: Binance publishes no public tape of all option trades
  (``/eapi/v1/trades`` is per symbol), so these are block trades only.
- No volatility index and no published realized volatility: those stay unsupported.
Concurrent callers (one chain per asset) share the bulk mark, ticker and blockTrades requests.

Order books, candles and margin tiers (the quant toolkit), each ONE round:
- ``fetch_order_book``: ``depth`` of the contract at the smallest allowed ``limit`` >= the depth asked (weight 2 to 20);
- ``fetch_candles``: every ``klines`` page of the window at once (shared with ``fetch_price_history``);
- ``fetch_margin_tiers``: the public web brackets of the contract's host (host ``web`` = www.binance.com; UNOFFICIAL
  and undocumented, since the official ``leverageBracket`` needs an API key), one table for every symbol of the
  host, disk-cached for ``instruments_ttl``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from dtrack.errors import DtrackError, ParseError, RateLimited, UnsupportedError, UsageError, VenueError
from dtrack.net.http import RateLimit
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
)
from dtrack.results import Fold, every, ok, settle
from dtrack.venues.base import Adapter, Answer, VenueContext
from dtrack.venues.binance import api, parse
from dtrack.venues.fields import HOUR_MS, Listing, latest_spacing, utc_to_ms

T = TypeVar("T")

Intervals = parse.BySymbol[float]
Premiums = parse.BySymbol[parse.Premium]
#: (host, symbol) -> premiumIndex row
Marks = dict[tuple[str, str], parse.Premium]


def _served(answer: Answer[T]) -> Answer[T]:
    """The answer, unless nothing at all could be read: then its first error is raised."""
    if not answer.items and answer.errors:
        raise answer.errors[0]
    return answer


def _futures_host(instrument: Instrument, what: str) -> str:
    """The futures host (``usdm`` / ``coinm``) of a perpetual or quarterly; UnsupportedError for anything else."""
    if instrument.market not in api.FUTURES_HOSTS or instrument.kind not in (Kind.PERP, Kind.FUTURE):
        raise UnsupportedError(f"binance: no {what} for {instrument.symbol} (USDⓈ-M and COIN-M futures only)")
    return instrument.market


def _contracts(instruments: Iterable[Instrument]) -> list[Instrument]:
    """The perpetuals and quarterlies of the futures hosts among ``instruments``."""
    return [i for i in instruments if i.kind in (Kind.PERP, Kind.FUTURE) and i.market in api.FUTURES_HOSTS]


def _priced_alone(instrument: Instrument) -> bool:
    """Whether a contract's premiumIndex row is asked by symbol: USDⓈ-M quarterlies, as whether the
    bulk USDⓈ-M answer lists delivery contracts is UNCONFIRMED (COIN-M's is documented to)."""
    return instrument.market == api.USDM and instrument.kind is Kind.FUTURE


class BinanceAdapter(Adapter):
    """Binance USDⓈ-M and COIN-M funding, open interest, positioning and prices, spot prices and the
    European options chain and block trades, over the public REST API."""

    name: ClassVar[str] = api.VENUE
    hosts: ClassVar[Mapping[str, str]] = api.HOSTS
    main_host: ClassVar[str] = api.MAIN_HOST
    #: one path per host (``/fapi/v1/exchangeInfo``, ``/dapi/v1/exchangeInfo``): a broken row's reason names it
    instruments_endpoint: ClassVar[str] = "exchangeInfo"
    limits: ClassVar[Mapping[str, RateLimit]] = api.LIMITS

    def __init__(self, ctx: VenueContext) -> None:
        super().__init__(ctx)
        #: host -> (when, request) of the last fundingInfo fetched past the disk cache
        self._refreshed: dict[str, tuple[datetime, asyncio.Future[Intervals]]] = {}

    def budget(self, host: str, path: str, params: Mapping[str, Any] | None) -> tuple[RateLimit | None, str]:
        """USDⓈ-M ``/futures/data/*`` draws on its own 1000-requests-per-5-minutes budget; everything
        else on its host's weight budget."""
        if host == api.USDM and path.startswith(api.FUTURES_DATA_PREFIX):
            return api.FUTURES_DATA_LIMIT, api.FUTURES_DATA_BUCKET
        return super().budget(host, path, params)

    def check(self, body: Any) -> None:
        """Raise for Binance's ``{"code": -1121, "msg": ...}`` envelope if it ever comes with HTTP 200, and for the
        web host's ``{"code": "000002", "message": ..., "success": false}``.

        Binance normally sends the API envelope with a 4xx status, which the HTTP layer maps; negative codes are
        errors (``-1003`` = too many requests).
        """
        if isinstance(body, Mapping) and body.get("success") is False and isinstance(body.get("code"), str):
            raise VenueError(self.name, f"web error {body['code']}: {body.get('message') or body.get('messageDetail')}",
                             code=body["code"])
        if not (isinstance(body, Mapping) and "msg" in body and isinstance(body.get("code"), int)):
            return
        code = int(body["code"])
        if code >= 0:
            return
        message = f"error {code}: {body['msg']}"
        if code in api.RATE_LIMIT_CODES:
            raise RateLimited(self.name, message, status=None, code=str(code))
        raise VenueError(self.name, message, code=str(code))

    stream_kinds: ClassVar[frozenset[DataKind]] = frozenset({DataKind.FUNDING, DataKind.QUOTES,
                                                             DataKind.LIQUIDATIONS})

    def stream(self, kinds: Collection[DataKind], instruments: Sequence[Instrument]) -> AsyncIterator[Record]:
        """Live funding (interval from fundingInfo at stream start) and mark/index prices of the perpetuals and
        quarterlies over ``!markPrice@arr@1s``, and their liquidations over ``!forceOrder@arr`` (sampled), on both
        futures hosts (see ``binance.stream``)."""
        from dtrack.venues.binance import stream

        return self.open_streams(kinds, instruments, stream.protocols, terms=True)

    # --- instruments ----------------------------------------------------------------------------

    async def listing(self) -> Listing:
        """The trading perpetuals and quarterlies of both futures hosts (exchangeInfo, disk-cached), the
        hosts concurrently; a host that cannot be read is ``missing`` while the other still serves."""
        return Listing.of_parts(await settle([self._exchange_info(h) for h in api.FUTURES_HOSTS]))

    async def _exchange_info(self, host: str) -> Listing:
        return await self.cached_get(host, api.PATHS[host].exchange_info, ttl=self.ctx.settings.instruments_ttl,
                                     parse=lambda body: parse.parse_exchange_info(body, host),
                                     weight=api.WEIGHT_EXCHANGE_INFO)

    # --- current funding ------------------------------------------------------------------------

    async def fetch_funding_rates(self, instruments: Sequence[Instrument]) -> Answer[FundingRate]:
        """premiumIndex + fundingInfo per host and openInterest per symbol, all concurrently; then
        fundingInfo again past the cache for a host whose cached intervals contradict premiumIndex."""
        perps = [i for i in instruments if i.kind is Kind.PERP and i.market in self.hosts]
        hosts = [h for h in self.hosts if any(i.market == h for i in perps)]
        asked = {h: {i.symbol for i in perps if i.market == h} for h in hosts}
        # Inner gathers collect failures, so every request finishes before anything is raised.
        premium_done, interval_done, oi_done = await asyncio.gather(
            asyncio.gather(*(self._premium_index(h, asked[h]) for h in hosts), return_exceptions=True),
            asyncio.gather(*(self._funding_intervals(h) for h in hosts), return_exceptions=True),
            asyncio.gather(*(self._open_interest(i) for i in perps)),
        )
        received = self.ctx.now()
        premiums = {h: ok(item) for h, item in zip(hosts, premium_done, strict=True)}
        intervals = {h: ok(item) for h, item in zip(hosts, interval_done, strict=True)}
        result: Answer[FundingRate] = Answer(self.name)
        stale = [h for h in hosts if any(_off_schedule(i, premiums[h], intervals[h]) for i in perps if i.market == h)]
        refreshed = await asyncio.gather(*(self._refresh_intervals(h) for h in stale), return_exceptions=True)
        for host, item in zip(stale, refreshed, strict=True):
            if isinstance(item, DtrackError):
                result.errors.append(item)  # keep the cached intervals; the rows' notes flag them
            else:
                intervals[host] = ok(item)
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
                result.items.append(parse.funding_rate(inst, row, intervals[inst.market], oi, received))
            except DtrackError as exc:
                result.errors.append(exc)
        return result

    async def _premium_index(self, host: str, symbols: Collection[str]) -> Premiums:
        """The asked rows of a host's bulk premiumIndex; concurrent callers share one request."""
        path = api.PATHS[host].premium_index
        body = await self.shared((path, host), lambda: self.get(host, path, weight=api.WEIGHT_PREMIUM_INDEX_ALL))
        return parse.parse_premium_index(body, host, symbols)

    async def _premium_one(self, inst: Instrument) -> parse.Premium:
        """premiumIndex?symbol= of one contract."""
        path, symbol = api.PATHS[inst.market].premium_index, inst.symbol
        body = await self.get(inst.market, path, {"symbol": symbol}, weight=api.WEIGHT_PREMIUM_INDEX_ONE,
                              endpoint=f"{path}?symbol={symbol}")
        row = parse.parse_premium_index(body, inst.market, {symbol}).get(symbol)
        if row is None:
            raise parse.reader(path).fail(f"the answer for {symbol} has no row of it")
        return row

    async def _marks(self, contracts: Sequence[Instrument]) -> tuple[Marks, list[DtrackError]]:
        """premiumIndex rows of ``contracts``: bulk per host, plus one by symbol for USDⓈ-M quarterlies,
        all concurrently; what could not be read is an error per host or symbol."""
        alone = [i for i in contracts if _priced_alone(i)]
        bulk = [i for i in contracts if not _priced_alone(i)]
        hosts = list(dict.fromkeys(i.market for i in bulk))
        bulk_done, alone_done = await asyncio.gather(
            asyncio.gather(*(self._premium_index(h, {i.symbol for i in bulk if i.market == h}) for h in hosts),
                           return_exceptions=True),
            asyncio.gather(*(self._premium_one(i) for i in alone), return_exceptions=True))
        errors: list[DtrackError] = []
        tables = dict(zip(hosts, Fold(errors).values(bulk_done), strict=True))
        marks: Marks = {(i.market, i.symbol): row for i, row in zip(alone, Fold(errors).values(alone_done), strict=True)
                        if row is not None}
        for inst in bulk:
            table = tables[inst.market]
            if table is None:
                continue  # the host's failure is in errors
            try:
                row = table.get(inst.symbol)
            except ParseError as exc:
                errors.append(exc)
                continue
            if row is None:
                errors.append(VenueError(self.name, f"{api.PATHS[inst.market].premium_index}: no row for "
                                                    f"{inst.symbol} (delisted?)"))
            else:
                marks[(inst.market, inst.symbol)] = row
        return marks, errors

    async def _funding_intervals(self, host: str) -> Intervals:
        """fundingInfo of a host; concurrent callers (rates and every history) share one request.

        After a refresh past the disk cache (``_refresh_intervals``) that answer is used while it is
        younger than ``funding_interval_ttl``, even if the disk cache could not store it.
        """
        done = self._refreshed.get(host)
        if done is not None and self._recent(done[0]) and _succeeded(done[1]):
            return done[1].result()
        return await self.shared((api.PATHS[host].funding_info, host), lambda: self._load_funding_intervals(host))

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
        try:
            return (await self._oi_reading(inst)).amount
        except DtrackError as exc:
            return exc

    async def _oi_reading(self, inst: Instrument) -> parse.OIReading:
        """openInterest of one contract."""
        path = api.PATHS[inst.market].open_interest
        body = await self.get(inst.market, path, {"symbol": inst.symbol}, weight=api.WEIGHT_OPEN_INTEREST,
                              endpoint=f"{path}?symbol={inst.symbol}")
        return parse.parse_open_interest(body, inst.market, inst.symbol)

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
            if last + step * HOUR_MS > stop:
                break
            cursor = last + 1
            page = await page_from(cursor)
        return parse.funding_history(instrument, rows, start, end, hours, self.ctx.now())

    # --- open interest ---------------------------------------------------------------------------

    async def fetch_open_interest(self, instruments: Sequence[Instrument]) -> Answer[OpenInterest]:
        """openInterest of every contract and their marks, all in one round; each contract priced at its
        own mark (see ``parse.open_interest`` for the units)."""
        contracts = _contracts(instruments)
        readings, (marks, errors) = await asyncio.gather(
            asyncio.gather(*(self._oi_reading(i) for i in contracts), return_exceptions=True),
            self._marks(contracts))
        received = self.ctx.now()
        answer = Answer[OpenInterest](self.name, errors=errors)
        for inst, reading in zip(contracts, Fold(answer.errors).values(readings), strict=True):
            mark = marks.get((inst.market, inst.symbol))
            if reading is not None and mark is not None:  # else its error is in errors
                try:
                    answer.items.append(parse.open_interest(inst, reading, mark, received))
                except ParseError as exc:  # an implausible row costs only its contract
                    answer.errors.append(exc)
        return _served(answer)

    async def fetch_oi_history(self, instrument: Instrument, start: datetime, end: datetime,
                               period_hours: int) -> OIHistory:
        """openInterestHist of one contract over ``[start, end]``: every page (500 rows) at once.

        Binance keeps the latest 30 days only, and COIN-M keeps quarterlies per contractType (the
        series was another contract before the last quarterly roll): the window is clipped to what
        belongs to this contract and the note says so. USDⓈ-M asks by symbol (quarterlies included:
        UNCONFIRMED that Binance serves those; an error would say so).
        """
        period = parse.period_name(period_hours)
        if instrument.market not in api.FUTURES_HOSTS:
            raise UnsupportedError(f"binance: no open-interest history for {instrument.symbol}")
        now, host = self.ctx.now(), instrument.market
        params = parse.oi_history_params(instrument, now)
        first, note = parse.oi_history_window(start, end, now)
        roll, roll_note = parse.coinm_roll_start(instrument, now)
        if roll is not None and roll > first:
            first, note = roll, "; ".join(n for n in (note, roll_note) if n)
        path = api.PATHS[host].open_interest_hist
        label = f"{path}?" + "&".join(f"{k}={v}" for k, v in params.items())
        todo = parse.pages(utc_to_ms(first), utc_to_ms(min(end, now)), period_hours * HOUR_MS,
                           api.FUTURES_DATA_LIMIT_MAX)
        bodies = every(await asyncio.gather(*(
            self.get(host, path, {**params, "period": period, "startTime": p.start_ms, "endTime": p.end_ms,
                                  "limit": p.count}, weight=api.WEIGHT_FUTURES_DATA, endpoint=label)
            for p in todo), return_exceptions=True))
        received = self.ctx.now()
        points = [pt for body in bodies for pt in parse.parse_oi_history(body, instrument, params, received)]
        return parse.oi_history(instrument, points, first, end, period_hours, note)

    # --- long/short ------------------------------------------------------------------------------

    async def fetch_long_short(self, asset: str, perps: Sequence[Instrument]) -> Answer[LongShortRatio]:
        """The latest global-account, top-trader-account and top-trader-position ratios of the asset's
        USDⓈ-M USDT perpetual (COIN-M publishes the same per pair; one symbol stands for the asset)."""
        perp = next((p for p in perps if p.asset == asset and p.kind is Kind.PERP and p.market == api.USDM
                     and p.quote == "USDT"), None)
        answer = Answer[LongShortRatio](self.name)
        if perp is None:
            return answer
        done = await asyncio.gather(*(self._long_short(perp, path, definition) for path, definition in api.LONG_SHORT),
                                    return_exceptions=True)
        answer.items = [r for r in Fold(answer.errors).values(done) if r is not None]
        return _served(answer)

    async def _long_short(self, perp: Instrument, path: str, definition: str) -> LongShortRatio | None:
        body = await self.get(api.USDM, path, {"symbol": perp.symbol, "period": api.LONG_SHORT_PERIOD, "limit": 1},
                              weight=api.WEIGHT_FUTURES_DATA, endpoint=f"{path}?symbol={perp.symbol}")
        return parse.parse_long_short(body, path, perp, definition, self.ctx.now())

    # --- prices ----------------------------------------------------------------------------------

    async def fetch_price_history(self, instrument: Instrument, start: datetime, end: datetime,
                                  period_hours: int) -> tuple[PricePoint, ...]:
        """Closes of the contract's klines (every page at once), timed at each candle's close."""
        interval = parse.period_name(period_hours)
        now, step = self.ctx.now(), period_hours * HOUR_MS
        # candles OPENING from one period before ``start``: the first one closes at or after it
        bodies = await self._klines(instrument, interval, step, utc_to_ms(start) - step, utc_to_ms(min(end, now)))
        candles = [c for body in bodies for c in parse.parse_klines(body, instrument.market)]
        return parse.price_history(instrument, candles, period_hours, start, end, now, self.ctx.now())

    async def _klines(self, instrument: Instrument, interval: str, step_ms: int, first_ms: int,
                      last_ms: int) -> list[Any]:
        """The klines answers of every candle opening in ``[first_ms, last_ms]``: every page (1500 candles; COIN-M
        200 days) requested at once, the first failure raised once all have finished."""
        if instrument.market not in api.FUTURES_HOSTS:
            raise UnsupportedError(f"binance: no klines for {instrument.symbol}")
        host = instrument.market
        path = api.PATHS[host].klines
        todo = parse.pages(first_ms, last_ms, step_ms, api.KLINES_LIMIT_MAX, api.KLINES_SPAN_MAX_MS[host])
        return every(await asyncio.gather(*(
            self.get(host, path, {"symbol": instrument.symbol, "interval": interval, "startTime": p.start_ms,
                                  "endTime": p.end_ms, "limit": p.count},
                     weight=api.kline_weight(p.count), endpoint=f"{path}?symbol={instrument.symbol}")
            for p in todo), return_exceptions=True))

    # --- order books, candles, margin tiers (the quant toolkit) -----------------------------------

    async def fetch_order_book(self, instrument: Instrument, depth: int) -> OrderBook:
        """``depth`` of one perpetual or quarterly: the smallest allowed ``limit`` (5 ... 1000) >= ``depth``, weight
        2 to 20 by that limit; sizes in coins of the asset (see ``parse.parse_depth``)."""
        if depth < 1:
            raise UsageError(f"order book depth {depth} is not a number of levels; give 1 or more (Binance: at most "
                             f"{api.DEPTH_LIMITS[-1]})")
        host = _futures_host(instrument, "order book")
        path, limit = api.PATHS[host].depth, api.depth_limit(depth)
        body = await self.get(host, path, {"symbol": instrument.symbol, "limit": limit},
                              weight=api.DEPTH_WEIGHTS[limit], endpoint=f"{path}?symbol={instrument.symbol}")
        return parse.parse_depth(body, instrument, limit, self.ctx.now())

    async def fetch_candles(self, instrument: Instrument, start: datetime, end: datetime,
                            period_seconds: int) -> tuple[Candle, ...]:
        """OHLCV klines of one contract opening in ``[start, end]`` (1 m, 5 m, 15 m, 1 h, 4 h or 1 d), every page at
        once (the same paging as ``fetch_price_history``); the bar still open is ``closed=False``."""
        interval = parse.kline_interval(period_seconds)
        step = period_seconds * 1000
        bodies = await self._klines(instrument, interval, step, utc_to_ms(start), utc_to_ms(min(end, self.ctx.now())))
        received = self.ctx.now()
        rows = [c for body in bodies for c in parse.parse_candles(body, instrument, period_seconds, received)]
        return parse.candles(rows, start, end)

    async def fetch_margin_tiers(self, instrument: Instrument) -> tuple[MarginTier, ...]:
        """The contract's brackets from Binance's public web table of its host (UNOFFICIAL: ``official=False``; the
        official ``leverageBracket`` is signed). The whole table (every symbol of the host) is disk-cached for
        ``instruments_ttl`` once its envelope parsed; the asked contract's tiers are checked on every read (a
        broken table is a ParseError naming the endpoint). USDⓈ-M tiers are USD notional, COIN-M ones coins."""
        host = _futures_host(instrument, "margin tiers")
        path = api.PATHS[host].brackets
        table = await self.cached_get(api.WEB, path, ttl=self.ctx.settings.instruments_ttl,
                                      parse=lambda body: parse.parse_brackets(body, host))
        return parse.margin_tiers(table, instrument, self.ctx.now())

    async def fetch_quotes(self, instruments: Sequence[Instrument]) -> Answer[PriceQuote]:
        """Mark and index (premiumIndex), last price and 24 h volume (bulk ticker/24hr per host), one round."""
        contracts = _contracts(instruments)
        hosts = list(dict.fromkeys(i.market for i in contracts))
        (marks, errors), days_done = await asyncio.gather(
            self._marks(contracts),
            asyncio.gather(*(self._day_tickers(h, {i.symbol for i in contracts if i.market == h}) for h in hosts),
                           return_exceptions=True))
        received = self.ctx.now()
        answer = Answer[PriceQuote](self.name, errors=errors)
        days = dict(zip(hosts, Fold(answer.errors).values(days_done), strict=True))
        for inst in contracts:
            mark = marks.get((inst.market, inst.symbol))
            if mark is None:
                continue  # its error is in errors
            day, table = None, days[inst.market]
            try:
                day = table.get(inst.symbol) if table is not None else None
            except ParseError as exc:
                answer.errors.append(exc)
            try:
                answer.items.append(parse.price_quote(inst, mark, None, received, day=day))
            except ParseError as exc:  # an implausible row costs only its contract
                answer.errors.append(exc)
        return _served(answer)

    async def _day_tickers(self, host: str, symbols: Collection[str]) -> parse.BySymbol[parse.DayTicker]:
        path = api.PATHS[host].ticker_24hr
        body = await self.get(host, path, weight=api.WEIGHT_TICKER_24HR_ALL)
        return parse.parse_day_tickers(body, host, symbols)

    async def fetch_spot(self, assets: Sequence[str]) -> Answer[SpotPrice]:
        """Spot prices of ``<ASSET>USDT`` from the spot ticker of every symbol (weight 4: as cheap as a
        list, and an asset without a spot pair is simply absent instead of failing the request)."""
        body = await self.get(api.SPOT, api.SPOT_TICKER_PRICE, weight=api.WEIGHT_SPOT_TICKER_PRICE_ALL)
        received = self.ctx.now()
        table = parse.parse_price_tickers(body, api.SPOT_TICKER_PRICE, {parse.spot_symbol(a) for a in assets})
        answer = Answer[SpotPrice](self.name)
        for asset in assets:
            try:
                price = table.get(parse.spot_symbol(asset))
            except ParseError as exc:
                answer.errors.append(exc)
                continue
            if price is not None:
                answer.items.append(parse.spot_price(asset, price, received))
        return answer

    # --- European options (eapi) -----------------------------------------------------------------

    async def option_listing(self) -> parse.OptionListing:
        """The trading options of ``/eapi/v1/exchangeInfo`` (disk-cached for ``instruments_ttl``); concurrent
        callers share one request."""
        return await self.shared((api.OPTION_EXCHANGE_INFO, api.OPTIONS), lambda: self.cached_get(
            api.OPTIONS, api.OPTION_EXCHANGE_INFO, ttl=self.ctx.settings.instruments_ttl,
            parse=parse.parse_option_exchange_info, weight=api.WEIGHT_OPTION_EXCHANGE_INFO))

    async def option_assets(self) -> set[str]:
        """The underlyings of every trading option in the (cached) ``/eapi/v1/exchangeInfo``."""
        return {o.asset for o in (await self.option_listing()).options.values()}

    async def _options_bulk(self, path: str, weight: int, params: Mapping[str, Any] | None = None) -> object:
        """The body of a bulk options endpoint (every symbol); concurrent callers share one request."""
        return await self.shared((path, api.OPTIONS), lambda: self.get(api.OPTIONS, path, params, weight=weight))

    async def _option_index(self, asset: str) -> parse.IndexPrice:
        """``/eapi/v1/index`` of ``<ASSET>USDT``; concurrent callers share one request."""
        underlying = f"{asset}{api.OPTION_QUOTE}"
        body = await self.shared((api.OPTION_INDEX, underlying), lambda: self.get(
            api.OPTIONS, api.OPTION_INDEX, {"underlying": underlying}, weight=api.WEIGHT_OPTION_INDEX,
            endpoint=f"{api.OPTION_INDEX}?underlying={underlying}"))
        return parse.parse_option_index(body)

    async def _option_oi(self, asset: str, expiration: str) -> dict[str, float]:
        path = api.OPTION_OPEN_INTEREST
        body = await self.get(api.OPTIONS, path, {"underlyingAsset": asset, "expiration": expiration},
                              weight=api.WEIGHT_OPTION_OPEN_INTEREST,
                              endpoint=f"{path}?underlyingAsset={asset}&expiration={expiration}")
        return parse.parse_option_open_interest(body, asset)

    async def _listed_with_oi(self, asset: str) -> tuple[list[parse.OptionSymbol], dict[str, float],
                                                         list[DtrackError]]:
        """The asset's unexpired listed options, then the open interest of each of their expiries (one request
        per expiry, all at once): (options, contracts by symbol, errors of broken rows and failed expiries)."""
        listing = await self.option_listing()
        now = self.ctx.now()
        options = [o for o in listing.of_asset(asset) if o.expiry > now]
        errors: list[DtrackError] = list(listing.broken.get(asset, ()))
        expirations = list(dict.fromkeys(o.expiration for o in options))
        done = await asyncio.gather(*(self._option_oi(asset, e) for e in expirations), return_exceptions=True)
        held: dict[str, float] = {}
        for table in Fold(errors).values(done):
            held.update(table or {})
        return options, held, errors

    async def fetch_option_chain(self, asset: str) -> Answer[OptionQuote]:
        """Every listed option on ``asset`` with Binance's mark, IVs and greeks, 24 h volume, best bid/ask and
        open interest, priced per coin in USD and in the coin against the index (see ``parse.option_quote``).

        The listing, mark, ticker and index are asked at once, the open interest of every expiry as soon as
        the listing is known; an asset without listed options gets an empty answer. A failed listing, mark
        or index raises; a failed ticker or expiry is an ``errors`` entry (volume or open interest 0 where
        it is missing), as is a malformed row (that option keeps what else is known: without a mark row it
        has no mark, IVs or greeks).
        """
        listed, marks, tickers, index = await asyncio.gather(
            self._listed_with_oi(asset), self._options_bulk(api.OPTION_MARK, api.WEIGHT_OPTION_MARK_ALL),
            self._options_bulk(api.OPTION_TICKER, api.WEIGHT_OPTION_TICKER_ALL), self._option_index(asset),
            return_exceptions=True)
        received = self.ctx.now()
        options, held, errors = ok(listed)
        if not options:  # no option on this asset: nothing to price (its index may not even exist)
            return Answer[OptionQuote](self.name, errors=errors)
        mark_body, spot = ok(marks), ok(index)
        symbols = {o.symbol for o in options}
        mark_table = parse.parse_option_marks(mark_body, symbols)
        ticker_table: parse.BySymbol[parse.OptionTicker] | None = None
        ticker_body = Fold(errors).values([tickers])[0]
        if ticker_body is not None:
            try:
                ticker_table = parse.parse_option_tickers(ticker_body, symbols)
            except ParseError as exc:
                errors.append(exc)
        answer = Answer[OptionQuote](self.name, errors=errors)
        for option in options:
            mark = _row(mark_table, option.symbol, errors)
            ticker = _row(ticker_table, option.symbol, errors) if ticker_table is not None else None
            try:
                answer.items.append(parse.option_quote(option, spot, mark, ticker, held.get(option.symbol), received))
            except ParseError as exc:  # an implausible option costs only itself
                answer.errors.append(exc)
        return answer

    async def fetch_option_trades(self, asset: str, start: datetime, end: datetime) -> Answer[OptionTrade]:
        """Block trades of ``asset`` in ``[start, end]`` among the latest 500 of every symbol (``blockTrades``),
        with the cached listing for their terms and the current index, all in one round (see
        ``parse.parse_block_trades``). Any of the three failing raises (unless the asset has no listed option:
        an empty answer); a malformed row is an ``errors`` entry."""
        listed, body, index = await asyncio.gather(
            self.option_listing(),
            self._options_bulk(api.OPTION_BLOCK_TRADES, api.WEIGHT_OPTION_BLOCK_TRADES,
                               {"limit": api.BLOCK_TRADES_LIMIT_MAX}),
            self._option_index(asset), return_exceptions=True)
        listing = ok(listed)
        if listing.unit_of(asset) is None:
            return Answer[OptionTrade](self.name)
        trades, errors = parse.parse_block_trades(ok(body), asset, listing, ok(index).price, start, end,
                                                  self.ctx.now())
        return Answer[OptionTrade](self.name, trades, list(errors))


def _row(table: parse.BySymbol[T], symbol: str, errors: list[DtrackError]) -> T | None:
    """``symbol``'s row of a bulk table, None when absent; a malformed row's ParseError goes to ``errors``."""
    try:
        return table.get(symbol)
    except ParseError as exc:
        errors.append(exc)
        return None


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
