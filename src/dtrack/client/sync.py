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
        BackfillResult,
        BasisResult,
        FundingResult,
        HistoryResult,
        InstrumentsResult,
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

    def funding(self, assets: str | Sequence[str], *, history: str | timedelta | None = None, arb: bool = False,
                min_spread: float | None = None, alert_threshold: float | None = None,
                position: float | None = None, side: str | None = None, live: bool = False) -> FundingResult:
        """See ``AsyncClient.funding``."""
        return self._call(self._async.funding(assets, history=history, arb=arb, min_spread=min_spread,
                                              alert_threshold=alert_threshold, position=position, side=side,
                                              live=live))

    def open_interest(self, assets: str | Sequence[str], *, changes: bool = False, divergence: bool = False,
                      window: str | timedelta = "24h", live: bool = False) -> OpenInterestResult:
        """See ``AsyncClient.open_interest``."""
        return self._call(self._async.open_interest(assets, changes=changes, divergence=divergence, window=window,
                                                    live=live))

    def basis(self, assets: str | Sequence[str] | None = None, *, quarterly: bool = False, all: bool = False,
              min_yield: float | None = None, live: bool = False) -> BasisResult:
        """See ``AsyncClient.basis``."""
        return self._call(self._async.basis(assets, quarterly=quarterly, all=all, min_yield=min_yield, live=live))

    def options(self, assets: str | Sequence[str], *, expiry: str | None = None, chain: bool = False,
                pcr: bool = False, flow: bool = False, min_size: str | float | None = None,
                gex: bool = False) -> OptionsResult:
        """See ``AsyncClient.options``."""
        return self._call(self._async.options(assets, expiry=expiry, chain=chain, pcr=pcr, flow=flow,
                                              min_size=min_size, gex=gex))

    def stream(self, kinds: DataKind | str | Sequence[DataKind | str], assets: str | Sequence[str],
               venues: Sequence[str] | None = None) -> Iterator[Record]:
        """See ``AsyncClient.stream``: the same records and gaps as a blocking iterator (each step waits for the
        next record). Leaving the loop (``break``, an exception, Ctrl-C) closes every connection.

        >>> with dtrack.Client(sim=True) as dt:                   # doctest: +SKIP
        ...     for rec in dt.stream("funding", "BTC"):
        ...         print(rec.to_row())
        """
        return self._blocking(self._async.stream(kinds, assets, venues))

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
