"""The collector's parts on their own, in-process: the ``collect:`` settings and the command line's checks, the
batch writer (conflation, one transaction with the heartbeat, a store that is down: the batch kept, the oldest
rows beyond the bound dropped and recorded as a gap), and the bookkeeping of dead runs (which runs are dead,
the gaps they leave, the sweep on a real store)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from clirun import dtrack
from dtrack.collect.plan import make_plan, parse_span
from dtrack.collect.runs import RunBook, hole, is_dead, pid_gone, sweep
from dtrack.collect.status import StatusLine, Tally
from dtrack.collect.writer import BatchWriter
from dtrack.config import Settings, parse_settings
from dtrack.errors import ConfigError, StoreError, UsageError
from dtrack.records import FundingRate, Gap, Instrument, Kind, Margin
from dtrack.store import Store, open_store

T0 = datetime(2026, 12, 5, 12, tzinfo=UTC)
INST = Instrument(venue="binance", symbol="BTCUSDT", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
                  margin=Margin.LINEAR, market="usdm")
RATE = FundingRate(instrument=INST, rate=0.0001, interval_hours=8.0, interval_source="fundingInfo", time=T0,
                   received_at=T0, next_funding_time=T0 + timedelta(hours=4), mark_price=91_000.0)


def rates(n: int, venue: str = "binance", symbol: str = "BTCUSDT") -> list[FundingRate]:
    """``n`` funding snapshots a second apart (distinct natural keys)."""
    inst = replace(INST, venue=venue, symbol=symbol)
    return [replace(RATE, instrument=inst, time=T0 + timedelta(seconds=i), received_at=T0 + timedelta(seconds=i),
                    rate=0.0001 + i * 1e-8) for i in range(n)]


# --- settings and the command line ---------------------------------------------------------------------------

def test_collect_settings_defaults_and_overrides() -> None:
    c = Settings().collect
    assert c.assets == ("BTC", "ETH", "SOL") and c.venues == () and c.flush_interval == 1.0
    assert c.snapshots.intervals() == {"funding": 60.0, "open_interest": 300.0, "basis": 300.0, "options": 900.0}
    assert c.streams.enabled and c.streams.kinds == ("funding", "open_interest", "quotes", "liquidations") \
        and c.streams.conflation == 1
    assert c.option_chains is False  # options snapshots keep the per-expiry metrics, not the whole chains
    s = parse_settings({"collect": {"assets": "btc, ETH", "venues": ["okx", "bybit"], "max_buffered_rows": 5000,
                                    "snapshots": {"options": 0, "funding": 30}, "streams": {"kinds": ["funding"],
                                                                                            "conflation": 0}}})
    assert s.collect.assets == ("btc", "ETH") and s.collect.venues == ("okx", "bybit")
    assert s.collect.snapshots.intervals() == {"funding": 30.0, "open_interest": 300.0, "basis": 300.0}
    plan = make_plan(s)
    assert plan.assets == ("BTC", "ETH") and plan.venues == ("okx", "bybit") and plan.stream_kinds == ("funding",)
    assert plan.conflation == 0 and plan.max_buffered_rows == 5000 and plan.backfill == timedelta(days=7)
    assert make_plan(s, assets=["SOL,PEPE"], venues=["deribit"], streams=False, backfill=False).assets == ("SOL",
                                                                                                           "PEPE")
    once = make_plan(s, once=True)
    assert once.once and once.stream_kinds == () and "stream.tickers" not in once.what()
    what = json.loads(plan.what())
    assert ["okx", "snapshot.funding"] in what["gap_streams"] and ["bybit", "stream.tickers"] in what["gap_streams"]
    assert what["heartbeat"] == 5.0 and what["option_chains"] is False and not plan.option_chains
    assert make_plan(parse_settings({"collect": {"option_chains": True}})).option_chains


@pytest.mark.parametrize(("doc", "needle"), [
    ({"collect": {"venues": ["okz"]}}, "'okz' is not a venue dtrack knows"),
    ({"collect": {"assets": []}}, "name at least one asset"),
    ({"collect": {"assets": [1]}}, "collect.assets: expected a list of names"),
    ({"collect": {"streams": {"kinds": ["trades"]}}}, "collect.streams.kinds: expected names among"),
    ({"collect": {"snapshots": {"funding": -1}}}, "collect.snapshots.funding: expected a number >= 0"),
    ({"collect": {"flush_interval": 0}}, "collect.flush_interval: expected a number >= 0.05"),
    ({"collect": {"heartbeat": 0.5}}, "expected heartbeat >= flush_interval"),
    ({"collect": {"flush_intervl": 1}}, "unknown settings key collect.flush_intervl; did you mean "
                                        "collect.flush_interval?"),
])
def test_bad_collect_settings_are_one_clear_error(doc: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("?", r"\?").replace("(", r"\(")):
        parse_settings(doc)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("10m", 600), ("2h", 7200), ("1d", 86400), ("45", 45),
                                               ("1.5m", 90)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_span(text, "--duration") == seconds


@pytest.mark.parametrize(("kw", "needle"), [
    ({"duration": "5x"}, "bad --duration '5x'"),
    ({"duration": "0s"}, "bad --duration '0s'"),
    ({"duration": "10m", "once": True}, "--once runs one round"),
    ({"venues": ["bitmex"]}, "BitMEX is closed"),
    ({"assets": ["B!"]}, "cannot read asset 'B!'"),
])
def test_bad_plans_are_usage_errors(kw: dict[str, Any], needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        make_plan(Settings(), **kw)


@pytest.mark.parametrize(("args", "code", "needle"), [
    (["collect", "--duration", "soon"], 2, "bad --duration 'soon'"),
    (["collect", "--venue", "nowhere"], 2, "nowhere"),
    (["collect", "--once", "--duration", "1m"], 2, "--once runs one round"),
    (["--store", "mysql://x/y", "collect"], 1, "unknown scheme 'mysql'"),
])
def test_bad_input_on_the_command_line(capsys: pytest.CaptureFixture[str], private_dirs: None, args: list[str],
                                       code: int, needle: str) -> None:
    got = dtrack(capsys, *args)
    assert got.code == code and needle in got.err and got.err.count("\n") == 1 and "Traceback" not in got.err


def test_collect_help_is_light() -> None:
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "dtrack", "collect", "--help"],
                         capture_output=True, text=True, timeout=60, check=True)
    assert "--once" in run.stdout and "--no-streams" in run.stdout
    loaded = {line.split("|")[-1].strip().split(".")[0] for line in run.stderr.splitlines() if "|" in line}
    assert loaded.isdisjoint({"numpy", "pandas", "aiohttp", "psycopg"})


# --- the batch writer --------------------------------------------------------------------------------------------

class FlakyStore:
    """Opens the real store only once ``up`` is set; until then every open fails as a store that is down."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.up = False
        self.opened = 0

    def __call__(self) -> Store:
        self.opened += 1
        if not self.up:
            raise StoreError("cannot connect to the store (test: down)")
        return open_store(str(self.path))


