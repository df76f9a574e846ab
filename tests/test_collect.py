"""``dtrack collect`` as a user runs it: real processes against a real ``dtrack sim serve`` process, into SQLite
and PostgreSQL.

- a short ``--duration`` run stores snapshots (and settled funding, where this dtrack backfills) equal to what the
  sim's market model serves, with no duplicate natural key; its run row says ``stopped``;
- SIGTERM: exit 0, run ``stopped``; SIGKILL then a restart: nothing duplicated, the killed run marked ``killed``,
  a gap row per stream for the hole attributed to it, and nothing stored after its last heartbeat;
- two collectors into one PostgreSQL schema at once: no duplicates, both runs recorded;
- a store that is down: the collector keeps running, says so, and writes the kept rows when it is back;
- stream faults in the sim: the collector keeps running, gaps are recorded with their reasons, data resumes.

No wall-clock assertion: waits poll the store (or stderr) with generous bounds. PostgreSQL runs at
``$DTRACK_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``), each test in a private schema
dropped afterwards; those tests skip, saying why, only when that server cannot be reached.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from dtrack.sim.model import MarketModel
from dtrack.store import TABLES, open_store, to_ms
from storefix import WAIT, drop_schema, pg_schema_url, pg_unreachable, poll, store_url

__all__ = ["store_url"]  # the fixture, imported: a fresh, private store on each engine

SEED = 7
#: short intervals so that a few seconds hold several rounds (options: their chains are big; one test asks them)
FAST = {"heartbeat": 1, "backfill_days": 1,
        "snapshots": {"funding": 1, "open_interest": 2, "basis": 2, "options": 0}}
#: the venues of issue 10 (others, like the DEX venues, may be active too)
FIVE = frozenset({"binance", "bybit", "okx", "deribit", "hyperliquid"})


# --- the sim and the stores ------------------------------------------------------------------------------------

class Sim:
    """``dtrack sim serve`` in a process of its own; ``settings`` is what --write-config wrote."""

    def __init__(self, root: Path, *faults: str) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.cfg, self.log = root / "sim.yaml", root / "sim-frames.jsonl"
        args = [a for f in faults for a in ("--fault", f)]
        self.proc = subprocess.Popen([sys.executable, "-m", "dtrack", "sim", "serve", "--port", "0", "--seed",
                                      str(SEED), "--write-config", str(self.cfg), *args],
                                     env=env_for(root), stderr=subprocess.DEVNULL)
        poll(lambda: self.cfg.exists() and self.cfg.stat().st_size > 0, "the sim to write its settings")
        self.settings: dict[str, Any] = yaml.safe_load(self.cfg.read_text())

    def config(self, path: Path, extra: dict[str, Any] | None = None, **collect: Any) -> Path:
        """A settings file pointing at this sim, with a ``collect:`` section (and ``extra`` top-level keys)."""
        path.write_text(yaml.safe_dump({**self.settings, **(extra or {}), "collect": {**FAST, **collect}}))
        return path

    def close(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(20)


def env_for(root: Path) -> dict[str, str]:
    env = {**os.environ, "DTRACK_CACHE_DIR": str(root / "cache"), "DTRACK_STATE_DIR": str(root / "state"),
           "XDG_CONFIG_HOME": str(root / "config"), "XDG_DATA_HOME": str(root / "data")}
    for name in ("DTRACK_CONFIG", "DTRACK_STORE", "DTRACK_NOW"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    server = Sim(tmp_path_factory.mktemp("sim"))
    yield server
    server.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A private schema on the PostgreSQL server."""
    problem = pg_unreachable()
    if problem:
        pytest.skip(problem)
    schema = f"dtrack_collect_{uuid.uuid4().hex[:12]}"
    try:
        yield pg_schema_url(schema)
    finally:
        drop_schema(schema)


# --- running the collector ---------------------------------------------------------------------------------------

class Run:
    """One ``dtrack collect`` process; its stderr in a file (read while it runs)."""

    def __init__(self, tmp: Path, cfg: Path, store: str, *args: str, name: str = "collect") -> None:
        self.err_path = tmp / f"{name}-{uuid.uuid4().hex[:6]}.err"
        self._err = open(self.err_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen([sys.executable, "-m", "dtrack", "--config", str(cfg), "--store", store,
                                      "collect", *args], env=env_for(tmp), stderr=self._err,
                                     stdout=subprocess.DEVNULL)

    @property
    def err(self) -> str:
        return self.err_path.read_text(encoding="utf-8")

    def wait(self, timeout: float = WAIT) -> int:
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(20)
            self._err.close()
        return code

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)


