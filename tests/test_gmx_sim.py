"""Simulated GMX API against its documented schema, and the real adapter over real sockets against the simulation:
funding per side with borrow beside it, open interest per side, both chains, and faults.

No real GMX answer exists in the payload corpus (``tests/payloads``): the sim's fields are checked against the
required fields and types of the API's generated OpenAPI (the GMX docs' "API v2 reference", mirrored at
api-evangelist/gmx ``openapi/gmx-markets-api-openapi.yml``: ``MarketInfoResponse``, ``MarketTickerResponse``), and its
rates against the GMX SDK's own per-hour ticker rates (gmx-io/gmx-interface ``getMarketTicker``), which the sim
also serves: a second representation of the same state that dtrack's per-side figures must agree with."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dtrack.config import Settings
from dtrack.errors import ParseError, RateLimited, VenueUnavailable
from dtrack.sim.faults import Faults
from dtrack.sim.model import MarketModel
from dtrack.sim.venues import gmx as sim_gmx
from dtrack.venues.base import Adapter
from dtrack.venues.fields import utc_to_ms
from dtrack.venues.pool import open_pool
from net_helpers import closed_port

T = TypeVar("T")
NOW = datetime(2026, 11, 20, 13, 27, 45, 123000, tzinfo=UTC)
NOW_MS = utc_to_ms(NOW)
EXACT = 1e-12
E30 = Decimal(10) ** 30
ASSETS = ("BTC", "ETH", "SOL", "PEPE")

#: MarketInfoResponse's required fields (OpenAPI): booleans, the rest strings
INFO_BOOLEANS = frozenset({"longsPayShorts", "useOpenInterestInTokensForBalance", "isDisabled", "isSpotOnly",
                           "isSameCollaterals"})
INFO_REQUIRED = frozenset({
    "borrowingFactorPerSecondForShorts", "borrowingFactorPerSecondForLongs", "fundingFactorPerSecond",
    "totalBorrowingFees", "virtualInventoryForPositions", "virtualPoolAmountForShortToken",
    "virtualPoolAmountForLongToken", "longsPayShorts", "shortInterestInTokens", "longInterestInTokens",
    "shortInterestUsd", "longInterestUsd", "positionImpactPoolAmount", "poolValueMin", "poolValueMax",
    "shortPoolAmount", "longPoolAmount", "virtualShortTokenId", "virtualLongTokenId", "virtualMarketId",
    "maxShortPoolUsdForDeposit", "maxLongPoolUsdForDeposit", "maxShortPoolAmount", "maxLongPoolAmount",
    "swapImpactExponentFactor", "swapImpactFactorNegative", "swapImpactFactorPositive", "atomicSwapFeeFactor",
    "swapFeeFactorForBalanceWasNotImproved", "swapFeeFactorForBalanceWasImproved", "useOpenInterestInTokensForBalance",
    "positionImpactExponentFactorNegative", "positionImpactExponentFactorPositive", "lentPositionImpactPoolAmount",
    "maxLendableImpactUsd", "maxLendableImpactFactorForWithdrawals", "maxLendableImpactFactor",
    "maxFundingFactorPerSecond", "minFundingFactorPerSecond", "thresholdForDecreaseFunding",
    "thresholdForStableFunding", "fundingDecreaseFactorPerSecond", "fundingIncreaseFactorPerSecond",
    "fundingExponentFactor", "fundingFactor", "borrowingExponentFactorShort", "borrowingExponentFactorLong",
    "borrowingFactorShort", "borrowingFactorLong", "maxPositionImpactFactorForLiquidations",
    "maxPositionImpactFactorNegative", "maxPositionImpactFactorPositive", "positionImpactFactorNegative",
    "positionImpactFactorPositive", "positionFeeFactorForBalanceWasNotImproved",
    "positionFeeFactorForBalanceWasImproved", "maxPnlFactorForTradersShort", "maxPnlFactorForTradersLong",
    "minCollateralFactorForOpenInterestShort", "minCollateralFactorForOpenInterestLong",
    "minCollateralFactorForLiquidation", "minCollateralFactor", "swapImpactPoolAmountShort",
    "swapImpactPoolAmountLong", "positionImpactPoolDistributionRate", "minPositionImpactPoolAmount",
    "maxOpenInterestShort", "maxOpenInterestLong", "openInterestReserveFactorShort", "openInterestReserveFactorLong",
    "reserveFactorShort", "reserveFactorLong", "data", "isDisabled", "isSpotOnly", "isSameCollaterals",
    "shortTokenAddress", "longTokenAddress", "indexTokenAddress", "marketTokenAddress", "name"})
#: MarketTickerResponse's required fields (OpenAPI): all strings
TICKER_REQUIRED = frozenset({
    "netRateShort", "netRateLong", "borrowingRateShort", "borrowingRateLong", "fundingRateShort", "fundingRateLong",
    "poolAmountShortUsd", "poolAmountLongUsd", "availableLiquidityShort", "availableLiquidityLong",
    "shortInterestUsdMark", "longInterestUsdMark", "shortInterestUsd", "longInterestUsd", "shortInterestInTokens",
    "longInterestInTokens", "priceChangePercent24hBps", "priceChange24h", "close24h", "open24h", "low24h", "high24h",
    "markPrice", "maxPrice", "minPrice", "marketTokenAddress", "symbol"})


def _get(server: Any, chain: str, path: str) -> tuple[int, dict[str, str], Any]:
    url = server.venue_urls()["gmx"][chain] + path
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


# --- (a) the documented schema --------------------------------------------------------------------------------


@pytest.mark.parametrize("chain", sim_gmx.HOSTS)
def test_markets_info_carries_every_documented_field(sim: Any, chain: str) -> None:
    status, _headers, body = _get(sim, chain, "/v1/markets/info")
    assert status == 200 and isinstance(body, list) and body
    for market in body:
        assert set(market) >= INFO_REQUIRED, INFO_REQUIRED - set(market)
        for key in INFO_REQUIRED:
            assert isinstance(market[key], bool if key in INFO_BOOLEANS else str), key
        for key in ("fundingFactorPerSecond", "longInterestUsd", "borrowingFactorPerSecondForLongs"):
            assert market[key].lstrip("-").isdigit()  # 30-decimal fixed point: integers


@pytest.mark.parametrize("chain", sim_gmx.HOSTS)
def test_markets_tickers_carry_every_documented_field(sim: Any, chain: str) -> None:
    status, _headers, body = _get(sim, chain, "/v1/markets/tickers")
    assert status == 200 and body
    for ticker in body:
        assert set(ticker) >= TICKER_REQUIRED and all(isinstance(ticker[k], str) for k in TICKER_REQUIRED)
        assert int(ticker["minPrice"]) <= int(ticker["markPrice"]) <= int(ticker["maxPrice"])


def test_the_sdks_hourly_rates_agree_with_the_factors(sim_factory: Callable[..., Any]) -> None:
    """The tickers' per-hour rates (the SDK's ``getMarketTicker``: income frame, funding - borrowing = net) restate
    ``markets/info``'s factors: per hour = per second x 3,600 (at one market time: the clock is pinned)."""
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS))
    _s, _h, info = _get(server, "arbitrum", "/v1/markets/info")
    _s, _h, tickers = _get(server, "arbitrum", "/v1/markets/tickers")
    by_name = {t["symbol"]: t for t in tickers}
    for market in info:
        if market["isSpotOnly"]:
            continue
        t = by_name[market["name"]]
        factor = int(market["fundingFactorPerSecond"])
        paying = "Long" if market["longsPayShorts"] else "Short"
        assert int(t[f"fundingRate{paying}"]) == -factor * 3600
        assert int(t["borrowingRateLong"]) == int(market["borrowingFactorPerSecondForLongs"]) * 3600
        for side in ("Long", "Short"):
            assert int(t[f"netRate{side}"]) == int(t[f"fundingRate{side}"]) - int(t[f"borrowingRate{side}"])


