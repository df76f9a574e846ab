"""Existing commands answered from the history store (SQLite and PostgreSQL): with snapshots fresher than
``store.fresh_seconds`` of everything asked, ``funding``, ``oi`` and ``basis`` answer from the store without
touching the network (shown by pointing the venues at a closed port), with the same records as the live answer
for the same pinned market, and say so (``source``); a stale or incomplete store, ``--live`` and
``fresh_seconds: 0`` ask the venues; ``funding --history`` completes a venue's history with older stored
settlements and says which part came from where; the store path loads no aiohttp."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import dtrack
from clirun import dtrack as cli
from conftest import SimThread
from dtrack.config import Settings
from dtrack.records import FundingPoint
from dtrack.schemas import load_schema
from dtrack.store import from_ms, open_store, to_ms
from dtrack.venues import ACTIVE
from storefix import NOW, model, pinned, run, sim_settings, store_url, write_config, write_snapshots

__all__ = ["store_url"]  # the fixture, imported

ASSETS = ["BTC", "ETH", "SOL"]


@pytest.fixture(scope="module")
def market() -> Iterator[SimThread]:
    server = SimThread(model=model())
    yield server
    server.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nowhere(tmp: Path) -> Settings:
    """Settings whose venues all point at a closed port: any request fails."""
    from dtrack.venues import VENUES

    port = closed_port()
    urls = {v: {h: f"http://127.0.0.1:{port}" for h in VENUES[v].hosts} for v in VENUES if VENUES[v].hosts}
    return Settings(cache_dir=tmp / "cache2", state_dir=tmp / "state2").with_venue_urls(urls)


def fill(market: SimThread, tmp: Path, url: str, *, kinds: tuple[str, ...] = ("funding", "oi", "basis"),
         backfill: tuple[str, ...] = ("funding", "oi"), venues: tuple[str, ...] | None = None) -> None:
    """What a collector leaves behind: the history backfilled (8 days: the funding averages use 7) and one
    snapshot round, all at the pinned moment."""

    async def go() -> None:
        async with dtrack.AsyncClient(config=sim_settings(market.venue_urls(), tmp), clock=pinned(), store=url,
                                      venues=venues) as dt:
            if backfill:
                await dt.backfill(list(backfill), ASSETS, since="8d")
            with open_store(url) as st:
                await write_snapshots(dt, st, ASSETS, kinds, venues=venues or ACTIVE)

    run(go())


def ask(settings: Settings, url: str, query: Any, at: Any = NOW, venues: Any = None) -> Any:
    async def go() -> Any:
        async with dtrack.AsyncClient(config=settings, clock=pinned(at), store=url, venues=venues) as dt:
            return await query(dt)

    return run(go())


def same(live: Any, stored: Any, path: str = "", skip: tuple[str, ...] = ("source",)) -> None:
    """Equal documents but for the keys in ``skip``; floats to 1e-12 relative (both are the same doubles,
    through the same analytics; the tolerance only states the precision)."""
    if isinstance(live, dict):
        assert isinstance(stored, dict) and list(live) == list(stored), path
        for k in live:
            if k not in skip:
                same(live[k], stored[k], f"{path}.{k}", skip)
    elif isinstance(live, list):
        assert isinstance(stored, list) and len(live) == len(stored), path
        for i, (a, b) in enumerate(zip(live, stored, strict=True)):
            same(a, b, f"{path}[{i}]", skip)
    elif isinstance(live, float) and isinstance(stored, float):
        assert live == pytest.approx(stored, rel=1e-12, abs=1e-18), path
    else:
        assert live == stored, path


def test_funding_from_a_fresh_store_is_the_live_answer_without_the_network(market: SimThread, tmp_path: Path,
                                                                          store_url: str) -> None:
    fill(market, tmp_path, store_url)
    settings = sim_settings(market.venue_urls(), tmp_path)
    live = ask(settings, store_url, lambda dt: dt.funding(ASSETS, live=True, arb=True)).to_dict()
    stored = ask(nowhere(tmp_path), store_url, lambda dt: dt.funding(ASSETS, arb=True))  # no venue reachable
    doc = stored.to_dict()
    assert stored.failures == [] and stored.exit_code == 0
    assert doc["source"] == {"kind": "store", "store": store_url, "age_seconds": 0.0,
                             "snapshot_time": "2026-12-04T08:00:00Z", "history_from_store": [], "note": ""}
    assert live["source"]["kind"] == "venues"
    assert len(doc["rates"]) == len(live["rates"]) >= 25
    # the same rates, intervals, prices, OI, averages, statistics, summary and arbitrage; the one difference
    # allowed is a venue's own history note (Deribit explains its hourly samples; the store has no such note)
    same(live, doc, skip=("source", "note"))
    jsonschema.validate(doc, load_schema("funding"))
    failed = ask(nowhere(tmp_path), store_url, lambda dt: dt.funding(ASSETS, live=True))
    assert failed.all_failed and failed.to_dict()["source"]["kind"] == "venues"


def test_a_stale_store_asks_the_venues_and_says_why(market: SimThread, tmp_path: Path) -> None:
    url = str(tmp_path / "s.sqlite3")
    fill(market, tmp_path, url, backfill=("funding",), kinds=("funding",))
    settings = sim_settings(market.venue_urls(), tmp_path)
    result = ask(settings, url, lambda dt: dt.funding("BTC"), at=NOW + timedelta(seconds=61))
    source = result.to_dict()["source"]
    assert source["kind"] == "venues" and source["store"] == url
    assert "snapshot of" in source["note"] and "in the last 60 s (store.fresh_seconds)" in source["note"]
    fresh = ask(settings, url, lambda dt: dt.funding("BTC"), at=NOW + timedelta(seconds=59))
    assert fresh.source.kind == "store" and fresh.source.age_seconds == 59.0
    off = ask(replace(settings, store=replace(settings.store, fresh_seconds=0)), url, lambda dt: dt.funding("BTC"))
    assert off.source.kind == "venues" and off.source.store is None  # fresh_seconds 0: the store is not consulted


def test_settled_funding_behind_now_asks_the_venues(market: SimThread, tmp_path: Path) -> None:
    """Fresh snapshots are not enough: the averages need the settlements up to now."""
    url = str(tmp_path / "s.sqlite3")
    fill(market, tmp_path, url, backfill=(), kinds=("funding",))
    result = ask(sim_settings(market.venue_urls(), tmp_path), url, lambda dt: dt.funding("SOL"))
    assert result.source.kind == "venues" and "funding history" in result.source.note


def test_settled_funding_shorter_than_the_window_asks_the_venues(market: SimThread, tmp_path: Path) -> None:
    """The averages use 7 days, --history more: a store holding less is not the venues' answer."""
    url = str(tmp_path / "s.sqlite3")
    fill(market, tmp_path, url, backfill=("funding",), kinds=("funding",), venues=("binance", "okx"))
    settings = sim_settings(market.venue_urls(), tmp_path)
    seven = ask(settings, url, lambda dt: dt.funding("BTC"), venues=["binance", "okx"])
    assert seven.source.kind == "store"  # 8 days stored
    longer = ask(settings, url, lambda dt: dt.funding("BTC", history="30d"), venues=["binance", "okx"])
    assert longer.source.kind == "venues" and "later than the 30d asked" in longer.source.note