def read(store: str, table: str, **kw: Any) -> list[dict[str, Any]]:
    with open_store(store) as st:
        return st.read(table, **kw)


def rows_of(store: str, table: str, n: int = 1, **kw: Any) -> list[dict[str, Any]]:
    """Wait until ``table`` holds at least ``n`` rows (matching ``kw``), then return them."""
    return poll(lambda: (r := read(store, table, **kw)) and len(r) >= n and r, f"{n} rows in {table}")


def key_of(table: str, row: dict[str, Any]) -> tuple[Any, ...]:
    spec = TABLES[table]
    return tuple(row[p] if isinstance(p, str) else next((row[c] for c in p if row[c] is not None), None)
                 for p in spec.key)


def assert_no_duplicate_keys(store: str) -> None:
    with open_store(store) as st:
        for name in TABLES:
            keys = Counter(key_of(name, r) for r in st.read(name))
            assert [k for k, n in keys.items() if n > 1] == [], name


def assert_funding_is_the_sims(rows: list[dict[str, Any]],
                               venues: frozenset[str] = frozenset({"binance", "bybit", "okx", "hyperliquid"})) -> None:
    """Every stored funding row of ``venues`` (they quote the next settlement's rate) is the model's rate for that
    settlement (the same 8-decimal number); Binance's and Bybit's REST marks are the model's at the venue's time."""
    model = MarketModel(SEED)
    checked: Counter[str] = Counter()
    for r in rows:
        if r["venue"] not in venues:
            continue
        perp = model.perp(r["venue"], r["symbol"])
        assert perp is not None, (r["venue"], r["symbol"])
        if r["next_funding_time"] is not None:
            assert r["rate"] == pytest.approx(model.funding_rate(perp, to_ms(r["next_funding_time"])), rel=1e-12)
            checked[r["venue"]] += 1
    assert set(checked) == set(venues)


def assert_marks_are_the_sims(rows: list[dict[str, Any]]) -> None:
    model = MarketModel(SEED)
    for r in rows:
        perp = model.perp(r["venue"], r["symbol"])
        if perp is not None and r["venue"] in ("binance", "bybit") and r["mark_price"] is not None:
            venue_mark = model.mark_price(perp, to_ms(r["time"]))
            assert r["mark_price"] * perp.multiplier == pytest.approx(venue_mark, rel=1e-9)


def runs(store: str) -> dict[str, dict[str, Any]]:
    return {r["run_id"]: r for r in read(store, "collector_runs")}


# --- the tests ---------------------------------------------------------------------------------------------------

def test_a_short_run_stores_what_the_sim_serves(sim: Sim, store_url: str, tmp_path: Path) -> None:
    cfg = sim.config(tmp_path / "settings.yaml")
    run = Run(tmp_path, cfg, store_url, "--duration", "30m")

    def collected() -> bool:  # what a short run gathers; waited for, not timed (a busy machine is slower)
        funding = read(store_url, "funding_rates")
        return ({r["venue"] for r in funding} >= FIVE and {r["asset"] for r in funding} == {"BTC", "ETH", "SOL"}
                and len({r["received_at"] for r in funding if r["venue"] == "binance"}) >= 2  # several rounds
                and all(read(store_url, t) for t in ("open_interest", "price_quotes", "spot_prices", "instruments"))
                and {p["venue"] for p in read(store_url, "funding_points")} >= {"binance", "bybit", "okx"})

    poll(collected, "two snapshot rounds of every venue, settled funding and the other tables")
    run.signal(signal.SIGTERM)
    assert run.wait() == 0, run.err
    funding = read(store_url, "funding_rates")
    assert_funding_is_the_sims(funding)
    for table in ("open_interest", "price_quotes", "spot_prices", "instruments"):
        assert read(store_url, table), table
    (row,) = runs(store_url).values()
    assert row["status"] == "stopped" and row["ended_at"] is not None and row["last_seen"] == row["ended_at"]
    assert f"run {row['run_id']}" in run.err and "rows funding" in run.err
    assert "streams" not in run.err  # neither failed nor off (nor missing from this dtrack)
    assert read(store_url, "gaps") == []  # a healthy sim: nothing missed
    assert max(r["received_at"] for r in funding) <= row["last_seen"]
    # settled funding, from the venues' history, equal to the model's settlements
    model = MarketModel(SEED)
    points = read(store_url, "funding_points")
    assert {p["venue"] for p in points} >= {"binance", "bybit", "okx"}
    for p in points:
        perp = model.perp(p["venue"], p["symbol"])
        if perp is not None and p["venue"] in ("binance", "bybit", "okx"):
            assert p["rate"] == pytest.approx(model.funding_rate(perp, to_ms(p["time"])), rel=1e-12)
    # and as `dtrack history` reads them back: no (venue, symbol, time) twice
    doc = history(tmp_path, store_url, "funding", "BTC", "--since", "2d")
    keys = Counter((r["venue"], r["symbol"], r["time"]) for r in doc["rows"])
    assert keys and max(keys.values()) == 1
    assert {r["venue"] for r in doc["rows"]} >= {"binance", "bybit", "okx"}
    doc = history(tmp_path, store_url, "snapshots", "BTC", "--since", "1h")
    keys = Counter((r["table"], r["venue"], r["symbol"], r["time"] or r["received_at"]) for r in doc["rows"])
    assert keys and max(keys.values()) == 1
    assert_no_duplicate_keys(store_url)


