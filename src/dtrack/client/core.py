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
        self._streams: set[AsyncGenerator[list[Record], None]] = set()  # running streams, closed by aclose

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
    def simulated(self) -> bool:
        """Whether the client reads dtrack's simulated venues (``sim=True``)."""
        return self._sim

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

    async def funding(self, assets: str | Sequence[str] | None = None, *, history: str | timedelta | None = None,
                      arb: bool = False, min_spread: float | None = None, alert_threshold: float | None = None,
                      position: float | None = None, side: str | None = None, live: bool = False,
                      top: int | None = None, sort: str | None = None, min_oi: float | None = None,
                      limit: int | None = None) -> FundingResult:
        """Current funding of every perpetual of ``assets`` across venues, each with its own interval.

        ``history``: window of the statistics (``"7d"`` or a timedelta; averages always use at least 7 days);
        ``arb``: cross-venue arbitrage pairs net of taker fees, ``min_spread`` (percent per 8 h) filters them;
        ``alert_threshold``: percent per 8 h beyond which a row is flagged; ``position`` (USD notional) with
        ``side`` (``"long"``/``"short"``): the payments it makes or receives. Percent arguments are written as
        on the command line (0.01 = 0.01 %); every rate in the result is a fraction.

        From the store, without the network, when it is fresh (see the class doc; ``live=True``: the venues);
        with ``history``, stored settlements older than what a venue keeps complete its history. The result's
        ``source`` says which.

        A screen: ``top=N`` keeps the N best perpetuals by ``sort`` (``apr``, the default: highest funding APR;
        ``rate``: largest 8 h-equivalent rate either sign; ``oi``: largest open interest; ``spread``: the rate
        minus the lowest of the same asset on another venue); without ``assets``, over every listed perpetual of
        every venue (current rates only unless ``history`` is given). ``min_oi`` (USD) leaves out smaller
        perpetuals; ``sort`` alone orders the rows; ``limit`` keeps the first N arbitrage pairs (ordered by
        ``sort``: net APR by default). The result's ``screen`` says what was done (``analytics.screens``).
        """
        from dtrack.client.queries import funding

        return await funding.run(self, assets, history=history, arb=arb, min_spread=min_spread,
                                 alert_threshold=alert_threshold, position=position, side=side, live=live, top=top,
                                 sort=sort, min_oi=min_oi, limit=limit)

    async def open_interest(self, assets: str | Sequence[str] | None = None, *, changes: bool = False,
                            divergence: bool = False, window: str | timedelta = "24h", live: bool = False,
                            top: int | None = None, sort: str | None = None,
                            min_oi: float | None = None) -> OpenInterestResult:
        """Open interest of every perpetual and dated future of ``assets``, one side, in the venue's unit,
        in coins and in USD with the price used; ``changes``: 1 h / 4 h / 24 h / 7 d changes in coin terms;
        ``divergence``: OI change against price change over ``window``, classified. From the store when it is
        fresh (not with ``divergence``; ``live=True``: the venues).

        A screen: ``top=N`` keeps the N largest contracts by ``sort`` (``oi``, the default, in USD;
        ``change_24h``: the largest 24 h increase in coin terms, which fetches the history); without ``assets``,
        over every listed contract of every venue (no long/short ratios). ``min_oi`` (USD) leaves out smaller
        contracts; ``sort`` alone orders the rows."""
        from dtrack.client.queries import open_interest

        return await open_interest.run(self, assets, changes=changes, divergence=divergence, window=window,
                                       live=live, top=top, sort=sort, min_oi=min_oi)

    async def basis(self, assets: str | Sequence[str] | None = None, *, quarterly: bool = False, all: bool = False,
                    min_yield: float | None = None, live: bool = False, sort: str | None = None,
                    limit: int | None = None) -> BasisResult:
        """Perpetual premia and funding carry, dated-futures basis against spot, term structure and constant
        maturity of ``assets`` (default, or ``all=True``: every asset with dated futures); ``quarterly``:
        only quarterly expiries; ``min_yield`` (annual percent): carry trades at least that net of fees. From
        the store when it is fresh for the named assets (``live=True``: the venues). ``sort`` orders the rows
        across assets (``annualized`` or ``basis``: highest first; ``days``: nearest expiry first) and ``limit``
        keeps the first N."""
        from dtrack.client.queries import basis

        return await basis.run(self, assets, quarterly=quarterly, scan_all=all, min_yield=min_yield, live=live,
                               sort=sort, limit=limit)

    async def options(self, assets: str | Sequence[str], *, expiry: str | None = None, chain: bool = False,
                      pcr: bool = False, flow: bool = False, min_size: str | float | None = None,
                      gex: bool = False, sort: str | None = None, limit: int | None = None) -> OptionsResult:
        """Options analytics of ``assets``: per-expiry forward, ATM IV, 25-delta RR/BF, put/call ratios, max
        pain and OI; the cross-venue aggregate, IV term structure, DVOL rank, RV and the regime.

        ``expiry``: an ISO date, ``next``, ``friday``, ``month`` or ``all`` (default: the next four);
        ``chain``: every option with dtrack's greeks; ``pcr``: the put/call view of the table; ``flow``: large
        trades of the last 24 h, ``min_size`` in coins (``25``) or USD premium (``"$100000"``); ``gex``:
        dealer gamma exposure by strike; with ``chain``, ``sort`` orders each asset's chain (``strike``,
        ``expiry``: ascending; ``oi``, ``volume``: in coins, ``iv``: descending) and ``limit`` keeps N options
        per asset.
        """
        from dtrack.client.queries import options

        return await options.run(self, assets, expiry=expiry, chain=chain, pcr=pcr, flow=flow, min_size=min_size,
                                 gex=gex, sort=sort, limit=limit)

    async def dashboard(self, assets: str | Sequence[str], *, level: int = 2, live: bool = False) -> DashboardResult:
        """The multi-asset dashboard: for each of ``assets``, funding, open interest, liquidations, basis and
        options, every panel of every asset fetched concurrently (one round of requests after the cached
        instrument lists). Built from the results of ``funding``, ``open_interest``, ``basis``, ``options`` (and
        ``liquidations`` where this build has it), so its numbers are theirs.

        ``level`` 1: one line per asset (the headline figures); 2 (default): compact panels per asset, with
        sparklines of stored history when the store holds it; 3: the panels plus signals and a risk assessment,
        each with the numbers behind it. A panel that fails leaves the others (its venues in ``failures``).
        ``live=True``: the venues even when the history store is fresh.
        """
        from dtrack.client.queries import dashboard

        return await dashboard.run(self, assets, level=level, live=live)

    async def liquidations(self, assets: str | Sequence[str], *, since: str | timedelta = "24h",
                           venues: Sequence[str] | None = None, recent: bool = False,
                           min_size: str | float | None = None, listen: str | float | timedelta | None = None,
                           limit: int | None = None, progress: Callable[[str], None] | None = None,
                           ) -> LiquidationsResult:
        """Liquidations of ``assets`` by the side of the POSITION liquidated, per venue and in total over 1 h, 4 h,
        12 h and 24 h (the windows up to ``since``, and ``since`` itself), with the long/short ratio, event counts,
        each venue's coverage (``complete``, ``sampled``: a total over it is a lower bound, ``trade-flag``) and how
        much of each window the data covers; venues without a feed dtrack reads (Hyperliquid publishes none) are
        listed as not covered, with the reason.

        The events come from the history store (what ``dtrack collect`` recorded) and, with ``listen`` (``"60s"``,
        seconds, a timedelta), from the venues' liquidation streams heard live for that long; both merged by event
        key, never counted twice. With ``sim=True`` and no liquidation stored in the window, the simulated venues
        are listened to for settings ``liquidations.listen_seconds`` (the ``source`` says so; ``progress``, when
        given, is called with one line before the listen). ``recent`` (or ``min_size``): the latest events of at
        least ``min_size`` USD (``1000000``, ``"$1M"``, ``"250k"``; default settings
        ``liquidations.min_size_usd``), newest first, at most ``limit`` (default ``liquidations.recent_limit``).
        ``venues``: only these (default: the client's). Bad input is a ``UsageError``.
        """
        from dtrack.client.queries import liquidations

        return await liquidations.run(self, assets, since=since, venues=venues, recent=recent, min_size=min_size,
                                      listen_for=listen, limit=limit, progress=progress)

    async def alerts_check(self, assets: str | Sequence[str] | None = None, *, rules: Sequence[str] | None = None,
                           send: bool = True, console: Callable[[str], None] | None = None) -> AlertsResult:
        """Check the alert rules of settings ``alerts:`` once, on ``assets`` (default: settings ``alerts.assets``,
        else ``collect.assets``; a rule naming its own assets checks those too): ask the queries their metrics need,
        concurrently, evaluate every enabled rule (or those named in ``rules``), and send each alert that its
        cooldown does not hold to the rule's sinks (console, JSON lines, webhook, Discord, Slack, Telegram), with
        the cooldowns kept in the state dir across runs. ``send=False``: a dry run (nothing sent or recorded);
        ``console``: where the console sink writes (default: stderr). A rule whose data is missing (a query that
        failed, or none dtrack has) says "not available" without failing the others. ``exit_code``: 0 nothing
        fired, 10 fired, 11 fired and a sink failed."""
        from dtrack.alerts.check import check

        return await check(self, assets, rules=rules, send=send, console=console)

    async def alerts_test(self, sink: str, *, console: Callable[[str], None] | None = None) -> AlertsResult:
        """Send a test message to the alert sink named ``sink`` (settings ``alerts.sinks``, or ``console``): the
        result's ``deliveries`` say whether it went (the target and any error masked)."""
        from dtrack.alerts.check import test_sink

        return await test_sink(self, sink, console=console)

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
        async with aclosing(self.stream_batches(kinds, assets, venues)) as batches:
            async for batch in batches:
                for record in batch:
                    yield record

    async def stream_batches(self, kinds: DataKind | str | Sequence[DataKind | str], assets: str | Sequence[str],
                             venues: Sequence[str] | None = None, *,
                             linger: float = 0.0) -> AsyncGenerator[list[Record], None]:
        """``stream``'s records and gaps a frame at a time: an async iterator of lists, each the records one
        WebSocket message carried (after the ``Gap`` it closes, if any) or one gap alone, in arrival order (each
        venue's in its order); concatenated, exactly what ``stream`` yields. For a consumer that handles many
        records per second: it pays the hand-over once per frame, not per record. The same arguments, errors and
        closing as ``stream``. ``linger`` (seconds, default 0) is for a consumer that can take records a little
        late (the collector: 0.1 s): each socket is then read in rounds that far apart and the lists handed on as
        often, so that one wake-up serves many frames (most of a stream's CPU is that per-message machinery); the
        same lists in the same order, each up to ``2 * linger`` later, and ``received_at`` is when the frame was
        read, up to ``linger`` after it arrived.

        >>> async with dtrack.AsyncClient() as dt:                       # doctest: +SKIP
        ...     async for batch in dt.stream_batches("quotes", ["BTC", "ETH"]):
        ...         marks = [r.mark_price for r in batch if isinstance(r, dtrack.records.PriceQuote)]
        """
        from dtrack.client import streams

        batches = streams.run_batches(self, kinds, assets, venues, linger=linger)
        self._streams.add(batches)
        try:
            async with aclosing(batches):
                async for batch in batches:
                    yield batch
        finally:
            self._streams.discard(batches)

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
        and across venues), ``liquidations`` (the liquidation events collectors recorded) or ``gaps`` (what
        collectors did not see: assets optional).
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

    async def liquidation_map(self, assets: str | Sequence[str], *, venues: Sequence[str] | None = None,
                              range_pct: float | None = None, bins: int | None = None,
                              at: str | datetime | timedelta | None = None) -> LiquidationMapResult:
        """The ESTIMATED liquidation map (heatmap) of each of ``assets``: where the leveraged positions opened in
        the last ``liquidation_map.window_days`` (30) would be liquidated, binned over ``±range_pct`` percent of
        the current price (default settings ``liquidation_map.range_pct``, 10) in ``bins`` bins (even; default
        50: half below, longs; half above, shorts), each with the estimated USD, its distance and a density
        label; the cascade risk (seed bands scaled to the asset's open interest; the near-price / 24 h volume
        ratio) with its inputs. An estimate (``dtrack.analytics.liquidation_map`` documents the method), never
        observed liquidations: ``to_dict()`` says ``estimate: true`` with the method and its parameters.

        From the history store when it holds the whole window of open-interest history and klines for every
        venue, else from the venues that publish both (``venues``: only these); ``at``: the map as of a past
        time (``"6h"`` ago, an ISO-8601 time or an aware datetime). ``result.source`` says where the data came
        from; ``result.levels()`` gives the bins as ``LiquidationLevel`` records (what the collector stores)."""
        from dtrack.client.queries import liquidation_map

        return await liquidation_map.run_map(self, assets, venues=venues, range_pct=range_pct, bins=bins, at=at)

    async def liquidation_score(self, assets: str | Sequence[str], *, since: str | datetime | timedelta = "7d",
                                venues: Sequence[str] | None = None, horizon: str | timedelta | None = None,
                                top_k: int | None = None) -> LiquidationScoreResult:
        """Score the estimated maps the collector stored since ``since`` (``"7d"``, an ISO-8601 time or an aware
        datetime) against the liquidations recorded in the ``horizon`` after each (default settings
        ``liquidation_map.score_horizon_hours``, 24 h), over the price bins price actually traversed: Spearman's
        rank correlation of estimated and realized USD per bin and the share of the realized USD in each
        estimate's ``top_k`` bins (default ``liquidation_map.score_top_k``, 5), beside a distance-only baseline,
        per asset and method. ``venues``: count only these venues' liquidations (default: the venues each
        estimate was made from). Reads the store only (no network)."""
        from dtrack.client.queries import liquidation_map

        return await liquidation_map.run_score(self, assets, since=since, venues=venues, horizon=horizon,
                                               top_k=top_k)

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
