"""``options`` answered from the history store (SQLite and PostgreSQL), without the network:

- a collector's options round keeps, beside the per-expiry metrics, what the summary reads: the closed daily closes
  of the volatility index (DVOL) and of the price perpetual, and the venues' realized volatility;
- with those fresher than ``options.fresh_seconds``, ``options`` answers from the store with the venues unreachable
  (a closed port), and its per-expiry rows, aggregate, term structure and constant maturity are those the venues'
  answer gives for the same pinned market; the summary is computed from the stored series (checked against an
  independent computation) and says what differs (no GEX; DVOL and RV of closed days);
- a stale store, a venue the store holds nothing of, ``live=True`` / ``--live``, ``--chain`` / ``--gex`` /
  ``--flow`` and ``fresh_seconds: 0`` ask the venues, the reason in ``source.note``;
- chosen venues: a stored aggregate over other venues is left out and the source says so;
- an expiry whose venue time did not change since an earlier round (the natural key kept the earlier row), or one
  with a venue time gone from the latest round, is still served, the answer as old as that earlier row and the
  source naming it; one gone from the latest round without a venue time is not;
- the dashboard's options panel comes from the store, and ``dashboard(live=True)`` asks the venues;
- the JSON validates against ``schemas/options.json``.
"""

from __future__ import annotations

import asyncio
import io
import math
import os
import socket
import statistics
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import dtrack
from clirun import dtrack as cli
from conftest import SimThread
from dtrack.collect import Collector
from dtrack.collect.plan import make_plan
from dtrack.collect.status import StatusLine
from dtrack.config import CollectSnapshots, Settings
from dtrack.records import OptionExpiry, PricePoint, VolPoint
from dtrack.schemas import load_schema
from dtrack.store import open_store, to_ms
from storefix import NOW, model, pinned, run, sim_settings, store_url, write_config

__all__ = ["store_url"]  # the fixture, imported

ASSETS = ["BTC", "ETH"]
OPTION_VENUES = ("binance", "bybit", "okx", "deribit")
DAY_MS = 86_400_000
#: the sections of the JSON that come from the per-expiry metrics: equal to the venues' answer
EXPIRY_SECTIONS = ("expiries", "aggregate", "term_structure", "constant_maturity")
#: summary fields the store answer gives exactly as the venues do
SAME_SUMMARY = ("asset", "pcr_oi", "pcr_volume", "total_oi_usd", "venue_rv")


@pytest.fixture(scope="module")
def market() -> Iterator[SimThread]:
    server = SimThread(model=model())
    yield server
    server.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nowhere_urls() -> dict[str, dict[str, str]]:
    from dtrack.venues import VENUES

    port = closed_port()
    return {v: {h: f"http://127.0.0.1:{port}" for h in VENUES[v].hosts} for v in VENUES if VENUES[v].hosts}


def nowhere(tmp: Path) -> Settings:
    """Settings whose venues all point at a closed port: any request fails."""
    return Settings(cache_dir=tmp / "cache2", state_dir=tmp / "state2").with_venue_urls(nowhere_urls())


def ask(settings: Settings, url: str, query: Any, at: datetime = NOW, venues: Any = None) -> Any:
    async def go() -> Any:
        async with dtrack.AsyncClient(config=settings, clock=pinned(at), store=url, venues=venues) as dt:
            return await query(dt)

    return run(go())


def collect_once(market: SimThread, tmp: Path, url: str) -> None:
    """One ``--once`` round of the collector (options, and basis for the perpetuals' index prices), in-process,
    the clock pinned."""
    settings = sim_settings(market.venue_urls(), tmp)
    names = {f.name for f in fields(CollectSnapshots)}
    off = {k: 0.0 for k in ("funding", "open_interest", "book") if k in names}  # book: when this build has it
    settings = replace(settings, collect=replace(settings.collect, snapshots=replace(CollectSnapshots(), **off)))
    plan = make_plan(settings, assets=ASSETS, once=True, backfill=False, store_url=url)
    assert set(plan.snapshots) == {"options", "basis"}

    async def go() -> int:
        async with dtrack.AsyncClient(config=settings, clock=pinned()) as dt:
            collector = Collector(dt, plan, open_store=lambda: open_store(url),
                                  status=StatusLine(None, messages=io.StringIO()), clock=pinned())
            return await collector.run()

    assert asyncio.run(go()) == 0


