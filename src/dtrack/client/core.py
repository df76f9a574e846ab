"""``AsyncClient``: the library tier. Every query dtrack answers lives here once; the CLI, the dashboard,
the collector, alerts and notebooks all call it.

The client owns the shared resources of a session (settings, one aiohttp session, the disk cache, the ban
book, the venue adapters and, with ``sim=True``, the simulated venues on loopback) and one injected clock.
Queries are in ``dtrack.client.queries``; each is: resolve venues and inputs -> fetch concurrently across
venues -> analytics -> a typed result (``dtrack.results``).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from contextlib import AsyncExitStack, aclosing, suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from dtrack.errors import ConfigError, UsageError, clip
from dtrack.records import DataKind, Record

if TYPE_CHECKING:
    from dtrack.client.backfill import Progress
    from dtrack.client.queries.snapshot import SnapshotResult
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
    from dtrack.venues.pool import VenuePool


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the default clock)."""
    return datetime.now(UTC)


def pinned_clock(text: str | None) -> Callable[[], datetime] | None:
    """A clock stopped at ``text`` (ISO-8601 with a timezone, e.g. ``$DTRACK_NOW``), for replays and
    reproducible runs against a pinned simulated market; None when ``text`` is empty."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"DTRACK_NOW={clip(text)!r} is not an ISO-8601 time like 2026-12-04T08:00:00Z") from None
    if when.tzinfo is None:
        raise ConfigError(f"DTRACK_NOW={clip(text)!r} has no timezone: write it in UTC, like 2026-12-04T08:00:00Z")
    pinned = when.astimezone(UTC)
    return lambda: pinned


class AsyncClient:
    """Async access to every venue dtrack reads, with one answer shape.

    ``sim=True`` serves the built-in simulated venues on loopback (offline; ``seed`` picks the market);
    ``config`` is a settings.yaml path or a ``Settings`` object (default: ``$DTRACK_CONFIG``, else the user
    config dir); ``venues`` restricts every query to these venues; ``timeout`` is the overall deadline of one
    query in seconds (default: settings ``http.deadline``), after which it returns what it has and lists
    the venues that did not answer; ``clock`` replaces the UTC clock (tests, replays; ``$DTRACK_NOW`` pins it
    from the environment); ``store`` is the history store (a URL or path, or an open ``dtrack.store.Store``;
    default: settings ``store.url`` / ``$DTRACK_STORE``, else the SQLite file in the user data dir).

    ``funding``, ``open_interest`` and ``basis`` answer from the store, without the network, when it holds
    snapshots fresher than settings ``store.fresh_seconds`` for everything asked (``live=True`` asks the
    venues anyway); with ``sim=True`` only a store named here is consulted. ``history`` reads the store only;
    ``backfill`` fills it from the venues' history.

    Use it as ``async with dtrack.AsyncClient() as dt: ...``; the network session opens on the first query that
    needs it, and ``await dt.aclose()`` (or leaving the ``async with``) closes it.
    """

    def __init__(self, *, sim: bool = False, seed: int | None = None,
                 config: str | os.PathLike[str] | Settings | None = None,
                 venues: Iterable[str] | None = None, timeout: float | None = None,
                 clock: Callable[[], datetime] | None = None, store: str | Store | None = None) -> None:
        if timeout is not None and not (timeout > 0):
            raise UsageError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self._sim = sim
        self._seed = 7 if seed is None else seed
        self._config = config
        self._venues = [v for v in (venues or ()) if v]
        self._timeout = timeout
        self.now: Callable[[], datetime] = clock or pinned_clock(os.environ.get("DTRACK_NOW")) or utc_now
        self._settings: Settings | None = None
        self._stack: AsyncExitStack | None = None
        self._pool: VenuePool | None = None
        self._opening: asyncio.Lock | None = None
        self._store_arg = store
        self._store: Store | None = None  # opened here (closed by aclose), or the one given
        self._on_network: list[Callable[[], None]] = []
        self._streams: set[AsyncGenerator[Record, None]] = set()  # running streams, closed by aclose

    # --- lifecycle --------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self.settings  # noqa: B018 - a bad settings file fails here, not at the first query
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    @property
    def settings(self) -> Settings:
        """The settings in force (loaded on first use)."""
        if self._settings is None:
            self._settings = _load_settings(self._config)
        return self._settings

    async def open(self) -> None:
        """Open the network session (and the simulated venues with ``sim=True``); idempotent, and safe when
        several queries start at once."""
        if self._pool is not None:
            return
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._pool is None:
                await self._open()

    def on_network(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once, when the network session opens (not at all for an answer from the store):
        the CLI imports its renderers meanwhile, behind the venues' latency."""
        self._on_network.append(callback)

    async def _open(self) -> None:
        from dtrack.venues.pool import open_pool

        hooks, self._on_network = self._on_network, []
        for hook in hooks:
            hook()
        settings = self.settings
        stack = AsyncExitStack()
        try:
            if self._sim:
                from dtrack.sim.server import start_sim

                server = await start_sim(seed=self._seed)
                stack.push_async_callback(server.stop)
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dtrack-sim-")))
                settings = replace(settings.with_venue_urls(server.venue_urls(), server.venue_ws_urls()),
                                   cache_dir=tmp / "cache", state_dir=tmp / "state")
            self._pool = await stack.enter_async_context(open_pool(settings, now=self.now, trust_env=not self._sim))
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack

    async def aclose(self) -> None:
        """Close the session, stop the simulated venues and close the store the client opened."""
        for running in list(self._streams):
            with suppress(RuntimeError):  # one being stepped right now is closed by its own consumer
                await running.aclose()
        stack, self._stack, self._pool = self._stack, None, None
        opened, self._store = self._store, None
        if opened is not None and opened is not self._store_arg:
            opened.close()
        if stack is not None:
            await stack.aclose()

    # --- the history store ------------------------------------------------------------------------

    def store(self, *, create: bool = True) -> Store | None:
        """The history store (opened on first use, migrating it if needed). With ``create=False``, None when
        it is a SQLite file that does not exist yet (reading never creates a store)."""
        from dtrack.store import Store, open_store, parse_store_url

        if isinstance(self._store_arg, Store):
            return self._store_arg
        if self._store is None:
            url = self._store_arg if self._store_arg is not None else self.settings.store.url
            engine, target = parse_store_url(url)
            if engine == "sqlite" and not create and target != ":memory:" and not Path(target).exists():
                return None
            self._store = open_store(url)
        return self._store

    def store_location(self) -> str:
        """Where the store is (password hidden), opened or not."""
        from dtrack.store import Store, parse_store_url
        from dtrack.store.postgres import redact

        if isinstance(self._store_arg, Store):
            return self._store_arg.location
        url = self._store_arg if self._store_arg is not None else self.settings.store.url
        engine, target = parse_store_url(url)
        return redact(target) if engine == "postgresql" else target

    def consult_store(self) -> Store | None:
        """The store a query may answer from or add to, or None: none exists, it cannot be opened (logged), or
        ``sim=True`` without a store named to the client (the simulated market must not mix with real data)."""
        import logging

        from dtrack.errors import DtrackError

        if self._sim and self._store_arg is None:
            return None
        try:
            return self.store(create=False)
        except DtrackError as exc:
            logging.getLogger(__name__).warning("history store not consulted: %s", exc)
            return None

    async def pool(self) -> VenuePool:
        """The venue pool (opening the client if needed)."""
        await self.open()
        assert self._pool is not None
        return self._pool

    # --- what every query shares ------------------------------------------------------------------

    def deadline(self) -> Deadline:
        """A fresh overall deadline for one query."""
        seconds = self._timeout if self._timeout is not None else self.settings.http.deadline
        return Deadline(seconds)

    @property
    def explicit_venues(self) -> bool:
        """Whether the user restricted the venues."""
        return bool(self._venues)

    @property
    def chosen_venues(self) -> list[str]:
        """The venues the user restricted queries to (empty: none chosen, every enabled venue is asked)."""
        return list(self._venues)

    def venues_for(self, query: str) -> list[str]:
        """The venues to ask for ``query``: the chosen ones, else every active venue enabled in settings
        that offers it. Closed, planned, unknown and unable venues are usage errors with one clear line."""
        from dtrack.venues import ACTIVE, QUERY_NEEDS, VENUES, venue_info

        need: DataKind = QUERY_NEEDS[query]
        if not self._venues:
            enabled = [v for v in ACTIVE if self.settings.venue(v).enabled and VENUES[v].offers(need)]
            if not enabled:
                raise UsageError(f"every venue offering {query} is disabled in settings ({self.settings.source}): "
                                 "set venues.<name>.enabled: true, or name one with --venue")
            return enabled
        chosen: list[str] = []
        for name in self._venues:
            info = venue_info(name)
            if info.status == "closed":
                raise UsageError(f"{info.title} closed on {info.closed_on}: no live data exists; "
                                 f"active venues: {', '.join(ACTIVE)}")
            if not info.offers(need):
                reason = info.capability(need).note or info.note or "not implemented"
                raise UsageError(f"{info.title} ({info.status}) does not offer {query} in dtrack: {reason}")
            if info.name not in chosen:
                chosen.append(info.name)
        return chosen

    # --- queries ----------------------------------------------------------------------------------

    async def venues(self) -> VenuesResult:
        """Every venue dtrack knows: status, markets, funding intervals, default taker fee and the
        capability table (per data kind: REST endpoint, stream, history depth, sampled, note)."""
        from dtrack.client.queries import catalog

        return catalog.venues(self)

    async def instruments(self, assets: str | Sequence[str] | None = None) -> InstrumentsResult:
        """Every listed perpetual and dated future (of ``assets``, when given) on the chosen venues."""
        from dtrack.client.queries import catalog

        return await catalog.instruments(self, assets)

    async def funding(self, assets: str | Sequence[str], *, history: str | timedelta | None = None,
                      arb: bool = False, min_spread: float | None = None, alert_threshold: float | None = None,
                      position: float | None = None, side: str | None = None, live: bool = False) -> FundingResult:
        """Current funding of every perpetual of ``assets`` across venues, each with its own interval.

        ``history``: window of the statistics (``"7d"`` or a timedelta; averages always use at least 7 days);
        ``arb``: cross-venue arbitrage pairs net of taker fees, ``min_spread`` (percent per 8 h) filters them;
        ``alert_threshold``: percent per 8 h beyond which a row is flagged; ``position`` (USD notional) with
        ``side`` (``"long"``/``"short"``): the payments it makes or receives. Percent arguments are written as
        on the command line (0.01 = 0.01 %); every rate in the result is a fraction.

        From the store, without the network, when it is fresh (see the class doc; ``live=True``: the venues);
        with ``history``, stored settlements older than what a venue keeps complete its history. The result's
        ``source`` says which.
        """
        from dtrack.client.queries import funding

        return await funding.run(self, assets, history=history, arb=arb, min_spread=min_spread,
                                 alert_threshold=alert_threshold, position=position, side=side, live=live)

    async def open_interest(self, assets: str | Sequence[str], *, changes: bool = False, divergence: bool = False,
                            window: str | timedelta = "24h", live: bool = False) -> OpenInterestResult:
        """Open interest of every perpetual and dated future of ``assets``, one side, in the venue's unit,
        in coins and in USD with the price used; ``changes``: 1 h / 4 h / 24 h / 7 d changes in coin terms;
        ``divergence``: OI change against price change over ``window``, classified. From the store when it is
        fresh (not with ``divergence``; ``live=True``: the venues)."""
        from dtrack.client.queries import open_interest

        return await open_interest.run(self, assets, changes=changes, divergence=divergence, window=window,
                                       live=live)

    async def basis(self, assets: str | Sequence[str] | None = None, *, quarterly: bool = False, all: bool = False,
                    min_yield: float | None = None, live: bool = False) -> BasisResult:
        """Perpetual premia and funding carry, dated-futures basis against spot, term structure and constant
        maturity of ``assets`` (default, or ``all=True``: every asset with dated futures); ``quarterly``:
        only quarterly expiries; ``min_yield`` (annual percent): carry trades at least that net of fees. From
        the store when it is fresh for the named assets (``live=True``: the venues)."""
        from dtrack.client.queries import basis

        return await basis.run(self, assets, quarterly=quarterly, scan_all=all, min_yield=min_yield, live=live)

    async def options(self, assets: str | Sequence[str], *, expiry: str | None = None, chain: bool = False,
                      pcr: bool = False, flow: bool = False, min_size: str | float | None = None,
                      gex: bool = False) -> OptionsResult:
        """Options analytics of ``assets``: per-expiry forward, ATM IV, 25-delta RR/BF, put/call ratios, max
        pain and OI; the cross-venue aggregate, IV term structure, DVOL rank, RV and the regime.

        ``expiry``: an ISO date, ``next``, ``friday``, ``month`` or ``all`` (default: the next four);
        ``chain``: every option with dtrack's greeks; ``pcr``: the put/call view of the table; ``flow``: large
        trades of the last 24 h, ``min_size`` in coins (``25``) or USD premium (``"$100000"``); ``gex``:
        dealer gamma exposure by strike.
        """
        from dtrack.client.queries import options

        return await options.run(self, assets, expiry=expiry, chain=chain, pcr=pcr, flow=flow, min_size=min_size,
                                 gex=gex)

    async def stream(self, kinds: DataKind | str | Sequence[DataKind | str], assets: str | Sequence[str],
                     venues: Sequence[str] | None = None) -> AsyncIterator[Record]:
        """Live records of ``kinds`` for ``assets`` over the venues' WebSockets, until the iteration stops.

        ``kinds``: ``"funding"`` (``FundingRate``), ``"open_interest"`` (``OpenInterest``), ``"quotes"``
        (``PriceQuote``), as strings or ``DataKind``; ``assets`` as for the other queries (``BTC``, ``BTCUSDT``);
        ``venues``: these only (default: the client's, else every enabled venue streaming one of the kinds). The
        records are the REST queries' own (same units and plausibility rules; ``time`` the venue's event time,
        ``received_at`` the frame's arrival), mixed with ``Gap`` records: every interruption (``disconnect``,
        ``stall``, ``malformed``, ``error``) opens a gap (``end`` None) and closes it (``end`` set) when data
        resumes. A venue that fails is retried with backoff and never stops the others; leaving the loop (or
        ``aclose()`` on the iterator) closes every connection. Bad input is a ``UsageError``.

        >>> async with dtrack.AsyncClient() as dt:                       # doctest: +SKIP
        ...     async for rec in dt.stream(["funding", "quotes"], ["BTC", "ETH"], venues=["bybit", "okx"]):
        ...         if isinstance(rec, dtrack.records.Gap):
        ...             print("gap", rec.venue, rec.stream, rec.reason, rec.start, rec.end)
        ...         else:
        ...             print(rec.to_row())
        """
        from dtrack.client import streams

        records = streams.run(self, kinds, assets, venues)
        self._streams.add(records)
        try:
            async with aclosing(records):
                async for record in records:
                    yield record
        finally:
            self._streams.discard(records)

    async def snapshot(self, kinds: str | Sequence[str], assets: str | Sequence[str], *,
                       venues: Sequence[str] | None = None, chains: bool = True) -> SnapshotResult:
        """The current state of ``assets`` as records, for keeping (the collector): ``kinds`` among ``funding``
        (``FundingRate``), ``open_interest`` (``OpenInterest``), ``basis`` (``PriceQuote`` and ``SpotPrice``) and
        ``options`` (``OptionExpiry``: the per-expiry metrics of every listed expiry, per venue and across
        venues, as ``options(expiry="all")`` computes them; and with ``chains`` the chains' ``OptionQuote``);
        each asked of ``venues`` (default: the client's) that offer it, concurrently. No other analytics: the
        venues' records as they came; failures per venue, never fatal to the others."""
        from dtrack.client.queries import snapshot

        return await snapshot.run(self, kinds, assets, venues, chains)

    async def history(self, kind: str, assets: str | Sequence[str] | None = None, *,
                      since: str | datetime | timedelta = "24h", until: str | datetime | timedelta | None = None,
                      venues: Sequence[str] | None = None) -> HistoryResult:
        """A stored series of ``assets``, read from the history store only (no network): ``kind`` is ``funding``
        (settled funding), ``oi`` (open-interest history), ``klines`` (kline closes), ``snapshots`` (the stored
        funding, open-interest and price snapshots), ``options`` (the stored per-expiry option metrics, per venue
        and across venues) or ``gaps`` (what collectors did not see: assets optional).
        ``since`` / ``until``: a duration ago (``24h``, ``7d``), an ISO-8601 time or an aware datetime;
        ``venues``: only these (default: the client's). Assets are resolved to venue symbols through the store's
        instruments table. ``.to_pandas()`` has a tz-aware ``time`` column."""
        from dtrack.client import history

        return await history.run(self, kind, assets, since=since, until=until, venues=venues)

    async def backfill(self, kinds: str | Sequence[str], assets: str | Sequence[str], *,
                       since: str | datetime | timedelta = "90d", venues: Sequence[str] | None = None,
                       store: str | Store | None = None, progress: Progress | None = None) -> BackfillResult:
        """Fill the history store from the venues' history: ``kinds`` among ``funding`` (settled funding),
        ``oi`` (open-interest history, hourly) and ``klines`` (hourly closes), for every perpetual of ``assets``
        (and the live dated futures, for klines) on ``venues`` (default: the client's, else every venue that
        offers the kind), from ``since`` or from the last stored point, whichever is later. Honest about each
        venue's depth: the result says per venue and kind what was asked, what the venue keeps, what was
        written. ``store``: another store than the client's; ``progress``: called with one line per step."""
        from dtrack.client.backfill import backfill
        from dtrack.store import open_store

        if isinstance(store, str):
            with open_store(store) as named:
                report = await backfill(self, named, kinds, assets, since=since, venues=venues, progress=progress)
        else:
            target = store if store is not None else self._backfill_store()
            report = await backfill(self, target, kinds, assets, since=since, venues=venues, progress=progress)
        return report.result()

    def _backfill_store(self) -> Store:
        if self._sim and self._store_arg is None:
            raise UsageError("with --sim (sim=True), name the store to fill (--store URL, or store=...): the "
                             "simulated market must not mix with your history")
        opened = self.store(create=True)
        assert opened is not None
        return opened


class Deadline:
    """One query's overall deadline (None: none)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds if seconds is not None else None

    def left(self) -> float | None:
        """Seconds left (at least a millisecond), or None without a deadline."""
        if self._end is None:
            return None
        return max(0.001, self._end - time.monotonic())

    def first_step(self) -> float | None:
        """The time the first of two steps (the instrument lists) may take: half of what is left, so that
        a venue that never answers its list still leaves the others time to answer the query."""
        left = self.left()
        return None if left is None else left / 2


def _load_settings(config: Any) -> Settings:
    from dtrack.config import Settings, load_settings
    from dtrack.venues import VENUES

    settings = config if isinstance(config, Settings) else load_settings(config)
    for name in settings.venues:
        if name not in VENUES:
            raise ConfigError(f"settings key 'venues.{name}' is not a venue dtrack knows; known: {', '.join(VENUES)}")
    return settings
