"""GMX funding history over real sockets: the simulated ``/v1/rates`` in the API's format and agreeing with what
``markets/info`` serves now, and ``funding --history`` on GMX through the client (points, interval, statistics),
with its faults.

The sim's ``/v1/rates`` is checked against the OpenAPI's ``RatesResponse`` (api-evangelist/gmx
``openapi/gmx-rates-api-openapi.yml``: every snapshot field required, rates strings, ``timestamp`` a number) and
against ``markets/info`` / ``markets/tickers`` of the same instant (a second representation of one state, as the GMX
interface joins its chart's last snapshot to the live rate). Expected statistics are computed here from the model's
pool state with plain loops, not with dtrack's analytics."""

from __future__ import annotations

import asyncio
import json
import math
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import dtrack
from dtrack.errors import ParseError, VenueUnavailable
from dtrack.sim.model import HOUR_MS, MarketModel
from dtrack.sim.venues import gmx as sim_gmx
from dtrack.venues.fields import utc_to_ms
from dtrack.venues.pool import open_pool

NOW = datetime(2026, 11, 20, 13, 27, 45, 123000, tzinfo=UTC)
NOW_MS = utc_to_ms(NOW)
SNAPSHOT_FIELDS = {"timestamp", "fundingRateLong", "fundingRateShort", "borrowingRateLong", "borrowingRateShort",
                   "netRateLong", "netRateShort"}


def _get(server: Any, chain: str, path: str) -> tuple[int, Any]:
    url = server.venue_urls()["gmx"][chain] + path
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def pinned(sim_factory: Callable[..., Any], tmp_path: Path) -> tuple[Any, Path]:
    log = tmp_path / "requests.jsonl"
    return sim_factory(model=MarketModel(7, now_ms=NOW_MS), log_requests=str(log)), log


def _perp(server: Any, symbol: str) -> Any:
    chain, name = symbol.split(":", 1)
    return next(p for p in server.model.perps("gmx", chain) if p.symbol == name)


def _signed_8h(server: Any, perp: Any, t_ms: int) -> float:
    """The model's paying-side funding per 8 h at ``t_ms`` (positive = longs pay), as the sim states it."""
    state = sim_gmx.pool_state(server.model, perp, t_ms)
    return (state["factor"] if state["longs_pay"] else -state["factor"]) * 28_800


# --- (a) the simulated /v1/rates ------------------------------------------------------------------------------