def writer_for(opener: Any, **kw: Any) -> tuple[BatchWriter, RunBook, Tally, list[str]]:
    said: list[str] = []

    class Messages:
        def write(self, text: str) -> None:
            said.append(text)

        def flush(self) -> None:
            pass

    run = RunBook.new("{}", T0)
    tally = Tally()
    writer = BatchWriter(opener, run, tally=tally, status=StatusLine(None, messages=Messages()),  # type: ignore[arg-type]
                         clock=lambda: T0 + timedelta(minutes=5), **kw)
    return writer, run, tally, said


def test_the_writer_conflates_live_records_and_keeps_snapshots(tmp_path: Path) -> None:
    async def main() -> None:
        opener = FlakyStore(tmp_path / "s.sqlite3")
        opener.up = True
        writer, run, tally, _ = writer_for(opener, conflation=1.0)
        for r in rates(5) + rates(3, symbol="ETHUSDT"):
            writer.add_live(r)
        writer.add(rates(4, venue="okx"))
        assert await writer.flush()
        assert await writer.close(status="stopped") == 0
        with open_store(str(opener.path)) as st:
            rows = st.read("funding_rates")
            assert sorted((r["venue"], r["symbol"], r["time"]) for r in rows if r["venue"] == "binance") == [
                ("binance", "BTCUSDT", T0 + timedelta(seconds=4)), ("binance", "ETHUSDT", T0 + timedelta(seconds=2))]
            assert len([r for r in rows if r["venue"] == "okx"]) == 4  # snapshots: every one
            (row,) = st.read("collector_runs")
            assert row["run_id"] == run.run_id and row["status"] == "stopped"
        assert tally.written["funding_rates"] == 6

    asyncio.run(main())


