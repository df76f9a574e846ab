"""The simulated Binance against real captures (shapes), and the real adapter against the sim.

(a) conformance: every endpoint with a real counterpart in ../shared/exchange-payloads has the
same keys and JSON types in the sim (openInterest and the COIN-M fundingRate have none).
(b) the adapter over real sockets against a sim pinned at a fixed time, so that every value
can be compared with the market model exactly (rel=1e-12: the sim sends full float precision).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import run_with_pool
from dtrack.errors import VenueError
from dtrack.records import Instrument, Kind, Margin, Unit
from dtrack.sim.model import MarketModel
from dtrack.sim.venues.binance import CAP_ADJUSTED_8H, WeightMeter
from dtrack.venues.fields import ms_to_utc, utc_to_ms
from shapes import shape_differences

EXACT = 1e-12
NOW_MS = 1_790_000_000_000  # 2026-09-21 14:13:20 UTC: mid-interval for 1 h, 4 h and 8 h symbols
ASSETS = ["BTC", "ETH", "SOL", "PEPE"]


def fetch(base: str, path: str) -> tuple[int, Any, dict[str, str]]:
    """GET a sim URL: (status, JSON body, headers)."""
    try:
        with urllib.request.urlopen(base + path, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), dict(err.headers)


def sim_body(sim, host: str, path: str) -> Any:
    status, body, _headers = fetch(sim.venue_urls()["binance"][host], path)
    assert status == 200, body
    return body


def real(payload, name: str, case: int = 0) -> Any:
    return payload(name)["cases"][case]["raw"]


# --- (a) conformance -----------------------------------------------------------------------------


def exchange_info_differences(sim_info: dict, real_info: dict) -> list[str]:
    """shape_differences, with each filter compared to the real filter of the same filterType
    (a filters list mixes object shapes, so the first element is no template for the rest)."""
    strip = {k: v for k, v in sim_info.items() if k != "symbols"}
    out = shape_differences(strip, {k: v for k, v in real_info.items() if k != "symbols"})
    real_sym = real_info["symbols"][0]
    real_filters = {f["filterType"]: f for f in real_sym["filters"]}
    for i, sym in enumerate(sim_info["symbols"]):
        out += shape_differences({k: v for k, v in sym.items() if k != "filters"},
                                 {k: v for k, v in real_sym.items() if k != "filters"}, f"$.symbols[{i}]")
        for f in sym["filters"]:
            assert f["filterType"] in real_filters, f
            out += shape_differences(f, real_filters[f["filterType"]], f"$.symbols[{i}].{f['filterType']}")
    return out


@pytest.mark.parametrize(("host", "path", "name"), [
    ("usdm", "/fapi/v1/exchangeInfo", "binance-usdm__rest_exchangeInfo__capture.json"),
    ("coinm", "/dapi/v1/exchangeInfo", "binance-coinm__rest_exchangeInfo__capture.json"),
])
def test_exchange_info_shape(sim, payload, host, path, name) -> None:
    assert exchange_info_differences(sim_body(sim, host, path), real(payload, name)) == []


@pytest.mark.parametrize(("host", "path", "name", "case"), [
    ("usdm", "/fapi/v1/premiumIndex", "binance-usdm__rest_premiumIndex__docs.json", 1),
    ("usdm", "/fapi/v1/premiumIndex?symbol=BTCUSDT", "binance-usdm__rest_premiumIndex__docs.json", 0),
    ("coinm", "/dapi/v1/premiumIndex", "binance-coinm__rest_premiumIndex__docs.json", 0),
    ("usdm", "/fapi/v1/fundingInfo", "binance-usdm__rest_fundingInfo__docs.json", 0),
    ("usdm", "/fapi/v1/fundingInfo", "binance-usdm__rest_fundingInfo_issue_capture__docs.json", 0),
    ("coinm", "/dapi/v1/fundingInfo", "binance-coinm__rest_fundingInfo__docs.json", 0),
    ("usdm", "/fapi/v1/fundingRate?symbol=BTCUSDT", "binance-usdm__rest_fundingRate_history__docs.json", 0),
])
def test_endpoint_shapes(sim, payload, host, path, name, case) -> None:
    body = sim_body(sim, host, path)
    assert body, "an empty sim answer proves nothing"
    assert shape_differences(body, real(payload, name, case)) == []


def test_unknown_symbol_is_binance_error(sim) -> None:
    base = sim.venue_urls()["binance"]
    for host, path in (("usdm", "/fapi/v1/openInterest?symbol=NOPEUSDT"),
                       ("coinm", "/dapi/v1/fundingRate?symbol=NOPEUSD_PERP"),
                       ("usdm", "/fapi/v1/premiumIndex?symbol=NOPEUSDT")):
        status, body, _headers = fetch(base[host], path)
        assert (status, body) == (400, {"code": -1121, "msg": "Invalid symbol."})


def test_used_weight_header_counts_weights(sim_factory) -> None:
    base = sim_factory().venue_urls()["binance"]["usdm"]
    _s, _b, first = fetch(base, "/fapi/v1/premiumIndex")
    _s, _b, second = fetch(base, "/fapi/v1/openInterest?symbol=BTCUSDT")
    used1, used2 = int(first["X-MBX-USED-WEIGHT-1M"]), int(second["X-MBX-USED-WEIGHT-1M"])
    assert used1 >= 10
    assert used2 in (used1 + 1, 1)  # 1 when the wall-clock minute turned between the two calls
    # The other host keeps its own budget.
    _s, _b, other = fetch(sim_factory().venue_urls()["binance"]["coinm"], "/dapi/v1/exchangeInfo")
    assert int(other["X-MBX-USED-WEIGHT-1M"]) == 1


def test_weight_meter_resets_each_minute() -> None:
    now = [120.0]
    meter = WeightMeter(lambda: now[0])
    assert (meter.add(10), meter.add(1)) == (10, 11)
    now[0] = 179.9
    assert meter.add(1) == 12
    now[0] = 180.0
    assert meter.add(5) == 5


def test_funding_rate_pages_like_binance(sim_factory) -> None:
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS))
    base = server.venue_urls()["binance"]["usdm"]
    start = NOW_MS - 60 * 86_400_000
    _s, page, _h = fetch(base, f"/fapi/v1/fundingRate?symbol=1000PEPEUSDT&startTime={start}&limit=5000")
    assert len(page) == 1000  # limit capped at 1000, the FIRST 1000 from startTime
    assert page[0]["fundingTime"] >= start
    assert [r["fundingTime"] for r in page] == sorted(r["fundingTime"] for r in page)
    _s, default, _h = fetch(base, f"/fapi/v1/fundingRate?symbol=1000PEPEUSDT&startTime={start}")
    assert default == page[:100]
    _s, recent, _h = fetch(base, "/fapi/v1/fundingRate?symbol=1000PEPEUSDT&limit=3")
    assert recent[-1]["fundingTime"] <= NOW_MS < recent[-1]["fundingTime"] + 3_600_000


# --- (b) the adapter against the sim -------------------------------------------------------------


@pytest.fixture
def pinned(sim_factory, tmp_path):
    """A sim pinned at NOW_MS with a request log, and settings pointing at it."""
    log = tmp_path / "requests.jsonl"
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS), log_requests=str(log))
    return server, server.settings(tmp_path), log


async def current(pool, assets=ASSETS):
    """Current funding of the assets' perpetuals through the generic pipeline."""
    return await pool.adapter("binance").fetch_funding(assets)