def history(tmp: Path, store: str, *args: str) -> Any:
    """``dtrack history ARGS --format json`` on the store, as a user runs it."""
    run = subprocess.run([sys.executable, "-m", "dtrack", "--store", store, "history", *args, "--format", "json"],
                         env=env_for(tmp), capture_output=True, text=True, timeout=WAIT)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_once_is_one_round_for_cron(sim: Sim, tmp_path: Path) -> None:
    store = str(tmp_path / "store.sqlite3")
    cfg = sim.config(tmp_path / "settings.yaml")
    run = Run(tmp_path, cfg, store, "--once", "--no-backfill", "--assets", "BTC", "--venue", "okx",
              "--venue", "deribit", "--quiet")
    assert run.wait() == 0, run.err
    funding = read(store, "funding_rates")
    assert {r["venue"] for r in funding} == {"okx", "deribit"}
    assert_funding_is_the_sims(funding, frozenset({"okx"}))
    assert {r["asset"] for r in read(store, "open_interest")} == {"BTC"}
    (row,) = runs(store).values()
    assert row["status"] == "stopped" and '"once":true' in str(row["what"])
    assert "rows funding" not in run.err  # --quiet: no status line


def test_sigterm_flushes_and_marks_the_run_stopped(sim: Sim, tmp_path: Path) -> None:
    store = str(tmp_path / "store.sqlite3")
    run = Run(tmp_path, sim.config(tmp_path / "settings.yaml"), store, "--no-backfill")
    rows_of(store, "funding_rates", 20)
    run.signal(signal.SIGTERM)
    assert run.wait() == 0, run.err
    (row,) = runs(store).values()
    assert row["status"] == "stopped" and row["ended_at"] is not None, row
    assert "SIGTERM: stopping" in run.err
    assert max(r["received_at"] for r in read(store, "funding_rates")) <= row["last_seen"]


def test_sigkill_then_restart_records_the_hole(sim: Sim, tmp_path: Path) -> None:
    store = str(tmp_path / "store.sqlite3")
    cfg = sim.config(tmp_path / "settings.yaml")
    first = Run(tmp_path, cfg, store, "--no-backfill", name="first")
    poll(lambda: len({r["received_at"] for r in read(store, "funding_rates", venue="binance")}) >= 3,
         "three funding rounds")
    (killed_id,) = runs(store)
    first.signal(signal.SIGKILL)
    assert first.wait() == -signal.SIGKILL
    second = Run(tmp_path, cfg, store, "--no-backfill", name="second")
    poll(lambda: runs(store)[killed_id]["status"] == "killed", "the killed run to be marked")

    def restart_stored() -> bool:  # a round of the restart is stored (a busy machine may take a while to one)
        every = runs(store)
        started = [r["started_at"] for k, r in every.items() if k != killed_id]
        return bool(started) and any(r["received_at"] >= started[0]
                                     for r in read(store, "funding_rates", venue="binance", symbol="BTCUSDT"))

    poll(restart_stored, "a funding row of the restart")
    second.signal(signal.SIGTERM)
    assert second.wait() == 0, second.err
    every = runs(store)
    killed = every[killed_id]
    (restart_id,) = set(every) - {killed_id}
    assert every[restart_id]["status"] == "stopped"
    assert killed["ended_at"] == killed["last_seen"] and "found by run " + restart_id in killed["note"]
    hole = [g for g in read(store, "gaps") if g["collector"] == killed_id]
    streams = {(g["venue"], g["stream"]) for g in hole}
    assert {("binance", "snapshot.funding"), ("okx", "snapshot.open_interest"),
            ("deribit", "snapshot.basis")} <= streams
    assert {("bybit", "stream.tickers"), ("hyperliquid", "stream.tickers")} <= streams
    assert all(g["reason"] == "killed" and g["start"] == killed["last_seen"] and g["end"] > g["start"] for g in hole)
    assert len(hole) == len(streams)  # one per stream
    # received_at continuity: the killed run's rows reach its last heartbeat (nothing after it was stored, the
    # round before it was), the restart's rows start after it
    funding = read(store, "funding_rates", venue="binance", symbol="BTCUSDT")
    before = [r["received_at"] for r in funding if r["received_at"] < every[restart_id]["started_at"]]
    after = [r["received_at"] for r in funding if r["received_at"] >= every[restart_id]["started_at"]]
    assert before and after
    # nothing stored after the killed run's last heartbeat: the heartbeat is written in the same transaction as
    # the data (tests/test_collect_units.py), so only what it held since that flush was lost (no timing asserted:
    # a busy machine may delay a round by any amount)
    assert max(before) <= killed["last_seen"]
    assert_no_duplicate_keys(store)


