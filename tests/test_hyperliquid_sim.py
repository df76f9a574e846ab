"""Simulated Hyperliquid against the venue's published answers (shapes), and the real adapter over
real sockets against the simulation (values equal to the market model's, paging, disk cache)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dtrack.config import Settings
from dtrack.errors import ParseError, VenueError
from dtrack.records import FundingRate, Kind, Margin
from dtrack.sim.model import HOUR_MS, MarketModel
from dtrack.sim.venues import hyperliquid as sim_hl
from dtrack.sim.venues.hyperliquid import settle_lag_ms
from dtrack.venues.base import Adapter, FundingAnswer
from dtrack.venues.fields import ms_to_utc, utc_to_ms
from dtrack.venues.hyperliquid import parse
from dtrack.venues.pool import open_pool
from shapes import shape_differences

T = TypeVar("T")
Payload = Callable[[str], dict[str, Any]]
#: the market clock and the adapter clock, pinned to the same instant (not on an hour boundary)
NOW = datetime(2026, 11, 20, 13, 27, 45, 123000, tzinfo=UTC)
NOW_MS = utc_to_ms(NOW)
EXACT = 1e-12
ASSETS = ("BTC", "ETH", "SOL", "PEPE")


def _post(sim: Any, body: Any) -> tuple[int, Any]:
    url = sim.venue_urls()["hyperliquid"]["rest"] + "/info"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _real(payload: Payload, name: str) -> list[Any]:
    return [case["raw"] for case in payload(f"hyperliquid__rest_info_{name}__docs.json")["cases"]]


# --- (a) conformance with the venue's published answers ------------------------------------------

#: Keys only builder-deployed (HIP-3) DEX listings carry; the sim serves the main DEX.
HIP3_ONLY = frozenset({"onlyIsolated", "marginMode", "growthMode", "lastGrowthModeChangeTime"})


#: fields the venue sends as null on a thin market (docs example: xyz:NVDA)
THIN_NULLS = ("premium", "midPx", "impactPxs")


def _split_thin(body: Any) -> tuple[Any, dict[str, Any]]:
    """``metaAndAssetCtxs`` without the sim's thin coin, and the thin coin's context."""
    meta, ctxs = body
    at = next(i for i, u in enumerate(meta["universe"]) if u["name"] == sim_hl.THIN_COIN)
    rest = {**meta, "universe": meta["universe"][:at] + meta["universe"][at + 1:]}
    return [rest, ctxs[:at] + ctxs[at + 1:]], ctxs[at]


def test_shape_meta_and_asset_ctxs(sim: Any, payload: Payload) -> None:
    status, body = _post(sim, {"type": "metaAndAssetCtxs"})
    assert status == 200
    others, thin = _split_thin(body)
    for real in _real(payload, "metaAndAssetCtxs"):
        assert shape_differences(others, real, optional=HIP3_ONLY) == []
    # The thin coin matches the published thin-market context, nulls included.
    nvda = _real(payload, "metaAndAssetCtxs")[1][1][2]
    assert [k for k in THIN_NULLS if nvda[k] is None] == list(THIN_NULLS)
    assert shape_differences(thin, nvda) == []
    assert [k for k in THIN_NULLS if thin[k] is None] == list(THIN_NULLS)


def test_shape_meta(sim: Any, payload: Payload) -> None:
    # No example of a bare "meta" answer is published; it is the first half of metaAndAssetCtxs.
    status, body = _post(sim, {"type": "meta"})
    assert status == 200
    for real in _real(payload, "metaAndAssetCtxs"):
        assert shape_differences(body, real[0], optional=HIP3_ONLY) == []


def test_shape_predicted_fundings(sim: Any, payload: Payload) -> None:
    status, body = _post(sim, {"type": "predictedFundings"})
    assert status == 200
    # One venue without a prediction is sent as [venue, null]; the rest match the published example.
    nulls = [(coin, venue) for coin, venues in body for venue, data in venues if data is None]
    assert nulls == [(sim_hl.THIN_COIN, sim_hl.NO_PREDICTION_VENUE)]
    present = [[coin, [e for e in venues if e[1] is not None]] for coin, venues in body]
    assert shape_differences(present, _real(payload, "predictedFundings")[0]) == []
    assert [v for v, _ in body[0][1]] == ["BinPerp", "HlPerp", "BybitPerp"]


def test_shape_funding_history(sim: Any, payload: Payload) -> None:
    now = sim.model.now_ms()
    status, body = _post(sim, {"type": "fundingHistory", "coin": "BTC", "startTime": now - 5 * HOUR_MS})
    assert status == 200
    assert len(body) in (4, 5)
    assert shape_differences(body, _real(payload, "fundingHistory")[0]) == []


@pytest.mark.parametrize("body", [
    {"coin": "BTC"},
    {"type": "noSuchType"},
    {"type": "fundingHistory", "coin": "BTC"},
    {"type": "fundingHistory", "coin": "BTC", "startTime": "yesterday"},
])
def test_undeserializable_bodies_get_422(sim: Any, body: dict[str, Any]) -> None:
    status, answer = _post(sim, body)
    assert status == 422
    assert answer.startswith("Failed to deserialize the JSON body")


def test_unknown_coin_history_is_empty(sim: Any) -> None:
    assert _post(sim, {"type": "fundingHistory", "coin": "NOPE", "startTime": 0}) == (200, [])


#: candle fields the ccxt capture re-serialised as strings; the venue sends numbers (INDEX.md caveat)
CANDLE_NUMBERS = frozenset({"t", "T", "n"})


def _candle_req(coin: str, interval: str, start: int, end: int | None = None) -> dict[str, Any]:
    return {"type": "candleSnapshot", "req": {"coin": coin, "interval": interval, "startTime": start, "endTime": end}}


def test_shape_candle_snapshot(sim: Any, payload: Payload) -> None:
    now = sim.model.now_ms()
    status, body = _post(sim, _candle_req("BTC", "1h", now - 5 * HOUR_MS, now))
    assert status == 200
    assert len(body) == 6  # the candle holding startTime .. the one still open
    assert all(isinstance(c[k], int) for c in body for k in CANDLE_NUMBERS)
    for case in payload("hyperliquid__ccxt_fetchOHLCV.json")["cases"]:
        assert shape_differences(body, case["raw"], loose_types=CANDLE_NUMBERS) == []


def test_candles_overlap_the_window_and_follow_the_model() -> None:
    model = MarketModel(7, now_ms=NOW_MS)
    perp = model.perp("hyperliquid", "kPEPE")
    assert perp is not None
    body = sim_hl.candle_snapshot(model, {"coin": "kPEPE", "interval": "4h", "startTime": NOW_MS - 9 * HOUR_MS,
                                          "endTime": None}, NOW_MS)
    # startTime 04:27:45 lies in the 04:00 candle; NOW (13:27:45) in the 12:00 one, still open.
    day = utc_to_ms(datetime(2026, 11, 20, tzinfo=UTC))
    assert [c["t"] for c in body] == [day + 4 * HOUR_MS, day + 8 * HOUR_MS, day + 12 * HOUR_MS]
    assert [c["T"] - c["t"] for c in body] == [4 * HOUR_MS - 1] * 3
    assert {(c["s"], c["i"]) for c in body} == {("kPEPE", "4h")}
    last = body[-1]
    assert float(last["c"]) == pytest.approx(model.mark_price(perp, NOW_MS), rel=EXACT)  # open candle: now
    o, h, low, c = model.candle(perp, body[0]["t"], 4 * HOUR_MS)
    assert [float(body[0][k]) for k in "ohlc"] == pytest.approx([o, h, low, c], rel=EXACT)


def test_only_the_most_recent_candles_exist() -> None:
    model = MarketModel(7, now_ms=NOW_MS)
    body = sim_hl.candle_snapshot(model, {"coin": "BTC", "interval": "1h", "startTime": 0}, NOW_MS)
    assert len(body) == sim_hl.CANDLES_KEPT
    assert body[-1]["t"] == NOW_MS // HOUR_MS * HOUR_MS
    old = {"coin": "BTC", "interval": "1h", "startTime": 0, "endTime": NOW_MS - 6000 * HOUR_MS}
    assert sim_hl.candle_snapshot(model, old, NOW_MS) == []


@pytest.mark.parametrize("body", [
    {"type": "candleSnapshot"},
    {"type": "candleSnapshot", "req": {"interval": "1h", "startTime": 0}},
    {"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "2x", "startTime": 0}},
    {"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "1h"}},
    {"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "1h", "startTime": 0, "endTime": -1}},
])
def test_bad_candle_requests_get_422(sim: Any, body: dict[str, Any]) -> None:
    status, answer = _post(sim, body)
    assert status == 422
    assert answer.startswith("Failed to deserialize the JSON body")


def test_unknown_coin_candles_are_empty(sim: Any) -> None:
    assert _post(sim, _candle_req("NOPE", "1h", 0)) == (200, [])


# --- (b) the real adapter against the simulation ---------------------------------------------------


def _run(settings: Settings, fn: Callable[[Adapter], Awaitable[T]]) -> T:
    """Run ``fn(hyperliquid adapter)`` with the adapter clock pinned to NOW."""

    async def main() -> T:
        async with open_pool(settings, now=lambda: NOW) as pool:
            return await fn(pool.adapter("hyperliquid"))

    return asyncio.run(main())


@pytest.fixture
def pinned(sim_factory: Callable[..., Any], tmp_path: Path) -> tuple[Any, Settings, Path]:
    """A sim whose market clock is NOW, settings pointing at it, and its request log."""
    log = tmp_path / "requests.jsonl"
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS), log_requests=str(log))
    return server, server.settings(tmp_path), log


def _info_calls(log: Path) -> int:
    if not log.exists():
        return 0
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    return sum(1 for r in rows if r["venue"] == "hyperliquid" and r["method"] == "POST" and r["path"] == "/info")


async def _funding(a: Adapter, assets: tuple[str, ...] = ASSETS) -> FundingAnswer:
    """Current funding of the venue's perps on ``assets`` (the pipeline's first step, without history)."""
    return await a.fetch_funding_rates(await a.perpetuals(assets))


def _expect_rate(model: MarketModel, row: FundingRate) -> None:
    perp = model.perp("hyperliquid", row.instrument.symbol)
    assert perp is not None
    rate, nxt = model.current_funding(perp, NOW_MS)
    assert row.rate == pytest.approx(rate, rel=EXACT)
    assert row.predicted_rate == pytest.approx(rate, rel=EXACT)
    assert row.next_funding_time == ms_to_utc(nxt) == datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    assert (row.interval_hours, row.interval_source) == (1.0, "predictedFundings HlPerp fundingIntervalHours")
    assert (row.time, row.received_at) == (None, NOW)  # an asset context has no time: never the receive time
    per_unit = model.mark_price(perp, NOW_MS) / perp.multiplier
    assert row.mark_price == pytest.approx(per_unit, rel=EXACT)
    assert row.index_price == pytest.approx(model.index_price(perp.asset, NOW_MS), rel=EXACT)
    oi_usd = model.open_interest_base(perp, NOW_MS) * model.mark_price(perp, NOW_MS)
    assert row.open_interest_usd == pytest.approx(oi_usd, rel=EXACT)


def test_instruments_skip_the_delisted_coin(pinned: tuple[Any, Settings, Path]) -> None:
    _server, settings, _log = pinned
    insts = _run(settings, lambda a: a.instruments())
    assert [(i.symbol, i.asset, i.multiplier) for i in insts] == [
        ("BTC", "BTC", 1.0), ("ETH", "ETH", 1.0), ("SOL", "SOL", 1.0), ("kPEPE", "PEPE", 1000.0)]
    assert all((i.quote, i.settle, i.kind, i.margin) == ("USDC", "USDC", Kind.PERP, Margin.LINEAR) for i in insts)


def test_funding_equals_the_model(pinned: tuple[Any, Settings, Path]) -> None:
    server, settings, _log = pinned
    result: FundingAnswer = _run(settings, _funding)
    assert result.errors == []
    assert sorted(r.instrument.symbol for r in result.items) == sorted(p.symbol for p in server.model.perps(
        "hyperliquid"))
    for row in result.items:
        _expect_rate(server.model, row)
    kpepe = next(r for r in result.items if r.instrument.symbol == "kPEPE")
    assert kpepe.mark_price is not None and kpepe.mark_price < 1e-4  # per PEPE, not per 1000 PEPE


def test_thin_market_nulls_end_to_end(pinned: tuple[Any, Settings, Path]) -> None:
    # The sim's thin coin has premium/midPx/impactPxs null and a [BybitPerp, null] prediction, as the
    # venue sends them; the adapter still returns its row, equal to the model, with its own prediction.
    server, settings, _log = pinned
    _status, ctxs = _post(server, {"type": "metaAndAssetCtxs"})
    _others, thin = _split_thin(ctxs)
    assert all(thin[k] is None for k in THIN_NULLS)
    _status, predicted = _post(server, {"type": "predictedFundings"})
    venues = dict(next(v for c, v in predicted if c == sim_hl.THIN_COIN))
    assert venues[sim_hl.NO_PREDICTION_VENUE] is None and venues["HlPerp"] is not None
    result: FundingAnswer = _run(settings, lambda a: _funding(a, ("PEPE",)))
    assert result.errors == []
    assert [r.instrument.symbol for r in result.items] == [sim_hl.THIN_COIN]
    _expect_rate(server.model, result.items[0])


def test_history_7_days_equals_model_settlements(pinned: tuple[Any, Settings, Path]) -> None:
    server, settings, _log = pinned
    result: FundingAnswer = _run(settings, lambda a: a.fetch_funding(ASSETS, history=timedelta(days=7)))
    assert result.errors == []
    start_ms = NOW_MS - 7 * 24 * HOUR_MS
    for perp in server.model.perps("hyperliquid"):
        hist = result.history[perp.symbol]
        expected = [(ms_to_utc(t + settle_lag_ms(t)), r) for t, r in server.model.settlements(perp, start_ms - HOUR_MS,
                                                                                               NOW_MS)
                    if start_ms <= t + settle_lag_ms(t) <= NOW_MS]
        assert len(expected) == 168
        assert [(p.time, p.rate) for p in hist.points] == expected
        assert {p.interval_hours for p in hist.points} == {1.0}
        assert hist.note == ""


def test_history_pages_past_500_rows(pinned: tuple[Any, Settings, Path]) -> None:
    server, settings, log = pinned
    perp = server.model.perp("hyperliquid", "ETH")
    start = NOW - timedelta(days=30)
    before = _info_calls(log)
    hist = _run(settings, lambda a: a.fetch_funding_history(parse.instrument("ETH"), start, NOW))
    assert _info_calls(log) - before == 2  # 500 + 220 rows
    assert len(hist.points) == 720
    settled = server.model.settlements(perp, utc_to_ms(start), NOW_MS)
    assert [p.rate for p in hist.points] == [r for _t, r in settled]
    assert len({p.time for p in hist.points}) == 720


def test_history_pages_through_a_lower_page_cap(pinned: tuple[Any, Settings, Path]) -> None:
    # Should the venue cap pages below 500, a short page is not the end: the full window still arrives.
    server, settings, log = pinned
    server.server.faults.page_caps[("hyperliquid", "/info fundingHistory")] = 100
    perp = server.model.perp("hyperliquid", "ETH")
    assert perp is not None
    start = NOW - timedelta(days=30)
    before = _info_calls(log)
    hist = _run(settings, lambda a: a.fetch_funding_history(parse.instrument("ETH"), start, NOW))
    assert _info_calls(log) - before == 8  # 7 pages of 100 + 20 rows
    settled = server.model.settlements(perp, utc_to_ms(start), NOW_MS)
    assert len(settled) == len(hist.points) == 720
    assert [p.rate for p in hist.points] == [r for _t, r in settled]
    assert {p.interval_hours for p in hist.points} == {1.0}


def test_history_stops_on_an_empty_page(pinned: tuple[Any, Settings, Path]) -> None:
    # The window reaches 5 h past the venue's clock: after the last settled row the next page is empty.
    _server, settings, log = pinned
    before = _info_calls(log)
    hist = _run(settings, lambda a: a.fetch_funding_history(parse.instrument("BTC"), NOW - timedelta(hours=3),
                                                            NOW + timedelta(hours=5)))
    assert _info_calls(log) - before == 2
    assert [p.time.replace(microsecond=0) for p in hist.points] == [
        datetime(2026, 11, 20, h, 0, tzinfo=UTC) for h in (11, 12, 13)]


def test_history_without_progress_is_an_error(pinned: tuple[Any, Settings, Path]) -> None:
    # A venue that ignored startTime and answered the same page forever: the loop ends with a ParseError.
    server, settings, log = pinned
    routes = server.server.routes
    key = ("hyperliquid", "rest", "POST", "/info")
    served = routes.table[key]
    first = NOW_MS - 30 * 24 * HOUR_MS

    def stuck(req: Any) -> Any:
        if req.body.get("type") == "fundingHistory":
            req.body["startTime"] = first
        return served(req)

    routes.table[key] = stuck
    before = _info_calls(log)
    try:
        with pytest.raises(ParseError, match="no progress"):
            _run(settings, lambda a: a.fetch_funding_history(parse.instrument("ETH"), NOW - timedelta(days=30), NOW))
    finally:
        routes.table[key] = served
    assert _info_calls(log) - before == 2


def test_history_says_when_the_venue_has_less(pinned: tuple[Any, Settings, Path]) -> None:
    _server, settings, _log = pinned
    start, end = datetime(2023, 5, 1, tzinfo=UTC), datetime(2023, 5, 13, tzinfo=UTC)
    hist = _run(settings, lambda a: a.fetch_funding_history(parse.instrument("BTC"), start, end))
    assert hist.points[0].time.replace(microsecond=0) == datetime(2023, 5, 12, 0, 0, tzinfo=UTC)
    assert "from 2023-05-12 00:00 UTC only" in hist.note


def test_history_of_an_unknown_coin_is_an_error(pinned: tuple[Any, Settings, Path]) -> None:
    _server, settings, _log = pinned
    with pytest.raises(VenueError) as err:
        _run(settings, lambda a: a.fetch_funding_history(parse.instrument("NOPE"), NOW - timedelta(days=1), NOW))
    assert err.value.code == "unknown_coin"
    assert "lists no perpetual 'NOPE'" in str(err.value)


def test_second_call_reads_instruments_from_disk(pinned: tuple[Any, Settings, Path]) -> None:
    _server, settings, log = pinned
    _run(settings, _funding)
    assert _info_calls(log) == 3  # meta, metaAndAssetCtxs, predictedFundings
    _run(settings, _funding)
    assert _info_calls(log) == 5  # meta came from the disk cache
    assert list((settings.cache_dir / "http").glob("*.json"))


def test_failed_prediction_keeps_the_rates(pinned: tuple[Any, Settings, Path]) -> None:
    # A fault of one info type only (answered as the venue does: 422 with its plain-text message).
    server, settings, _log = pinned
    server.server.faults.endpoints[("hyperliquid", "/info predictedFundings")] = 422
    result: FundingAnswer = _run(settings, _funding)
    assert len(result.items) == len(server.model.perps("hyperliquid"))
    assert all(r.predicted_rate is None and r.interval_source == "hourly (venue docs)" for r in result.items)
    assert len(result.errors) == 1 and isinstance(result.errors[0], VenueError)
    assert result.errors[0].status == 422 and "predictedFundings" in str(result.errors[0])
