"""The per-expiry option metrics in the history store (``option_expiries``), on SQLite and PostgreSQL:

- an options snapshot stores, per venue and across venues ("all"), exactly the rows ``options(expiry="all")``
  computes for the same pinned simulated market; writing it again adds nothing;
- ``history options`` (``AsyncClient.history`` and ``dtrack history``) reads them back, valid against the schema,
  with a tz-aware time first in CSV and DataFrames;
- the collector keeps the per-expiry metrics every options round and no chain by default; with
  ``collect.option_chains`` both.
"""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import pytest

import dtrack
from clirun import dtrack as cli
from conftest import SimThread
from dtrack.collect import Collector
from dtrack.collect.plan import make_plan
from dtrack.collect.status import StatusLine
from dtrack.config import CollectSnapshots, Settings, parse_settings
from dtrack.records import OptionExpiry, OptionQuote
from dtrack.report.history import iso_ms
from dtrack.schemas import load_schema
from dtrack.store import TABLES, open_store
from storefix import NOW, model, pinned, run, sim_settings, store_url

__all__ = ["store_url"]  # the fixture, imported

ASSETS = ["BTC", "ETH"]
COLUMNS = TABLES["option_expiries"].names
#: the columns of ``dtrack options --format json`` expiry rows the table keeps under the same names
SHARED = ("venue", "asset", "expiry", "days", "forward", "forward_source", "atm_iv", "rr25", "bf25", "pcr_oi",
          "pcr_volume", "pcr_premium", "max_pain", "oi_contracts", "oi_coins", "oi_usd", "volume_usd", "options")


@pytest.fixture(scope="module")
def market() -> Iterator[SimThread]:
    server = SimThread(model=model())
    yield server
    server.close()


def client(market: SimThread, tmp: Path, url: str | None = None, settings: Settings | None = None
           ) -> dtrack.AsyncClient:
    return dtrack.AsyncClient(config=settings or sim_settings(market.venue_urls(), tmp), clock=pinned(), store=url)


def key(row: dict[str, Any]) -> tuple[str, str, str]:
    expiry = row["expiry"]  # a datetime, or ISO-8601 with (history) or without (options) milliseconds
    return row["venue"], row["asset"], (expiry if isinstance(expiry, str) else iso_ms(expiry)).replace(".000Z", "Z")


@pytest.fixture
def stored(market: SimThread, tmp_path: Path, store_url: str) -> dict[str, Any]:
    """One options snapshot of BTC and ETH written twice, and what the options query says of the same market."""

    async def go() -> dict[str, Any]:
        async with client(market, tmp_path, store_url) as dt:
            snap = await dt.snapshot("options", ASSETS, chains=False)
            query = await dt.options(ASSETS, expiry="all")
        with open_store(store_url) as st:
            first, again = st.write(snap.records), st.write(snap.records)
        return {"snapshot": snap, "query": query, "first": first, "again": again}

    return run(go())  # type: ignore[no-any-return]