def test_two_collectors_into_one_postgres(sim: Sim, pg_url: str, tmp_path: Path) -> None:
    cfg = sim.config(tmp_path / "settings.yaml")
    one = Run(tmp_path, cfg, pg_url, "--duration", "30m", "--assets", "BTC,ETH", name="one")
    two = Run(tmp_path, cfg, pg_url, "--duration", "30m", "--assets", "ETH,SOL", name="two")
    poll(lambda: len(runs(pg_url)) == 2
         and {r["asset"] for r in read(pg_url, "funding_rates")} == {"BTC", "ETH", "SOL"},
         "both collectors' funding rows")
    one.signal(signal.SIGTERM)
    two.signal(signal.SIGTERM)
    assert one.wait() == 0, one.err
    assert two.wait() == 0, two.err
    every = runs(pg_url)
    assert len(every) == 2 and {r["status"] for r in every.values()} == {"stopped"}
    assert len({(r["host"], r["pid"]) for r in every.values()}) == 2
    assert {r["asset"] for r in read(pg_url, "funding_rates")} == {"BTC", "ETH", "SOL"}
    assert_no_duplicate_keys(pg_url)
    # the instruments both saw (ETH's) are one row each
    eth = [r for r in read(pg_url, "instruments") if r["asset"] == "ETH"]
    assert len(eth) == len({(r["venue"], r["symbol"]) for r in eth})