def test_a_venue_the_store_knows_nothing_of_asks_the_venues(market: SimThread, tmp_path: Path) -> None:
    url = str(tmp_path / "s.sqlite3")
    fill(market, tmp_path, url, backfill=("funding",), kinds=("funding",), venues=("binance", "okx"))
    settings = sim_settings(market.venue_urls(), tmp_path)
    every = ask(settings, url, lambda dt: dt.funding("ETH"))
    assert every.source.kind == "venues" and "the store lists no contract of bybit" in every.source.note
    two = ask(settings, url, lambda dt: dt.funding("ETH"), venues=["binance", "okx"])
    assert two.source.kind == "store"
    unknown = ask(settings, url, lambda dt: dt.funding("PEPE"), venues=["binance", "okx"])
    assert unknown.source.kind == "venues" and "does not know every input" in unknown.source.note


def test_oi_and_basis_from_a_fresh_store(market: SimThread, tmp_path: Path, store_url: str) -> None:
    fill(market, tmp_path, store_url)
    settings = sim_settings(market.venue_urls(), tmp_path)
    for query in (lambda dt, live: dt.open_interest(ASSETS, live=live),
                  lambda dt, live: dt.open_interest(ASSETS, changes=True, live=live),
                  lambda dt, live: dt.basis(ASSETS, live=live)):
        live = ask(settings, store_url, lambda dt, q=query: q(dt, True)).to_dict()  # type: ignore[misc]
        stored = ask(nowhere(tmp_path), store_url, lambda dt, q=query: q(dt, False))  # type: ignore[misc]
        doc = stored.to_dict()
        assert doc["source"]["kind"] == "store" and stored.failures == [], doc["source"]
        same(live, doc, skip=("source", "note"))
        jsonschema.validate(doc, load_schema(doc["command"]))
    divergence = ask(settings, store_url, lambda dt: dt.open_interest("BTC", divergence=True))
    assert divergence.source.kind == "venues"  # the price up to now (the open kline) is not in the store


def test_what_the_store_does_not_keep_is_said(market: SimThread, tmp_path: Path) -> None:
    """A collector that keeps no long/short ratios: open interest from the store, and the source says what is
    missing instead of silently leaving it out."""
    url = str(tmp_path / "s.sqlite3")
    fill(market, tmp_path, url, backfill=(), kinds=("funding",))

    async def snapshot_oi_only() -> None:
        async with dtrack.AsyncClient(config=sim_settings(market.venue_urls(), tmp_path), clock=pinned()) as dt:
            pool = await dt.pool()
            with open_store(url) as st:
                for v in ACTIVE:
                    ad = pool.adapter(v)
                    st.write((await ad.fetch_open_interest(await ad.contracts(ASSETS))).items)

    run(snapshot_oi_only())
    result = ask(nowhere(tmp_path), url, lambda dt: dt.open_interest(ASSETS))
    assert result.source.kind == "store" and result.failures == []
    assert result.source.note == ("long/short ratios of binance, bybit, okx are not kept in the store "
                                  "(--live asks the venues)")