def test_without_conflation_every_frame_is_kept(tmp_path: Path) -> None:
    async def main() -> None:
        opener = FlakyStore(tmp_path / "s.sqlite3")
        opener.up = True
        writer, _, _, _ = writer_for(opener, conflation=0.0)
        for r in rates(5):
            writer.add_live(r)
        await writer.close(status="stopped")
        with open_store(str(opener.path)) as st:
            assert st.count("funding_rates") == 5

    asyncio.run(main())


def test_a_store_that_is_down_keeps_the_batch_up_to_the_bound_and_records_what_was_dropped(tmp_path: Path) -> None:
    async def main() -> None:
        opener = FlakyStore(tmp_path / "s.sqlite3")
        writer, run, tally, said = writer_for(opener, max_rows=100, flush_interval=0.05)
        writer.add(rates(60))
        assert not await writer.flush()
        assert tally.store_down_since is not None and tally.waiting == 60
        writer.add(rates(90)[60:])
        writer.add([Gap(venue="okx", stream="tickers", start=T0, end=None, reason="stall", received_at=T0)])
        assert not await writer.flush(force=True)
        assert tally.dropped == 0 and tally.waiting == 90
        writer.add(rates(150)[90:])  # 150 > 100: the 50 oldest go
        assert not await writer.flush(force=True)
        assert tally.dropped == 50 and tally.waiting == 100
        opener.up = True
        assert await writer.flush(force=True)
        assert tally.store_down_since is None and tally.waiting == 0
        assert await writer.close(status="stopped") == 0
        with open_store(str(opener.path)) as st:
            kept = sorted(r["time"] for r in st.read("funding_rates"))
            assert kept == [T0 + timedelta(seconds=i) for i in range(50, 150)]  # the newest 100
            gaps = {(g["venue"], g["stream"]): g for g in st.read("gaps")}
            dropped = gaps["binance", "store.funding_rates"]
            assert (dropped["start"], dropped["end"]) == (T0, T0 + timedelta(seconds=49))
            assert dropped["reason"] == "store_down" and dropped["collector"] == run.run_id
            assert gaps["okx", "tickers"]["reason"] == "stall"  # bookkeeping is never dropped
        text = "".join(said)
        assert "store unavailable (cannot connect to the store (test: down))" in text
        assert "dropping the oldest" in text and "store back after" in text

    asyncio.run(main())


def test_rows_and_heartbeat_go_in_one_transaction(tmp_path: Path) -> None:
    """A write that fails part-way stores neither the rows nor the heartbeat."""
    async def main() -> None:
        path = tmp_path / "s.sqlite3"
        writer, _, _, _ = writer_for(lambda: open_store(str(path)))
        bad = replace(RATE, received_at=datetime(2026, 12, 5, 12))  # noqa: DTZ001 - naive: refused by the store
        writer.add([*rates(3), bad])
        assert not await writer.flush()
        with open_store(str(path)) as st:
            assert st.count("funding_rates") == 0 and st.count("collector_runs") == 0
        writer.abandon()

    asyncio.run(main())


# --- dead runs ---------------------------------------------------------------------------------------------------

