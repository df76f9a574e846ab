"""The collector's alert job: the alert rules checked every ``alerts.interval`` seconds through
``AsyncClient.alerts_check`` (on settings ``alerts.assets``, else the collector's assets), the console sink writing
the collector's message lines.

The first check comes a minute after the start (once the first snapshots are stored). A check that runs late
does not pile up: a missed tick is skipped. A sink that fails, or a rule whose data is
missing, is said when it starts and not again until it changes; a failed check never stops the collector. Reading
its inputs costs little while the collector runs: ``funding``, ``oi`` and ``basis`` answer from the store when it
is fresh, and liquidations come from the store the streams fill.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from dtrack.errors import DtrackError

if TYPE_CHECKING:
    from dtrack.client.core import AsyncClient
    from dtrack.collect.plan import Plan
    from dtrack.collect.status import StatusLine
    from dtrack.results import AlertsResult

log = logging.getLogger(__name__)

#: seconds from the collector's start to its first check (at most): the first snapshots are in the store by then,
#: so the check reads them from there instead of asking the venues the same questions again
FIRST_CHECK = 60.0


class AlertJob:
    """Checks the alert rules for one collector run."""

    def __init__(self, client: AsyncClient, plan: Plan, status: StatusLine) -> None:
        self.client = client
        self.status = status
        alerts = client.settings.alerts
        self.interval = alerts.interval
        self.assets = list(alerts.assets) or list(plan.assets)
        self.rounds = 0
        self.fired = 0
        self._said: set[str] = set()  # problems already reported (said again only once they went away and came back)

    @property
    def enabled(self) -> bool:
        """Whether the settings ask for checks (``alerts.interval`` > 0)."""
        return self.interval > 0

    async def round(self) -> AlertsResult | None:
        """One check: alerts to their sinks, new problems to the message lines; None when the check failed."""
        started = time.monotonic()
        try:
            result = await self.client.alerts_check(self.assets, console=self.status.message)
        except DtrackError as exc:
            self._say({f"alerts check failed: {exc}"})
            return None
        self.rounds += 1
        self.fired += len(result.alerts)
        problems = {f"alert sink {d.sink} ({d.type}, {d.target}) failed: {d.error}"
                    for d in result.deliveries if not d.ok}
        problems |= {f"alerts: {n}" for n in result.notes}
        self._say(problems)
        log.info("alerts round", extra={"fields": {
            "fired": len(result.alerts), "held": len(result.held), "rules": len(result.rules),
            "failed_sinks": sum(not d.ok for d in result.deliveries), "failures": len(result.failures),
            "seconds": round(time.monotonic() - started, 3)}})
        return result

    def _say(self, problems: set[str]) -> None:
        for text in sorted(problems - self._said):
            self.status.message(text)
        self._said = problems

    async def every(self, stop: asyncio.Event, first: float | None = None) -> None:
        """Checks every ``interval`` seconds until ``stop``, the first after ``first`` seconds (default
        ``FIRST_CHECK`` or the interval, whichever is shorter)."""
        delay = min(self.interval, FIRST_CHECK) if first is None else first
        next_at = time.monotonic() + delay
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        while not stop.is_set():
            try:
                await self.round()
            except Exception as exc:  # a bug in one check must not end the schedule
                log.exception("alerts check failed")
                self.status.message(f"alerts check failed: {type(exc).__name__}: {exc}")
            now = time.monotonic()
            next_at += self.interval
            if next_at <= now:
                next_at = now + self.interval - (now - next_at) % self.interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), next_at - now)

    def task(self, stop: asyncio.Event) -> asyncio.Task[None]:
        """The scheduled checks as a task."""
        return asyncio.create_task(self.every(stop), name="alerts")
