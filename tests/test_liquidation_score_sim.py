"""``dtrack liquidations --score`` on the simulated market: the estimated liquidation maps of a past stretch, frozen
hourly as the collector stores them, scored against the liquidations the sim's venues pushed afterwards.

The sim's liquidations follow its own open interest (``dtrack.sim.liquidations``: positions open where a contract's
open interest rises, close pro rata where it falls, and are liquidated where the price path reaches their levels);
the map (``dtrack.analytics.liquidation_map``) estimates the same from the open-interest history and klines the
sim's venues serve. So the map should place the realized liquidations better than a guess from the method's
parameters alone (the "leverage ladder": all open interest opened at the price of the estimate, over the same
leverage mix and maintenance rates, no history), and the same bins' USD shuffled within each map should lose that.

How the store is filled, as a collector running through the stretch would have filled it (one SQLite store):

- open-interest history and klines of every BTC perpetual of the venues the map reads (Binance, Bybit, OKX, dYdX):
  ``AsyncClient.backfill`` from the sim pinned at the stretch's start (its 30-day window) and again from the sim
  pinned at ``NOW`` (the rest; Binance keeps 30 days of open-interest history, so one backfill at ``NOW`` could not
  reach the first map's window);
- the map every hour of the stretch: ``AsyncClient.liquidation_map("BTC", at=...)`` read from that store (the
  settings' defaults: 30-day window, ±10 % in 50 bins; flat maintenance rates, the store keeping no tiers), its
  ``levels()`` written as the collector's job writes them;
- the liquidations of the stretch and its horizon on the map's venues that publish them (Binance ``forceOrder``
  and OKX ``liquidation-orders`` sampled as they sample, Bybit ``allLiquidation`` complete; dYdX's LIQUIDATED
  trades, being added to the sim and the adapters in parallel, are left out: 2 % of BTC's open interest):
  each event of the sim's model (``LiquidationModel``, the same seed) rendered into its venue's frame by the
  sim's own stream code and read back by dtrack's stream PARSER (``tests/test_liquidation_streams.py`` proves the
  frames the sim sends are these events), for every contract of those venues listed at the event's hour (perpetuals
  and dated futures, as a collector watching the venues would record them).

The same maps with each map's bins' USD permuted (seeded) are stored beside them under the method ``shuffled``.
Then ``AsyncClient.liquidation_score("BTC", since=...)`` with the default 24 h horizon and top 5 scores both.
Everything is a pure function of the seed and the pinned clocks: the figures are the same on every run and every
machine (``pytest -s`` prints them). Over the week (168 maps, 2,097 reached bins), the baseline being the ladder of
the maps' own parameters (the default mix; Binance and OKX 0.4 %, Bybit 0.5 %, dYdX 3 %, equally weighted):

| estimate      | Spearman | top-5 share | ladder Spearman | ladder top-5 share |
|---------------|----------|-------------|-----------------|--------------------|
| the maps      | 0.731    | 52.7 %      | 0.121           | 43.1 %             |
| shuffled maps | 0.001    | 39.6 %      | 0.121           | 43.1 %             |

(The maps range each bar over its klines' high and low, ``bar_range: high-low``; from closes only they scored
0.724 and 52.3 %.) The map beats the ladder on both figures; shuffled, it does not beat it on EITHER (no rank
correlation left, and a top-5 share below the ladder's). (The earlier distance-only baseline, nearest bins first,
scored -0.62 and 27 %: on this market the bins a move reaches farther out hold the 10x-25x bulk of the mix, so even
the shuffled maps beat it; the ladder puts weight where the mix's liquidation prices are.)
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dtrack
from conftest import SimThread
from dtrack.analytics.liquidation_map import MapParams
from dtrack.client.stored import record_of
from dtrack.config import Settings
from dtrack.records import Instrument, Liquidation, LiquidationLevel
from dtrack.sim.liquidations import SAMPLE_MS, LiquidationModel, SimLiquidation
from dtrack.sim.model import MarketModel
from dtrack.sim.streams import binance as sim_binance
from dtrack.sim.streams import bybit as sim_bybit
from dtrack.sim.streams import okx as sim_okx
from dtrack.sim.venues.binance import Host
from dtrack.store import open_store
from dtrack.venues.binance import stream as binance_stream
from dtrack.venues.bybit import stream as bybit_stream
from dtrack.venues.okx import stream as okx_stream
from storefix import NOW, pinned

SEED = 7
H = 3_600_000
#: the stretch of hourly maps: DAYS days ending a day before NOW (so every map's 24 h horizon has ended)
DAYS = 7
FIRST = NOW - timedelta(days=DAYS + 1)
LAST = NOW - timedelta(days=1)  # exclusive
MAP_VENUES = ["binance", "bybit", "okx", "dydx"]
LIQUIDATING = ("binance", "bybit", "okx")
#: the method name the shuffled maps are stored under
SHUFFLED = "shuffled"


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def settings(tmp: Path, server: SimThread) -> Settings:
    return Settings(cache_dir=tmp / "cache", state_dir=tmp / "state").with_venue_urls(server.venue_urls())


def backfill(url: str, tmp: Path) -> None:
    """Open-interest history and klines of the stretch and the 30-day window before it, from the sim pinned at the
    stretch's start and then at NOW (each backfill goes on from the last stored point)."""
    for at, since in ((FIRST, "31d"), (NOW, FIRST - timedelta(hours=2))):
        server = SimThread(model=MarketModel(seed=SEED, now_ms=ms(at)))
        try:
            async def go(server: SimThread = server, at: datetime = at, since: Any = since) -> Any:
                async with dtrack.AsyncClient(config=settings(tmp, server), clock=pinned(at), store=url,
                                              venues=MAP_VENUES) as dt:
                    return await dt.backfill(["oi", "klines"], "BTC", since=since)

            result = asyncio.run(go())
            assert not result.failures, result.failures
        finally:
            server.close()