def run_row(**kw: Any) -> dict[str, Any]:
    base = {"run_id": "r1", "host": "other", "pid": 4242, "started_at": T0, "ended_at": None, "status": "running",
            "note": "", "last_seen": T0 + timedelta(seconds=30),
            "what": json.dumps({"heartbeat": 5, "flush_interval": 1,
                                "gap_streams": [["binance", "snapshot.funding"], ["okx", "stream.tickers"]]})}
    return {**base, **kw}


@pytest.mark.parametrize(("row", "silent_s", "gone", "dead"), [
    (run_row(), 10, True, False),  # another host: 10 s < 3 heartbeats + a flush
    (run_row(), 17, True, True),
    (run_row(host="here"), 7, True, True),  # this host, process gone, a heartbeat missed
    (run_row(host="here"), 5, True, False),  # ... not yet
    (run_row(host="here"), 600, False, False),  # this host, process alive: never, however stale
    (run_row(last_seen=None), 17, True, True),  # died before its first flush: its start counts
])
def test_which_runs_are_dead(row: dict[str, Any], silent_s: float, gone: bool, dead: bool) -> None:
    seen = row["last_seen"] or row["started_at"]
    assert is_dead(row, now=seen + timedelta(seconds=silent_s), host="here", heartbeat=5,
                   gone=lambda _pid, _started: gone) is dead


def test_pid_gone() -> None:
    assert not pid_gone(os.getpid(), datetime.now(UTC))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert pid_gone(child.pid, datetime.now(UTC))
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while not pid_gone(zombie.pid, datetime.now(UTC)) and datetime.now(UTC) < deadline:
            pass  # exited but not reaped: a zombie is gone too
        assert pid_gone(zombie.pid, datetime.now(UTC))
    finally:
        zombie.wait()
    # a pid held by a process younger than the run is another process
    assert pid_gone(os.getpid(), datetime(2000, 1, 1, tzinfo=UTC))


def test_a_dead_run_leaves_one_gap_per_stream() -> None:
    now = T0 + timedelta(minutes=3)
    gaps = hole(run_row(), now)
    assert [(g.venue, g.stream) for g in gaps] == [("binance", "snapshot.funding"), ("okx", "stream.tickers")]
    assert all(g.start == T0 + timedelta(seconds=30) and g.end == now and g.reason == "killed" and g.collector == "r1"
               for g in gaps)
    (lone,) = hole(run_row(what="not json"), now)
    assert (lone.venue, lone.stream) == ("all", "collector")


def test_sweep_marks_dead_runs_once(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "s.sqlite3")) as st:
        me = RunBook.new("{}", T0 + timedelta(minutes=10))
        # a run of this very process: it started no earlier than the process did (a run older than its pid's
        # process would be a reused pid, so dead), whatever day the suite runs on
        alive_here = RunBook(run_id="alive", host=me.host, pid=os.getpid(), started_at=datetime.now(UTC),
                             what="{}")
        st.write_rows("collector_runs", [run_row(), alive_here.row("running", last_seen=T0),
                                         me.row("running", last_seen=me.started_at),
                                         run_row(run_id="done", status="stopped")])
        now = T0 + timedelta(minutes=10)
        assert sweep(st, me, now, 5.0) == ["r1"]
        assert sweep(st, me, now, 5.0) == []  # marked: not running any more
        statuses = {r["run_id"]: r["status"] for r in st.read("collector_runs")}
        assert statuses == {"r1": "killed", "alive": "running", me.run_id: "running", "done": "stopped"}
        killed = next(r for r in st.read("collector_runs") if r["run_id"] == "r1")
        assert killed["ended_at"] == killed["last_seen"] == T0 + timedelta(seconds=30)
        assert "found by run " + me.run_id in killed["note"]
        assert {(g["venue"], g["stream"], g["collector"]) for g in st.read("gaps")} == {
            ("binance", "snapshot.funding", "r1"), ("okx", "stream.tickers", "r1")}


# --- the stream consumer: batches into the writer -----------------------------------------------------------------