def logged_paths(log: Path) -> list[str]:
    return [json.loads(line)["path"] for line in log.read_text().splitlines()] if log.exists() else []


def test_funding_rates_match_the_model(pinned) -> None:
    server, settings, _log = pinned
    model = server.model
    result = run_with_pool(settings, current)
    assert result.errors == []
    rows = {r.instrument.symbol: r for r in result.rates}
    perps = model.perps("binance")
    assert sorted(rows) == sorted(p.symbol for p in perps)
    for perp in perps:
        row, inst = rows[perp.symbol], rows[perp.symbol].instrument
        assert (inst.asset, inst.quote, inst.kind, inst.multiplier) == (perp.asset, perp.quote, Kind.PERP,
                                                                        perp.multiplier)
        assert inst.margin is Margin(perp.margin)
        rate, next_ms = model.current_funding(perp, NOW_MS)
        assert row.rate == pytest.approx(rate, rel=EXACT)
        assert row.interval_hours == perp.interval_h
        listed = perp.interval_h != 8 or perp.symbol in CAP_ADJUSTED_8H
        assert row.interval_source == ("fundingInfo.fundingIntervalHours" if listed
                                       else "default 8 h (not in fundingInfo)")
        assert row.next_funding_time == ms_to_utc(next_ms)
        assert row.time == ms_to_utc(NOW_MS)
        mark = model.mark_price(perp, NOW_MS)
        assert row.mark_price == pytest.approx(mark / perp.multiplier, rel=EXACT)
        assert row.index_price == pytest.approx(model.index_price(perp.asset, NOW_MS), rel=EXACT)
        oi_usd = model.open_interest_base(perp, NOW_MS) * mark
        if perp.margin == "inverse":
            assert (inst.contract_size, inst.contract_unit) == (perp.contract_size, Unit.USD)
            # COIN-M open interest is whole contracts: within half a contract's USD value.
            assert row.open_interest_usd == pytest.approx(oi_usd, abs=perp.contract_size / 2)
        else:
            assert row.open_interest_usd == pytest.approx(oi_usd, rel=EXACT)