@pytest.fixture(scope="module")
def snap(market: SimThread, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One options and basis snapshot round of BTC and ETH on every venue, at the pinned moment."""
    tmp = tmp_path_factory.mktemp("snap")

    async def go() -> Any:
        async with dtrack.AsyncClient(config=sim_settings(market.venue_urls(), tmp), clock=pinned()) as dt:
            return await dt.snapshot(["options", "basis"], ASSETS, chains=False)

    result = run(go())
    assert result.failures == []
    return result


def write(url: str, snap: Any, keep: Any = lambda r: True) -> None:
    """What the collector writes of a snapshot round: its records (those ``keep`` keeps) and its contracts."""
    with open_store(url) as st:
        st.write([r for r in snap.records if keep(r)])
        st.write_rows("instruments", [i.to_row() | {"seen_at": NOW} for i in snap.instruments])


@pytest.fixture(scope="module")
def stored(snap: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store holding the snapshot round (read only by the tests that use it)."""
    url = str(tmp_path_factory.mktemp("store") / "s.sqlite3")
    write(url, snap)
    return url


@pytest.fixture(scope="module")
def live(market: SimThread, stored: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The venues' answer for the same pinned market (``live=True``: the fresh store is not read)."""
    result = ask(sim_settings(market.venue_urls(), tmp_path_factory.mktemp("live")), stored,
                 lambda dt: dt.options(ASSETS, live=True))
    assert result.failures == [] and result.source.kind == "venues"
    return result


def same(a: Any, b: Any, path: str = "") -> None:
    """Equal documents; floats to 1e-12 relative (the same doubles through the same code; the tolerance only
    states the precision)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), path
        for k in a:
            same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-18), path
    else:
        assert a == b, path


def test_options_from_a_fresh_store_is_the_live_answer_without_the_network(
        market: SimThread, live: Any, tmp_path: Path, store_url: str) -> None:
    collect_once(market, tmp_path, store_url)
    result = ask(nowhere(tmp_path), store_url, lambda dt: dt.options(ASSETS))  # no venue reachable
    doc, want = result.to_dict(), live.to_dict()
    assert result.failures == [] and result.exit_code == 0
    assert doc["source"] == {"kind": "store", "store": store_url, "age_seconds": 0.0,
                             "snapshot_time": "2026-12-04T08:00:00Z", "history_from_store": [], "note": ""}
    assert want["source"]["kind"] == "venues"
    assert len(doc["expiries"]) == len(want["expiries"]) > 20  # the next four expiries among four venues' listings
    assert {e["venue"] for e in doc["expiries"]} == set(OPTION_VENUES) and len(doc["aggregate"]) >= 4
    for section in EXPIRY_SECTIONS:
        same(want[section], doc[section], section)
    for mine, theirs in zip(doc["summary"], want["summary"], strict=True):
        for key in SAME_SUMMARY:
            same(theirs[key], mine[key], key)
        assert theirs["gex_total_usd"] is not None and mine["gex_total_usd"] is None and mine["gex_flip"] is None
    jsonschema.validate(doc, load_schema("options"))
    jsonschema.validate(want, load_schema("options"))
    table = result.table().render(400)
    assert f"Source: the store {store_url}, snapshots 0 s old (no network; --live asks the venues)" in table


def test_the_round_keeps_closed_daily_closes_and_realized_vol(market: SimThread, snap: Any, stored: str,
                                                              tmp_path: Path) -> None:
    """The stored series are the venues' own points, closed days only (the day still open is left out)."""
    from dtrack.analytics.selection import price_perp
    from dtrack.records import Kind

    async def venue_series() -> dict[str, Any]:
        async with dtrack.AsyncClient(config=sim_settings(market.venue_urls(), tmp_path), clock=pinned()) as dt:
            pool = await dt.pool()
            deribit, bybit = pool.adapter("deribit"), pool.adapter("bybit")
            perps = [i for i in await bybit.contracts(["BTC"]) if i.kind is Kind.PERP]
            return {"dvol": await deribit.fetch_vol_index("BTC", NOW - timedelta(days=366), NOW),
                    "hv": await bybit.fetch_realized_vol("BTC", NOW - timedelta(hours=6), NOW),
                    "closes": await bybit.fetch_price_history(price_perp(perps), NOW - timedelta(days=33), NOW, 24)}

    got = run(venue_series())
    with open_store(stored) as st:
        dvol = st.read("vol_points", venue="deribit", symbol="BTC-DVOL")
        hv = st.read("vol_points", venue="bybit", symbol="BTC-HV30D")
        perp = price_perp([i for i in snap.instruments if i.venue == "bybit" and i.asset == "BTC"
                           and i.kind is Kind.PERP])
        assert perp is not None
        closes = st.read("price_points", venue="bybit", symbol=perp.symbol)
    # the venue's DVOL: 365 closed days and today's value so far, stamped now: the store keeps the closed ones
    assert got["dvol"][-1].time == NOW and len(got["dvol"]) == 367
    assert [(r["time"], r["value"]) for r in dvol] == [(p.time, p.value) for p in got["dvol"][:-1]]
    assert all(to_ms(r["time"]) % DAY_MS == 0 for r in dvol)
    assert [(r["time"], r["value"]) for r in hv] == [(p.time, p.value) for p in got["hv"]] and len(hv) >= 6
    assert got["closes"][-1].time == NOW and len(closes) == len(got["closes"]) - 1 >= 31
    assert [(r["time"], r["price"]) for r in closes] == [(p.time, p.price) for p in got["closes"][:-1]]
    counts = snap.counts()
    assert counts[VolPoint.__name__] == len([r for r in snap.records if isinstance(r, VolPoint)]) > 700
    assert counts[PricePoint.__name__] > 4 * 2 * 31 and counts[OptionExpiry.__name__] > 40
    assert {i.venue for i in snap.instruments} >= set(OPTION_VENUES)  # the price perpetuals' listing


def _realized_vol(closes: list[float]) -> float:
    """Sample standard deviation of the log returns x sqrt(365), with plain loops (the reference)."""
    returns = [math.log(closes[i] / closes[i - 1]) for i in range(1, len(closes))]
    mean = sum(returns) / len(returns)
    return math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1) * 365)