def freeze_maps(url: str, tmp: Path) -> list[LiquidationLevel]:
    """The map of every hour of the stretch, from the store, as the collector stores it."""
    async def go() -> list[LiquidationLevel]:
        out: list[LiquidationLevel] = []
        config = Settings(cache_dir=tmp / "cache", state_dir=tmp / "state")
        async with dtrack.AsyncClient(config=config, clock=pinned(NOW), store=url, venues=MAP_VENUES) as dt:
            at = FIRST
            while at < LAST:
                result = await dt.liquidation_map("BTC", at=at)
                assert result.source.kind == "store", result.source
                (m,) = result.maps
                assert m.venues == MAP_VENUES
                out += result.levels(received_at=at)
                at += timedelta(hours=1)
        return out

    levels = asyncio.run(go())
    with open_store(url) as st:
        st.write(levels)
    return levels


def parsed(venue: str, inst: Instrument, e: SimLiquidation) -> Liquidation:
    """The event as dtrack reads it from the frame the sim sends for it."""
    received = datetime.fromtimestamp((e.t_ms // SAMPLE_MS + 1) * SAMPLE_MS / 1000, UTC)
    if venue == "binance":
        host = Host(MarketModel(SEED), "coinm" if inst.market == "coinm" else "usdm")
        order = sim_binance.force_order(host, e, e.t_ms)["o"]
        endpoint = f"{inst.market} {binance_stream.FORCE_ORDER}"
        record = binance_stream.force_order(order, {inst.symbol: binance_stream.force_order_terms(inst, endpoint)},
                                            endpoint, received)
        assert record is not None
        return record
    records: list[Any] = []
    dropped: list[Any] = []
    if venue == "bybit":
        endpoint = "allLiquidation"
        bybit_stream.liquidation_rows([sim_bybit.liquidation_row(e)], bybit_stream.liquidation_terms(inst, endpoint),
                                      endpoint, received, records, dropped)
    else:
        (row,) = sim_okx.liquidation_push({"channel": "liquidation-orders", "instType": "SWAP"}, [e])["data"]
        okx_stream.liquidation_orders(row, {inst.symbol: okx_stream.liquidation_terms(inst)}, received, records,
                                      dropped)
    assert not dropped and len(records) == 1, (venue, e, dropped)
    return records[0]  # type: ignore[no-any-return]


def record_liquidations(url: str) -> list[Liquidation]:
    """The liquidations of the stretch and its horizon on the liquidating map venues, as the collector would
    record them (see the module doc)."""
    liq = LiquidationModel(MarketModel(SEED))
    with open_store(url) as st:
        known = {(r["venue"], r["symbol"]): r for r in st.read("instruments", asset="BTC")}
    start, end = ms(FIRST), ms(NOW)
    out: list[Liquidation] = []
    listed = {c for hour in range(start // H, end // H) for c in liq.contracts("BTC", hour)}
    for venue in LIQUIDATING:
        for contract in sorted((c for c in listed if c.venue == venue), key=lambda c: c.symbol):
            row = known.get((venue, contract.symbol))
            assert row is not None, (venue, contract.symbol)
            inst = record_of(Instrument, row)
            events = (liq.events(contract, start, end) if venue == "bybit" else liq.sampled(contract, start, end))
            hours = {e.t_ms // H for e in events}
            listed_then = {hour for hour in hours if contract in liq.contracts("BTC", hour)}
            out += [parsed(venue, inst, e) for e in events if e.t_ms // H in listed_then]
    with open_store(url) as st:
        st.write(out)
    return out


def shuffled(levels: list[LiquidationLevel]) -> list[LiquidationLevel]:
    """The same maps with each map's bins' USD permuted (seeded), under their own method name."""
    rng = np.random.default_rng(2026)
    by_time: dict[datetime, list[LiquidationLevel]] = {}
    for lv in levels:
        by_time.setdefault(lv.time, []).append(lv)
    out: list[LiquidationLevel] = []
    for _t, rows in sorted(by_time.items()):
        usd = rng.permutation([r.usd for r in rows])
        out += [replace(r, method=SHUFFLED, usd=float(u)) for r, u in zip(rows, usd, strict=True)]
    return out


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The score of the stretch's maps and of the same maps shuffled, by method; what went into the store."""
    tmp = tmp_path_factory.mktemp("score")
    url = str(tmp / "store.sqlite3")
    backfill(url, tmp)
    levels = freeze_maps(url, tmp)
    with open_store(url) as st:
        st.write(shuffled(levels))
    liquidations = record_liquidations(url)

    async def go() -> Any:
        config = Settings(cache_dir=tmp / "cache", state_dir=tmp / "state")
        async with dtrack.AsyncClient(config=config, clock=pinned(NOW), store=url) as dt:
            return await dt.liquidation_score("BTC", since=FIRST)

    result = asyncio.run(go())
    assert result.exit_code == 0 and not result.all_failed
    rows = {row["method"]: row for row in result.rows}
    print({m: r["score"] for m, r in rows.items()})  # the figures (pytest -s)
    return {"rows": rows, "levels": levels, "liquidations": liquidations}


def test_the_map_beats_the_ladder_baseline_on_the_sim(scored: dict[str, Any]) -> None:
    row = scored["rows"][MapParams().method_id]
    score = row["score"]
    assert score.snapshots == score.scored == DAYS * 24
    assert row["venues"] == sorted(MAP_VENUES)
    # every event recorded once (two events of one burst can share the venue's every field: one key, one row)
    events = scored["liquidations"]
    assert row["liquidations"] == len({(e.instrument.venue, e.instrument.symbol, e.key) for e in events})
    assert row["coverage"] == {"binance": "sampled", "bybit": "complete", "okx": "sampled"}
    # the ladder is the maps' own: the method id reproduced from the default parameters, the venues' flat rates
    assert row["baseline_params"]["from"] == "method"
    assert row["baseline_params"]["maintenance_rate"] == {"binance": 0.004, "bybit": 0.005, "dydx": 0.03,
                                                          "okx": 0.004}
    assert score.spearman is not None and score.baseline_spearman is not None
    assert score.top_k_share is not None and score.baseline_top_k_share is not None
    assert score.spearman > score.baseline_spearman
    assert score.top_k_share > score.baseline_top_k_share
    assert score.beats_baseline is True


def test_a_shuffled_map_does_not_beat_the_ladder_baseline(scored: dict[str, Any]) -> None:
    right, wrong = scored["rows"][MapParams().method_id]["score"], scored["rows"][SHUFFLED]["score"]
    assert (wrong.snapshots, wrong.pairs, wrong.realized_usd) == (right.snapshots, right.pairs, right.realized_usd)
    # "shuffled" reproduces no parameters: its ladder is the current settings' (the defaults, as the maps')
    assert scored["rows"][SHUFFLED]["baseline_params"]["from"] == "settings"
    assert wrong.baseline_spearman == pytest.approx(right.baseline_spearman)  # the same bins, the same baseline
    assert wrong.baseline_top_k_share == pytest.approx(right.baseline_top_k_share)
    assert wrong.spearman is not None and wrong.top_k_share is not None
    assert wrong.baseline_spearman is not None and wrong.baseline_top_k_share is not None
    # no skill left: no rank correlation, and no better than the ladder on either figure
    assert abs(wrong.spearman) < 0.1
    assert wrong.spearman <= wrong.baseline_spearman
    assert wrong.top_k_share <= wrong.baseline_top_k_share
    assert wrong.beats_baseline is False
