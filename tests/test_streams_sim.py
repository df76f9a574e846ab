"""``AsyncClient.stream`` / ``Client.stream`` end to end against the simulated venues over real sockets: the
records of all five venues equal what the sim sent (its frame log), stream faults become the right gaps, a venue
that cannot start is an error gap that closes when it recovers, and bad input is one clear error.

No wall-clock assertions: the sim's cadences are shrunk (``StreamOptions``), waits are bounded and generous, and
the stop conditions are counts ("each venue delivered each kind"), never durations.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import dtrack
import net_helpers
from dtrack.config import Settings, StreamSettings
from dtrack.errors import SymbolNotFound, UsageError
from dtrack.records import FundingRate, Gap, OpenInterest, PriceQuote, Record
from dtrack.sim.faults import Faults
from dtrack.sim.server import SimServer, start_sim
from dtrack.sim.streams import StreamOptions

WAIT = 60.0
VENUES = ("binance", "bybit", "okx", "deribit", "hyperliquid")
KINDS = {"binance": {FundingRate, PriceQuote}, **{v: {FundingRate, OpenInterest, PriceQuote} for v in VENUES[1:]}}
FAST = StreamOptions(cadence_scale=0.2)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "WS_PROXY", "WSS_PROXY", "http_proxy", "https_proxy", "ws_proxy",
                "wss_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


def settings_for(server: SimServer, tmp: Path, **streams: Any) -> Settings:
    base = Settings(cache_dir=tmp / "cache", state_dir=tmp / "state")
    base = replace(base, streams=replace(StreamSettings(backoff_base=0.02, backoff_cap=0.3), **streams))
    return base.with_venue_urls(server.venue_urls(), server.venue_ws_urls())


async def collect(it: AsyncIterator[Record], done: Callable[[list[Record]], bool], what: str) -> list[Record]:
    """What ``it`` yields until ``done`` (closed after)."""
    return await net_helpers.collect(it, done, what, WAIT, close=True)


def venue_of(record: Record) -> str:
    return record.venue if isinstance(record, Gap) else record.instrument.venue  # type: ignore[attr-defined]


def every_kind_seen(n: int) -> Callable[[list[Record]], bool]:
    def done(got: list[Record]) -> bool:
        seen: dict[tuple[str, type], int] = {}
        for r in got:
            if not isinstance(r, Gap):
                key = (venue_of(r), type(r))
                seen[key] = seen.get(key, 0) + 1
        return all(seen.get((v, k), 0) >= n for v, kinds in KINDS.items() for k in kinds)

    return done


# --- what was sent, from the frame log -------------------------------------------------------------------------


def ms(t: datetime | None) -> int | None:
    return None if t is None else round(t.timestamp() * 1000)


def sent_frames(log: Path, venue: str) -> list[tuple[str, Any]]:
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return [(r["channel"], json.loads(r["frame"])) for r in rows
            if r.get("venue") == venue and r.get("dir") == "send" and r.get("channel")]


def bybit_states(frames: list[tuple[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """The merged row of each (topic, ts) as a client replaying snapshot + deltas per connection sees it."""
    state: dict[str, dict[str, Any]] = {}
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for _, f in frames:
        topic = f["topic"]
        if f["type"] == "snapshot":
            state[topic] = dict(f["data"])
        elif topic in state:
            state[topic].update(f["data"])
        if topic in state:
            out[(topic, f["ts"])] = dict(state[topic])
    return out


def matches(record: Record, venue: str, frames: list[tuple[str, Any]], bybit: dict[Any, Any]) -> bool:
    """Whether some frame the sim sent carries exactly this record's values."""
    inst = record.instrument  # type: ignore[attr-defined]
    mult, t = inst.multiplier, ms(record.time)  # type: ignore[attr-defined]

    def same(value: Any, raw: Any, scale: float = 1.0) -> bool:
        return value is None or (raw not in (None, "") and value == float(raw) / scale)

    def check(row: dict[str, Any], mark: str, index: str | None, last: str | None, rate: str, oi: str) -> bool:
        if isinstance(record, FundingRate):
            return record.rate == float(row[rate]) and same(record.mark_price, row.get(mark), mult)
        if isinstance(record, OpenInterest):
            return record.amount == float(row[oi])
        assert isinstance(record, PriceQuote)
        return (same(record.mark_price, row.get(mark), mult) and (index is None or same(record.index_price,
                row.get(index), mult)) and (last is None or same(record.last_price, row.get(last), mult)))

    for channel, f in frames:
        if venue == "binance":
            for u in f["data"]:
                if u["s"] == inst.symbol and u["E"] == t and check(u, "p", "i", None, "r", ""):
                    return True
        elif venue == "bybit":
            row = bybit.get((f"tickers.{inst.symbol}", t))
            if channel == f"tickers.{inst.symbol}" and f["ts"] == t and row is not None:
                oi = "singleOpenInterest" if "singleOpenInterest" in row else "openInterest"
                return check(row, "markPrice", "indexPrice", "lastPrice", "fundingRate", oi)
        elif venue == "okx":
            arg, row = f["arg"], f["data"][0]
            wanted = {FundingRate: "funding-rate", OpenInterest: "open-interest", PriceQuote: "mark-price"}
            if arg["instId"] == inst.symbol and arg["channel"] == wanted[type(record)] and int(row["ts"]) == t:
                return check(row, "markPx", None, None, "fundingRate", "oi")
        elif venue == "deribit":
            data = f["params"]["data"]
            if data["instrument_name"] == inst.symbol and data["timestamp"] == t:
                return check(data, "mark_price", "index_price", "last_price", "funding_8h", "open_interest")
        else:
            data = f["data"]
            if data["coin"] == inst.symbol and check(data["ctx"], "markPx", "oraclePx", "midPx", "funding",
                                                     "openInterest"):
                return True
    return False