def test_the_summary_from_the_stored_series(stored: str, live: Any, tmp_path: Path) -> None:
    result = ask(nowhere(tmp_path), stored, lambda dt: dt.options(ASSETS))
    assert result.source.kind == "store"
    with open_store(stored) as st:
        for s in result.report.summary:
            # DVOL: the last close (today 00:00) and its rank / percentile among the year's closes
            rows = st.read("vol_points", venue="deribit", symbol=f"{s.asset}-DVOL")
            assert len(rows) == 366 and rows[-1]["time"] == NOW.replace(hour=0)
            # the closes of the 365 days up to the last one (the desk's rank window)
            values = [r["value"] for r in rows if r["time"] > rows[-1]["time"] - timedelta(days=365)]
            last = values[-1]
            assert len(values) == 365
            assert s.dvol == last
            assert s.iv_rank == pytest.approx((last - min(values)) / (max(values) - min(values)), rel=1e-12)
            assert s.iv_percentile == pytest.approx(sum(v < last for v in values) / len(values), rel=1e-12)
            assert "DVOL: the daily close of 2026-12-04 00:00 UTC" in s.note
            # RV: the first venue in order (Binance) keeps its price perpetual's closes: the last 31 closed days
            symbol = f"{s.asset}USDT"
            closes = [r["price"] for r in st.read("price_points", venue="binance", symbol=symbol)][-31:]
            assert len(closes) == 31 and s.rv_30d == pytest.approx(_realized_vol(closes), rel=1e-9)
            assert s.rv_source == f"30 daily returns of binance {symbol} closed daily closes (the store)"
            assert s.iv_rv_spread == pytest.approx(last - _realized_vol(closes), rel=1e-9)
            # spot: the median of the latest index prices of each venue's price perpetual (USDT, then USDC, then
            # USD-quoted; the basis snapshot), not the options' forward
            perps = {}
            for row in st.read("instruments", asset=s.asset):
                if row["kind"] == "perp" and row["venue"] in OPTION_VENUES:
                    rank = (["USDT", "USDC", "USD"].index(row["quote"]), row["symbol"])
                    if row["venue"] not in perps or rank < perps[row["venue"]][0]:
                        perps[row["venue"]] = (rank, row["symbol"])
            index = {(r["venue"], r["symbol"]): r["index_price"] for r in st.read("price_quotes", asset=s.asset)}
            want = statistics.median(index[(v, sym)] for v, (_, sym) in perps.items())
            assert len(perps) == 4 and s.spot == want
            theirs = next(t for t in live.report.summary if t.asset == s.asset)
            assert theirs.spot is not None and s.spot == pytest.approx(theirs.spot, rel=1e-3)  # the options' index


