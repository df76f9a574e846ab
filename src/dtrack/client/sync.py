"""``Client``: the synchronous face of ``AsyncClient``, for scripts and notebooks.

Its event loop runs in a private thread, so it works the same in a plain script and inside Jupyter or
IPython, where an event loop is already running in the caller's thread (``asyncio.run`` would refuse).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from dtrack.client.core import AsyncClient
from dtrack.records import DataKind, Record

if TYPE_CHECKING:
    from dtrack.client.backfill import Progress
    from dtrack.config import Settings
    from dtrack.results import (
        AlertsResult,
        BackfillResult,
        BasisResult,
        BookResult,
        CarryBacktestResult,
        CarryResult,
        CarrySimulationResult,
        DashboardResult,
        ExecSimResult,
        FundingResult,
        HistoryResult,
        InstrumentsResult,
        LiqPriceResult,
        LiquidationMapResult,
        LiquidationScoreResult,
        LiquidationsResult,
        OpenInterestResult,
        OptionsResult,
        VenuesResult,
        VolResult,
    )
    from dtrack.store import Store

T = TypeVar("T")


class Client:
    """Synchronous access to every venue dtrack reads; the same options and results as ``AsyncClient``.
    ``store`` is best given as a URL or path: the client opens it in its own thread (a SQLite connection
    opened in another thread cannot be used there).

    >>> import dtrack
    >>> with dtrack.Client(sim=True) as dt:                      # doctest: +SKIP
    ...     f = dt.funding(["BTC", "ETH"], history="7d")
    ...     f.to_pandas()                                         # one row per rate
    """

    def __init__(self, *, sim: bool = False, seed: int | None = None,
                 config: str | os.PathLike[str] | Settings | None = None, venues: Iterable[str] | None = None,
                 timeout: float | None = None, clock: Callable[[], datetime] | None = None,
                 store: str | Store | None = None) -> None:
        self._async = AsyncClient(sim=sim, seed=seed, config=config, venues=venues, timeout=timeout, clock=clock,
                                  store=store)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Self:
        self._call(self._async.__aenter__())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def settings(self) -> Settings:
        """The settings in force."""
        return self._async.settings

    def close(self) -> None:
        """Close the session, stop the simulated venues and the client's event-loop thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._async.aclose(), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            self._loop = self._thread = None

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="dtrack-client", daemon=True)
                self._thread.start()
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def on_network(self, callback: Callable[[], None]) -> None:
        """See ``AsyncClient.on_network`` (``callback`` runs in the client's thread)."""
        self._async.on_network(callback)

    def venues(self) -> VenuesResult:
        """See ``AsyncClient.venues``."""
        return self._call(self._async.venues())

    def instruments(self, assets: str | Sequence[str] | None = None) -> InstrumentsResult:
        """See ``AsyncClient.instruments``."""
        return self._call(self._async.instruments(assets))

    def funding(self, assets: str | Sequence[str] | None = None, *, history: str | timedelta | None = None,
                arb: bool = False, min_spread: float | None = None, alert_threshold: float | None = None,
                position: float | None = None, side: str | None = None, live: bool = False, top: int | None = None,
                sort: str | None = None, min_oi: float | None = None, limit: int | None = None) -> FundingResult:
        """See ``AsyncClient.funding``."""
        return self._call(self._async.funding(assets, history=history, arb=arb, min_spread=min_spread,
                                              alert_threshold=alert_threshold, position=position, side=side,
                                              live=live, top=top, sort=sort, min_oi=min_oi, limit=limit))

    def open_interest(self, assets: str | Sequence[str] | None = None, *, changes: bool = False,
                      divergence: bool = False, window: str | timedelta = "24h", live: bool = False,
                      top: int | None = None, sort: str | None = None,
                      min_oi: float | None = None) -> OpenInterestResult:
        """See ``AsyncClient.open_interest``."""
        return self._call(self._async.open_interest(assets, changes=changes, divergence=divergence, window=window,
                                                    live=live, top=top, sort=sort, min_oi=min_oi))

    def basis(self, assets: str | Sequence[str] | None = None, *, quarterly: bool = False, all: bool = False,
              min_yield: float | None = None, live: bool = False, sort: str | None = None,
              limit: int | None = None) -> BasisResult:
        """See ``AsyncClient.basis``."""
        return self._call(self._async.basis(assets, quarterly=quarterly, all=all, min_yield=min_yield, live=live,
                                            sort=sort, limit=limit))

    def options(self, assets: str | Sequence[str], *, expiry: str | None = None, chain: bool = False,
                pcr: bool = False, flow: bool = False, min_size: str | float | None = None,
                gex: bool = False, sort: str | None = None, limit: int | None = None,
                live: bool = False) -> OptionsResult:
        """See ``AsyncClient.options`` (``live=True``: the venues even when the store is fresh)."""
        return self._call(self._async.options(assets, expiry=expiry, chain=chain, pcr=pcr, flow=flow,
                                              min_size=min_size, gex=gex, sort=sort, limit=limit, live=live))

    def dashboard(self, assets: str | Sequence[str], *, level: int = 2, live: bool = False) -> DashboardResult:
        """See ``AsyncClient.dashboard``."""
        return self._call(self._async.dashboard(assets, level=level, live=live))

    def liquidations(self, assets: str | Sequence[str], *, since: str | timedelta = "24h",
                     venues: Sequence[str] | None = None, recent: bool = False, min_size: str | float | None = None,
                     listen: str | float | timedelta | None = None, limit: int | None = None,
                     progress: Callable[[str], None] | None = None) -> LiquidationsResult:
        """See ``AsyncClient.liquidations`` (``progress`` is called from the client's thread)."""
        return self._call(self._async.liquidations(assets, since=since, venues=venues, recent=recent,
                                                   min_size=min_size, listen=listen, limit=limit, progress=progress))

    def alerts_check(self, assets: str | Sequence[str] | None = None, *, rules: Sequence[str] | None = None,
                     send: bool = True, console: Callable[[str], None] | None = None) -> AlertsResult:
        """See ``AsyncClient.alerts_check`` (``console`` is called from the client's thread)."""
        return self._call(self._async.alerts_check(assets, rules=rules, send=send, console=console))

    def alerts_test(self, sink: str, *, console: Callable[[str], None] | None = None) -> AlertsResult:
        """See ``AsyncClient.alerts_test``."""
        return self._call(self._async.alerts_test(sink, console=console))

    def stream(self, kinds: DataKind | str | Sequence[DataKind | str], assets: str | Sequence[str],
               venues: Sequence[str] | None = None) -> Iterator[Record]:
        """See ``AsyncClient.stream``: the same records and gaps as a blocking iterator (each step waits for the
        next record). Leaving the loop (``break``, an exception, Ctrl-C) closes every connection.

        >>> with dtrack.Client(sim=True) as dt:                   # doctest: +SKIP
        ...     for rec in dt.stream("funding", "BTC"):
        ...         print(rec.to_row())
        """
        return _flat(self.stream_batches(kinds, assets, venues))

    def stream_batches(self, kinds: DataKind | str | Sequence[DataKind | str], assets: str | Sequence[str],
                       venues: Sequence[str] | None = None, *, linger: float = 0.0) -> Iterator[list[Record]]:
        """See ``AsyncClient.stream_batches``: the same lists of records and gaps (one per frame) as a blocking
        iterator; leaving the loop closes every connection, as ``stream``."""
        return self._blocking(self._async.stream_batches(kinds, assets, venues, linger=linger))

    def _blocking(self, agen: AsyncIterator[T]) -> Iterator[T]:
        """An async iterator run on the client's loop, stepped from this thread; closed with the generator."""
        pending: concurrent.futures.Future[T] | None = None
        try:
            while True:
                pending = self._submit(_next(agen))
                try:
                    item = pending.result()
                except StopAsyncIteration:
                    return
                pending = None
                yield item
        finally:
            if pending is not None:
                pending.cancel()  # cancels the step on the loop (Ctrl-C, an exception in the waiting thread)
            if self._loop is not None:
                self._submit(_close(agen)).result()

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        self._call(_noop())  # starts the loop thread on first use
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def history(self, kind: str, assets: str | Sequence[str] | None = None, *,
                since: str | datetime | timedelta = "24h", until: str | datetime | timedelta | None = None,
                venues: Sequence[str] | None = None) -> HistoryResult:
        """See ``AsyncClient.history``."""
        return self._call(self._async.history(kind, assets, since=since, until=until, venues=venues))

    def backfill(self, kinds: str | Sequence[str], assets: str | Sequence[str], *,
                 since: str | datetime | timedelta = "90d", venues: Sequence[str] | None = None,
                 store: str | Store | None = None, progress: Progress | None = None) -> BackfillResult:
        """See ``AsyncClient.backfill`` (``progress`` is called from the client's thread)."""
        return self._call(self._async.backfill(kinds, assets, since=since, venues=venues, store=store,
                                               progress=progress))

    def liquidation_map(self, assets: str | Sequence[str], *, venues: Sequence[str] | None = None,
                        range_pct: float | None = None, bins: int | None = None,
                        at: str | datetime | timedelta | None = None) -> LiquidationMapResult:
        """See ``AsyncClient.liquidation_map``: the ESTIMATED liquidation map of each asset (bins over ±range_pct
        of the price, cascade risk), from the store when it holds the window, else from the venues."""
        return self._call(self._async.liquidation_map(assets, venues=venues, range_pct=range_pct, bins=bins, at=at))

    def liquidation_score(self, assets: str | Sequence[str], *, since: str | datetime | timedelta = "7d",
                          venues: Sequence[str] | None = None, horizon: str | timedelta | None = None,
                          top_k: int | None = None) -> LiquidationScoreResult:
        """See ``AsyncClient.liquidation_score``: the stored estimates against the liquidations that followed,
        beside the leverage-ladder baseline (store only)."""
        return self._call(self._async.liquidation_score(assets, since=since, venues=venues, horizon=horizon,
                                                        top_k=top_k))


    # --- the quant toolkit (issue 13) ---------------------------------------------------------------------

    def execsim(self, asset: str, *, side: str, size: str | float, venue: str | None = None,
                algos: str | Sequence[str] | None = None, over: str | float | timedelta | None = None,
                slices: int | None = None, paths: int | None = None, seed: int = 1) -> ExecSimResult:
        """See ``AsyncClient.execsim``: an order simulated on a venue's real book (market, TWAP, VWAP, iceberg)
        over seeded price paths, with the saving against the market order."""
        return self._call(self._async.execsim(asset, side=side, size=size, venue=venue, algos=algos, over=over,
                                              slices=slices, paths=paths, seed=seed))

    def liqprice(self, *, venue: str, symbol: str, side: str, size: float | None = None,
                 entry: float | None = None, leverage: float | None = None, margin: float | None = None,
                 mode: str = "isolated", wallet: float | None = None, target_distance: float | None = None,
                 risk: float | None = None, stop: float | None = None,
                 capital: float | None = None) -> LiqPriceResult:
        """See ``AsyncClient.liqprice``: the liquidation price of one position with the venue's real tiers."""
        return self._call(self._async.liqprice(venue=venue, symbol=symbol, side=side, size=size, entry=entry,
                                               leverage=leverage, margin=margin, mode=mode, wallet=wallet,
                                               target_distance=target_distance, risk=risk, stop=stop,
                                               capital=capital))

    def carry_open(self, asset: str, *, spot_venue: str, perp_venue: str, size: float, perp: str | None = None,
                   spot_price: float | None = None, perp_price: float | None = None, fee_pct: float | None = None,
                   note: str = "") -> CarryResult:
        """See ``AsyncClient.carry_open``: record a basis position (long spot, short the perpetual)."""
        return self._call(self._async.carry_open(asset, spot_venue=spot_venue, perp_venue=perp_venue, size=size,
                                                 perp=perp, spot_price=spot_price, perp_price=perp_price,
                                                 fee_pct=fee_pct, note=note))

    def carry_status(self, position_id: str | None = None, *, leverage: float | None = None) -> CarryResult:
        """See ``AsyncClient.carry_status``: the P&L of the open positions (or one), funding from settled history."""
        return self._call(self._async.carry_status(position_id, leverage=leverage))

    def carry_close(self, position_id: str, *, spot_price: float | None = None, perp_price: float | None = None,
                    leverage: float | None = None) -> CarryResult:
        """See ``AsyncClient.carry_close``: book a position's close and return its final P&L."""
        return self._call(self._async.carry_close(position_id, spot_price=spot_price, perp_price=perp_price,
                                                  leverage=leverage))

    def carry_list(self, *, leverage: float | None = None) -> CarryResult:
        """See ``AsyncClient.carry_list``: every recorded position (store only)."""
        return self._call(self._async.carry_list(leverage=leverage))

    def carry_simulate(self, avg_funding: float, days: float, *, vol: float | None = None,
                       half_life: float | None = None, interval_hours: float = 8.0, paths: int | None = None,
                       seed: int | None = None, notional: float | None = None, fee_pct: float | None = None,
                       price_vol: float | None = None, leverage: float | None = None) -> CarrySimulationResult:
        """See ``AsyncClient.carry_simulate``: seed 004's seeded Monte Carlo of a basis trade."""
        return self._call(self._async.carry_simulate(avg_funding, days, vol=vol, half_life=half_life,
                                                     interval_hours=interval_hours, paths=paths, seed=seed,
                                                     notional=notional, fee_pct=fee_pct, price_vol=price_vol,
                                                     leverage=leverage))

    def carry_backtest(self, asset: str, *, perp_venue: str, days: float = 180.0, perp: str | None = None,
                       notional: float | None = None, fee_pct: float | None = None,
                       leverage: float | None = None) -> CarryBacktestResult:
        """See ``AsyncClient.carry_backtest``: a basis trade over a venue's real settled funding history."""
        return self._call(self._async.carry_backtest(asset, perp_venue=perp_venue, days=days, perp=perp,
                                                     notional=notional, fee_pct=fee_pct, leverage=leverage))

    def vol(self, assets: str | Sequence[str], *, venue: str | None = None, window: str | timedelta = "30d",
            bars: str = "1d", methods: str | Sequence[str] | None = None, implied: bool = True) -> VolResult:
        """See ``AsyncClient.vol``: realized volatility (five estimators), regime, rolling series and transitions,
        adaptive leverage, beside DVOL and the 30-day ATM IV."""
        return self._call(self._async.vol(assets, venue=venue, window=window, bars=bars, methods=methods,
                                          implied=implied))

    def book(self, assets: str | Sequence[str], *, bands: str | Sequence[float | str] | None = None,
             depth: int | None = None, kind: str = "perp", venues: Sequence[str] | None = None) -> BookResult:
        """See ``AsyncClient.book``: per contract the mid, spread and depth within each band (coins, USD,
        imbalance, truncation), per asset the sum across venues."""
        return self._call(self._async.book(assets, bands=bands, depth=depth, kind=kind, venues=venues))


def _flat(batches: Iterator[list[T]]) -> Iterator[T]:
    """The items of ``batches`` one by one (the batches fetched from the loop thread, a step per frame, not per
    record); closing it closes ``batches``."""
    try:
        for batch in batches:
            yield from batch
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()


async def _noop() -> None:
    return None


async def _next(agen: AsyncIterator[T]) -> T:
    return await agen.__anext__()


async def _close(agen: AsyncIterator[Any]) -> None:
    """``aclose()`` an async generator, once a cancelled step of it has finished unwinding."""
    close = getattr(agen, "aclose", None)
    if close is None:
        return
    for _ in range(500):
        try:
            await close()
            return
        except RuntimeError:  # "asynchronous generator is already running": its cancelled step still unwinds
            await asyncio.sleep(0.01)