@pytest.mark.parametrize("chain", sim_gmx.HOSTS)
def test_rates_carry_every_documented_field(pinned: tuple[Any, Path], chain: str) -> None:
    server, _log = pinned
    _status, info = _get(server, chain, "/v1/markets/info")
    market = next(m for m in info if not m["isSpotOnly"] and not m["isDisabled"])
    status, body = _get(server, chain, f"/v1/rates?period=7d&address={market['marketTokenAddress']}")
    assert status == 200 and [m["marketAddress"] for m in body] == [market["marketTokenAddress"]]
    snaps = body[0]["ratesSnapshots"]
    assert len(snaps) == 7 * 24 + 1  # every whole hour of the 7 days back from now, and now
    for snap in snaps:
        assert set(snap) == SNAPSHOT_FIELDS
        assert isinstance(snap["timestamp"], int | float) and not isinstance(snap["timestamp"], bool)
        assert all(isinstance(snap[k], str) and snap[k].lstrip("-").isdigit() for k in SNAPSHOT_FIELDS - {"timestamp"})
    times = [s["timestamp"] for s in snaps]
    assert times == sorted(times, reverse=True)  # newest first
    assert times[0] == NOW_MS / 1000 and times[1] == (NOW_MS // HOUR_MS) * HOUR_MS // 1000
    assert times[-1] >= (NOW_MS - 7 * 86_400_000) / 1000 > times[-1] - 3600


def test_rates_without_an_address_hold_every_pool_and_a_bad_period_is_refused(pinned: tuple[Any, Path]) -> None:
    server, _log = pinned
    _status, body = _get(server, "avalanche", "/v1/rates?period=1d")
    assert sorted(m["marketAddress"] for m in body) == sorted(sim_gmx.address(p.symbol)
                                                              for p in server.model.perps("gmx", "avalanche"))
    assert _get(server, "arbitrum", "/v1/rates?period=2d&address=0x0") == (
        400, {"statusCode": 400, "message": "Invalid period or averageBy"})


@pytest.mark.parametrize("chain", sim_gmx.HOSTS)
def test_the_latest_snapshot_is_what_markets_info_serves_now(pinned: tuple[Any, Path], chain: str) -> None:
    """Per second x 10^30, income frame: the paying side ``-fundingFactorPerSecond``, the receiving side that times
    paying OI / receiving OI (integer division, as the SDK's mulDiv); borrowing = ``borrowingFactorPerSecondFor*``;
    x 3,600 = the tickers' per-hour rates of the same instant."""
    server, _log = pinned
    _s, info = _get(server, chain, "/v1/markets/info")
    _s, tickers = _get(server, chain, "/v1/markets/tickers")
    _s, rates = _get(server, chain, "/v1/rates?period=1d")
    latest = {m["marketAddress"]: m["ratesSnapshots"][0] for m in rates}
    hourly = {t["marketTokenAddress"]: t for t in tickers}
    checked = 0
    for market in info:
        if market["isSpotOnly"] or market["isDisabled"]:
            continue
        snap = latest[market["marketTokenAddress"]]
        factor = int(market["fundingFactorPerSecond"])
        longs, shorts = int(market["longInterestUsd"]), int(market["shortInterestUsd"])
        paying, receiving = (longs, shorts) if market["longsPayShorts"] else (shorts, longs)
        pays, gets = ("Long", "Short") if market["longsPayShorts"] else ("Short", "Long")
        assert int(snap[f"fundingRate{pays}"]) == -factor
        assert int(snap[f"fundingRate{gets}"]) == factor * paying // receiving
        assert int(snap["borrowingRateLong"]) == int(market["borrowingFactorPerSecondForLongs"])
        assert int(snap["borrowingRateShort"]) == int(market["borrowingFactorPerSecondForShorts"])
        for key in SNAPSHOT_FIELDS - {"timestamp"}:
            assert int(snap[key]) * 3600 == int(hourly[market["marketTokenAddress"]][key]), key
        checked += 1
    assert checked == len(server.model.perps("gmx", chain))


# --- (b) funding --history through the client ------------------------------------------------------------------


def test_funding_history_of_gmx(pinned: tuple[Any, Path], tmp_path: Path) -> None:
    server, log = pinned

    async def go() -> Any:
        async with dtrack.AsyncClient(config=server.settings(tmp_path), venues=["gmx"], clock=lambda: NOW) as dt:
            return await dt.funding(["BTC"], history="7d")

    result = asyncio.run(go())
    assert result.failures == []
    rows = result.report.rows
    assert sorted(r.rate.instrument.symbol for r in rows) == sorted(
        f"{p.host}:{p.symbol}" for p in server.model.perps("gmx") if p.asset == "BTC")
    for row in rows:
        symbol = row.rate.instrument.symbol
        perp = _perp(server, symbol)
        # the model's snapshots of the 7 days: every whole hour after NOW - 7 d, then NOW
        times = [*range(NOW_MS // HOUR_MS * HOUR_MS, NOW_MS - 7 * 86_400_000, -HOUR_MS)][::-1]
        times.append(NOW_MS)
        expected = [_signed_8h(server, perp, t) for t in times]
        series = result.series[("gmx", symbol)]
        assert [utc_to_ms(p.time) for p in series] == times
        assert all(p.interval_hours == 8.0 for p in series)
        for point, want in zip(series, expected, strict=True):
            assert point.rate == pytest.approx(want, rel=1e-12)
        # the latest point is the current rate (markets/info now): same convention, same number
        assert series[-1].rate == pytest.approx(row.rate.rate, rel=1e-12)
        assert (row.rate.interval_hours, row.rate.next_funding_time) == (8.0, None)
        stats = row.stats
        assert stats is not None and stats.count == 7 * 24 + 1
        total = 0.0
        for value in expected:
            total += value
        assert stats.mean == pytest.approx(total / len(expected), rel=1e-9)
        assert (stats.min, stats.max, stats.last) == pytest.approx((min(expected), max(expected), expected[-1]),
                                                                   rel=1e-12)
        day = [v for t, v in zip(times, expected, strict=True) if t > NOW_MS - 86_400_000]
        assert len(day) == 25 and row.avg_24h_8h == pytest.approx(sum(day) / len(day), rel=1e-9)
        # APR of the mean: a continuous rate's 8 h-equivalent x 1,095 (= x 31,536,000 per second)
        assert stats.mean * 1095 == pytest.approx(sum(v / 28_800 * 31_536_000 for v in expected) / len(expected),
                                                  rel=1e-9)
        assert row.history_note.startswith("snapshots of the paying (larger) side's")
        assert "only from" not in row.history_note and "only until" not in row.history_note
    doc = result.to_dict()
    hist = [r["history"] for r in doc["rates"] if r["venue"] == "gmx"]
    assert hist and all(h["count"] == 169 and h["note"].startswith("snapshots") for h in hist)
    asked = [json.loads(line)["path"] for line in log.read_text().splitlines() if "/v1/rates" in line]
    assert sorted(asked) == sorted(f"/v1/rates?period=7d&address={sim_gmx.address(_perp(server, r).symbol)}"
                                   for r in (row.rate.instrument.symbol for row in rows))


@pytest.mark.parametrize(("fault", "error"), [(500, VenueUnavailable), ("malformed", ParseError)])
def test_a_failed_history_keeps_the_rates(pinned: tuple[Any, Path], tmp_path: Path, fault: Any,
                                          error: type) -> None:
    server, _log = pinned
    server.server.faults.endpoints[("gmx", "/v1/rates")] = fault
    settings = server.settings(tmp_path, retries=1, backoff=0.01, max_wait=0.1)

    async def go() -> Any:
        async with open_pool(settings, now=lambda: NOW) as pool:
            return await pool.adapter("gmx").fetch_funding(["ETH"], timedelta(days=7))

    out = asyncio.run(go())
    assert len(out.items) == 2 and all(math.isfinite(r.rate) for r in out.items)  # both chains' ETH pools
    assert out.history == {}
    assert [type(e) for e in out.errors] == [error, error]
    assert all("/v1/rates" in str(e) for e in out.errors)


def test_a_delisted_market_has_an_empty_history_that_says_so(pinned: tuple[Any, Path], tmp_path: Path) -> None:
    server, _log = pinned
    settings = server.settings(tmp_path)

    async def go() -> Any:
        async with open_pool(settings, now=lambda: NOW) as pool:
            adapter = pool.adapter("gmx")
            inst = next(i for i in await adapter.perpetuals(["ETH"]) if i.market == "arbitrum")
            gone = replace(inst, symbol="arbitrum:ETH/USD [GONE-USDC]")
            return await adapter.fetch_funding_history(gone, NOW - timedelta(days=1), NOW)

    history = asyncio.run(go())
    assert history.points == () and history.note.endswith("GET /v1/markets/info (arbitrum) no longer lists it")