def test_stored_metrics_are_the_options_query_rows(stored: dict[str, Any], store_url: str) -> None:
    snap, query = stored["snapshot"], stored["query"]
    # no chain asked: none kept; the summary's inputs (DVOL, venue RV, daily closes) beside the per-expiry metrics
    assert snap.failures == [] and set(snap.counts()) == {"OptionExpiry", "VolPoint", "PricePoint"}
    doc = query.to_dict()
    want = {key(r): r for r in doc["expiries"] + doc["aggregate"]}
    sums = {(e.venue, e.asset, iso_ms(e.expiry).replace(".000Z", "Z")): e
            for e in (*query.report.expiries, *query.report.aggregate)}
    with open_store(store_url) as st:
        rows = st.read("option_expiries")
    assert stored["first"]["option_expiries"] == len(rows) and stored["again"]["option_expiries"] == 0
    got = {key(r): r for r in rows}
    assert len(got) == len(rows) == len(want) > 40 and set(got) == set(want)
    assert {v for v, _a, _e in got} == {"binance", "bybit", "okx", "deribit", "all"}
    for k, row in got.items():
        assert list(row) == list(COLUMNS)
        assert row["received_at"] == NOW and row["time"] == NOW  # the sim's quotes are timed at its clock
        for col in SHARED:
            value, expected = row[col], want[k][col]
            if col == "expiry":
                assert iso_ms(value).replace(".000Z", "Z") == expected  # type: ignore[arg-type]
            elif isinstance(expected, float):
                assert type(value) is float and value == pytest.approx(expected, rel=1e-12), (k, col)
            else:
                assert value == expected, (k, col)
        for col in ("call_oi", "put_oi", "call_volume", "put_volume"):
            assert row[col] == pytest.approx(getattr(sums[k], col), rel=1e-12), (k, col)
    per_venue = [r for r in rows if r["venue"] != "all"]
    assert all(r["atm_iv"] is not None and 0.2 < r["atm_iv"] < 2 for r in per_venue)  # type: ignore[operator]
    assert all(r["forward_source"] == "per_venue" and r["oi_contracts"] is None for r in rows if r["venue"] == "all")


def test_a_later_round_is_a_new_observation(market: SimThread, tmp_path: Path, store_url: str) -> None:
    later = NOW + timedelta(minutes=15)

    async def go() -> list[OptionExpiry]:
        async with dtrack.AsyncClient(config=sim_settings(market.venue_urls(), tmp_path), clock=lambda: later) as dt:
            snap = await dt.snapshot("options", "BTC", venues=["deribit"], chains=False)
        return [r for r in snap.records if isinstance(r, OptionExpiry)]

    records = run(go())
    with open_store(store_url) as st:
        first = st.write(records)["option_expiries"]
        before = NOW - timedelta(minutes=15)
        earlier = [replace(r, time=before, received_at=before) for r in records]
        assert first == len(records) > 5 and st.write(earlier)["option_expiries"] == len(records)
        assert st.count("option_expiries") == 2 * len(records)
        assert st.prune(later + timedelta(days=90), parse_settings({}).store.retention.days())[
            "option_expiries"] == len(records)  # snapshots: 90 days


def test_history_options_reads_them_back(stored: dict[str, Any], store_url: str) -> None:
    async def go(**kw: Any) -> Any:
        async with dtrack.AsyncClient(clock=pinned(), store=store_url) as dt:
            return await dt.history("options", **kw)

    with open_store(store_url) as st:
        btc = st.read("option_expiries", asset="BTC")
    result = run(go(assets=["btc"], since="1d"))
    doc = result.to_dict()
    jsonschema.validate(doc, load_schema("history"))
    assert result.exit_code == 0 and doc["kind"] == "options" and doc["assets"] == ["BTC"]
    assert len(doc["rows"]) == len(btc) > 20 and sum(s["points"] for s in doc["series"]) == len(btc)
    by_key = {key(r): r for r in btc}
    for row in doc["rows"]:
        want = by_key[key(row)]
        assert list(row) == ["time", *(c for c in COLUMNS if c != "time")]
        assert row["time"] == iso_ms(want["time"]) and row["atm_iv"] == want["atm_iv"]  # type: ignore[arg-type]
        assert row["max_pain"] == want["max_pain"] and row["options"] == want["options"]
    frame = result.to_pandas()
    assert isinstance(frame["time"].dtype, pd.DatetimeTZDtype) and len(frame) == len(btc)
    csv = result.to_csv()
    assert csv.splitlines()[0] == ",".join(["time", *(c for c in COLUMNS if c != "time")])
    read = pd.read_csv(io.StringIO(csv), parse_dates=["time", "expiry"])
    assert isinstance(read["time"].dtype, pd.DatetimeTZDtype) and len(read) == len(btc)
    deribit = run(go(assets="BTC", since="1d", venues=["deribit"])).rows
    assert deribit and {r["venue"] for r in deribit} == {"deribit"}
    none = run(go(assets="BTC", since="2026-12-01", until="2026-12-04T07:59Z"))
    assert none.rows == [] and none.exit_code == 1 and "dtrack collect" in none.note


