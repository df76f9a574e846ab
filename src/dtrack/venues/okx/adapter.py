"""OKX adapter: the venue's only I/O.

The instrument list is two disk-cached requests made concurrently (``instType=SWAP`` and ``FUTURES``);
a part that fails leaves the other serving (``Listing.missing``). Every other query is one round of
concurrent requests (counts per call below, ``t`` = the instTypes involved, 1 or 2):

- open interest: open-interest and mark-price per instType (2t requests);
- quotes: mark-price and tickers per instType, index-tickers per quote currency (2t + q);
- spot: tickers?instType=SPOT (1);
- long/short of an asset: the currency ratio and the ratio of its USDT swap (2);
- OI history / klines of a contract: one request per page of the window, all at once (pages of 100
  rubik rows / 300 candles; each rubik budget is per instrument, so contracts do not queue on each other);
- option chain of an asset: the family's option list (disk-cached), opt-summary, mark-price,
  open-interest and tickers of instType OPTION, and the family's index (6, one round; the list is asked
  again, a second round, only when opt-summary names options the cached list lacks);
- option trades of an asset: the option list (disk-cached) and option-trades (2, one round);
- order book of a contract: books (1); its margin tiers: position-tiers of its family (1); candles as klines.

Current funding is one round of concurrent requests once the swap list is cached:
funding-rate?instId=ANY (every perpetual), open-interest and mark-price (every swap) and one
index-tickers call per quote currency asked. A failed enrichment call (OI, mark, index) leaves
that field None and is recorded in the answer's ``errors``; a failed funding-rate call fails the venue.
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
import logging
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, ClassVar, TypeVar

from dtrack.errors import DtrackError, ParseError, RateLimited, UnsupportedError, UsageError, VenueError
from dtrack.net.http import RateLimit
from dtrack.records import (
    Candle,
    DataKind,
    FundingHistory,
    FundingPoint,
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
from dtrack.results import every, parsed, settle
from dtrack.venues.base import Adapter, Answer
from dtrack.venues.fields import (
    HOUR_MS,
    Listing,
    latest_spacing,
    ms_to_utc,
    page_windows,
    points_from_settlements,
    utc_to_ms,
    within,
)
from dtrack.venues.okx import api
from dtrack.venues.okx.parse import (
    CandleRow,
    ChainParts,
    ContractOpenInterest,
    HistoryRow,
    OptionListing,
    SwapFunding,
    candles,
    funding_rate,
    index_id,
    instrument_family,
    long_short,
    open_interest,
    option_chain,
    option_family,
    parse_books,
    parse_candles,
    parse_funding,
    parse_history,
    parse_index,
    parse_instruments,
    parse_marks,
    parse_oi_history,
    parse_open_interest,
    parse_opt_summary,
    parse_option_instruments,
    parse_option_tickers,
    parse_option_trades,
    parse_position_tiers,
    parse_ratio,
    parse_tickers,
    price_points,
    price_quote,
    spot_id,
    spot_price,
    swap_funding,
)

T = TypeVar("T")
log = logging.getLogger(__name__)
#: the instType of each kind of contract dtrack reads
INST_TYPES = {Kind.PERP: api.SWAP, Kind.FUTURE: api.FUTURES}


class OkxAdapter(Adapter):
    """OKX v5 perpetual swaps and dated futures (USDT, USDC and coin-margined USD)."""

    name = api.VENUE
    hosts = api.HOSTS
    main_host = api.REST
    instruments_endpoint = api.INSTRUMENTS
    limits = api.LIMITS

    def budget(self, host: str, path: str, params: Mapping[str, Any] | None) -> tuple[RateLimit | None, str]:
        """OKX meters each endpoint separately (some per instrument or per option family): one bucket each."""
        per_2s = api.REQUESTS_PER_2S.get(path)
        if per_2s is None:
            return api.LIMIT, path
        key = "instId" if path in api.PER_INSTRUMENT else "instFamily" if path in api.PER_FAMILY else ""
        return RateLimit(per_2s, 2.0), f"{path}|{(params or {}).get(key, '') if key else ''}"

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

    stream_kinds: ClassVar[frozenset[DataKind]] = frozenset({DataKind.FUNDING, DataKind.OPEN_INTEREST, DataKind.QUOTES,
                                                             DataKind.LIQUIDATIONS})

    def stream(self, kinds: Collection[DataKind], instruments: Sequence[Instrument]) -> AsyncIterator[Record]:
        """Live funding (``funding-rate`` with the latest ``mark-price`` and ``open-interest``), open interest and mark
        prices per instrument, and liquidations over ``liquidation-orders`` per instType (sampled; see
        ``okx.stream``)."""
        from dtrack.venues.okx import stream

        return self.open_streams(kinds, instruments, stream.protocols, terms=False)

    async def listing(self) -> Listing:
        """Live perpetual swaps and dated futures, one request per instType made concurrently (each
        disk-cached for ``instruments_ttl``); a part that failed is in ``missing``, the other serves.
        A future that expired since its list was cached is left out (OKX no longer quotes it)."""
        listing = Listing.of_parts(await settle([
            self.cached_get(api.REST, api.INSTRUMENTS, {"instType": t}, ttl=self.ctx.settings.instruments_ttl,
                            parse=parse_instruments) for t in INST_TYPES.values()]))
        now = self.ctx.now()
        return replace(listing, instruments=tuple(i for i in listing.instruments if i.expiry is None or i.expiry > now))

    async def fetch_funding_rates(self, instruments: Sequence[Instrument]) -> Answer[FundingRate]:
        """Funding, mark, index and OI of these swaps from one round of bulk requests."""
        quotes = sorted({i.quote for i in instruments} & api.INDEX_QUOTES)
        funding, oi, marks, *indices = await asyncio.gather(
            self.get(api.REST, api.FUNDING_RATE, {"instId": api.ALL_INSTRUMENTS}),
            self.get(api.REST, api.OPEN_INTEREST, {"instType": api.SWAP}),
            self.get(api.REST, api.MARK_PRICE, {"instType": api.SWAP}),
            *(self.get(api.REST, api.INDEX_TICKERS, {"quoteCcy": q}) for q in quotes),
            return_exceptions=True,
        )
        received = self.ctx.now()
        if isinstance(funding, BaseException):
            raise funding
        result: Answer[FundingRate] = Answer(self.name)
        symbols = {i.symbol for i in instruments}
        rows = parse_funding(funding, symbols)
        oi_rows = _enrichment(result.errors, oi, lambda b: parse_open_interest(b, symbols))
        mark_rows = _enrichment(result.errors, marks, lambda b: parse_marks(b, symbols))
        index_rows = _merged(result.errors, indices, lambda b: parse_index(b, {index_id(i) for i in instruments}))
        for inst in instruments:
            row = rows.get(inst.symbol)
            if row is None:
                result.errors.append(VenueError(self.name, f"{api.FUNDING_RATE}: no funding row for {inst.symbol}"))
                continue
            try:
                result.items.append(_rate(inst, row, received, oi_rows, mark_rows, index_rows, bool(indices)))
            except ParseError as exc:  # an implausible row costs only its swap
                result.errors.append(exc)
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
        received = self.ctx.now()
        points = points_from_settlements(((r.time, r.rate) for r in rows), await self._lone_interval(symbol, rows),
                                         venue=self.name, symbol=symbol, received_at=received) if rows else ()
        inside = within(points, start, end)
        notes = _history_notes(rows, inside, start, end, exhausted)
        return FundingHistory(venue=self.name, symbol=symbol, start=start, end=end, points=inside,
                              note="; ".join(notes))

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

    # --- open interest, positioning, prices ------------------------------------------------------

    async def fetch_open_interest(self, instruments: Sequence[Instrument]) -> Answer[OpenInterest]:
        """Open interest of these swaps and dated futures: open-interest and mark-price per instType,
        one round. ``oi`` (contracts, one side) converted at the mark; a failed mark-price falls back
        to OKX's own oiUsd / oiCcy and is recorded in ``errors``."""
        types = _inst_types(instruments)
        bodies = await asyncio.gather(*(self.get(api.REST, path, {"instType": t})
                                        for path in (api.OPEN_INTEREST, api.MARK_PRICE) for t in types),
                                      return_exceptions=True)
        received = self.ctx.now()
        answer: Answer[OpenInterest] = Answer(self.name)
        symbols = {i.symbol for i in instruments}
        n = len(types)
        rows, failed = _by_type(answer.errors, types, bodies[:n], lambda b: parse_open_interest(b, symbols),
                                needed=True)
        marks, _ = _by_type(answer.errors, types, bodies[n:], lambda b: parse_marks(b, symbols), needed=False)
        for inst in instruments:
            row = rows.get(inst.symbol)
            try:
                oi = None if row is None else open_interest(inst, row, marks.get(inst.symbol), received)
            except ParseError as exc:  # an implausible row costs only its contract
                answer.errors.append(exc)
                continue
            if oi is None and INST_TYPES.get(inst.kind) in failed:
                continue  # the failed answer is already in errors
            if oi is None:
                why = "no row" if row is None else "no mark price and no oiUsd / oiCcy to convert it"
                answer.errors.append(VenueError(self.name, f"{api.OPEN_INTEREST}: {why} for {inst.symbol}"))
            else:
                answer.items.append(oi)
        return answer

    async def fetch_oi_history(self, instrument: Instrument, start: datetime, end: datetime,
                               period_hours: int) -> OIHistory:
        """Open interest of one swap or future from rubik open-interest-history, every page of 100 rows
        requested at once. OKX keeps the latest 1,440 entries per period (60 days of hours): an older
        start is clipped and said so in ``note``."""
        bar = _bar(period_hours)
        step = period_hours * HOUR_MS
        now = self.ctx.now()
        kept_from = ms_to_utc(utc_to_ms(now) // step * step - (api.OI_HISTORY_KEPT - 1) * step)
        first, last = _grid(max(start, kept_from), min(end, now), step)
        windows = page_windows(first, last, step, api.OI_HISTORY_PAGE)
        # begin / end return rows strictly newer / older than them: one ms outside each window
        bodies = every(await settle([self.get(api.REST, api.OI_HISTORY, {
            "instId": instrument.symbol, "period": bar, "begin": a - 1, "end": b + 1, "limit": api.OI_HISTORY_PAGE})
            for a, b in windows]))
        received = self.ctx.now()
        rows = {p.time: p for body in bodies for p in parse_oi_history(body, instrument, received)}
        points = tuple(rows[t] for t in sorted(rows) if start <= t <= end)
        notes = []
        if start < kept_from:
            notes.append(f"OKX keeps the latest {api.OI_HISTORY_KEPT} {bar} entries of open-interest history "
                         f"(from {kept_from:%Y-%m-%d %H:%M} UTC); asked from {start:%Y-%m-%d %H:%M} UTC")
        if windows and (not points or utc_to_ms(points[0].time) > first):
            notes.append(f"OKX has no open-interest history before {points[0].time:%Y-%m-%d %H:%M} UTC"
                         if points else "OKX returned no open-interest history for this window")
        return OIHistory(venue=self.name, symbol=instrument.symbol, period_hours=float(period_hours), points=points,
                         note="; ".join(notes))

    async def fetch_long_short(self, asset: str, perps: Sequence[Instrument]) -> Answer[LongShortRatio]:
        """OKX's latest 5-minute long/short account ratios of ``asset``: the currency-wide one (all its
        futures and swaps) and the one of its USDT swap, concurrently. Nothing is asked when OKX lists
        no swap on the asset; one of the two failing is recorded in ``errors``, both failing raises."""
        answer: Answer[LongShortRatio] = Answer(self.name)
        if not perps:
            return answer
        swap = f"{asset}-USDT-SWAP"
        asks: list[tuple[str, dict[str, Any], str, str]] = [
            (api.LONG_SHORT_CCY, {"ccy": asset, "period": api.LONG_SHORT_PERIOD}, asset,
             f"accounts net long vs net short (all {asset} futures and perpetual swaps)")]
        if any(p.symbol == swap for p in perps):
            asks.append((api.LONG_SHORT_CONTRACT, {"instId": swap, "period": api.LONG_SHORT_PERIOD, "limit": 1}, swap,
                         f"account long/short ratio of contract {swap}"))
        bodies = await asyncio.gather(*(self.get(api.REST, path, params) for path, params, _, _ in asks),
                                      return_exceptions=True)
        received = self.ctx.now()
        failures: list[DtrackError] = []
        for (path, _, symbol, definition), body in zip(asks, bodies, strict=True):
            latest = parsed(body, partial(parse_ratio, endpoint=path))
            if isinstance(latest, DtrackError):
                failures.append(latest)
            elif latest is None:
                answer.errors.append(VenueError(self.name, f"{path}: no {symbol} long/short ratio in the answer"))
            else:
                answer.items.append(long_short(asset, symbol, definition, latest, received))
        if failures and len(failures) == len(asks):
            raise failures[0]
        answer.errors += failures
        return answer

    async def fetch_price_history(self, instrument: Instrument, start: datetime, end: datetime,
                                  period_hours: int) -> tuple[PricePoint, ...]:
        """Closes of the contract's candles (one request per 300 bars, all at once): the latest 1,440
        bars from candles, older ones from history-candles."""
        bar = _bar(period_hours)
        step = period_hours * HOUR_MS
        now = self.ctx.now()
        # candles whose close (open + period, or now while open) can fall in [start, end]
        first, last = _grid(start - timedelta(hours=period_hours), min(end, now), step)
        rows = await self._candle_rows(instrument, bar, step, first, last, now)
        return price_points(rows, instrument, period_hours, now, start, end, received=self.ctx.now())

    async def _candle_rows(self, instrument: Instrument, bar: str, step: int, first: int, last: int,
                           now: datetime) -> list[CandleRow]:
        """The candle rows of ``bar`` (``step`` ms long) opening in ``[first, last]``: one request per 300 bars, all
        at once, from candles for the latest 1,440 bars and history-candles for older ones."""
        recent = utc_to_ms(now) // step * step - (api.RECENT_CANDLES - 1) * step
        pages = [(api.CANDLES if a >= recent else api.HISTORY_CANDLES, a, b)
                 for a, b in page_windows(first, last, step, api.CANDLE_PAGE)]
        # after / before return rows strictly older / newer than them
        bodies = every(await settle([self.get(api.REST, path, {
            "instId": instrument.symbol, "bar": bar, "after": b + 1, "before": a - 1, "limit": api.CANDLE_PAGE})
            for path, a, b in pages]))
        return [row for (path, _, _), body in zip(pages, bodies, strict=True) for row in parse_candles(body, path)]

    async def fetch_candles(self, instrument: Instrument, start: datetime, end: datetime,
                            period_seconds: int) -> tuple[Candle, ...]:
        """OHLCV bars opening in ``[start, end]`` (up to now), ascending, prices per ONE unit of the asset, volumes
        in coins (``volCcy``) and USD (``volCcyQuote``); ``closed`` from OKX's ``confirm``. The pages of the window
        (300 bars each, candles or history-candles by age) are requested at once."""
        bar = api.CANDLE_BARS.get(period_seconds)
        if bar is None:
            raise UnsupportedError(f"okx: no {period_seconds} s candles; periods (s): "
                                   f"{', '.join(str(p) for p in api.CANDLE_BARS)}")
        now = self.ctx.now()
        if min(end, now) < start:
            return ()
        step = period_seconds * 1000
        first, last = _grid(start, min(end, now), step)
        rows = await self._candle_rows(instrument, bar, step, first, last, now)
        return tuple(c for c in candles(rows, instrument, period_seconds, self.ctx.now()) if start <= c.time <= end)

    async def fetch_order_book(self, instrument: Instrument, depth: int) -> OrderBook:
        """The contract's order book from books, ``depth`` levels a side (at most 400, OKX's cap; ``OrderBook.limit``
        says what was asked): prices per ONE unit of the asset, sizes from contracts to coins. One request."""
        if depth < 1:
            raise UsageError(f"order-book depth {depth}: give a number of levels a side, 1 or more")
        limit = min(depth, api.BOOK_MAX)
        body = await self.get(api.REST, api.BOOKS, {"instId": instrument.symbol, "sz": limit})
        return parse_books(body, instrument, limit, self.ctx.now())

    async def fetch_margin_tiers(self, instrument: Instrument) -> tuple[MarginTier, ...]:
        """The position tiers of the contract's family (``instFamily``) for its instType in isolated mode, lowest
        first, in CONTRACTS (``MarginTier.unit``); one request."""
        params = {"instType": INST_TYPES[instrument.kind], "tdMode": api.TIER_MODE,
                  "instFamily": instrument_family(instrument)}
        body = await self.get(api.REST, api.POSITION_TIERS, params)
        return parse_position_tiers(body, instrument, self.ctx.now())

    async def fetch_quotes(self, instruments: Sequence[Instrument]) -> Answer[PriceQuote]:
        """Mark (mark-price), last and 24 h volume (tickers) per instType and index (index-tickers) per quote
        currency, one round. Mark-price is needed (all of it failing raises); the others are enrichments."""
        types = _inst_types(instruments)
        quotes = sorted({i.quote for i in instruments} & api.INDEX_QUOTES)
        bodies = await asyncio.gather(*(self.get(api.REST, api.MARK_PRICE, {"instType": t}) for t in types),
                                      *(self.get(api.REST, api.TICKERS, {"instType": t}) for t in types),
                                      *(self.get(api.REST, api.INDEX_TICKERS, {"quoteCcy": q}) for q in quotes),
                                      return_exceptions=True)
        received = self.ctx.now()
        answer: Answer[PriceQuote] = Answer(self.name)
        symbols = {i.symbol for i in instruments}
        n = len(types)
        marks, failed = _by_type(answer.errors, types, bodies[:n], lambda b: parse_marks(b, symbols), needed=True)
        lasts, _ = _by_type(answer.errors, types, bodies[n:2 * n], lambda b: parse_tickers(b, symbols), needed=False)
        indices = _merged(answer.errors, bodies[2 * n:], lambda b: parse_index(b, {index_id(i) for i in instruments}))
        for inst in instruments:
            ticker = lasts.get(inst.symbol)
            mark, last = marks.get(inst.symbol), ticker.last if ticker else None
            if mark is None and last is None and INST_TYPES.get(inst.kind) in failed:
                continue  # the failed answer is already in errors
            if mark is None and last is None:
                answer.errors.append(VenueError(self.name,
                                                f"{api.MARK_PRICE}: no mark or last price for {inst.symbol}"))
                continue
            try:
                answer.items.append(price_quote(inst, received, mark, indices.get(index_id(inst)), last,
                                                ticker=ticker))
            except ParseError as exc:  # an implausible row costs only its contract
                answer.errors.append(exc)
        return answer

    async def fetch_spot(self, assets: Sequence[str]) -> Answer[SpotPrice]:
        """``<ASSET>-USDT`` spot prices from one tickers?instType=SPOT request; an asset without a pair
        (or without a last price) is absent."""
        body = await self.get(api.REST, api.TICKERS, {"instType": api.SPOT})
        received = self.ctx.now()
        tickers = parse_tickers(body, {spot_id(a) for a in assets})
        answer: Answer[SpotPrice] = Answer(self.name)
        for asset in assets:
            ticker = tickers.get(spot_id(asset))
            try:
                price = None if ticker is None else spot_price(asset, ticker, received)
            except ParseError as exc:  # an implausible price costs only its asset
                answer.errors.append(exc)
                continue
            if price is not None:
                answer.items.append(price)
        return answer


    # --- options -------------------------------------------------------------------------------

    async def _option_listing(self, asset: str, *, fresh: bool = False) -> OptionListing:
        """The live options of ``asset``'s family (disk-cached for ``instruments_ttl`` like the futures list;
        ``fresh`` drops the cached answer first)."""
        params = {"instType": api.OPTION, "instFamily": option_family(asset)}
        if fresh:
            self.ctx.cache.drop(self.ctx.cache.key(self.url(api.REST) + api.INSTRUMENTS, params))
        return await self.cached_get(api.REST, api.INSTRUMENTS, params, ttl=self.ctx.settings.instruments_ttl,
                                     parse=parse_option_instruments)

    async def fetch_option_chain(self, asset: str) -> Answer[OptionQuote]:
        """Every listed option on ``asset`` (family ``<ASSET>-USD``) from one round of six concurrent requests:
        the option list (terms; disk-cached), opt-summary (mark/bid/ask IV as fractions, the expiry's forward
        ``fwdPx``, Black-Scholes greeks), mark-price (``markPx``, coin), open-interest (``oi``, contracts),
        tickers (bid/ask in the coin, ``vol24h`` contracts) and index-tickers (the ``<ASSET>-USD`` index).

        Units (see ``parse.option_chain``): prices per one coin of underlying, in the coin as OKX sends them and
        in USD = coin price x ``fwdPx``; OI and volume in contracts of ``contract_size`` coins (ctVal x ctMult).

        The list and opt-summary are the core: a failure raises. Mark-price, open-interest, tickers and the
        index are enrichments: a failure leaves their fields None (OI and volume 0) and is kept in ``errors``,
        as are opt-summary rows and list rows that do not parse. Options opt-summary names but the cached list
        lacks (listed since) make the list be asked again. An asset OKX lists no options on has an empty answer.
        """
        family = option_family(asset)
        of_family = {"instType": api.OPTION, "instFamily": family}
        got = await asyncio.gather(
            self._option_listing(asset),
            self.get(api.REST, api.OPT_SUMMARY, {"instFamily": family}),
            self.get(api.REST, api.MARK_PRICE, of_family),
            self.get(api.REST, api.OPEN_INTEREST, of_family),
            self.get(api.REST, api.TICKERS, of_family),
            self.get(api.REST, api.INDEX_TICKERS, {"instId": family}),
            return_exceptions=True)
        listing, summary, marks_body, oi_body, tickers_body, index_body = got
        if isinstance(listing, BaseException):
            raise listing
        answer: Answer[OptionQuote] = Answer(self.name)
        if isinstance(summary, BaseException):
            if not listing.specs and not listing.broken:
                return answer  # no options on this asset (OKX may refuse opt-summary of an unknown family)
            raise summary
        summaries, row_errors = parse_opt_summary(summary)
        answer.errors += row_errors
        if summaries.keys() - listing.specs.keys():  # listed since the list was cached: ask it again
            listing = await self._option_listing(asset, fresh=True)
        if not listing.specs and not listing.broken:
            return answer  # no options on this asset
        received = self.ctx.now()
        live = [s for s in listing.specs.values() if s.expiry > received]
        symbols = {s.symbol for s in live}
        parts = ChainParts(
            summaries,
            _enrichment(answer.errors, marks_body, lambda b: parse_marks(b, symbols)),
            _enrichment(answer.errors, tickers_body, lambda b: parse_option_tickers(b, symbols)),
            _enrichment(answer.errors, oi_body, lambda b: parse_open_interest(b, symbols)),
            _enrichment(answer.errors, index_body, lambda b: parse_index(b, {family})).get(family))
        answer.items = option_chain(live, parts, received, answer.errors)
        answer.errors += [ParseError(self.name, f"{api.INSTRUMENTS}?instType=OPTION", b) for b in listing.broken]
        unknown = sorted(summaries.keys() - listing.specs.keys())
        if unknown:
            answer.errors.append(VenueError(self.name, f"{api.INSTRUMENTS}?instType=OPTION&instFamily={family} "
                                                       f"lists no {', '.join(unknown[:3])} (in opt-summary)"))
        return answer

    async def fetch_option_trades(self, asset: str, start: datetime, end: datetime) -> Answer[OptionTrade]:
        """``asset``'s option trades in ``[start, end]``, ascending, from one round: option-trades of the family
        (OKX serves only the latest 100, newest first, with no paging: a window reaching further back is
        logged) and the option list (disk-cached; contract sizes, strikes, expiries).

        Taker side from ``side``; amount in contracts; ``price_usd`` per coin = ``px`` (coin) x the trade's
        ``fwdPx``; IV ``fillVol`` (fraction). No trade is marked as a block: OKX publishes block trades per
        instrument (``public/block-trades?instId=``), which dtrack does not read. A row that does not parse
        goes to ``errors``; a failed list or option-trades raises.
        """
        got = await asyncio.gather(
            self._option_listing(asset), self.get(api.REST, api.OPTION_TRADES, {"instFamily": option_family(asset)}),
            return_exceptions=True)
        listing, body = got
        if isinstance(listing, BaseException):
            raise listing
        if isinstance(body, BaseException):
            raise body
        trades, errors = parse_option_trades(body, listing.specs, self.ctx.now())
        if len(trades) >= api.OPTION_TRADES_KEPT and min(t.time for t in trades) > start:
            log.info("okx: option-trades serves the latest %d %s option trades, from %s; asked from %s",
                     api.OPTION_TRADES_KEPT, asset, min(t.time for t in trades).isoformat(), start.isoformat())
        inside = sorted((t for t in trades if start <= t.time <= end), key=lambda t: (t.time, t.trade_id))
        return Answer(self.name, inside, list(errors))


def _enrichment(errors: list[DtrackError], body: Any, parse: Callable[[Any], dict[str, T]]) -> dict[str, T]:
    """Parsed enrichment rows, or {} with the error recorded when the request or parse failed."""
    rows = parsed(body, parse)
    if isinstance(rows, DtrackError):
        errors.append(rows)
        return {}
    return rows


def _merged(errors: list[DtrackError], bodies: Sequence[Any], parse: Callable[[Any], dict[str, T]]) -> dict[str, T]:
    """The rows of several enrichment answers (one per instType or quote currency) in one mapping."""
    rows: dict[str, T] = {}
    for body in bodies:
        rows.update(_enrichment(errors, body, parse))
    return rows


def _by_type(errors: list[DtrackError], types: Sequence[str], bodies: Sequence[Any],
             parse: Callable[[Any], dict[str, T]], *, needed: bool) -> tuple[dict[str, T], set[str]]:
    """The rows of one answer per instType in one mapping, and the instTypes whose answer failed (their
    errors recorded). With ``needed`` (the query cannot do without them) all of them failing raises the
    first failure."""
    rows: dict[str, T] = {}
    failures: dict[str, DtrackError] = {}
    for inst_type, body in zip(types, bodies, strict=True):
        got = parsed(body, parse)
        if isinstance(got, DtrackError):
            failures[inst_type] = got
        else:
            rows.update(got)
    if needed and failures and len(failures) == len(types):
        raise next(iter(failures.values()))
    errors += failures.values()
    return rows, set(failures)


def _bar(period_hours: int) -> str:
    """OKX's bar for a history period (1, 4 or 24 hours)."""
    bar = api.BARS.get(period_hours)
    if bar is None:
        raise UnsupportedError(f"okx: no {period_hours} h period in OKX statistics and candles "
                               f"(dtrack asks {', '.join(f'{h} h' for h in api.BARS)})")
    return bar


def _inst_types(instruments: Sequence[Instrument]) -> list[str]:
    """The instTypes of these contracts, in a fixed order (SWAP, FUTURES)."""
    kinds = {i.kind for i in instruments}
    return [t for k, t in INST_TYPES.items() if k in kinds]


def _grid(start: datetime, end: datetime, step_ms: int) -> tuple[int, int]:
    """The first and last multiples of ``step_ms`` (epoch ms) inside ``[start, end]``."""
    return -(-utc_to_ms(start) // step_ms) * step_ms, utc_to_ms(end) // step_ms * step_ms


def _rate(inst: Instrument, row: SwapFunding, received: datetime, oi: Mapping[str, ContractOpenInterest],
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