# --- (b) the real adapter against the simulation --------------------------------------------------------------


def _run(settings: Settings, fn: Callable[[Adapter], Awaitable[T]]) -> T:
    async def main() -> T:
        async with open_pool(settings, now=lambda: NOW) as pool:
            return await fn(pool.adapter("gmx"))

    return asyncio.run(main())


@pytest.fixture
def pinned(sim_factory: Callable[..., Any], tmp_path: Path) -> tuple[Any, Settings, Path]:
    log = tmp_path / "requests.jsonl"
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS), log_requests=str(log))
    return server, server.settings(tmp_path), log


def _calls(log: Path) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [(r["host"], r["path"]) for r in rows if r["venue"] == "gmx"]


async def _funding(a: Adapter) -> Any:
    return await a.fetch_funding_rates(await a.perpetuals(ASSETS))


def test_instruments_of_both_chains(pinned: tuple[Any, Settings, Path]) -> None:
    server, settings, _log = pinned
    insts = _run(settings, lambda a: a.instruments())
    expected = sorted(f"{p.host}:{p.symbol}" for p in server.model.perps("gmx"))
    assert sorted(i.symbol for i in insts) == expected  # the swap-only pool and the disabled market left out
    assert {i.market for i in insts} == {"arbitrum", "avalanche"}
    assert sum(1 for i in insts if i.symbol.endswith(":SOL/USD [SOL-USDC]")) == 2  # one name, two chains


