"""Hyperliquid adapter: the venue's only I/O (``POST /info`` on one host).

- instruments: the universe of ``metaAndAssetCtxs`` (disk-cached for ``instruments_ttl``). The bare
  ``meta`` request would do, but ``metaAndAssetCtxs`` is the documented answer everything else here
  already depends on, so a proxy or replay serving it serves dtrack entirely;
- current funding: ``metaAndAssetCtxs`` (rate, mark, oracle, OI of every perp in one answer) and,
  in the same round, ``predictedFundings`` (Hyperliquid's own forecast and interval). When the
  prediction call fails the rates are still returned, with ``predicted_rate`` None, the interval
  from the venue docs (1 h), and the error in the answer's ``errors``;
- history: ``fundingHistory`` per coin, at most 500 rows per answer, paged by startTime;
- open interest and quotes: the same ``metaAndAssetCtxs`` answer (1 request, 1 round):
  ``openInterest`` one side in coins x ``markPx``; mark ``markPx``, index ``oraclePx``, last ``midPx``
  (the book mid: the venue publishes no last-trade price there). Concurrent callers in one event loop
  (funding, OI, quotes of one command) share one in-flight ``metaAndAssetCtxs`` request;
- klines (closes) and candles (OHLCV): ``candleSnapshot`` per coin, every 5000-candle page of the window at once;
- order book: ``l2Book`` (at most 20 levels a side, whatever depth is wanted; weight 2);
- margin tiers: ``meta`` (the coin's ``marginTableId``; ``marginTables`` lists the tiered tables, ids from 50);
- no open-interest history, no long/short ratio, no dated futures and no spot in dtrack (the base's
  UnsupportedError says so).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from dtrack.errors import DtrackError, ParseError, UnsupportedError, UsageError, VenueError
from dtrack.records import (
    Candle,
    DataKind,
    FundingHistory,
    FundingRate,
    Instrument,
    MarginTier,
    OpenInterest,
    OrderBook,
    PricePoint,
    PriceQuote,
    Record,
)
from dtrack.venues.base import Adapter, Answer
from dtrack.venues.fields import HOUR_MS, Kline, Listing, page_windows, points_from_settlements, utc_to_ms, within
from dtrack.venues.hyperliquid import api, parse


class HyperliquidAdapter(Adapter):
    """Hyperliquid main-DEX perpetuals."""

    name: ClassVar[str] = "hyperliquid"
    hosts = api.HOSTS
    main_host = api.REST
    instruments_endpoint = f"{api.INFO_PATH} {api.META_AND_ASSET_CTXS}"
    limits = api.LIMITS
    # Funding is kept since launch (hourly since 2023; the earliest rows were 8-hourly).

    def check(self, body: Any) -> None:
        """``/info`` has no error envelope in 200 answers: errors come as HTTP 422/429/500 (handled by
        the HTTP layer) and a ``null`` answer fails in the parsers."""

    async def _info(self, body: dict[str, Any], *, weight: int = api.INFO_WEIGHT) -> Any:
        return await self.post(api.REST, api.INFO_PATH, body, weight=weight, endpoint=_endpoint(body))

    stream_kinds: ClassVar[frozenset[DataKind]] = frozenset({DataKind.FUNDING, DataKind.OPEN_INTEREST, DataKind.QUOTES})

    def stream(self, kinds: Collection[DataKind], instruments: Sequence[Instrument]) -> AsyncIterator[Record]:
        """Live funding, open interest and prices over ``activeAssetCtx`` per coin (see ``hyperliquid.stream``)."""
        from dtrack.venues.hyperliquid import stream

        return self.open_streams(kinds, instruments, stream.protocols, terms=True)

    async def listing(self) -> Listing:
        """Listed main-DEX perps from the universe of ``metaAndAssetCtxs`` (disk-cached)."""
        return await self.cached_post(api.REST, api.INFO_PATH, {"type": api.META_AND_ASSET_CTXS},
                                      ttl=self.ctx.settings.instruments_ttl, parse=parse.parse_listing,
                                      weight=api.INFO_WEIGHT, endpoint=self.instruments_endpoint)

    async def _asset_ctxs(self) -> Any:
        """The ``metaAndAssetCtxs`` answer; callers that ask while a request is in flight share it (the base
        adapter shares identical requests). Nothing is kept once it is answered."""
        return await self._info({"type": api.META_AND_ASSET_CTXS})

    async def fetch_funding_rates(self, instruments: Sequence[Instrument]) -> Answer[FundingRate]:
        """Current funding of these perps: ``metaAndAssetCtxs`` + ``predictedFundings`` concurrently."""
        answers: tuple[Any, Any] = await asyncio.gather(self._asset_ctxs(),
                                                      self._info({"type": api.PREDICTED_FUNDINGS}),
                                                      return_exceptions=True)
        ctxs, predicted = answers
        received = self.ctx.now()
        if isinstance(ctxs, BaseException):
            raise ctxs
        result: Answer[FundingRate] = Answer(self.name)
        forecasts = self._forecasts(predicted, {i.symbol for i in instruments}, result.errors)
        result.items, missing = parse.funding_rates(ctxs, instruments, forecasts, received, result.errors)
        result.errors += self._missing(missing)
        return result

    def _missing(self, symbols: Sequence[str]) -> list[DtrackError]:
        """One error per asked symbol the ``metaAndAssetCtxs`` answer has no context for."""
        return [VenueError(self.name, f"{api.INFO_PATH} {api.META_AND_ASSET_CTXS}: no asset context for "
                                      f"{symbol!r} (delisted?); left out") for symbol in symbols]

    async def fetch_open_interest(self, instruments: Sequence[Instrument]) -> Answer[OpenInterest]:
        """Open interest of these perps from one ``metaAndAssetCtxs`` answer: ``openInterest`` (one side,
        in coins of the symbol) valued at ``markPx``; symbols the answer lacks are errors."""
        body = await self._asset_ctxs()
        errors: list[DtrackError] = []  # an implausible context costs only its coin
        items, missing = parse.open_interests(body, instruments, self.ctx.now(), errors)
        return Answer(self.name, items, errors + self._missing(missing))

    async def fetch_quotes(self, instruments: Sequence[Instrument]) -> Answer[PriceQuote]:
        """Mark (``markPx``), index (``oraclePx``) and last (``midPx``, the book mid) of these perps, per
        unit of the asset, from one ``metaAndAssetCtxs`` answer."""
        body = await self._asset_ctxs()
        errors: list[DtrackError] = []  # an implausible context costs only its coin
        items, missing = parse.price_quotes(body, instruments, self.ctx.now(), errors)
        return Answer(self.name, items, errors + self._missing(missing))

    async def fetch_price_history(self, instrument: Instrument, start: datetime, end: datetime,
                                  period_hours: int) -> tuple[PricePoint, ...]:
        """Closes (with highs and lows) of the coin's ``candleSnapshot`` candles whose close falls in ``[start, end]``.

        The window is cut into pages of at most 5000 candles, all requested at once. A point's time is
        the candle's close (the still-open candle: now); prices per unit of the asset. The venue keeps about the
        latest 5000 candles of an interval (its capability table's ``klines`` history): an older window answers less.
        """
        interval = api.CANDLE_INTERVALS.get(period_hours)
        if interval is None:
            raise UnsupportedError(f"{self.name}: no {period_hours} h candles in dtrack (periods: "
                                   f"{', '.join(map(str, api.CANDLE_INTERVALS))} h)")
        coin, period_ms = instrument.symbol, period_hours * HOUR_MS
        bars = await self._bars(coin, interval, period_ms, candle_pages(utc_to_ms(start), utc_to_ms(end), period_ms,
                                                                        api.CANDLE_PAGE))
        points = parse.price_points([Kline(b.open_ms, b.close, b.high, b.low) for b in bars], instrument, period_ms,
                                    self.ctx.now())
        return tuple(p for p in points if start <= p.time <= end)

    async def fetch_candles(self, instrument: Instrument, start: datetime, end: datetime,
                            period_seconds: int) -> tuple[Candle, ...]:
        """OHLCV bars of the coin opening in ``[start, end]``, ascending, from ``candleSnapshot`` (every fixed-length
        interval of the venue, 1 minute to 1 week: ``api.CANDLE_INTERVALS_S``); every 5000-candle page of the window
        at once. Prices per unit of the asset, ``volume_base`` in coins (``v`` x multiplier), no USD volume (the
        candle has none); the bar still open is ``closed=False``. The venue keeps about the latest 5000 candles of
        an interval: an older window answers less."""
        interval = api.CANDLE_INTERVALS_S.get(period_seconds)
        if interval is None:
            raise UnsupportedError(f"{self.name}: no {period_seconds} s candles (Hyperliquid's periods in seconds: "
                                   f"{', '.join(map(str, api.CANDLE_INTERVALS_S))})")
        period_ms = period_seconds * 1000
        lo, hi = utc_to_ms(start), min(utc_to_ms(end), utc_to_ms(self.ctx.now()))
        pages = page_windows(lo, hi, period_ms, api.CANDLE_PAGE)
        bars = await self._bars(instrument.symbol, interval, period_ms, pages)
        return parse.candles([b for b in bars if lo <= b.open_ms <= hi], instrument, period_ms, self.ctx.now())

    async def _bars(self, coin: str, interval: str, period_ms: int, pages: Sequence[tuple[int, int]]
                    ) -> list[parse.Bar]:
        """The ``candleSnapshot`` bars of ``pages`` ((startTime, endTime) each), every page requested at once; an
        empty answer is an answer only for a listed coin (``_require_listed``)."""
        requests = [{"type": api.CANDLE_SNAPSHOT, "req": {"coin": coin, "interval": interval, "startTime": a,
                                                          "endTime": b}} for a, b in pages]
        answers = await asyncio.gather(*(self._info(body, weight=_candle_weight(page, period_ms))
                                         for body, page in zip(requests, pages, strict=True)))
        bars = [bar for body in answers for bar in parse.parse_bars(body, coin, interval)]
        if not bars:
            await self._require_listed(coin, api.CANDLE_SNAPSHOT, "no candles")
        return bars

    async def fetch_order_book(self, instrument: Instrument, depth: int) -> OrderBook:
        """The coin's ``l2Book``: at most 20 levels a side whatever ``depth`` is wanted (``limit`` is 20: a side of 20
        levels may go on past its last one); prices per unit of the asset, sizes in coins."""
        if depth < 1:
            raise UsageError(f"order-book depth {depth} is not a number of levels; give 1 or more")
        coin = instrument.symbol
        body = await self._info({"type": api.L2_BOOK, "coin": coin}, weight=api.L2_BOOK_WEIGHT)
        if body is None:  # the venue's answer for a coin it does not list
            await self._require_listed(coin, api.L2_BOOK, "null")
        return parse.parse_l2_book(body, instrument, self.ctx.now())

    async def fetch_margin_tiers(self, instrument: Instrument) -> tuple[MarginTier, ...]:
        """The perp's margin tiers from one ``meta`` answer (``universe[].marginTableId`` and ``marginTables``):
        mmr = 1 / (2 x the tier's max leverage), the deduction that keeps maintenance margin continuous, bounds in
        USD notional (see ``parse.margin_tiers``)."""
        meta = await self._info({"type": api.META})
        return parse.margin_tiers(meta, instrument, self.ctx.now())

    @staticmethod
    def _forecasts(answer: Any, coins: set[str], errors: list[DtrackError]) -> dict[str, parse.Predicted]:
        """Parsed ``predictedFundings`` of ``coins``, or {} with the failure recorded (rates stay usable)."""
        if isinstance(answer, DtrackError):
            errors.append(answer)
            return {}
        if isinstance(answer, BaseException):
            raise answer
        try:
            return parse.parse_predicted(answer, coins)
        except ParseError as exc:
            errors.append(exc)
            return {}

    async def fetch_funding_history(self, instrument: Instrument, start: datetime, end: datetime) -> FundingHistory:
        """Settled hourly funding of one coin over ``[start, end]``, 500 rows per request."""
        coin = instrument.symbol
        series = await self._history_series(coin, utc_to_ms(start), utc_to_ms(end))
        if not series:
            await self._require_listed(coin, api.FUNDING_HISTORY, "an empty history")
        points = within(points_from_settlements(series, api.FUNDING_INTERVAL_HOURS, venue=self.name, symbol=coin,
                                                received_at=self.ctx.now()), start, end)
        return FundingHistory(venue=self.name, symbol=coin, start=start, end=end, points=points,
                              note=_history_note(coin, start, end, series))

    async def _history_series(self, coin: str, start_ms: int, end_ms: int) -> list[tuple[datetime, float]]:
        """Page ``fundingHistory`` forward from ``start_ms`` until the window is covered.

        Stops on an empty page, or once the last row is within one settlement interval of ``end_ms``
        (no later settlement can fall in the window). A short page is NOT taken as the end: the venue
        may cap pages below 500. Every page must move the cursor forward (each request starts 1 ms
        after the last row seen), so the loop ends; a page that does not is a ParseError.
        """
        series: list[tuple[datetime, float]] = []
        cursor = start_ms
        while cursor <= end_ms:
            body = {"type": api.FUNDING_HISTORY, "coin": coin, "startTime": cursor, "endTime": end_ms}
            page = parse.parse_funding_history(await self._info(body, weight=_history_weight(cursor, end_ms)), coin)
            if not page:
                break
            last = utc_to_ms(page[-1][0])
            if last < cursor:
                raise ParseError(self.name, f"POST {_endpoint(body)}",
                                 f"page from startTime {cursor} ends before it, at {last} (no progress)")
            series += page
            if last + HOUR_MS > end_ms:
                break
            cursor = last + 1
        return series

    async def _require_listed(self, coin: str, info_type: str, answered: str) -> None:
        """An empty answer is only an answer for a listed coin: Hyperliquid answers [] for unknown ones."""
        if all(i.symbol != coin for i in await self.instruments()):
            raise VenueError(self.name, f"{api.INFO_PATH} {info_type}: Hyperliquid lists no perpetual "
                                        f"{coin!r} (it answered {answered})", code=api.CODE_UNKNOWN_COIN)


def candle_pages(start_ms: int, end_ms: int, period_ms: int, page: int) -> list[tuple[int, int]]:
    """(startTime, endTime) of each request covering the candles whose close lies in ``[start, end]``:
    candle open times from the candle that closes at or after ``start`` to the one that holds ``end``."""
    return page_windows(start_ms - period_ms, end_ms, period_ms, page)


def _endpoint(body: dict[str, Any]) -> str:
    return f"{api.INFO_PATH} {body['type']}"


def _candle_weight(page: tuple[int, int], period_ms: int) -> int:
    """Base weight plus one unit per 60 candles the page can hold."""
    candles = (page[1] - page[0]) // period_ms + 1
    return api.INFO_WEIGHT + math.ceil(candles / api.CANDLES_PER_EXTRA_WEIGHT)


def _history_weight(start_ms: int, end_ms: int) -> int:
    """Base weight plus one unit per 20 rows the page can hold (hourly rows, at most 500)."""
    rows = min(api.HISTORY_PAGE, max(0, end_ms - start_ms) // HOUR_MS + 1)
    return api.INFO_WEIGHT + math.ceil(rows / api.HISTORY_ROWS_PER_EXTRA_WEIGHT)


def _history_note(coin: str, start: datetime, end: datetime, series: list[tuple[datetime, float]]) -> str:
    """Say so when the venue has less than the window asked for."""
    if not series:
        return f"Hyperliquid settled no funding for {coin} between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"
    first = series[0][0]
    if first - start > timedelta(hours=api.FUNDING_INTERVAL_HOURS, minutes=1):
        return (f"Hyperliquid has funding for {coin} from {first:%Y-%m-%d %H:%M} UTC only "
                f"(listing or start of its history); asked from {start:%Y-%m-%d %H:%M} UTC")
    return ""