def test_funding_history_beyond_the_venue_comes_from_the_store(market: SimThread, tmp_path: Path,
                                                              store_url: str) -> None:
    """OKX keeps about 92 days of funding: the store's older settlements complete a 180-day history."""
    okx = model().perp("okx", "BTC-USDT-SWAP")
    assert okx is not None
    start, cut = NOW - timedelta(days=180), NOW - timedelta(days=100)
    old = [FundingPoint(venue="okx", symbol="BTC-USDT-SWAP", time=from_ms(t), rate=r, interval_hours=8.0,
                        received_at=cut) for t, r in model().settlements(okx, to_ms(start) + 1, to_ms(cut))]
    with open_store(store_url) as st:
        st.write(old)
    settings = sim_settings(market.venue_urls(), tmp_path)
    result = ask(settings, store_url, lambda dt: dt.funding("BTC-USDT-SWAP", history="180d"), venues=["okx"])
    doc = result.to_dict()
    (row,) = doc["rates"]
    assert doc["source"]["kind"] == "venues" and doc["source"]["store"] == store_url
    (span,) = doc["source"]["history_from_store"]
    assert span == {"venue": "okx", "symbol": "BTC-USDT-SWAP", "points": len(old),
                    "first": old[0].time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "last": old[-1].time.strftime("%Y-%m-%dT%H:%M:%SZ")}
    venue_only = ask(settings, str(tmp_path / "no-store.sqlite3"),
                     lambda dt: dt.funding("BTC-USDT-SWAP", history="180d"), venues=["okx"]).to_dict()
    assert venue_only["source"]["history_from_store"] == []
    assert row["history"]["count"] == venue_only["rates"][0]["history"]["count"] + len(old)
    assert "from the store" in row["history"]["note"] and "OKX keeps about 3 months" in row["history"]["note"]
    jsonschema.validate(doc, load_schema("funding"))


# --- the command ---------------------------------------------------------------------------------------------------


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DTRACK_NOW", "2026-12-04T08:00:20Z")
    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DTRACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("DTRACK_STORE", raising=False)
    monkeypatch.delenv("DTRACK_CONFIG", raising=False)


def test_cli_says_where_the_answer_came_from(capsys: pytest.CaptureFixture[str], market: SimThread,
                                             tmp_path: Path, env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    url = str(tmp_path / "s.sqlite3")
    fill(market, tmp_path, url, backfill=("funding",), kinds=("funding",))
    config = write_config(tmp_path / "settings.yaml", market.venue_urls())
    table = cli(capsys, "--store", url, "--config", str(config), "funding", "BTC", "ETH", "SOL")
    assert table.code == 0, table.err
    assert f"Source: the store {url}, snapshots 20 s old (no network; --live asks the venues)" in table.out
    doc = cli(capsys, "--store", url, "--config", str(config), "funding", "BTC", "--format", "json").json()
    assert doc["source"]["kind"] == "store" and doc["source"]["age_seconds"] == 20.0
    live = cli(capsys, "--store", url, "--config", str(config), "funding", "BTC", "--live", "--format", "json")
    assert live.code == 0 and live.json()["source"]["kind"] == "venues"
    assert [r["rate"] for r in live.json()["rates"]] == [r["rate"] for r in doc["rates"]]
    # --sim never reads a store not named. The in-process sim runs on the wall clock, so dtrack's must too: pinned a
    # day back, the sim's next settlements would be implausibly far ahead of it
    monkeypatch.delenv("DTRACK_NOW")
    simmed = cli(capsys, "--sim", "funding", "BTC", "--format", "json")
    assert simmed.code == 0 and simmed.json()["source"] == {"kind": "venues", "store": None, "age_seconds": None,
                                                            "snapshot_time": None, "history_from_store": [],
                                                            "note": ""}


def test_store_answer_loads_no_network_library(market: SimThread, tmp_path: Path) -> None:
    url = str(tmp_path / "s.sqlite3")
    fill(market, tmp_path, url, backfill=("funding",), kinds=("funding",))
    code = ("import sys\nfrom dtrack.cli.main import main\ntry:\n    main(['--store', sys.argv[1], 'funding', "
            "'BTC', 'ETH', 'SOL'])\nexcept SystemExit as e:\n    code = e.code\n"
            "print('aiohttp' in sys.modules, code, file=sys.stderr)")
    env = {**os.environ, "DTRACK_NOW": "2026-12-04T08:00:10Z", "XDG_CONFIG_HOME": str(tmp_path / "none")}
    env.pop("DTRACK_CONFIG", None)
    proc = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, timeout=120, env=env)
    assert proc.stderr.strip().splitlines()[-1] == "False 0", proc.stderr
    assert "Source: the store" in proc.stdout