def test_funding_per_side_equals_the_model(pinned: tuple[Any, Settings, Path]) -> None:
    server, settings, log = pinned
    result = _run(settings, _funding)
    assert result.errors == []
    assert len(result.items) == len(server.model.perps("gmx"))
    for row in result.items:
        chain, name = row.instrument.symbol.split(":", 1)
        perp = next(p for p in server.model.perps("gmx", chain) if p.symbol == name)
        state = sim_gmx.pool_state(server.model, perp, NOW_MS)
        signed = state["factor"] if state["longs_pay"] else -state["factor"]
        assert row.rate == pytest.approx(signed * 28_800, rel=EXACT)
        assert row.apr == pytest.approx(signed * 31_536_000, rel=EXACT)
        assert (row.interval_hours, row.next_funding_time, row.continuous) == (8.0, None, True)
        s = row.sides
        assert s is not None
        # the larger side pays the factor; the smaller receives it times paying OI / receiving OI
        pays, gets = (s.funding_long, s.funding_short) if state["longs_pay"] else (s.funding_short, s.funding_long)
        larger, smaller = sorted((state["long_usd"], state["short_usd"]), reverse=True)
        assert pays == pytest.approx(state["factor"] * 28_800, rel=EXACT)
        assert gets == pytest.approx(-state["factor"] * larger / smaller * 28_800, rel=1e-9)
        assert s.borrow_long == pytest.approx(state["borrow_long"] * 28_800, rel=EXACT)
        assert s.borrow_short == pytest.approx(state["borrow_short"] * 28_800, rel=EXACT)
        assert row.open_interest_usd == pytest.approx(state["long_usd"] + state["short_usd"], rel=EXACT)
        assert row.mark_price == pytest.approx(server.model.index_price(perp.asset, NOW_MS), rel=1e-9)
    free = next(r for r in result.items if r.instrument.symbol == f"arbitrum:{sim_gmx.FREE_SMALLER_SIDE}")
    assert free.sides is not None and 0.0 in (free.sides.borrow_long, free.sides.borrow_short)
    # one round: info and tickers of both chains at once (after the listing)
    assert sorted(_calls(log)[2:]) == sorted((c, p) for c in sim_gmx.HOSTS
                                             for p in ("/v1/markets/info", "/v1/markets/tickers"))


def test_open_interest_keeps_both_sides(pinned: tuple[Any, Settings, Path]) -> None:
    server, settings, _log = pinned

    async def go(a: Adapter) -> Any:
        return await a.fetch_open_interest(await a.perpetuals(("ETH",)))

    oi = _run(settings, go)
    assert oi.errors == [] and len(oi.items) == 2
    for row in oi.items:
        chain, name = row.instrument.symbol.split(":", 1)
        perp = next(p for p in server.model.perps("gmx", chain) if p.symbol == name)
        state = sim_gmx.pool_state(server.model, perp, NOW_MS)
        assert row.long_usd == pytest.approx(state["long_usd"], rel=EXACT)
        assert row.short_usd == pytest.approx(state["short_usd"], rel=EXACT)
        assert row.usd == pytest.approx(state["long_usd"] + state["short_usd"], rel=EXACT)
        assert row.base == pytest.approx(row.usd / row.price_used, rel=EXACT)


def test_one_chain_down_keeps_the_other(sim_factory: Callable[..., Any], tmp_path: Path) -> None:
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS))
    urls = server.venue_urls()
    urls["gmx"]["avalanche"] = f"http://127.0.0.1:{closed_port()}/gmx/avalanche"
    settings = Settings(cache_dir=tmp_path / "cache", state_dir=tmp_path / "state").with_venue_urls(urls)
    result = _run(settings, lambda a: a.fetch_funding(ASSETS))
    assert result.items and {r.instrument.market for r in result.items} == {"arbitrum"}
    assert [type(e) for e in result.errors] == [VenueUnavailable]  # the chain whose market list failed
    assert "(avalanche)" in str(result.errors[0])


@pytest.mark.parametrize(("kind", "error"), [("429", RateLimited), ("500", VenueUnavailable),
                                             ("malformed", ParseError)])
def test_faults_are_classified(sim_factory: Callable[..., Any], tmp_path: Path, kind: str, error: type) -> None:
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS), faults=Faults(venues={"gmx": kind}))
    settings = server.settings(tmp_path, retries=1, backoff=0.01, max_wait=0.1)
    with pytest.raises(error):
        _run(settings, lambda a: a.instruments())


def test_a_failed_tickers_answer_leaves_funding_without_a_mark(pinned: tuple[Any, Settings, Path]) -> None:
    server, settings, _log = pinned
    _run(settings, lambda a: a.instruments())  # the listing first (cached)
    server.server.faults.endpoints[("gmx", "/v1/markets/tickers")] = 500
    result = _run(settings, _funding)
    assert result.items and all(r.mark_price is None for r in result.items)
    assert {type(e) for e in result.errors} == {VenueUnavailable}