def test_a_stale_store_asks_the_venues_and_says_why(stored: str, tmp_path: Path) -> None:
    late = ask(nowhere(tmp_path), stored, lambda dt: dt.options("BTC"), at=NOW + timedelta(seconds=1801))
    source = late.to_dict()["source"]
    assert late.all_failed and len(late.failures) == 4  # the venues were asked (and are unreachable)
    assert source["kind"] == "venues" and source["store"] == stored
    assert source["note"] == "no option_expiries of binance BTC in the last 1800 s (options.fresh_seconds)"
    fresh = ask(nowhere(tmp_path), stored, lambda dt: dt.options("BTC"), at=NOW + timedelta(seconds=1799))
    assert fresh.source.kind == "store" and fresh.source.age_seconds == 1799.0 and fresh.failures == []
    settings = nowhere(tmp_path)
    off = replace(settings, options=replace(settings.options, fresh_seconds=0))
    never = ask(off, stored, lambda dt: dt.options("BTC"))
    assert never.all_failed and never.source.kind == "venues" and never.source.store is None  # not consulted
    shorter = replace(settings, options=replace(settings.options, fresh_seconds=60))
    assert ask(shorter, stored, lambda dt: dt.options("BTC"), at=NOW + timedelta(seconds=61)).source.note == \
        "no option_expiries of binance BTC in the last 60 s (options.fresh_seconds)"


@pytest.mark.parametrize("view", [{"live": True}, {"chain": True}, {"gex": True}, {"flow": True}])
def test_live_and_the_views_needing_quotes_ask_the_venues(stored: str, tmp_path: Path, view: dict[str, bool]) -> None:
    result = ask(nowhere(tmp_path), stored, lambda dt: dt.options("BTC", **view))
    assert result.all_failed and result.source.kind == "venues" and result.source.store is None
    assert {f.venue for f in result.failures} == set(OPTION_VENUES)


def test_a_venue_the_store_holds_nothing_of_asks_the_venues(snap: Any, tmp_path: Path) -> None:
    url = str(tmp_path / "s.sqlite3")
    write(url, snap, keep=lambda r: getattr(r, "venue", None) != "okx")
    result = ask(nowhere(tmp_path), url, lambda dt: dt.options("ETH"))
    assert result.source.kind == "venues"
    assert result.source.note == "no option_expiries of okx ETH in the last 1800 s (options.fresh_seconds)"
    others = ask(nowhere(tmp_path), url, lambda dt: dt.options("ETH"), venues=["deribit", "bybit"])
    assert others.source.kind == "store" and {e.venue for e in others.report.expiries} == {"deribit", "bybit"}


def test_chosen_venues_leave_out_an_aggregate_over_others(stored: str, live: Any, tmp_path: Path) -> None:
    one = ask(nowhere(tmp_path), stored, lambda dt: dt.options("BTC"), venues=["deribit"])
    assert one.source.kind == "store" and one.source.note == "" and one.report.aggregate == ()
    assert {e.venue for e in one.report.expiries} == {"deribit"}
    term = [e for e in live.to_dict()["term_structure"] if e["venue"] == "deribit" and e["asset"] == "BTC"]
    same(term, one.to_dict()["term_structure"])
    two = ask(nowhere(tmp_path), stored, lambda dt: dt.options("BTC"), venues=["deribit", "okx"])
    assert two.source.kind == "store" and two.report.aggregate == ()
    assert two.source.note == ("the cross-venue aggregate of BTC over deribit, okx is not in the store "
                               "(--live computes it)")
    assert "aggregate of BTC over deribit, okx is not in the store (--live computes it)" in two.table().render(400)


