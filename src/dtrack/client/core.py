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
        pinned = None if clock is not None else pinned_clock(os.environ.get("DTRACK_NOW"))
        self.now: Callable[[], datetime] = clock or pinned or utc_now
        #: ``$DTRACK_NOW`` pins the in-process simulated market too (its clock stands still there, as dtrack's)
        self._sim_pinned_at: datetime | None = pinned() if pinned is not None else None
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

                model = None
                if self._sim_pinned_at is not None:
                    from dtrack.sim.model import MarketModel
                    from dtrack.store.base import to_ms

                    model = MarketModel(self._seed, now_ms=to_ms(self._sim_pinned_at))
                server = await start_sim(seed=self._seed, model=model)
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
                      gex: bool = False, sort: str | None = None, limit: int | None = None,
                      live: bool = False) -> OptionsResult:
        """Options analytics of ``assets``: per-expiry forward, ATM IV, 25-delta RR/BF, put/call ratios, max
        pain and OI; the cross-venue aggregate, IV term structure, DVOL rank, RV and the regime.

        ``expiry``: an ISO date, ``next``, ``friday``, ``month`` or ``all`` (default: the next four);
        ``chain``: every option with dtrack's greeks; ``pcr``: the put/call view of the table; ``flow``: large
        trades of the last 24 h, ``min_size`` in coins (``25``) or USD premium (``"$100000"``); ``gex``:
        dealer gamma exposure by strike; with ``chain``, ``sort`` orders each asset's chain (``strike``,
        ``expiry``: ascending; ``oi``, ``volume``: in coins, ``iv``: descending) and ``limit`` keeps N options
        per asset.

        From the store, without the network, when the collector's options snapshots of every asked asset on every
        chosen venue are at most settings ``options.fresh_seconds`` old (not with ``chain``, ``gex`` or ``flow``:
        they need every quote or the trades; the summary then has no GEX, its RV is over closed days, its spot the
        perpetuals' index price: ``dtrack.client.stored_options``); ``live=True``: the venues. The result's
        ``source`` says which, or why the store could not answer.
        """
        from dtrack.client.queries import options

        return await options.run(self, assets, expiry=expiry, chain=chain, pcr=pcr, flow=flow, min_size=min_size,
                                 gex=gex, sort=sort, limit=limit, live=live)

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
        estimate's ``top_k`` bins (default ``liquidation_map.score_top_k``, 5), beside a naive baseline (the
        leverage ladder: every position opened at the price of the estimate's time, over the same leverage mix and
        maintenance rates: distance only, no history), per asset and method. ``venues``: count only these venues'
        liquidations (default: the venues each estimate was made from). Reads the store only (no network)."""
        from dtrack.client.queries import liquidation_map

        return await liquidation_map.run_score(self, assets, since=since, venues=venues, horizon=horizon,
                                               top_k=top_k)

    # --- the quant toolkit (issue 13) ---------------------------------------------------------------------

    async def execsim(self, asset: str, *, side: str, size: str | float, venue: str | None = None,
                      algos: str | Sequence[str] | None = None, over: str | float | timedelta | None = None,
                      slices: int | None = None, paths: int | None = None, seed: int = 1) -> ExecSimResult:
        """Simulate an order of ``size`` (coins: ``10``; USD: ``"$250k"``, ``"250000usd"``) of ``asset`` on
        ``side`` (``"buy"`` / ``"sell"``) against a venue's real order book: a market order walked level by level
        (average price, slippage against the mid, levels consumed, whether the book was deep enough), and ``algos``
        (``"market,twap,vwap,iceberg"`` or a list; default all) over ``over`` (``"6h"``, ``"90m"``, hours; default
        settings ``execsim.over_hours``) in ``slices`` child orders on ``paths`` price paths drawn from ``seed``
        (numpy ``default_rng``; the same seed gives the same statistics), each figure with its expectation and
        5–95 % interval, and the saving against the market order.

        ``venue``: that venue (default: the client's chosen venues, else every active one; the venue whose book
        holds the most USD within 1 % of the mid on the order's side is used, and the result says why). The model
        (resilience from the 24 h volume, square-root impact calibrated on the book, the VWAP schedule from the
        venue's hourly volume profile, realized volatility from its hourly candles) is documented in
        ``dtrack.analytics.execution``; every parameter is in the result with its unit and source. Bad input is a
        ``UsageError``."""
        from dtrack.client.queries import execsim

        return await execsim.run(self, asset, side=side, size=size, venue=venue, algos=algos, over=over,
                                 slices=slices, paths=paths, seed=seed)

    async def liqprice(self, *, venue: str, symbol: str, side: str, size: float | None = None,
                       entry: float | None = None, leverage: float | None = None, margin: float | None = None,
                       mode: str = "isolated", wallet: float | None = None, target_distance: float | None = None,
                       risk: float | None = None, stop: float | None = None,
                       capital: float | None = None) -> LiqPriceResult:
        """The liquidation price of one position on ``venue``'s contract ``symbol`` (a venue symbol such as
        ``BTCUSDT`` / ``BTC-USDT-SWAP``, a normalized id, or an asset such as ``BTC``: its linear USDT perpetual
        first), with the venue's real maintenance-margin tiers and its documented formula
        (``dtrack.analytics.liqprice`` names each, with its source).

        ``side`` ``"long"``/``"short"``; ``size`` in coins of the asset; ``entry`` USD per coin (default: the
        contract's current mark price); ``leverage`` or ``margin`` (USD), not both; ``mode`` ``"isolated"`` or
        ``"cross"`` with ``wallet`` (USD: the balance backing the position; other positions are not modelled).
        ``target_distance`` (percent, e.g. 30): also the highest leverage whose liquidation stays that far (searched
        with the tiers; without ``leverage``/``margin`` the position is computed at it). ``risk`` (percent of
        capital), ``stop`` (percent) and ``capital`` (USD) together: seed 004's risk-based size (used as ``size``
        when none is given). Percents are written as on the command line (30 = 30 %); the result's are fractions.

        The tier is the one the position falls in AT the liquidation price (iterated; an oscillation is said), or
        at entry where the venue's formula measures it there (Bybit classic). Bad input (a negative size, a
        leverage above the tier's maximum, both leverage and margin, an unknown venue) is a ``UsageError``.

        >>> async with dtrack.AsyncClient(sim=True) as dt:                       # doctest: +SKIP
        ...     r = await dt.liqprice(venue="bybit", symbol="BTCUSDT", side="long", size=1, entry=20000,
        ...                           leverage=50)
        ...     r.to_dict()["liquidation"]["price"]
        """
        from dtrack.client.queries import liqprice

        return await liqprice.run(self, venue=venue, symbol=symbol, side=side, size=size, entry=entry,
                                  leverage=leverage, margin=margin, mode=mode, wallet=wallet,
                                  target_distance=target_distance, risk=risk, stop=stop, capital=capital)

    def carry_store(self, *, create: bool) -> Store | None:
        """The store of the ``carry`` positions: the client's store (None with ``create=False`` when it does not
        exist yet). With ``sim=True`` only a store named to the client: simulated positions never mix with yours."""
        if self._sim and self._store_arg is None:
            raise UsageError("with --sim (sim=True), name a store for the simulated carry positions (--store FILE, "
                             "or store=...): they must not mix with your own")
        return self.store(create=create)

    async def carry_open(self, asset: str, *, spot_venue: str, perp_venue: str, size: float, perp: str | None = None,
                         spot_price: float | None = None, perp_price: float | None = None,
                         fee_pct: float | None = None, note: str = "") -> CarryResult:
        """Record a basis (cash-and-carry) position in the store: ``size`` coins of ``asset`` long spot on
        ``spot_venue`` and short the perpetual ``perp`` (default: the venue's main USD-stablecoin linear perpetual:
        USDT, then USDC margined) on ``perp_venue``, at ``spot_price`` / ``perp_price`` (USD per coin; default: the
        spot venue's spot ticker and the perpetual's mark now). ``fee_pct``: the taker fee per leg per trade in
        percent (default settings ``carry.fee_pct``, 0.05), charged on both legs at entry and at exit. The result's
        single position carries the new ``id``. Bad input (size <= 0, a venue without spot, an unknown perpetual)
        is a ``UsageError``."""
        from dtrack.client.queries import carry

        return await carry.open_position(self, asset, spot_venue=spot_venue, perp_venue=perp_venue, size=size,
                                         perp=perp, spot_price=spot_price, perp_price=perp_price, fee_pct=fee_pct,
                                         note=note)

    async def carry_status(self, position_id: str | None = None, *, leverage: float | None = None) -> CarryResult:
        """Value every open carry position (or the one ``position_id``, open or closed), read back from the store:
        spot P&L (long), perp P&L (short), the funding received from the perpetual venue's SETTLED funding history
        since opening (each payment with its time, rate, own interval, the price it was paid on: the kline close at
        the settlement, else the entry price, and the amount = rate x size x price), fees (entry; exit when
        closed), net, return on capital (capital = spot notional + perp margin at entry, perp margin = perp
        notional / ``leverage``, default settings ``carry.perp_leverage``, 1) and its simple annualization (365
        days; None for a position held less than a day). Money in USD, returns as fractions. A venue that fails
        leaves that position's P&L None (in ``failures``)."""
        from dtrack.client.queries import carry

        return await carry.status(self, position_id, leverage=leverage)

    async def carry_close(self, position_id: str, *, spot_price: float | None = None,
                          perp_price: float | None = None, leverage: float | None = None) -> CarryResult:
        """Book the close of the open carry position ``position_id`` at ``spot_price`` / ``perp_price`` (USD per
        coin; default: the venues' current prices), now, and return its final P&L (as ``carry_status``, with the
        exit fees). An unknown or already closed position is a ``UsageError``."""
        from dtrack.client.queries import carry

        return await carry.close(self, position_id, spot_price=spot_price, perp_price=perp_price, leverage=leverage)

    async def carry_list(self, *, leverage: float | None = None) -> CarryResult:
        """Every recorded carry position, open and closed, from the store alone (no network): each one's terms and
        its entry and exit prices, no P&L (a P&L without the funding the perpetual venue settled would mislead:
        ``carry_status(id)`` values any position, closed ones too). ``leverage`` only sets the capital definition
        the result states."""
        from dtrack.client.queries import carry

        return await carry.list_positions(self, leverage=leverage)

    async def carry_simulate(self, avg_funding: float, days: float, *, vol: float | None = None,
                             half_life: float | None = None, interval_hours: float = 8.0, paths: int | None = None,
                             seed: int | None = None, notional: float | None = None, fee_pct: float | None = None,
                             price_vol: float | None = None, leverage: float | None = None) -> CarrySimulationResult:
        """Seed 004's Monte Carlo of a basis trade held ``days``: funding ``avg_funding`` percent per 8 h on average
        (0.03 = 0.03 %), paid every ``interval_hours`` (1, 2, 4 or 8; the per-interval rate is the 8 h rate scaled
        by interval / 8), mean-reverting with ``half_life`` hours (0: independent draws; default settings
        ``carry.half_life_hours``) and standard deviation ``vol`` percent per 8 h (default 0.01), floored at -0.5 %;
        the price a lognormal walk of ``price_vol`` percent a day (default 2); ``notional`` USD (default 100,000),
        ``fee_pct`` per leg per trade at entry and exit; ``paths`` (default 1,000) seeded with ``seed`` (default 7:
        the same seed gives the same figures). No network."""
        from dtrack.client.queries import carry

        return await carry.simulate(self, avg_funding, days, vol=vol, half_life=half_life,
                                    interval_hours=interval_hours, paths=paths, seed=seed, notional=notional,
                                    fee_pct=fee_pct, price_vol=price_vol, leverage=leverage)

    async def carry_backtest(self, asset: str, *, perp_venue: str, days: float = 180.0, perp: str | None = None,
                             notional: float | None = None, fee_pct: float | None = None,
                             leverage: float | None = None) -> CarryBacktestResult:
        """A basis trade on ``asset`` held over the last ``days`` of ``perp_venue``'s REAL settled funding history
        (``perp``: default the venue's main USD-stablecoin linear perpetual): ``notional`` USD (default settings
        ``carry.notional_usd``) of coins at the first price, each settlement paid at its own interval on the kline
        close at its time, fees (``fee_pct`` per leg per trade) at entry and exit; the net, return on capital and
        annualized return, and the funding by day. The result says when the venue kept less history than asked."""
        from dtrack.client.queries import carry

        return await carry.backtest(self, asset, perp_venue=perp_venue, days=days, perp=perp, notional=notional,
                                    fee_pct=fee_pct, leverage=leverage)

    async def vol(self, assets: str | Sequence[str], *, venue: str | None = None, window: str | timedelta = "30d",
                  bars: str = "1d", methods: str | Sequence[str] | None = None, implied: bool = True) -> VolResult:
        """Realized volatility of each of ``assets`` from a venue's klines, its regime and adaptive leverage,
        beside the implied volatility.

        Estimators (``methods``: a comma list or a sequence of ``cc`` close-to-close, ``parkinson``, ``gk``
        Garman-Klass, ``rs`` Rogers-Satchell, ``yz`` Yang-Zhang; default all five; the first drives the regime,
        the leverage and the IV - RV spread) over the last ``window`` (``"30d"``, ``"72h"``, a timedelta; at least
        3 bars) of ``bars`` (``"1d"`` or ``"1h"``), annualized with 365 days; the rolling series over settings
        ``vol.rolling_days`` before it and its regime transitions; the regime (settings ``vol`` bands: low up to
        40 %, medium up to 80 %, high up to 150 %, extreme above), the adaptive leverage (``vol.target_pct`` /
        realized, capped at the regime's ``vol.max_leverage_*``) and the regimes' parameters table.

        The klines are those of the asset's main perpetual on ``venue``, else on the first venue (registry order,
        or the client's venues) that serves candles: the result says which; a venue that fails is reported and
        the next one asked. With ``implied`` (default), the volatility index (Deribit DVOL, BTC and ETH) and the
        30-day ATM implied volatility from ``options`` are read concurrently, and the IV - RV spread computed;
        where an asset has none, the result says why. Bad input is a ``UsageError``.

        >>> async with dtrack.AsyncClient() as dt:                       # doctest: +SKIP
        ...     v = await dt.vol(["BTC", "ETH"], window="30d", bars="1h", methods="yz,cc")
        ...     v.to_dict()["assets"][0]["regime"]
        """
        from dtrack.client.queries import vol

        return await vol.run(self, assets, venue=venue, window=window, bars=bars, methods=methods, implied=implied)

    async def book(self, assets: str | Sequence[str], *, bands: str | Sequence[float | str] | None = None,
                   depth: int | None = None, kind: str = "perp",
                   venues: Sequence[str] | None = None) -> BookResult:
        """The L2 order book of every contract of ``assets`` (``kind``: ``"perp"``, the default, ``"future"`` or
        ``"all"``) on every venue offering books, all asked at once: per contract the mid, the spread, the best bid
        and ask, and per band (``bands``: percents of the mid, ``"0.1,0.5,1,5"`` by default) the bid and ask depth
        in coins and USD, the imbalance ``(bids - asks) / (bids + asks)`` and ``truncated`` per side where the
        venue's answer ended inside the band (the figure is then a lower bound); per asset the sum across venues.

        ``depth``: levels a side asked (default 1,000; each venue gets its nearest allowed limit, capped at its
        maximum: Hyperliquid sends 20). ``venues``: only those of these venues that publish books (the
        collector's list); default: the client's venues. ``result.report`` holds the figures
        (``dtrack.analytics.book``); a venue that fails is a row of ``result.failures``."""
        from dtrack.client.queries import book

        return await book.run(self, assets, bands=bands, depth=depth, kind=kind, venues=venues)

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
