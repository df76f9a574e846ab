"""The estimated liquidation map, frozen every ``collect.liquidation_map_interval`` seconds (at the whole hours by
default): each asset's map (``AsyncClient.liquidation_map``: from the collector's store when it holds the window of
open-interest history and klines, else from the venues) written as ``LiquidationLevel`` rows
(``liquidation_levels``: every bin, empty ones too, keyed by asset, method, time, side and bin), so that
``liquidations --score`` can compare each estimate with the liquidations that followed. A stored estimate is never
recomputed (no repaint).

A round that fails (no venue answered, a store that cannot be read) is said once when it starts failing and
again when it works again; it never stops the collector.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from dtrack.errors import DtrackError

if TYPE_CHECKING:
    from dtrack.client.core import AsyncClient
    from dtrack.collect.plan import Plan
    from dtrack.collect.status import StatusLine, Tally
    from dtrack.collect.writer import BatchWriter
    from dtrack.records import LiquidationLevel
    from dtrack.store import Store

log = logging.getLogger(__name__)


class Levels:
    """Rounds of the estimated liquidation map of ``plan.assets`` into ``writer``."""

    def __init__(self, client: AsyncClient, plan: Plan, writer: BatchWriter, tally: Tally, status: StatusLine,
                 clock: Callable[[], datetime], open_store: Callable[[], Store] | None = None) -> None:
        self.client = client
        self.plan = plan
        self.writer = writer
        self.tally = tally
        self.status = status
        self.clock = clock
        self.open_store = open_store
        self._failing: dict[str, str] = {}  # asset -> message

    async def round(self) -> list[LiquidationLevel]:
        """One map per asset, its bins handed to the writer; the records written (none for an asset that
        failed)."""
        from dtrack.client.queries.liquidation_map import run_map

        started = time.monotonic()
        store = self._store()
        out: list[LiquidationLevel] = []
        try:
            for asset in self.plan.assets:
                try:
                    result = await run_map(self.client, [asset], venues=list(self.plan.venues), store=store,
                                           use_store=store is not None)
                except DtrackError as exc:
                    self._failed(asset, str(exc))
                    continue
                if not result.maps:
                    why = "; ".join(f.message for f in result.failures) or "; ".join(result.notes) or "no data"
                    self._failed(asset, why)
                    continue
                levels = result.levels(self.clock())
                self.writer.add(levels)
                out += levels
                if self._failing.pop(asset, None) is not None:
                    self.status.info(f"liquidation map of {asset} works again")
        finally:
            if store is not None:
                store.close()
        log.info("liquidation map round", extra={"fields": {
            "assets": ",".join(self.plan.assets), "levels": len(out), "seconds": round(time.monotonic() - started, 3)}})
        return out

    def _store(self) -> Store | None:
        """The collector's store, read for the map's inputs (None: the venues are asked)."""
        if self.open_store is None:
            return None
        try:
            return self.open_store()
        except DtrackError as exc:  # the store is down: the venues answer, the writer keeps the rows
            log.debug("liquidation map: store not read (%s)", exc)
            return None

    def _failed(self, asset: str, message: str) -> None:
        if asset not in self._failing:
            self.status.message(f"liquidation map of {asset} failed: {message}")
        self._failing[asset] = message

    async def every(self, interval: float, stop: asyncio.Event) -> None:
        """Rounds at each multiple of ``interval`` seconds of UTC time (the whole hours by default: an estimate
        at 08:00 uses the hourly bar that closed at 08:00) until ``stop``; a round that runs past the next
        boundary skips it."""
        while not stop.is_set():
            now = self.clock().timestamp()
            wait = math.floor(now / interval) * interval + interval - now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            if stop.is_set():
                return
            try:
                await self.round()
            except Exception as exc:  # a bug in one round must not end the schedule
                log.exception("liquidation map round failed")
                self.status.message(f"liquidation map failed: {type(exc).__name__}: {exc}")

    def tasks(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        """The scheduled task (none when ``plan.liquidation_map_interval`` is 0)."""
        interval = self.plan.liquidation_map_interval
        if interval <= 0:
            return []
        return [asyncio.create_task(self.every(interval, stop), name="liquidation-map")]