def test_an_unchanged_expiry_keeps_its_earlier_row(snap: Any, live: Any, tmp_path: Path) -> None:
    """The natural key keeps the first row of an expiry whose venue time did not change: a later round that read
    the same quotes writes nothing for it, and the earlier row stands for it. An expiry missing from the latest
    round without a venue time is not served from an earlier one."""
    url = str(tmp_path / "s.sqlite3")
    later = NOW + timedelta(minutes=15)
    expiries = [r for r in snap.records if isinstance(r, OptionExpiry)]
    deribit = sorted({r.expiry for r in expiries if r.venue == "deribit" and r.asset == "BTC"})
    binance = sorted({r.expiry for r in expiries if r.venue == "binance" and r.asset == "BTC"})
    unchanged, gone = deribit[0], binance[1]

    def first(r: OptionExpiry) -> OptionExpiry:
        return replace(r, time=None) if r.venue == "binance" else r

    def second(r: OptionExpiry) -> OptionExpiry:
        kept = r.venue == "deribit" and r.asset == "BTC" and r.expiry == unchanged
        return replace(r, received_at=later, time=r.time if kept else (None if r.venue == "binance" else later))

    write(url, snap, keep=lambda r: not isinstance(r, OptionExpiry))
    with open_store(url) as st:
        assert st.write([first(r) for r in expiries])["option_expiries"] == len(expiries)
        again = [second(r) for r in expiries if not (r.venue == "binance" and r.asset == "BTC" and r.expiry == gone)]
        assert st.write(again)["option_expiries"] == len(again) - 1  # the unchanged one is not written again
    result = ask(nowhere(tmp_path), url, lambda dt: dt.options("BTC", expiry="all"), at=later)
    # the unchanged row is of the first round (its venue time did not advance since): the answer is as old as it
    assert result.source.kind == "store" and result.source.snapshot_time == NOW
    assert result.source.age_seconds == 900.0 and f"deribit BTC {unchanged:%Y-%m-%d}: from the round of " \
        "2026-12-04 08:00:00 UTC" in result.source.note
    rows = {(e.venue, e.expiry): e for e in result.report.expiries}
    assert rows[("deribit", unchanged)].days == pytest.approx((unchanged - NOW).total_seconds() / 86_400, rel=1e-12)
    assert {e for v, e in rows if v == "deribit"} == set(deribit)
    assert {e for v, e in rows if v == "binance"} == set(binance) - {gone}


def test_the_dashboard_options_panel_from_the_store(stored: str, live: Any, tmp_path: Path) -> None:
    result = ask(nowhere(tmp_path), stored, lambda dt: dt.dashboard(["BTC"], level=2))
    doc = result.to_dict()
    jsonschema.validate(doc, load_schema("dashboard"))
    panel = doc["assets"][0]["options"]
    assert next(p for p in doc["panels"] if p["panel"] == "options")["status"] == "ok"
    want = [e for e in live.to_dict()["expiries"] if e["asset"] == "BTC"]
    assert len(panel["expiries"]) == len(want) > 10
    for got, e in zip(panel["expiries"], want, strict=True):
        same({k: e[k] for k in got}, got)
    dvol = [r["value"] for r in open_store(stored).read("vol_points", venue="deribit", symbol="BTC-DVOL")]
    assert panel["dvol"] == dvol[-1] and panel["atm_iv"] is not None and panel["atm_iv_venue"] in OPTION_VENUES
    asked = ask(nowhere(tmp_path), stored, lambda dt: dt.dashboard(["BTC"], level=2, live=True)).to_dict()
    assert next(p for p in asked["panels"] if p["panel"] == "options") == {
        "panel": "options", "status": "failed", "message": "no venue answered"}