def test_the_kept_record_types_are_every_stream_kinds_class() -> None:
    from dtrack import records
    from dtrack.collect.plan import STREAM_RECORDS
    from dtrack.collect.streams import kept_types

    kept = kept_types(STREAM_RECORDS.values())
    assert {c.__name__ for c in kept} == set(STREAM_RECORDS.values())
    assert all(getattr(records, c.__name__) is c for c in kept)
    assert kept_types(["FundingRate", "NoSuchRecord"]) == {FundingRate}


def test_a_batch_of_live_records_is_conflated_as_one_by_one(tmp_path: Path) -> None:
    async def stored(batched: bool, conflation: float) -> list[tuple[Any, ...]]:
        opener = FlakyStore(tmp_path / f"s-{batched}-{conflation}.sqlite3")
        opener.up = True
        writer, _, _, _ = writer_for(opener, conflation=conflation)
        frames = [rates(4)[:2], rates(4)[2:] + rates(3, symbol="ETHUSDT"), rates(2, venue="okx")]
        for frame in frames:
            if batched:
                writer.add_live_batch(frame)
            else:
                for r in frame:
                    writer.add_live(r)
        await writer.close(status="stopped")
        with open_store(str(opener.path)) as st:
            return sorted((r["venue"], r["symbol"], r["time"], r["rate"]) for r in st.read("funding_rates"))

    for conflation in (1.0, 0.0):
        one_by_one = asyncio.run(stored(False, conflation))
        assert asyncio.run(stored(True, conflation)) == one_by_one
        assert len(one_by_one) == (3 if conflation else 9)  # the latest of each symbol, or every one


def test_the_consumer_keeps_the_kept_kinds_and_every_gap_a_batch_at_a_time() -> None:
    from dtrack.collect.streams import StreamConsumer
    from dtrack.records import PriceQuote

    opened = Gap(venue="binance", stream="ch", start=T0, end=None, reason="stall", received_at=T0)
    closed = replace(opened, end=T0 + timedelta(seconds=5), received_at=T0 + timedelta(seconds=5))
    malformed = replace(opened, stream="other", end=T0, reason="malformed")
    quote = PriceQuote(instrument=INST, time=T0, received_at=T0, mark_price=91_000.0)
    r1, r2, r3 = rates(3)
    frames = [[r1, r2], [opened], [closed, r3, quote], [malformed]]
    asked: list[tuple[Any, ...]] = []

    class Client:
        async def stream_batches(self, kinds: Any, assets: Any, venues: Any = None,
                                 linger: float = 0.0) -> Any:
            asked.append((tuple(kinds), tuple(assets), tuple(venues), linger))
            for frame in frames:
                yield frame
            stop.set()  # then the iterator ends, with the run stopping

    class Writer:
        def __init__(self) -> None:
            self.run_book = RunBook.new("{}", T0)
            self.live: list[list[Any]] = []
            self.kept: list[Any] = []

        def add_live_batch(self, records: list[Any]) -> None:
            self.live.append(list(records))

        def add(self, records: Any) -> None:
            self.kept += list(records)

    class Plan:
        stream_kinds = ("funding",)
        stream_records = frozenset({"FundingRate"})
        assets = ("BTC",)
        venues = ("binance",)

        def stream_venues(self) -> tuple[str, ...]:
            return ("binance",)

    stop = asyncio.Event()
    tally = Tally()
    writer = Writer()
    consumer = StreamConsumer(Client(), Plan(), writer, tally, None, lambda: T0)  # type: ignore[arg-type]
    asyncio.run(consumer.run(stop))
    assert asked == [(("funding",), ("BTC",), ("binance",), 0.1)]
    assert writer.live == [[r1, r2], [r3]]  # quotes are not kept here
    assert consumer.records == 3
    run = writer.run_book.run_id
    assert writer.kept == [replace(g, collector=run) for g in (opened, closed, malformed)]
    assert tally.gaps == 2 and consumer.open_gaps == {}  # the stall (opened, then closed) and the malformed one
