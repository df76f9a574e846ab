"""``Client``: the synchronous face of ``AsyncClient``, for scripts and notebooks.

Its event loop runs in a private thread, so it works the same in a plain script and inside Jupyter or
IPython, where an event loop is already running in the caller's thread (``asyncio.run`` would refuse).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from dtrack.client.core import AsyncClient

if TYPE_CHECKING:
    from dtrack.config import Settings
    from dtrack.results import (
        BasisResult,
        FundingResult,
        InstrumentsResult,
        OpenInterestResult,
        OptionsResult,
        VenuesResult,
    )

T = TypeVar("T")


class Client:
    """Synchronous access to every venue dtrack reads; the same options and results as ``AsyncClient``.

    >>> import dtrack
    >>> with dtrack.Client(sim=True) as dt:                      # doctest: +SKIP
    ...     f = dt.funding(["BTC", "ETH"], history="7d")
    ...     f.to_pandas()                                         # one row per rate
    """

    def __init__(self, *, sim: bool = False, seed: int | None = None,
                 config: str | os.PathLike[str] | Settings | None = None, venues: Iterable[str] | None = None,
                 timeout: float | None = None, clock: Callable[[], datetime] | None = None) -> None:
        self._async = AsyncClient(sim=sim, seed=seed, config=config, venues=venues, timeout=timeout, clock=clock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Self:
        self._call(self._async.open())
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

    def venues(self) -> VenuesResult:
        """See ``AsyncClient.venues``."""
        return self._call(self._async.venues())

    def instruments(self, assets: str | Sequence[str] | None = None) -> InstrumentsResult:
        """See ``AsyncClient.instruments``."""
        return self._call(self._async.instruments(assets))

    def funding(self, assets: str | Sequence[str], *, history: str | timedelta | None = None, arb: bool = False,
                min_spread: float | None = None, alert_threshold: float | None = None,
                position: float | None = None, side: str | None = None) -> FundingResult:
        """See ``AsyncClient.funding``."""
        return self._call(self._async.funding(assets, history=history, arb=arb, min_spread=min_spread,
                                              alert_threshold=alert_threshold, position=position, side=side))

    def open_interest(self, assets: str | Sequence[str], *, changes: bool = False, divergence: bool = False,
                      window: str | timedelta = "24h") -> OpenInterestResult:
        """See ``AsyncClient.open_interest``."""
        return self._call(self._async.open_interest(assets, changes=changes, divergence=divergence, window=window))

    def basis(self, assets: str | Sequence[str] | None = None, *, quarterly: bool = False, all: bool = False,
              min_yield: float | None = None) -> BasisResult:
        """See ``AsyncClient.basis``."""
        return self._call(self._async.basis(assets, quarterly=quarterly, all=all, min_yield=min_yield))

    def options(self, assets: str | Sequence[str], *, expiry: str | None = None, chain: bool = False,
                pcr: bool = False, flow: bool = False, min_size: str | float | None = None,
                gex: bool = False) -> OptionsResult:
        """See ``AsyncClient.options``."""
        return self._call(self._async.options(assets, expiry=expiry, chain=chain, pcr=pcr, flow=flow,
                                              min_size=min_size, gex=gex))