def test_client_stream_yields_every_venues_records_equal_to_the_frames_sent(tmp_path: Path) -> None:
    log = tmp_path / "frames.jsonl"

    async def main() -> list[Record]:
        server = await start_sim(seed=7, log_requests=str(log), stream_options=FAST)
        try:
            async with dtrack.AsyncClient(config=settings_for(server, tmp_path)) as dt:
                it = dt.stream(["funding", "open_interest", "quotes"], ["BTC"])
                return await collect(it, every_kind_seen(3), "every venue's kinds")
        finally:
            await server.stop()

    records = asyncio.run(main())
    assert [g for g in records if isinstance(g, Gap)] == []
    for venue in VENUES:
        frames = sent_frames(log, venue)
        states = bybit_states(frames) if venue == "bybit" else {}
        mine = [r for r in records if venue_of(r) == venue]
        unmatched = [r for r in mine if not matches(r, venue, frames, states)]
        assert mine and unmatched == [], f"{venue}: {unmatched[:2]}"
        assert all(r.received_at.tzinfo is UTC for r in mine)  # type: ignore[attr-defined]


def test_stream_faults_are_gaps_with_their_reasons(tmp_path: Path) -> None:
    faults = Faults(streams={"binance": "disconnect", "bybit": "disconnect", "okx": "stall", "hyperliquid": "stall",
                             "deribit": "malformed"}, stream_after=5)
    expected = {("binance", "disconnect"), ("bybit", "disconnect"), ("okx", "stall"), ("hyperliquid", "stall"),
                ("deribit", "malformed")}

    def done(got: list[Record]) -> bool:
        closed = {(g.venue, g.reason) for g in got if isinstance(g, Gap) and g.end is not None}
        return expected <= closed

    async def main() -> list[Record]:
        server = await start_sim(seed=7, faults=faults, stream_options=FAST)
        try:
            settings = settings_for(server, tmp_path, stall_seconds=1.0)
            async with dtrack.AsyncClient(config=settings) as dt:
                return await collect(dt.stream("quotes", "BTC"), done, "a closed gap of every fault")
        finally:
            await server.stop()

    got = asyncio.run(main())
    gaps = [g for g in got if isinstance(g, Gap)]
    for gap in gaps:
        if gap.end is not None and gap.reason != "malformed":  # closed: the same gap was reported open before
            assert any(g.end is None and (g.venue, g.stream, g.start, g.reason) == (gap.venue, gap.stream, gap.start,
                       gap.reason) for g in gaps[:gaps.index(gap)])
    assert all(g.start == g.end for g in gaps if g.reason == "malformed")
    assert not any(g.reason == "error" for g in gaps)
    # Binance serves the same all-market channel on both futures hosts: each gap names its connection's host
    binance = {g.stream for g in gaps if g.venue == "binance"}
    assert binance and binance <= {"fstream !markPrice@arr@1s", "dstream !markPrice@arr@1s"}
    # the data goes on after every fault
    last_gap = max(i for i, r in enumerate(got) if isinstance(r, Gap))
    assert any(not isinstance(r, Gap) for r in got[:last_gap])


def test_a_venue_that_cannot_start_is_an_error_gap_until_it_recovers(tmp_path: Path) -> None:
    faults = Faults(venues={"okx": "500"})

    async def main() -> tuple[list[Record], list[Record]]:
        server = await start_sim(seed=7, faults=faults, stream_options=FAST)
        try:
            async with dtrack.AsyncClient(config=settings_for(server, tmp_path), venues=["okx", "bybit"]) as dt:
                it = dt.stream("quotes", "BTC")
                first = []
                async for record in it:
                    first.append(record)
                    if any(isinstance(r, Gap) for r in first) and any(venue_of(r) == "bybit" for r in first
                                                                       if not isinstance(r, Gap)):
                        break
                server.faults.venues.clear()  # OKX answers again
                later = await collect(it, lambda got: any(isinstance(g, Gap) and g.end is not None for g in got)
                                      and any(venue_of(r) == "okx" and not isinstance(r, Gap) for r in got),
                                      "OKX back")
                return first, later
        finally:
            await server.stop()

    first, later = asyncio.run(main())
    (opened,) = [g for g in first if isinstance(g, Gap)]
    assert (opened.venue, opened.stream, opened.reason, opened.end) == ("okx", "*", "error", None)
    (closed,) = [g for g in later if isinstance(g, Gap)]
    assert (closed.venue, closed.stream, closed.start, closed.reason) == ("okx", "*", opened.start, "error")
    assert closed.end is not None and closed.end >= closed.start