def test_a_store_that_is_down_keeps_the_batch_and_writes_it_when_back(sim: Sim, tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the store's directory should be")  # cannot be created, even by root
    store = str(blocker / "store.sqlite3")
    run = Run(tmp_path, sim.config(tmp_path / "settings.yaml"), store, "--no-backfill", "--venue", "binance",
              "--venue", "okx", "-v")
    poll(lambda: "store unavailable" in run.err, "the outage to be reported")
    # two snapshot rounds done (-v logs them) while the store is down: their rows are kept in memory
    poll(lambda: run.err.split("store unavailable", 1)[1].count('msg="snapshot round" kinds=funding') >= 2,
         "snapshot rounds during the outage")
    assert run.proc.poll() is None, run.err
    blocker.unlink()
    back = datetime.now(UTC)
    poll(lambda: "store back" in run.err, "the store to be back")
    funding = rows_of(store, "funding_rates", 2)
    assert min(r["received_at"] for r in funding) < back  # the kept batch, read while the store was down
    run.signal(signal.SIGTERM)
    assert run.wait() == 0, run.err
    (row,) = runs(store).values()
    assert row["status"] == "stopped"
    assert_no_duplicate_keys(store)


def test_a_refusing_postgres_then_back(sim: Sim, pg_url: str, tmp_path: Path) -> None:
    """A PostgreSQL URL whose server refuses (nothing listens on its port), then a forwarder to the real one."""
    port = free_port()
    url = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{port}")
    assert url != pg_url, "the test's PostgreSQL URL must be on 127.0.0.1:5432 to be redirected"
    run = Run(tmp_path, sim.config(tmp_path / "settings.yaml"), url, "--no-backfill", "--venue", "bybit")
    poll(lambda: "store unavailable" in run.err and "refused" in run.err, "the refusal to be reported")
    assert run.proc.poll() is None, run.err
    with Forwarder(port, 5432):
        poll(lambda: "store back" in run.err, "the store to be back")
        rows_of(pg_url, "funding_rates", 1)
        run.signal(signal.SIGTERM)
        assert run.wait() == 0, run.err
    (row,) = runs(pg_url).values()
    assert row["status"] == "stopped"


def test_a_failing_venue_never_stops_the_others(tmp_path: Path) -> None:
    faulty = Sim(tmp_path / "sim", "okx=500")
    try:
        store = str(tmp_path / "store.sqlite3")
        run = Run(tmp_path, faulty.config(tmp_path / "settings.yaml"), store, "--duration", "30m", "--no-streams",
                  "--no-backfill")

        def rounds() -> bool:  # two rounds of the healthy venues, waited for (not timed)
            funding = read(store, "funding_rates")
            return ({r["venue"] for r in funding} >= FIVE - {"okx"}
                    and len({r["received_at"] for r in funding if r["venue"] == "binance"}) >= 2)

        poll(rounds, "two funding rounds of the healthy venues")
        run.signal(signal.SIGTERM)
        assert run.wait() == 0, run.err
    finally:
        faulty.close()
    funding = read(store, "funding_rates")
    assert {r["venue"] for r in funding} >= FIVE - {"okx"} and "okx" not in {r["venue"] for r in funding}
    assert_funding_is_the_sims(funding, frozenset({"binance", "bybit", "hyperliquid"}))
    assert_marks_are_the_sims(funding)
    assert len({r["received_at"] for r in funding if r["venue"] == "binance"}) >= 2
    said = [line for line in run.err.splitlines() if line.startswith("dtrack collect: okx [")]
    assert said and len(said) == len({line.split("):")[0] for line in said})  # once per kind, not every round
    assert "failures" in run.err.splitlines()[-1] and "(okx)" in run.err.splitlines()[-1]
    (row,) = runs(store).values()
    assert row["status"] == "stopped"


def test_stream_faults_leave_gaps_and_data_resumes(tmp_path: Path) -> None:
    faulty = Sim(tmp_path / "sim", "okx=disconnect", "bybit=stall", "deribit=500")
    try:
        store = str(tmp_path / "store.sqlite3")
        # a stall is noticed after 3 s of silence (the venues' own thresholds are longer), reconnects are quick
        cfg = faulty.config(tmp_path / "settings.yaml", {"streams": {"stall_seconds": 3, "backoff_base": 0.2,
                                                                     "backoff_cap": 2}},
                            snapshots={"funding": 0, "open_interest": 0, "basis": 0, "options": 0})
        run = Run(tmp_path, cfg, store, "--no-backfill", "--venue", "okx", "--venue", "bybit", "--venue",
                  "binance", "--venue", "deribit")
        gaps = poll(lambda: (g := [x for x in read(store, "gaps") if x["venue"] == "okx" and x["end"] is not None])
                    and g, "a closed okx gap")
        (run_id,) = runs(store)
        assert all(g["reason"] == "disconnect" and g["collector"] == run_id for g in gaps)
        resumed = max(g["end"] for g in gaps)
        poll(lambda: any(r["received_at"] > resumed for r in read(store, "funding_rates", venue="okx")),
             "okx data after the gap")
        poll(lambda: any(g["venue"] == "bybit" and g["reason"] == "stall" for g in read(store, "gaps")),
             "a bybit stall gap")
        assert run.proc.poll() is None, run.err
        run.signal(signal.SIGTERM)
        assert run.wait() == 0, run.err
        assert read(store, "funding_rates", venue="binance")  # the healthy venue all along
        gaps = read(store, "gaps")
        assert all(g["end"] is not None and g["collector"] == run_id for g in gaps)  # closed at the stop at the latest
        assert {g["reason"] for g in gaps if g["venue"] == "deribit"} == {"error"}  # its stream never started
        assert_funding_is_the_sims(read(store, "funding_rates"), frozenset({"binance", "bybit", "okx"}))
        assert_no_duplicate_keys(store)
    finally:
        faulty.close()


# --- a TCP forwarder (the PostgreSQL server "coming back") -------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Forwarder:
    """Accept on ``port`` and pipe every connection to ``target`` on loopback, until the block ends."""

    def __init__(self, port: int, target: int) -> None:
        self.server = socket.create_server(("127.0.0.1", port))
        self.target = target
        self.threads: list[threading.Thread] = []
        self.closing = False

    def __enter__(self) -> Forwarder:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing = True
        self.server.close()

    def _accept(self) -> None:
        while not self.closing:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