def test_cli_options_from_the_store_and_live(capsys: pytest.CaptureFixture[str], stored: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DTRACK_NOW", "2026-12-04T08:00:20Z")
    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DTRACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("DTRACK_STORE", raising=False)
    monkeypatch.delenv("DTRACK_CONFIG", raising=False)
    config = str(write_config(tmp_path / "settings.yaml", nowhere_urls()))
    table = cli(capsys, "--store", stored, "--config", config, "options", "BTC", "ETH")
    assert table.code == 0, table.err
    assert f"Source: the store {stored}, snapshots 20 s old (no network; --live asks the venues)" in table.out
    assert "BTC OPTIONS BY EXPIRY" in table.out and "ETH OPTIONS BY EXPIRY" in table.out
    doc = cli(capsys, "--store", stored, "--config", config, "options", "BTC", "--pcr", "--format", "json").json()
    jsonschema.validate(doc, load_schema("options"))
    assert doc["source"]["kind"] == "store" and doc["source"]["age_seconds"] == 20.0 and len(doc["expiries"]) > 10
    asked = cli(capsys, "--store", stored, "--config", config, "options", "BTC", "--live", "--format", "json")
    assert asked.code == 1 and asked.json()["source"]["kind"] == "venues" and asked.json()["expiries"] == []
    jsonschema.validate(asked.json(), load_schema("options"))
    assert statistics.mean(e["days"] for e in doc["expiries"]) > 0


def test_a_store_answer_loads_no_network_library(stored: str, tmp_path: Path) -> None:
    code = ("import sys\nfrom dtrack.cli.main import main\ntry:\n    main(['--store', sys.argv[1], 'options', 'BTC'])\n"
            "except SystemExit as e:\n    code = e.code\nprint('aiohttp' in sys.modules, code, file=sys.stderr)")
    env = {**os.environ, "DTRACK_NOW": "2026-12-04T08:00:10Z", "XDG_CONFIG_HOME": str(tmp_path / "none")}
    env.pop("DTRACK_CONFIG", None)
    env.pop("DTRACK_STORE", None)
    proc = subprocess.run([sys.executable, "-c", code, stored], capture_output=True, text=True, timeout=120, env=env)
    assert proc.stderr.strip().splitlines()[-1] == "False 0", proc.stderr
    assert f"Source: the store {stored}, snapshots 10 s old" in proc.stdout


def test_an_expiry_missing_from_the_latest_round_shows_its_own_age(snap: Any, tmp_path: Path) -> None:
    """An expiry with a venue time that the latest round did not write (gone from it, or its venue time had not
    changed: the store cannot tell which) is served from the earlier round, and the answer's age is that row's,
    not the latest round's: stale rows are never labelled fresh. The source names the expiries from the earlier
    round."""
    url = str(tmp_path / "s.sqlite3")
    later = NOW + timedelta(minutes=15)
    expiries = [r for r in snap.records if isinstance(r, OptionExpiry)]
    deribit = sorted({r.expiry for r in expiries if r.venue == "deribit" and r.asset == "BTC"})
    gone = deribit[1]

    def missing(r: OptionExpiry) -> bool:
        return r.venue == "deribit" and r.asset == "BTC" and r.expiry == gone

    write(url, snap, keep=lambda r: not isinstance(r, OptionExpiry))
    with open_store(url) as st:
        assert st.write(expiries)["option_expiries"] == len(expiries)
        again = [replace(r, received_at=later, time=later) for r in expiries if not missing(r)]
        assert st.write(again)["option_expiries"] == len(again)
    result = ask(nowhere(tmp_path), url, lambda dt: dt.options("BTC", expiry="all"), at=later)
    assert result.source.kind == "store"
    rows = {(e.venue, e.expiry): e for e in result.report.expiries}
    assert {e for v, e in rows if v == "deribit"} == set(deribit)  # still served ...
    # ... computed at NOW (its days to expiry from NOW), so the answer is 900 s old, not 0 s
    assert rows[("deribit", gone)].days == pytest.approx((gone - NOW).total_seconds() / 86_400, rel=1e-12)
    assert result.source.snapshot_time == NOW and result.source.age_seconds == 900.0
    assert result.source.note == (f"deribit BTC {gone:%Y-%m-%d}: from the round of 2026-12-04 08:00:00 UTC (the "
                                  "latest, 2026-12-04 08:15:00 UTC, wrote no row of it)")
    # every expiry in the latest round: that round's age
    with open_store(url) as st:
        st.write([replace(r, received_at=later + timedelta(seconds=1), time=later + timedelta(seconds=1))
                  for r in expiries if r.asset == "BTC"])
    fresh = ask(nowhere(tmp_path), url, lambda dt: dt.options("BTC", expiry="all"), at=later + timedelta(seconds=1))
    assert fresh.source.age_seconds == 0.0 and fresh.source.note == ""