def test_bad_input_is_one_clear_error(tmp_path: Path) -> None:
    async def first_error(**kwargs: Any) -> BaseException:
        server = await start_sim(seed=7, stream_options=FAST)
        try:
            async with dtrack.AsyncClient(config=settings_for(server, tmp_path)) as dt:
                try:
                    async for _ in dt.stream(**kwargs):
                        break
                except dtrack.DtrackError as exc:
                    return exc
                raise AssertionError("no error")
        finally:
            await server.stop()

    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"kinds": "klines", "assets": "BTC"}, UsageError, "cannot stream 'klines'; streamable kinds"),
        ({"kinds": "funding", "assets": []}, UsageError, "no asset given"),
        ({"kinds": "open_interest", "assets": "BTC", "venues": ["binance"]}, UsageError,
         "Binance does not stream open_interest"),
        ({"kinds": "quotes", "assets": "BTC", "venues": ["bitmex"]}, UsageError, "BitMEX closed"),
        ({"kinds": "quotes", "assets": "NOSUCHCOIN"}, SymbolNotFound, "NOSUCHCOIN"),
    ]
    for kwargs, kind, text in cases:
        err = asyncio.run(first_error(**kwargs))
        assert isinstance(err, kind) and text in str(err) and "\n" not in str(err), (kwargs, err)


def test_the_sync_client_streams_as_a_blocking_iterator(tmp_path: Path, sim_factory: Callable[..., Any]) -> None:
    sim = sim_factory(seed=7, stream_options=FAST)
    settings = settings_for(sim.server, tmp_path)
    with dtrack.Client(config=settings, venues=["bybit"]) as dt:
        stream: Iterator[Record] = dt.stream("quotes", "BTC")
        got = []
        for record in stream:
            got.append(record)
            if len(got) >= 5:
                break
        assert all(isinstance(r, PriceQuote) and r.instrument.venue == "bybit" for r in got)
        again = next(iter(dt.stream(["funding"], "BTC")))  # a new stream on the same client, after the first closed
        assert isinstance(again, FundingRate)


def test_stream_batches_are_whole_frames_equal_to_what_was_sent_with_linger(tmp_path: Path) -> None:
    """The collector's way (``linger``: sockets read in rounds, the consumer woken as often): every record still
    one the sim sent, each list one venue's frame, each venue's records in the order they were read."""
    log = tmp_path / "frames.jsonl"

    async def main() -> list[list[Record]]:
        server = await start_sim(seed=7, log_requests=str(log), stream_options=FAST)
        try:
            async with dtrack.AsyncClient(config=settings_for(server, tmp_path)) as dt:
                it = dt.stream_batches(["funding", "open_interest", "quotes"], ["BTC"], linger=0.1)
                got: list[list[Record]] = []
                done = every_kind_seen(3)
                try:
                    async with asyncio.timeout(WAIT):
                        async for batch in it:
                            got.append(batch)
                            if done([r for b in got for r in b]):
                                break
                finally:
                    await it.aclose()
                return got
        finally:
            await server.stop()

    batches = asyncio.run(main())
    assert batches and all(type(b) is list and b for b in batches)
    records = [r for b in batches for r in b]
    assert [g for g in records if isinstance(g, Gap)] == []
    assert all(len({venue_of(r) for r in b}) == 1 for b in batches)  # a frame is one venue's
    for venue in VENUES:
        frames = sent_frames(log, venue)
        states = bybit_states(frames) if venue == "bybit" else {}
        mine = [r for r in records if venue_of(r) == venue]
        assert mine and [r for r in mine if not matches(r, venue, frames, states)] == [], venue
        read = [r.received_at for r in mine]  # type: ignore[attr-defined]
        assert read == sorted(read)


def test_the_sync_client_streams_batches(tmp_path: Path, sim_factory: Callable[..., Any]) -> None:
    sim = sim_factory(seed=7, stream_options=FAST)
    with dtrack.Client(config=settings_for(sim.server, tmp_path), venues=["okx"]) as dt:
        got: list[list[Record]] = []
        for batch in dt.stream_batches("quotes", "BTC"):
            got.append(batch)
            if len(got) >= 3:
                break
        records = [r for b in got for r in b]
        assert records and all(isinstance(r, PriceQuote) and r.instrument.venue == "okx" for r in records)
