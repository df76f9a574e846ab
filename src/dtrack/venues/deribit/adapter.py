"""Deribit adapter: the venue's only I/O (instrument list, funding, open interest, prices, candles).

Requests per funding query: the instrument list once (disk-cached), one book summary per settlement
currency the asked perpetuals need (BTC, ETH, USDC), concurrently; a ticker only for a perpetual the
book summary does not cover. History: one request per 30-day window of hourly samples, the windows
concurrently; a window whose answer stops short of its range (Deribit's cap on rows per answer is
undocumented) is followed by requests for the rest.

Open interest: the same book summaries (perpetuals and dated futures), one round. Quotes: those book
summaries and one ``get_index_price`` per index, all in one round. Candles (closes and OHLCV bars): one
``get_tradingview_chart_data`` request per ``api.CHART_CHUNK`` candles, all concurrently. Order book: one
``get_order_book`` request. Deribit publishes no open-interest history, no long/short ratio, no margin tier table
(its margin is a formula of the position size) and (in dtrack) no spot price.

Options (per asset): the chain is one round of three concurrent requests: the option list
(``get_instruments?kind=option``, disk-cached), the book summary (``kind=option``) and the index; a second
list request only when the book summary names options listed since the list was cached. Trades: one
``get_last_trades_by_currency`` page (the newest 1,000). DVOL: one ``get_volatility_index_data`` request per
1,000 days (a year is one), concurrently. Realized volatility: one ``get_historical_volatility`` request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

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
    OpenInterest,
    OptionQuote,
    OptionTrade,
    OrderBook,
    PricePoint,
    PriceQuote,
    Record,
    VolPoint,
)
from dtrack.results import Fold, settle
from dtrack.venues import plausible
from dtrack.venues.base import Adapter, Answer
from dtrack.venues.deribit import api
from dtrack.venues.deribit.parse import (
    HISTORY_NOTE,
    ChartBar,
    OptionListing,
    book_depth,
    chart_candles,
    history_points,
    index_name,
    name_asset,
    option_currency,
    option_index,
    parse_book_summary,
    parse_chart_bars,
    parse_funding_history,
    parse_historical_volatility,
    parse_index_price,
    parse_instruments,
    parse_open_interest,
    parse_option_instruments,
    parse_option_summary,
    parse_option_trades,
    parse_order_book,
    parse_quotes,
    parse_ticker,
    parse_vol_index,
    price_points,
    vol_points,
)
from dtrack.venues.fields import DAY_MS, HOUR_MS, Kline, Listing, page_windows, utc_to_ms, within

log = logging.getLogger(__name__)

#: the contracts open interest and quotes are read for
CONTRACT_KINDS = (Kind.PERP, Kind.FUTURE)
#: requests per 30-day window at most (the first one and its follow-ups): enough for answers of 23+
#: rows; past it the rest of the window stays missing and the history note counts the missing hours
MAX_REQUESTS_PER_WINDOW = 32

Samples = list[tuple[datetime, float]]


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
    """Deribit perpetuals (inverse BTC/ETH in USD contracts, linear USDC-settled ones) and inverse
    dated futures."""

    name: ClassVar[str] = api.VENUE
    hosts: ClassVar[Mapping[str, str]] = api.HOSTS
    main_host: ClassVar[str] = api.MAIN_HOST
    instruments_endpoint: ClassVar[str] = "public/get_instruments"
    limits: ClassVar[Mapping[str, RateLimit]] = api.LIMITS

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

    stream_kinds: ClassVar[frozenset[DataKind]] = frozenset({DataKind.FUNDING, DataKind.OPEN_INTEREST, DataKind.QUOTES,
                                                             DataKind.LIQUIDATIONS})

    def stream(self, kinds: Collection[DataKind], instruments: Sequence[Instrument]) -> AsyncIterator[Record]:
        """Live funding (``funding_8h``), one-sided open interest and prices over ``ticker.{instrument}.100ms``, and
        liquidations (trades flagged M/T/MT) over ``trades.{instrument}.100ms`` (see ``deribit.stream``)."""
        from dtrack.venues.deribit import stream

        return self.open_streams(kinds, instruments, stream.protocols, terms=False)

    async def listing(self) -> Listing:
        """Every trading future and perpetual, from one disk-cached ``get_instruments?currency=any`` call;
        a dated future that expired since the list was cached is left out."""
        listing = await self.cached_get(api.MAIN_HOST, api.INSTRUMENTS, api.INSTRUMENTS_PARAMS,
                                        ttl=self.ctx.settings.instruments_ttl, endpoint=self.instruments_endpoint,
                                        parse=parse_instruments, weight=api.WEIGHTS[api.INSTRUMENTS])
        now = self.ctx.now()
        live = tuple(i for i in listing.instruments if i.expiry is None or i.expiry > now)
        return Listing(live, listing.broken, listing.missing)

    async def fetch_funding_rates(self, instruments: Sequence[Instrument]) -> Answer[FundingRate]:
        """Funding of these perpetuals from the book summaries of their settlement currencies.

        A perpetual missing from its book summary (or without ``funding_8h`` there) is asked through
        ``public/ticker``; if that fails its error goes to ``errors`` and the perpetual has no row.
        A failed book summary fails the venue.
        """
        perps = {i.symbol: i for i in instruments if i.kind is Kind.PERP}
        result: Answer[FundingRate] = Answer(self.name)
        if not perps:
            return result
        currencies = sorted({i.settle for i in perps.values()})
        bodies = await asyncio.gather(*(self._book_summary(c) for c in currencies))
        received = self.ctx.now()
        found: dict[str, FundingRate] = {}
        for body in bodies:  # an implausible row is dropped and listed, not asked again
            found.update(parse_book_summary(body, perps, received, result.errors))
        refused = plausible.refused(result.errors)
        missing = [i for s, i in perps.items() if s not in found and s not in refused]
        if missing:
            await self._tickers(missing, found, result)
        result.items = [found[s] for s in perps if s in found]
        return result

    async def _book_summary(self, currency: str) -> Any:
        params = {"currency": currency, "kind": api.BOOK_SUMMARY_KIND}
        return await self.get(api.MAIN_HOST, api.BOOK_SUMMARY, params, weight=api.WEIGHTS[api.BOOK_SUMMARY],
                              endpoint=f"public/get_book_summary_by_currency?currency={currency}")

    async def _book_summaries(self, contracts: Mapping[str, Instrument]) -> list[Any]:
        """The book summaries of the settlement currencies of ``contracts``, concurrently (a failure raises)."""
        return list(await asyncio.gather(*(self._book_summary(c)
                                           for c in sorted({i.settle for i in contracts.values()}))))

    def _absent(self, contracts: Mapping[str, Instrument], found: Mapping[str, Any], what: str,
                errors: Sequence[DtrackError] = ()) -> list[DtrackError]:
        """One error per contract its book summary did not give ``what`` for (a row refused as implausible,
        already in ``errors``, was given)."""
        shown = found.keys() | plausible.refused(errors)
        return [VenueError(self.name, f"public/get_book_summary_by_currency?currency={i.settle}: no {what} "
                                      f"for {s}") for s, i in contracts.items() if s not in shown]

    async def fetch_open_interest(self, instruments: Sequence[Instrument]) -> Answer[OpenInterest]:
        """Open interest of these perpetuals and dated futures from the book summaries of their
        settlement currencies (one request each, concurrently; a failed one fails the venue).

        ``open_interest`` is one side's: USD for inverse contracts, the coin for linear ones; converted
        at the row's mark price. A contract without a row (or without ``open_interest``) goes to ``errors``.
        """
        contracts = {i.symbol: i for i in instruments if i.kind in CONTRACT_KINDS}
        answer: Answer[OpenInterest] = Answer(self.name)
        if not contracts:
            return answer
        bodies = await self._book_summaries(contracts)
        received = self.ctx.now()
        found: dict[str, OpenInterest] = {}
        for body in bodies:  # an implausible row is dropped and listed
            found.update(parse_open_interest(body, contracts, received, answer.errors))
        answer.items = [found[s] for s in contracts if s in found]
        answer.errors += self._absent(contracts, found, "open_interest", answer.errors)
        return answer

    async def fetch_quotes(self, instruments: Sequence[Instrument]) -> Answer[PriceQuote]:
        """Mark, index and last prices of these perpetuals and dated futures, in one round: the book
        summaries of their settlement currencies (mark, last) and one ``get_index_price`` per index.

        A failed book summary fails the venue; a failed index goes to ``errors`` and its contracts
        take the book summary's ``estimated_delivery_price`` as index instead.
        """
        contracts = {i.symbol: i for i in instruments if i.kind in CONTRACT_KINDS}
        answer: Answer[PriceQuote] = Answer(self.name)
        if not contracts:
            return answer
        names = sorted({index_name(i) for i in contracts.values()})
        bodies, indexes = await asyncio.gather(self._book_summaries(contracts), self._indexes(names, answer.errors))
        received = self.ctx.now()
        found: dict[str, PriceQuote] = {}
        for body in bodies:  # an implausible row is dropped and listed
            found.update(parse_quotes(body, contracts, indexes, received, answer.errors))
        answer.items = [found[s] for s in contracts if s in found]
        answer.errors += self._absent(contracts, found, "row", answer.errors)
        return answer

    async def _indexes(self, names: Sequence[str], errors: list[DtrackError]) -> dict[str, float]:
        """Index prices by index name, concurrently; failures go to ``errors``."""
        done = await asyncio.gather(*(self.fetch_index(n) for n in names), return_exceptions=True)
        out: dict[str, float] = {}
        for name, item in zip(names, done, strict=True):
            if isinstance(item, DtrackError):
                errors.append(item)
            elif isinstance(item, BaseException):
                raise item
            else:
                out[name] = item
        return out

    async def fetch_index(self, name: str) -> float:
        """One index price (``btc_usd``, ``sol_usdc`` ...) from ``public/get_index_price``."""
        body = await self.get(api.MAIN_HOST, api.INDEX_PRICE, {"index_name": name},
                              weight=api.WEIGHTS[api.INDEX_PRICE], endpoint=f"public/get_index_price?index_name={name}")
        return parse_index_price(body)

    async def fetch_price_history(self, instrument: Instrument, start: datetime, end: datetime,
                                  period_hours: int) -> tuple[PricePoint, ...]:
        """Closes (with highs and lows) of the contract's trade candles over ``[start, end]`` at ``period_hours``
        (1, 4 or 24), each at its candle's close time (the candle still open: now), per one coin, ascending.

        Deribit has no 4 h resolution: those closes are the hourly candles' that end on a 4 h boundary (the high
        and low: of the period's hourly candles).
        The pages (``api.CHART_CHUNK`` candles each) are known up front and asked concurrently.
        """
        if period_hours not in api.CHART_RESOLUTIONS:
            raise UnsupportedError(f"{self.name}: no {period_hours} h candles (periods: 1, 4 or 24 h)")
        resolution, candle_hours = api.CHART_RESOLUTIONS[period_hours]
        candle_ms, period_ms = candle_hours * HOUR_MS, period_hours * HOUR_MS
        now_ms = utc_to_ms(self.ctx.now())
        # the first candle that ends a period at or after ``start``, to the last one opening by ``end``
        first = -(-(utc_to_ms(start) - candle_ms) // candle_ms) * candle_ms
        last = min(utc_to_ms(end), now_ms) // candle_ms * candle_ms
        bars = await self._chart_bars(instrument.symbol, resolution, candle_ms, first, last)
        points = price_points([Kline(b.open_ms, b.close, b.high, b.low) for b in bars], candle_ms, period_ms, now_ms,
                              instrument.multiplier, symbol=instrument.symbol, received=self.ctx.now())
        return tuple(p for p in points if start <= p.time <= end)

    async def fetch_candles(self, instrument: Instrument, start: datetime, end: datetime,
                            period_seconds: int) -> tuple[Candle, ...]:
        """OHLCV bars of the contract's trades opening in ``[start, end]`` (and by now), ascending, at one of
        Deribit's chart resolutions (1 minute to 1 day: ``api.CHART_RESOLUTIONS_S``; no 4 h one).

        Prices per one coin; ``volume_base`` from ``volume`` (coins), ``volume_usd`` from ``cost`` (USD, or USDC for
        the linear contracts); the bar still open is ``closed=False``. The pages (``api.CHART_CHUNK`` candles each)
        are known up front and asked concurrently (``_chart_bars``, which ``fetch_price_history`` reads too).
        """
        resolution = api.CHART_RESOLUTIONS_S.get(period_seconds)
        if resolution is None:
            raise UnsupportedError(f"{self.name}: no {period_seconds} s candles (Deribit's periods in seconds: "
                                   f"{', '.join(map(str, api.CHART_RESOLUTIONS_S))})")
        candle_ms = period_seconds * 1000
        first = -(-utc_to_ms(start) // candle_ms) * candle_ms  # the first bar opening at or after start
        last = min(utc_to_ms(end), utc_to_ms(self.ctx.now())) // candle_ms * candle_ms
        bars = await self._chart_bars(instrument.symbol, resolution, candle_ms, first, last)
        return chart_candles(bars, instrument, candle_ms, self.ctx.now())

    async def _chart_bars(self, symbol: str, resolution: str, candle_ms: int, first: int, last: int
                          ) -> list[ChartBar]:
        """The chart bars opening in ``[first, last]`` (aligned on ``candle_ms``), ascending, one per open time:
        every ``api.CHART_CHUNK``-candle page requested concurrently."""
        pages = await asyncio.gather(*(self._chart_page(symbol, resolution, lo, hi)
                                       for lo, hi in page_windows(first, last, candle_ms, api.CHART_CHUNK)))
        return sorted({b.open_ms: b for page in pages for b in page if first <= b.open_ms <= last}.values())

    async def _chart_page(self, symbol: str, resolution: str, lo: int, hi: int) -> list[ChartBar]:
        params = {"instrument_name": symbol, "start_timestamp": lo, "end_timestamp": hi, "resolution": resolution}
        body = await self.get(api.MAIN_HOST, api.CHART_DATA, params, weight=api.WEIGHTS[api.CHART_DATA],
                              endpoint="public/get_tradingview_chart_data")
        return parse_chart_bars(body)

    # --- order book --------------------------------------------------------------------------------

    async def fetch_order_book(self, instrument: Instrument, depth: int) -> OrderBook:
        """The book of one perpetual or dated future from ``public/get_order_book``, ``depth`` the smallest of
        Deribit's allowed values holding ``depth`` levels a side (1, 5, 10, 20, 50, 100, 1,000, 10,000; the
        answer's ``limit``). Inverse amounts (USD) are converted to coins at each level's price."""
        if depth < 1:
            raise UsageError(f"order-book depth {depth} is not a number of levels; give 1 or more")
        if instrument.kind not in CONTRACT_KINDS:
            raise UnsupportedError(f"{self.name}: dtrack reads the order books of perpetuals and futures, not of "
                                   f"{instrument.symbol} ({instrument.kind.value})")
        limit = book_depth(depth)
        body = await self.get(api.MAIN_HOST, api.ORDER_BOOK, {"instrument_name": instrument.symbol, "depth": limit},
                              weight=api.WEIGHTS[api.ORDER_BOOK], endpoint="public/get_order_book")
        return parse_order_book(body, instrument, limit, self.ctx.now())

    async def _tickers(self, perps: Sequence[Instrument], found: dict[str, FundingRate],
                       result: Answer[FundingRate]) -> None:
        """Fill ``found`` from one ticker per perpetual; failures go to ``result.errors``."""
        fold = Fold()
        for inst, item in zip(perps, await settle([self.fetch_ticker(i) for i in perps]), strict=True):
            if (rate := fold.value(item)) is not None:
                found[inst.symbol] = rate
        result.errors += fold.errors

    async def fetch_ticker(self, instrument: Instrument) -> FundingRate:
        """Funding of one perpetual from ``public/ticker`` (the fallback of the book summary)."""
        body = await self.get(api.MAIN_HOST, api.TICKER, {"instrument_name": instrument.symbol},
                              weight=api.WEIGHTS[api.TICKER], endpoint="public/ticker")
        return parse_ticker(body, instrument, self.ctx.now())

    async def fetch_funding_history(self, instrument: Instrument, start: datetime, end: datetime) -> FundingHistory:
        """Hourly 8 h-equivalent samples over ``[start, end]``: the 30-day windows concurrently."""
        windows = await asyncio.gather(*(self._history_window(instrument.symbol, lo, hi)
                                         for lo, hi in history_windows(start, end)))
        points = within(history_points((s for window in windows for s in window), symbol=instrument.symbol,
                                       received=self.ctx.now()), start, end)
        return FundingHistory(venue=self.name, symbol=instrument.symbol, start=start, end=end, points=points,
                              note=_history_note(points, start, end))

    async def _history_window(self, symbol: str, lo: int, hi: int) -> Samples:
        """Every sample Deribit has in the window ``(lo, hi]``, however few rows one answer holds.

        An answer that is non-empty but stops an hour or more short of either end of the range it
        answered is followed by a request for the rest: from just after its last sample to the end
        (an answer capped at its oldest rows), and from the start to just before its first sample
        (capped at its newest rows, or a perpetual listed inside the window: then that answer is
        empty). A range stops on an empty answer or one with no new sample, and the window after
        ``MAX_REQUESTS_PER_WINDOW`` requests.
        """
        samples: dict[datetime, float] = {}
        pending = [(lo, hi)]
        for _ in range(MAX_REQUESTS_PER_WINDOW):
            if not pending:
                break
            a, b = pending.pop()
            page = parse_funding_history(await self._history_page(symbol, a, b))
            fresh = {t: rate for t, rate in page if t not in samples and a <= utc_to_ms(t) <= b}
            if not fresh:  # empty, or nothing new: no progress on this range
                continue
            samples.update(fresh)
            first, last = utc_to_ms(min(fresh)), utc_to_ms(max(fresh))
            if last + HOUR_MS <= b:
                pending.append((last + 1, b))
            if first - HOUR_MS > a:
                pending.append((a, first - 1))
        return sorted(samples.items())

    async def _history_page(self, symbol: str, lo: int, hi: int) -> Any:
        params = {"instrument_name": symbol, "start_timestamp": lo, "end_timestamp": hi}
        return await self.get(api.MAIN_HOST, api.FUNDING_HISTORY, params, weight=api.WEIGHTS[api.FUNDING_HISTORY],
                              endpoint="public/get_funding_rate_history")


    # --- options ---------------------------------------------------------------------------------

    async def _option_listing(self, currency: str, *, fresh: bool = False) -> OptionListing:
        """The options listed under ``currency`` (disk-cached like the futures list; ``fresh`` drops the
        cached answer first)."""
        params = {"currency": currency, "kind": api.OPTION_KIND, "expired": "false"}
        if fresh:
            self.ctx.cache.drop(self.ctx.cache.key(self.url(api.MAIN_HOST) + api.INSTRUMENTS, params))
        return await self.cached_get(api.MAIN_HOST, api.INSTRUMENTS, params, ttl=self.ctx.settings.instruments_ttl,
                                     parse=parse_option_instruments, weight=api.WEIGHTS[api.INSTRUMENTS],
                                     endpoint=f"public/get_instruments?currency={currency}&kind=option")

    async def option_assets(self) -> set[str]:
        """BTC and ETH (coin-settled options) and the assets of the USDC-settled options (the cached list)."""
        linear = await self._option_listing(api.LINEAR_OPTION_CURRENCY)
        return set(api.COIN_OPTION_CURRENCIES) | {s.asset for s in linear.specs.values()}

    async def _option_summary(self, currency: str) -> Any:
        params = {"currency": currency, "kind": api.OPTION_KIND}
        return await self.get(api.MAIN_HOST, api.BOOK_SUMMARY, params, weight=api.WEIGHTS[api.BOOK_SUMMARY],
                              endpoint=f"public/get_book_summary_by_currency?currency={currency}&kind=option")

    async def fetch_option_chain(self, asset: str) -> Answer[OptionQuote]:
        """Every listed option on ``asset``, in one round of concurrent requests: the option list (terms:
        expiry, strike, type, contract size; disk-cached), the book summary (marks, IV, OI, volume, the
        expiry's forward) and the index (``get_index_price``).

        Units: prices per one coin of underlying, the coin price as sent and the USD one = coin price x the
        row's ``underlying_price`` (BTC/ETH; linear USDC options the other way round); IVs as fractions (sent in
        percent); OI and 24 h volume in contracts. The book summary has no greeks and no bid/ask IV: None.
        Options whose mark is missing are kept with None marks. Ordered by expiry, strike, call first.

        The list and the book summary are the core: a failure raises. A failed index goes to ``errors``
        (each row's ``estimated_delivery_price`` stands in), so does a row that does not parse. Options the
        book summary names but the cached list lacks (listed since) make the list be asked again. An asset
        Deribit lists no options on has an empty answer.
        """
        currency = option_currency(asset)
        answer: Answer[OptionQuote] = Answer(self.name)
        index_errors: list[DtrackError] = []
        listing, body, indexes = await asyncio.gather(
            self._option_listing(currency), self._option_summary(currency),
            self._indexes([option_index(asset)], index_errors))
        index = indexes.get(option_index(asset))
        received = self.ctx.now()
        rows = parse_option_summary(body, asset, listing.specs, index, received)
        if rows.unknown:  # listed since the list was cached: ask the list again
            listing = await self._option_listing(currency, fresh=True)
            rows = parse_option_summary(body, asset, listing.specs, index, received)
        quotes = sorted(rows.quotes, key=lambda q: (q.expiry, q.strike, not q.is_call))
        answer.items = quotes
        if quotes:  # the index and the list's odd rows matter only to an asset with options
            answer.errors += index_errors
            answer.errors += [ParseError(self.name, self.instruments_endpoint, b) for b in listing.broken
                              if name_asset(b) == asset]
        answer.errors += list(rows.errors)
        answer.errors += [VenueError(self.name, f"public/get_instruments?currency={currency}&kind=option lists "
                                                f"no {n} (in the book summary)") for n in rows.unknown]
        return answer

    async def fetch_option_trades(self, asset: str, start: datetime, end: datetime) -> Answer[OptionTrade]:
        """``asset``'s option trades in ``[start, end]``, ascending: one ``get_last_trades_by_currency`` page of
        the newest ``api.TRADES_COUNT`` (1,000). The flow view reads the latest large trades, so one page is
        enough: when the window holds more (``has_more``), the older ones are not read and a log line says so.

        Taker side from ``direction``; amount in contracts; ``price_usd`` per coin = the coin price x the
        trade's ``index_price``; IV as a fraction; ``block`` from ``block_trade_id``. A row that does not
        parse goes to ``errors``.
        """
        currency = option_currency(asset)
        params = {"currency": currency, "kind": api.OPTION_KIND, "start_timestamp": utc_to_ms(start),
                  "end_timestamp": utc_to_ms(end), "count": api.TRADES_COUNT, "sorting": api.TRADES_SORTING}
        body = await self.get(api.MAIN_HOST, api.LAST_TRADES, params, weight=api.WEIGHTS[api.LAST_TRADES],
                              endpoint=f"public/get_last_trades_by_currency?currency={currency}&kind=option")
        page = parse_option_trades(body, asset, self.ctx.now())
        trades = [t for t in page.trades if start <= t.time <= end]
        if page.has_more:
            log.info("deribit: more than %d %s option trades from %s to %s; read the newest %d (from %s)",
                     api.TRADES_COUNT, currency, start.isoformat(), end.isoformat(), len(page.trades),
                     trades[0].time.isoformat() if trades else "-")
        return Answer(self.name, trades, list(page.errors))

    def _vol_currency(self, asset: str, what: str) -> str:
        if asset not in api.VOL_CURRENCIES:
            raise UnsupportedError(f"{self.name}: no {what} for {asset} (Deribit publishes it for "
                                   f"{' and '.join(api.VOL_CURRENCIES)})")
        return asset

    async def fetch_vol_index(self, asset: str, start: datetime, end: datetime) -> tuple[VolPoint, ...]:
        """Daily DVOL closes over ``[start, end]`` as fractions (sent in percent points), each at its day's
        close (the day still open: now), ascending. One request per ``api.VOL_CHUNK`` days, concurrently (400
        days are one); an answer that comes back with a ``continuation`` is followed. BTC and ETH only."""
        currency = self._vol_currency(asset, "DVOL")
        # The day still open is stamped at the query's end (its "now"), never at a later clock reading that
        # the ``<= end`` filter below would drop: the latest point is today's DVOL, not yesterday's close.
        now_ms = min(utc_to_ms(self.ctx.now()), utc_to_ms(end))
        first = -(-(utc_to_ms(start) - DAY_MS) // DAY_MS) * DAY_MS  # the first day closing at or after start
        last = min(utc_to_ms(end), now_ms) // DAY_MS * DAY_MS
        pages = await asyncio.gather(*(self._vol_window(currency, lo, hi)
                                       for lo, hi in page_windows(first, last, DAY_MS, api.VOL_CHUNK)))
        candles = dict(c for page in pages for c in page if first <= c[0] <= last)
        points = vol_points(sorted(candles.items()), now_ms, currency=currency, received=self.ctx.now())
        return tuple(p for p in points if start <= p.time <= end)

    async def _vol_window(self, currency: str, lo: int, hi: int) -> list[tuple[int, float]]:
        """The DVOL candles opening in ``[lo, hi]``, following ``continuation`` (older rows) if one comes."""
        candles: list[tuple[int, float]] = []
        end: int | None = hi
        for _ in range(api.VOL_MAX_FOLLOW + 1):
            if end is None or end < lo:
                break
            params = {"currency": currency, "start_timestamp": lo, "end_timestamp": end,
                      "resolution": api.VOL_RESOLUTION}
            body = await self.get(api.MAIN_HOST, api.VOL_INDEX, params, weight=api.WEIGHTS[api.VOL_INDEX],
                                  endpoint=f"public/get_volatility_index_data?currency={currency}")
            page, continuation = parse_vol_index(body)
            candles += page
            end = continuation if continuation is not None and continuation < end else None
        return candles

    async def fetch_realized_vol(self, asset: str, start: datetime, end: datetime) -> tuple[VolPoint, ...]:
        """Deribit's hourly realized volatility in ``[start, end]`` as fractions (sent in percent points), from
        one ``get_historical_volatility`` request (Deribit answers its recent history only, without time
        parameters; the points inside the window are kept). BTC and ETH only."""
        currency = self._vol_currency(asset, "realized volatility")
        body = await self.get(api.MAIN_HOST, api.HISTORICAL_VOL, {"currency": currency},
                              weight=api.WEIGHTS[api.HISTORICAL_VOL],
                              endpoint=f"public/get_historical_volatility?currency={currency}")
        return tuple(p for p in parse_historical_volatility(body, currency, self.ctx.now()) if start <= p.time <= end)


def _history_note(points: Sequence[FundingPoint], start: datetime, end: datetime) -> str:
    """The history note, saying so when Deribit has fewer samples than the window asks: a late first
    sample, an early last one, or missing hours in between."""
    if end - start < timedelta(hours=1):
        return HISTORY_NOTE
    if not points:
        return f"{HISTORY_NOTE}; Deribit returned no samples in the window"
    first, last = points[0].time, points[-1].time
    notes = [HISTORY_NOTE]
    if first - start > timedelta(hours=1):
        notes.append(f"Deribit has samples only from {first:%Y-%m-%d %H:%M} UTC "
                     f"(asked from {start:%Y-%m-%d %H:%M} UTC)")
    if end - last > timedelta(hours=2):  # the current hour's sample may not be published yet
        notes.append(f"Deribit has samples only until {last:%Y-%m-%d %H:%M} UTC "
                     f"(asked until {end:%Y-%m-%d %H:%M} UTC)")
    hours = round((last - first) / timedelta(hours=1)) + 1
    if hours > len(points):
        notes.append(f"Deribit returned no sample for {hours - len(points)} of the {hours} hours from "
                     f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC")
    return "; ".join(notes)
