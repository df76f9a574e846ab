"""GMX funding history over real sockets (the simulated ``/v1/rates``): an answer without the asked market and an
answer whose market has no snapshot in the window are different causes, and the history's note says which (the
first: GMX sent no history of the market, whatever the window; the second: widen or move the window)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dtrack.records import FundingHistory
from dtrack.sim.model import MarketModel
from dtrack.sim.venues import gmx as sim_gmx
from dtrack.venues.fields import utc_to_ms
from dtrack.venues.gmx import api, parse
from dtrack.venues.pool import open_pool

NOW = datetime(2026, 11, 20, 13, 27, 45, 123000, tzinfo=UTC)
ELSEWHERE = "0x" + "1" * 40


def _history(server: Any, tmp_path: Path, start: datetime, end: datetime) -> tuple[FundingHistory, str]:
    settings = server.settings(tmp_path)

    async def go() -> tuple[FundingHistory, str]:
        async with open_pool(settings, now=lambda: NOW) as pool:
            adapter = pool.adapter("gmx")
            inst = next(i for i in await adapter.perpetuals(["ETH"]) if i.market == "arbitrum")
            return await adapter.fetch_funding_history(inst, start, end), inst.symbol

    return asyncio.run(go())


def test_an_answer_without_the_market_says_so(sim_factory: Callable[..., Any], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    server = sim_factory(model=MarketModel(7, now_ms=utc_to_ms(NOW)))
    # /v1/rates asked by an address the sim holds no pool of: it answers [] (no entry for the market)
    monkeypatch.setattr(parse, "market_address", lambda chain, row: ELSEWHERE)
    history, _symbol = _history(server, tmp_path, NOW - timedelta(days=1), NOW)
    assert history.points == ()
    assert history.note == (f"{api.HISTORY_NOTE}; GET /v1/rates (arbitrum) answered without this market "
                            f"({ELSEWHERE}): GMX sent no rate history of it")


def test_a_window_before_the_snapshots_says_none_is_in_it(sim_factory: Callable[..., Any], tmp_path: Path) -> None:
    server = sim_factory(model=MarketModel(7, now_ms=utc_to_ms(NOW)))
    # the market's entry is there (period "total": the sim's snapshots go back TOTAL_DAYS), none in the window
    end = NOW - timedelta(days=sim_gmx.TOTAL_DAYS + 10)
    history, _symbol = _history(server, tmp_path, end - timedelta(days=1), end)
    assert history.points == ()
    assert history.note == f"{api.HISTORY_NOTE}; GMX returned no snapshot in the window"