def test_history_matches_settlements_and_pages(pinned) -> None:
    server, settings, log = pinned
    model = server.model
    end = ms_to_utc(NOW_MS)

    async def job(pool):
        adapter = pool.adapter("binance")
        perps = await adapter.perpetuals(ASSETS)
        week = {i.symbol: await adapter.fetch_funding_history(i, end - timedelta(days=7), end) for i in perps}
        pepe = next(i for i in perps if i.symbol == "1000PEPEUSDT")
        return week, await adapter.fetch_funding_history(pepe, end - timedelta(days=60), end)

    week, pepe60 = run_with_pool(settings, job)
    assert sorted(week) == sorted(p.symbol for p in model.perps("binance"))
    for perp in model.perps("binance"):
        hist = week[perp.symbol]
        want = model.settlements(perp, NOW_MS - 7 * 86_400_000, NOW_MS)
        assert [(utc_to_ms(p.time), p.rate) for p in hist.points] == want
        assert {p.interval_hours for p in hist.points} == {perp.interval_h}
        assert hist.note == ""
    # 60 days of an hourly symbol = 1440 settlements: two pages of at most 1000.
    pepe = model.perp("binance", "1000PEPEUSDT")
    assert pepe is not None
    want = model.settlements(pepe, NOW_MS - 60 * 86_400_000, NOW_MS)
    assert len(want) == 1440
    assert [(utc_to_ms(p.time), p.rate) for p in pepe60.points] == want
    pages = [p for p in logged_paths(log) if p.startswith("/fapi/v1/fundingRate?symbol=1000PEPEUSDT")]
    assert len(pages) == 3  # 7-day window: one page; 60-day window: 1000 + 440
    assert all("limit=1000" in p for p in pages)


def test_second_call_uses_the_disk_cache(pinned) -> None:
    _server, settings, log = pinned
    for _ in range(2):
        result = run_with_pool(settings, current)
        assert len(result.rates) == 9
    paths = logged_paths(log)
    assert sorted(p for p in paths if "exchangeInfo" in p) == ["/dapi/v1/exchangeInfo", "/fapi/v1/exchangeInfo"]
    assert sorted(p for p in paths if "fundingInfo" in p) == ["/dapi/v1/fundingInfo", "/fapi/v1/fundingInfo"]
    assert sum("premiumIndex" in p for p in paths) == 4  # never cached: 2 hosts x 2 calls


def test_only_needed_hosts_are_called(pinned) -> None:
    _server, settings, log = pinned
    result = run_with_pool(settings, lambda pool: current(pool, ["PEPE"]))
    assert [r.instrument.symbol for r in result.rates] == ["1000PEPEUSDT"]
    calls = [p for p in logged_paths(log) if "exchangeInfo" not in p]
    assert all(p.startswith("/fapi/") for p in calls)
    assert "/fapi/v1/openInterest?symbol=1000PEPEUSDT" in calls


def test_failed_open_interest_leaves_none_and_an_error(pinned) -> None:
    _server, settings, _log = pinned
    ghost = Instrument("binance", "GHOSTUSDT", "GHOST", "USDT", "USDT", Kind.PERP, Margin.LINEAR, market="usdm")

    async def job(pool):
        adapter = pool.adapter("binance")
        btc = [i for i in await adapter.perpetuals(["BTC"]) if i.symbol == "BTCUSDT"]
        return await adapter.fetch_funding_rates([*btc, ghost])

    result = run_with_pool(settings, job)
    assert [r.instrument.symbol for r in result.rates] == ["BTCUSDT"]
    assert result.rates[0].open_interest_usd is not None
    messages = [str(e) for e in result.errors]
    assert len(messages) == 2 and all(isinstance(e, VenueError) for e in result.errors)
    assert any("openInterest?symbol=GHOSTUSDT" in m and "HTTP 400" in m for m in messages)
    assert any("no row for GHOSTUSDT" in m for m in messages)


def test_times_are_aware_utc(pinned) -> None:
    _server, settings, _log = pinned
    result = run_with_pool(settings, lambda pool: current(pool, ["BTC"]))
    for row in result.rates:
        assert row.time.tzinfo is UTC and row.next_funding_time is not None
        assert row.next_funding_time > datetime(2026, 9, 21, tzinfo=UTC)
