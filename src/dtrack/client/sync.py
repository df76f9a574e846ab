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
        DashboardResult,
        FundingResult,
        HistoryResult,
        InstrumentsResult,
        LiquidationMapResult,
        LiquidationScoreResult,
        LiquidationsResult,
        OpenInterestResult,
        OptionsResult,
        VenuesResult,
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
                gex: bool = False, sort: str | None = None, limit: int | None = None) -> OptionsResult:
        """See ``AsyncClient.options``."""
        return self._call(self._async.options(assets, expiry=expiry, chain=chain, pcr=pcr, flow=flow,
                                              min_size=min_size, gex=gex, sort=sort, limit=limit))

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
        beside a distance-only baseline (store only)."""
        return self._call(self._async.liquidation_score(assets, since=since, venues=venues, horizon=horizon,
                                                        top_k=top_k))


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