def test_cli_history_options(capsys: pytest.CaptureFixture[str], stored: dict[str, Any], store_url: str,
                             monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DTRACK_NOW", "2026-12-04T08:00:00Z")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DTRACK_CONFIG", raising=False)
    got = cli(capsys, "--store", store_url, "history", "options", "ETH", "--since", "1d", "--format", "json")
    assert got.code == 0, got.err
    rows = got.json()["rows"]
    assert rows and {r["asset"] for r in rows} == {"ETH"}
    table = cli(capsys, "--store", store_url, "history", "options", "ETH", "--venue", "okx")
    assert table.code == 0 and "STORED OPTIONS of ETH" in table.out and "Latest ATM IV" in table.out
    assert "deribit" not in table.out and "okx" in table.out


def collect_once(market: SimThread, tmp: Path, url: str, **collect: Any) -> int:
    """One ``--once`` round of options snapshots of BTC by the collector, in-process, the clock pinned."""
    settings = sim_settings(market.venue_urls(), tmp)
    zero = CollectSnapshots(funding=0, open_interest=0, basis=0)
    settings = replace(settings, collect=replace(settings.collect, snapshots=zero, **collect))
    plan = make_plan(settings, assets=["BTC"], once=True, backfill=False, store_url=url)
    assert plan.snapshots == {"options": 900.0}

    async def go() -> int:
        async with client(market, tmp, settings=settings) as dt:
            collector = Collector(dt, plan, open_store=lambda: open_store(url),
                                  status=StatusLine(None, messages=io.StringIO()), clock=pinned())
            return await collector.run()

    return asyncio.run(go())  # type: ignore[no-any-return]


def test_the_collector_keeps_metrics_and_no_chain_by_default(market: SimThread, tmp_path: Path,
                                                            store_url: str) -> None:
    assert Settings().collect.option_chains is False
    assert collect_once(market, tmp_path, store_url) == 0
    with open_store(store_url) as st:
        rows = st.read("option_expiries")
        assert st.count("option_quotes") == 0
        (runs,) = st.read("collector_runs")
    assert len(rows) > 20 and {r["asset"] for r in rows} == {"BTC"} and any(r["venue"] == "all" for r in rows)
    assert runs["status"] == "stopped" and '"option_chains":false' in str(runs["what"])


def test_the_collector_keeps_chains_when_asked(market: SimThread, tmp_path: Path, store_url: str) -> None:
    assert parse_settings({"collect": {"option_chains": True}}).collect.option_chains is True
    assert collect_once(market, tmp_path, store_url, option_chains=True) == 0
    with open_store(store_url) as st:
        expiries = st.read("option_expiries")
        quotes = st.read("option_quotes")
    listed = {(r["venue"], r["expiry"]) for r in quotes}
    assert len(quotes) > 1000 and {r["asset"] for r in quotes} == {"BTC"}
    assert {(r["venue"], r["expiry"]) for r in expiries if r["venue"] != "all"} == {
        (v, e) for v, e in listed if e > NOW}  # type: ignore[operator]
    for row in expiries:  # each expiry's option count is that of the stored chain
        if row["venue"] != "all":
            n = sum(1 for q in quotes if (q["venue"], q["expiry"]) == (row["venue"], row["expiry"]))
            assert row["options"] == n and not math.isnan(row["oi_coins"])  # type: ignore[arg-type]


def test_snapshot_keeps_chains_by_default_for_library_callers(market: SimThread, tmp_path: Path) -> None:
    async def go() -> Any:
        async with client(market, tmp_path) as dt:
            return await dt.snapshot("options", "ETH", venues=["okx"])

    counts = run(go()).counts()
    assert counts[OptionQuote.__name__] > 100 and counts[OptionExpiry.__name__] > 5
