"""Opens the shared network resources (session, HTTP client, cache, ban book) and hands out adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dtrack.net.cache import DiskCache
from dtrack.net.http import BanBook, HttpClient
from dtrack.venues import adapter_class
from dtrack.venues.base import Adapter, VenueContext

if TYPE_CHECKING:
    from dtrack.config import Settings


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class VenuePool:
    """Adapters sharing one context; each venue's adapter is built once."""

    def __init__(self, ctx: VenueContext) -> None:
        self.ctx = ctx
        self._adapters: dict[str, Adapter] = {}

    def adapter(self, name: str) -> Adapter:
        """The adapter of venue ``name`` (raises for closed / unimplemented venues)."""
        if name not in self._adapters:
            self._adapters[name] = adapter_class(name)(self.ctx)
        return self._adapters[name]

    async def aclose(self) -> None:
        """Cancel the requests still in flight (a venue that missed a deadline) before the session closes."""
        for adapter in self._adapters.values():
            await adapter.cancel_inflight()


@asynccontextmanager
async def open_pool(settings: Settings, now: Callable[[], datetime] = utc_now, *,
                    trust_env: bool = True) -> AsyncIterator[VenuePool]:
    """One aiohttp session for the whole command; closed on exit. ``trust_env=False`` ignores proxies from the
    environment (the in-process simulated venues on loopback are never reached through a proxy)."""
    import aiohttp

    # No per-host connection cap: the per-host weight limiter in net.http governs request rates.
    connector = aiohttp.TCPConnector(limit=256, limit_per_host=0, ttl_dns_cache=300)
    # trust_env: HTTP(S)_PROXY / NO_PROXY (and ~/.netrc) from the environment are honoured (users behind a proxy).
    async with aiohttp.ClientSession(connector=connector, headers={"User-Agent": "dtrack/0.1"},
                                     trust_env=trust_env) as session:
        http = HttpClient(session, settings.http, BanBook(settings.state_dir / "bans.json"))
        ctx = VenueContext(http=http, settings=settings, cache=DiskCache(settings.cache_dir / "http"), now=now)
        pool = VenuePool(ctx)
        try:
            yield pool
        finally:
            await pool.aclose()
