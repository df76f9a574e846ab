"""On start (and then every hour, to pick up new settlements): the history missing from the store — funding
settlements, open-interest history, klines — through ``AsyncClient.backfill``, which pages within each
venue's real depth and asks only for what the store lacks. Its progress lines go to the status line's
messages (``--quiet`` silences them).

The backfill opens its own store connection from the URL (apart from the writer's, which lives in the
writer's thread).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dtrack.client.core import AsyncClient
    from dtrack.collect.plan import Plan
    from dtrack.results import BackfillResult

#: what the collector backfills (the backfill's kinds)
KINDS = ("funding", "oi", "klines")
#: seconds between two backfills while the collector runs
EVERY = 3600.0


async def backfill(client: AsyncClient, plan: Plan, since: datetime,
                   progress: Callable[[str], None] | None) -> BackfillResult:
    """Fill the store's history of ``plan.assets`` on ``plan.venues`` from ``since`` (or from the last stored
    point, whichever is later); the backfill's result."""
    from dtrack.store import default_store_path

    store = plan.store_url or str(default_store_path())
    return await client.backfill(list(KINDS), list(plan.assets), since=since, venues=list(plan.venues), store=store,
                                 progress=progress)
