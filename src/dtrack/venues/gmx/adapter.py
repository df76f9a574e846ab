"""GMX v2 adapter: the venue's only I/O (``GET`` on one GMX API host per chain: Arbitrum and Avalanche).

- instruments: ``/v1/markets/info`` of each chain (disk-cached for ``instruments_ttl``), the perpetual pools (swap-only
  pools and disabled markets left out); a chain that does not answer leaves the other's markets serving;
- funding, open interest and prices: per chain, ``/v1/markets/info`` (funding factor per second, who pays, borrow
  factor per side, open interest per side) and ``/v1/markets/tickers`` (the oracle mark price) concurrently, every
  chain at once: one round. Concurrent callers in one event loop share the in-flight requests. Funding needs the
  price only for ``mark_price`` (a failed tickers answer leaves it None and is reported); open interest and quotes
  need it (coins = USD / price);
- funding history: ``/v1/rates`` of one market (asked by its ``marketTokenAddress``, read from the chain's
  disk-cached ``markets/info`` the listing came from, so no request waits for another) with the shortest ``period``
  reaching back to the start asked (``rates_period``): the snapshots of the paying side's rate, 8 h-equivalents
  (units and signs: ``api``); the note says when GMX has fewer snapshots than the window asks;
- no open-interest history, klines, long/short ratio, spot, options or liquidations in dtrack (the base's
  UnsupportedError says so).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any, ClassVar

from dtrack.errors import DtrackError, ParseError, VenueError
from dtrack.records import FundingHistory, FundingPoint, FundingRate, Instrument, OpenInterest, PriceQuote
from dtrack.results import settle
from dtrack.venues import plausible
from dtrack.venues.base import Adapter, Answer
from dtrack.venues.fields import Listing, within
from dtrack.venues.gmx import api, parse

#: how far short of a ``period`` the asked start may fall and still be asked with it (the clock moved on between the
#: window being set and the request)
PERIOD_SLACK = timedelta(minutes=5)


def rates_period(start: datetime, now: datetime) -> str:
    """The shortest ``/v1/rates`` ``period`` reaching back from ``now`` to ``start`` (``total`` past a year)."""
    span = now - start - PERIOD_SLACK
    return next((name for name, days in api.RATE_PERIODS if timedelta(days=days) >= span), api.TOTAL)


def history_note(points: Sequence[FundingPoint], start: datetime, end: datetime) -> str:
    """``api.HISTORY_NOTE``, and when GMX has fewer snapshots than the window asks: none, a late first one or an
    early last one (later / earlier than the snapshots' own median spacing, at least an hour, allows)."""
    if not points:
        return f"{api.HISTORY_NOTE}; GMX returned no snapshot in the window"
    gaps = sorted(b.time - a.time for a, b in pairwise(points))
    slack = max(timedelta(hours=1), gaps[len(gaps) // 2] * 1.5 if gaps else timedelta(0))
    notes = [api.HISTORY_NOTE]
    if points[0].time - start > slack:
        notes.append(f"GMX has snapshots only from {points[0].time:%Y-%m-%d %H:%M} UTC "
                     f"(asked from {start:%Y-%m-%d %H:%M} UTC)")
    if end - points[-1].time > slack:
        notes.append(f"GMX has snapshots only until {points[-1].time:%Y-%m-%d %H:%M} UTC "
                     f"(asked until {end:%Y-%m-%d %H:%M} UTC)")
    return "; ".join(notes)


class GmxAdapter(Adapter):
    """GMX v2 perpetual pools (GMX API, Arbitrum and Avalanche)."""

    name: ClassVar[str] = "gmx"
    hosts = api.HOSTS
    main_host = api.ARBITRUM
    instruments_endpoint = f"GET {api.MARKETS_INFO}"

    async def listing(self) -> Listing:
        """The perpetual markets of every chain (each chain's answer disk-cached; a failed chain is ``missing``)."""
        parts = await settle([self._chain_listing(chain) for chain in self.hosts])
        return Listing.of_parts(parts)

    async def _chain_listing(self, chain: str) -> Listing:
        return await self.cached_get(chain, api.MARKETS_INFO, ttl=self.ctx.settings.instruments_ttl,
                                     parse=lambda body: parse.parse_listing(body, chain),
                                     endpoint=f"GET {api.MARKETS_INFO} ({chain})")

    async def _info(self, chain: str) -> Any:
        return await self.get(chain, api.MARKETS_INFO, endpoint=f"GET {api.MARKETS_INFO} ({chain})")

    async def _tickers(self, chain: str) -> Any:
        return await self.get(chain, api.MARKETS_TICKERS, endpoint=f"GET {api.MARKETS_TICKERS} ({chain})")

    @staticmethod
    def _by_chain(instruments: Sequence[Instrument]) -> dict[str, list[Instrument]]:
        out: dict[str, list[Instrument]] = {}
        for inst in instruments:
            out.setdefault(inst.market, []).append(inst)
        return out

    async def _state(self, instruments: Sequence[Instrument], *, need_price: bool
                     ) -> tuple[dict[str, dict[str, Any]], dict[str, Decimal], list[DtrackError]]:
        """Every asked chain's ``markets/info`` rows and mark prices, all requested at once: (rows by chain, prices by
        symbol, errors). A chain whose ``markets/info`` fails is an error (its markets are left out) unless every
        chain failed (then it is raised); a failed ``tickers`` answer is an error, and raised when ``need_price``
        and nothing else answered."""
        chains = self._by_chain(instruments)
        answers = await asyncio.gather(*(call(chain) for chain in chains for call in (self._info, self._tickers)),
                                       return_exceptions=True)
        rows: dict[str, dict[str, Any]] = {}
        prices: dict[str, Decimal] = {}
        errors: list[DtrackError] = []
        for i, (chain, insts) in enumerate(chains.items()):
            info, tickers = answers[2 * i], answers[2 * i + 1]
            for answer in (info, tickers):
                if isinstance(answer, BaseException) and not isinstance(answer, DtrackError):
                    raise answer
            if isinstance(info, DtrackError):
                errors.append(info)
            else:
                rows[chain] = parse.info_rows(info, chain)
            if isinstance(tickers, DtrackError):
                errors.append(tickers)
            else:
                try:
                    prices.update(parse.mark_prices(tickers, chain, [i.symbol for i in insts], errors))
                except ParseError as exc:
                    errors.append(exc)
        if errors and (not rows or (need_price and not prices)):
            raise errors[0]
        return rows, prices, errors

    def _missing(self, symbols: Sequence[str], what: str) -> list[DtrackError]:
        return [VenueError(self.name, f"{what}: no market {s!r} (delisted?); left out") for s in symbols]

    async def fetch_funding_rates(self, instruments: Sequence[Instrument]) -> Answer[FundingRate]:
        """Funding (per side, with borrow beside it) of these markets from ``markets/info`` (+ ``tickers`` for the
        mark price) of their chains."""
        rows, prices, errors = await self._state(instruments, need_price=False)
        received = self.ctx.now()
        out: Answer[FundingRate] = Answer(self.name, errors=errors)
        for chain, insts in self._by_chain(instruments).items():
            if chain not in rows:
                continue
            items, missing = parse.per_market(
                rows[chain], insts, lambda inst, row: parse.funding_rate(inst, row, prices.get(inst.symbol), received),
                out.errors)
            out.items += items
            out.errors += self._missing(missing, f"GET {api.MARKETS_INFO} ({chain})")
        return out

    async def fetch_funding_history(self, instrument: Instrument, start: datetime, end: datetime) -> FundingHistory:
        """GMX's funding snapshots of one market over ``[start, end]`` (``/v1/rates``): the paying side's rate per
        8 h at each snapshot, ascending. A market its chain's ``markets/info`` no longer lists, or the ``/v1/rates``
        answer lacks, has an empty history that says so."""
        chain = instrument.market
        # the market's token address, from the disk-cached markets/info the listing came from (an address never
        # changes: no request waits for another's answer); a market the cached answer lacks is looked up live
        cached = await self.cached_get(chain, api.MARKETS_INFO, ttl=self.ctx.settings.instruments_ttl,
                                       parse=lambda body: parse.info_rows(body, chain),
                                       endpoint=f"GET {api.MARKETS_INFO} ({chain})")
        row = cached.get(instrument.symbol) or parse.info_rows(await self._info(chain), chain).get(instrument.symbol)
        if row is None:
            return FundingHistory(venue=self.name, symbol=instrument.symbol, start=start, end=end, points=(),
                                  note=f"{api.HISTORY_NOTE}; GET {api.MARKETS_INFO} ({chain}) no longer lists it")
        address = parse.market_address(chain, row)
        period = rates_period(start, self.ctx.now())
        body = await self.get(chain, api.RATES, {"period": period, "address": address},
                              endpoint=f"GET {api.RATES} ({chain})")
        got = parse.history_points(body, instrument, address, self.ctx.now())
        if got is None:  # not "no snapshot in the window": GMX's rates have no entry for the market at all
            return FundingHistory(venue=self.name, symbol=instrument.symbol, start=start, end=end, points=(),
                                  note=f"{api.HISTORY_NOTE}; GET {api.RATES} ({chain}) answered without this market "
                                       f"({address}): GMX sent no rate history of it")
        points = within(got, start, end)
        return FundingHistory(venue=self.name, symbol=instrument.symbol, start=start, end=end, points=points,
                              note=history_note(points, start, end))

    async def fetch_open_interest(self, instruments: Sequence[Instrument]) -> Answer[OpenInterest]:
        """Open interest of these markets: longs + shorts in USD (each side kept), coins at the oracle mark price."""
        rows, prices, errors = await self._state(instruments, need_price=True)
        received = self.ctx.now()
        out: Answer[OpenInterest] = Answer(self.name, errors=errors)
        for chain, insts in self._by_chain(instruments).items():
            if chain not in rows:
                continue
            priced = [i for i in insts if i.symbol in prices]
            said = plausible.refused(errors)
            out.errors += self._missing([i.symbol for i in insts if i.symbol not in prices and i.symbol in rows[chain]
                                         and i.symbol not in said], f"GET {api.MARKETS_TICKERS} ({chain})")
            items, missing = parse.per_market(
                rows[chain], priced, lambda inst, row: parse.open_interest(inst, row, prices[inst.symbol], received),
                out.errors)
            out.items += items
            out.errors += self._missing(missing, f"GET {api.MARKETS_INFO} ({chain})")
        return out

    async def fetch_quotes(self, instruments: Sequence[Instrument]) -> Answer[PriceQuote]:
        """The oracle mark price of these markets from their chains' ``tickers``."""
        chains = self._by_chain(instruments)
        answers = await settle([self._tickers(chain) for chain in chains])
        received = self.ctx.now()
        out: Answer[PriceQuote] = Answer(self.name)
        for (chain, insts), body in zip(chains.items(), answers, strict=True):
            if isinstance(body, DtrackError):
                out.errors.append(body)
                continue
            r = parse.reader(api.MARKETS_TICKERS, chain)
            refused = len(out.errors)
            try:
                prices = parse.mark_prices(body, chain, [i.symbol for i in insts], out.errors)
            except ParseError as exc:
                out.errors.append(exc)
                continue
            out.items += [parse.price_quote(i, prices[i.symbol], received) for i in insts if i.symbol in prices]
            said = plausible.refused(out.errors[refused:])
            out.errors += self._missing([i.symbol for i in insts if i.symbol not in prices and i.symbol not in said],
                                        r.endpoint)
        if not out.items and out.errors:
            raise out.errors[0]
        return out
