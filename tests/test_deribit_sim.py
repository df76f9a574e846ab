"""Simulated Deribit: wire shapes against the real payloads, and the real adapter over sockets against it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlsplit
from urllib.request import urlopen

import pytest
from tests.conftest import SimThread, run_with_pool
from tests.shapes import shape_differences

from dtrack.errors import VenueError
from dtrack.records import FundingHistory, Instrument, Kind, Margin, Unit
from dtrack.sim.faults import Faults
from dtrack.sim.model import HOUR_MS, MarketModel
from dtrack.sim.venues.deribit import DeribitSim
from dtrack.venues.base import FundingAnswer
from dtrack.venues.deribit import adapter as adapter_module
from dtrack.venues.deribit.adapter import DeribitAdapter, history_windows
from dtrack.venues.deribit.parse import HISTORY_NOTE
from dtrack.venues.fields import ms_to_utc, utc_to_ms
from dtrack.venues.pool import VenuePool

Payload = Callable[[str], dict[str, Any]]
ASSETS = ["BTC", "ETH", "SOL", "PEPE"]
#: a plain HTTP GET answer has no JSON-RPC ``id`` (see the real get_instruments capture); the docs
#: examples carry the id of their JSON-RPC request example
NO_ID = frozenset({"id"})
#: a pinned market clock, not on a whole hour
PINNED_MS = 1_795_000_000_000 + 17 * 60_000


def sim_body(sim: SimThread, path_qs: str) -> Any:
    with urlopen(sim.venue_urls()["deribit"]["rest"] + path_qs, timeout=10) as resp:
        return json.loads(resp.read())


def deribit(pool: VenuePool) -> DeribitAdapter:
    adapter = pool.adapter("deribit")
    assert isinstance(adapter, DeribitAdapter)
    return adapter


def logged(path: Path, method: str) -> list[dict[str, list[str]]]:
    """Query parameters of every logged request to one Deribit method."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [parse_qs(urlsplit(r["path"]).query) for r in rows
            if r["venue"] == "deribit" and urlsplit(r["path"]).path.endswith("/" + method)]


# --- (a) conformance with the real payloads -----------------------------------------------------


def test_instruments_shape(sim: SimThread, payload: Payload) -> None:
    body = sim_body(sim, "/api/v2/public/get_instruments?currency=any&kind=future")
    docs = payload("deribit__rest_get_instruments__docs.json")["cases"][0]["raw"]
    assert shape_differences(body, docs, optional=NO_ID) == []
    for case in payload("deribit__rest_get_instruments__capture.json")["cases"]:
        # that capture asked without a kind filter; compare the future rows with future rows
        real = {**case["raw"], "result": [r for r in case["raw"]["result"] if r["kind"] == "future"]}
        assert shape_differences(body, real) == []


def test_book_summary_shape(sim: SimThread, payload: Payload) -> None:
    real = payload("deribit__rest_get_book_summary_by_currency__docs.json")["cases"][0]["raw"]
    # the docs example row is an option; these fields are "options only" in Deribit's schema
    options_only = frozenset({"underlying_price", "underlying_index", "interest_rate"})
    for currency in ("BTC", "ETH", "USDC"):
        body = sim_body(sim, f"/api/v2/public/get_book_summary_by_currency?currency={currency}&kind=future")
        assert body["result"]
        assert shape_differences(body, real, optional=NO_ID | options_only) == []


def test_ticker_shape(sim: SimThread, payload: Payload) -> None:
    body = sim_body(sim, "/api/v2/public/ticker?instrument_name=BTC-PERPETUAL")
    docs = payload("deribit__rest_ticker__docs.json")["cases"][0]["raw"]
    assert shape_differences(body, docs, optional=NO_ID) == []
    ccxt = payload("deribit__ccxt_fetchTicker.json")["cases"][0]["raw"]
    # ccxt's tooling re-serialised every number of this capture as a string (INDEX.md caveat)
    numeric = frozenset(k for k, v in {**ccxt, **ccxt["result"], **ccxt["result"]["stats"]}.items()
                        if isinstance(v, str) and v.replace(".", "", 1).isdigit())
    assert shape_differences(body, ccxt, loose_types=numeric) == []


def test_funding_history_shape(sim: SimThread, payload: Payload) -> None:
    now = sim.model.now_ms()
    body = sim_body(sim, "/api/v2/public/get_funding_rate_history?instrument_name=ETH_USDC-PERPETUAL"
                         f"&start_timestamp={now - 5 * HOUR_MS}&end_timestamp={now}")
    docs = payload("deribit__rest_get_funding_rate_history__docs.json")["cases"][0]["raw"]
    assert len(body["result"]) == 5
    assert shape_differences(body, docs, optional=NO_ID) == []
    # interest_1h is its own quantity, in no fixed ratio to interest_8h (the docs rows: ~195, 235, 9, -17)
    ratios = {round(r["interest_8h"] / r["interest_1h"], 6) for r in body["result"]}
    assert len(ratios) == len(body["result"])


def test_unknown_instrument_is_invalid_params(sim: SimThread) -> None:
    with pytest.raises(HTTPError) as err:
        sim_body(sim, "/api/v2/public/ticker?instrument_name=XRP-PERPETUAL")
    assert err.value.code == 400
    error = json.loads(err.value.read())["error"]
    assert error == {"code": -32602, "message": "Invalid params",
                     "data": {"reason": "wrong format", "param": "instrument_name"}}


# --- (b) the real adapter against the sim -------------------------------------------------------------


def test_funding_matches_model(sim: SimThread, tmp_path: Path) -> None:
    async def run(pool: VenuePool) -> FundingAnswer:
        return await deribit(pool).fetch_funding(ASSETS, history=timedelta(days=7))

    result = run_with_pool(sim.settings(tmp_path), run)
    model = sim.model
    assert result.errors == []
    assert sorted(r.instrument.symbol for r in result.items) == sorted(p.symbol for p in model.perps("deribit"))
    for fr in result.items:
        perp = model.perp("deribit", fr.instrument.symbol)
        assert perp is not None
        inst, now = fr.instrument, utc_to_ms(fr.time)  # the row's creation_timestamp
        assert (inst.asset, inst.quote, inst.kind) == (perp.asset, perp.quote, Kind.PERP)
        assert inst.margin is Margin(perp.margin) and inst.multiplier == perp.multiplier
        assert inst.settle == (perp.asset if perp.margin == "inverse" else "USDC")
        assert (inst.contract_size, inst.contract_unit) == (perp.contract_size, Unit(perp.contract_unit))
        assert fr.rate == model.current_funding(perp, now)[0]
        assert (fr.interval_hours, fr.next_funding_time, fr.predicted_rate) == (8.0, None, None)
        assert fr.mark_price == pytest.approx(model.mark_price(perp, now) / perp.multiplier, rel=1e-12)
        assert fr.index_price == pytest.approx(model.index_price(perp.asset, now), rel=1e-12)
        oi_usd = model.open_interest_base(perp, now) * model.mark_price(perp, now)
        assert fr.open_interest_usd == pytest.approx(oi_usd, rel=1e-12)
        assert "estimated_delivery_price" in fr.note

    assert set(result.history) == {p.symbol for p in model.perps("deribit")}
    for symbol, hist in result.history.items():
        check_history(model, hist, symbol)


def check_history(model: MarketModel, hist: FundingHistory, symbol: str) -> None:
    """Every whole hour of the window, each sample the sim's ``interest_8h`` of that hour read as an
    8 h rate (Deribit has no settlements: these are hourly samples of its 8 h-equivalent)."""
    sim, perp = DeribitSim(model), model.perp("deribit", symbol)
    assert perp is not None
    start_ms, end_ms = utc_to_ms(hist.start), min(utc_to_ms(hist.end), model.now_ms())
    hours = list(range(-(-start_ms // HOUR_MS) * HOUR_MS, end_ms + 1, HOUR_MS))
    assert [utc_to_ms(p.time) for p in hist.points] == hours
    assert [p.rate for p in hist.points] == [sim.interest_8h(perp, h) for h in hours]
    assert all(p.interval_hours == 8.0 for p in hist.points)
    assert hist.note == HISTORY_NOTE and "hourly samples of the 8 h-equivalent rate" in hist.note


def test_history_pages_60_days(sim_factory: Callable[..., SimThread], tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    sim = sim_factory(model=MarketModel(7, now_ms=PINNED_MS), log_requests=str(log))
    end = ms_to_utc(PINNED_MS)
    start = end - timedelta(days=60)

    async def run(pool: VenuePool) -> FundingHistory:
        adapter = deribit(pool)
        (perp,) = [i for i in await adapter.perpetuals(["SOL"])]
        return await adapter.fetch_funding_history(perp, start, end)

    hist = run_with_pool(sim.settings(tmp_path), run)
    assert len(hist.points) == 60 * 24  # more than one answer can hold (744)
    check_history(sim.model, hist, "SOL_USDC-PERPETUAL")
    asked = logged(log, "get_funding_rate_history")
    assert len(asked) == 2
    windows = [(int(q["start_timestamp"][0]), int(q["end_timestamp"][0])) for q in asked]
    assert sorted(windows) == history_windows(start, end)
    assert all(q["instrument_name"] == ["SOL_USDC-PERPETUAL"] for q in asked)


def sol_history_60_days(sim: SimThread, tmp_path: Path) -> FundingHistory:
    end = ms_to_utc(PINNED_MS)

    async def run(pool: VenuePool) -> FundingHistory:
        (perp,) = await deribit(pool).perpetuals(["SOL"])
        return await deribit(pool).fetch_funding_history(perp, end - timedelta(days=60), end)

    return run_with_pool(sim.settings(tmp_path), run)


@pytest.mark.parametrize("keeps_newest", [False, True], ids=["cap-keeps-oldest", "cap-keeps-newest"])
def test_history_complete_when_answers_hold_fewer_rows(sim_factory: Callable[..., SimThread], tmp_path: Path,
                                                       keeps_newest: bool) -> None:
    """Deribit's cap on rows per answer is undocumented: with 500 (below a 720-hour window) 60 days still
    arrive whole, each short answer followed up (from its last sample on, or up to its first one)."""
    endpoint = ("deribit", "/api/v2/public/get_funding_rate_history")
    faults = Faults(page_caps={endpoint: 500}, newest_past_cap={endpoint} if keeps_newest else set())
    log = tmp_path / "requests.jsonl"
    sim = sim_factory(model=MarketModel(7, now_ms=PINNED_MS), log_requests=str(log), faults=faults)
    hist = sol_history_60_days(sim, tmp_path)
    assert len(hist.points) == 60 * 24
    check_history(sim.model, hist, "SOL_USDC-PERPETUAL")
    asked = logged(log, "get_funding_rate_history")
    assert len(asked) == 4  # two 720-hour windows, each answered in 500 + 220 rows


def test_history_says_which_hours_are_missing(sim_factory: Callable[..., SimThread], tmp_path: Path) -> None:
    """Past the bound on follow-up requests the rest of a window stays missing, and the note says so: answers of
    20 rows need 36 requests for a 720-hour window, more than the adapter's bound."""
    cap, bound = 20, adapter_module.MAX_REQUESTS_PER_WINDOW
    assert cap * bound < 720
    faults = Faults(page_caps={("deribit", "/api/v2/public/get_funding_rate_history"): cap})
    sim = sim_factory(model=MarketModel(7, now_ms=PINNED_MS), faults=faults)
    hist = sol_history_60_days(sim, tmp_path)
    assert len(hist.points) == 2 * cap * bound  # the first cap x bound hours of each window
    missing = 720 - cap * bound
    assert f"no sample for {missing} of the {1440 - missing} hours from" in hist.note
    assert "samples only until" in hist.note


def test_history_windows_hold_at_most_720_hours() -> None:
    end = datetime(2026, 11, 20, 10, 17, tzinfo=UTC)
    for days, count in ((60, 2), (7, 1), (90, 3), (365, 13)):
        windows = history_windows(end - timedelta(days=days), end)
        assert len(windows) == count
        assert windows[0][0] == utc_to_ms(end - timedelta(days=days)) - 1 and windows[-1][1] == utc_to_ms(end)
        assert all(a[1] == b[0] for a, b in pairwise(windows))
        assert all(hi // HOUR_MS - lo // HOUR_MS <= 720 for lo, hi in windows)
    on_the_hour = datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert len(history_windows(on_the_hour - timedelta(days=60), on_the_hour)) == 3  # 1441 hourly rows


def test_instruments_cached_and_only_needed_currencies(sim_factory: Callable[..., SimThread],
                                                       tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    sim = sim_factory(log_requests=str(log))
    settings = sim.settings(tmp_path)

    async def run(pool: VenuePool) -> FundingAnswer:
        adapter = deribit(pool)
        return await adapter.fetch_funding_rates(await adapter.perpetuals(["BTC"]))

    first = run_with_pool(settings, run)
    second = run_with_pool(settings, run)
    assert [r.instrument.symbol for r in first.items] == ["BTC-PERPETUAL", "BTC_USDC-PERPETUAL"]
    assert [r.instrument.symbol for r in second.items] == ["BTC-PERPETUAL", "BTC_USDC-PERPETUAL"]
    assert logged(log, "get_instruments") == [{"currency": ["any"], "kind": ["future"]}]
    currencies = sorted(q["currency"][0] for q in logged(log, "get_book_summary_by_currency"))
    assert currencies == ["BTC", "BTC", "USDC", "USDC"]  # once per call; no ETH, no ticker
    assert logged(log, "ticker") == []


def test_ticker_fallback_and_its_failure(sim: SimThread, tmp_path: Path) -> None:
    """A perpetual its book summary does not list is asked by ticker; a failed ticker lands in errors."""
    # listed under the wrong settlement currency, so the ETH book summary has no row for it
    misfiled = Instrument(venue="deribit", symbol="BTC-PERPETUAL", asset="BTC", quote="USD", settle="ETH",
                          kind=Kind.PERP, margin=Margin.INVERSE,
                          contract_size=10.0, contract_unit=Unit.USD)
    unknown = Instrument(venue="deribit", symbol="XRP_USDC-PERPETUAL", asset="XRP", quote="USDC", settle="USDC",
                         kind=Kind.PERP, margin=Margin.LINEAR)

    async def run(pool: VenuePool) -> FundingAnswer:
        return await deribit(pool).fetch_funding_rates([misfiled, unknown])

    result = run_with_pool(sim.settings(tmp_path), run)
    (fr,) = result.items
    now, perp = utc_to_ms(fr.time), sim.model.perp("deribit", "BTC-PERPETUAL")
    assert perp is not None
    assert fr.rate == sim.model.current_funding(perp, now)[0]
    assert fr.mark_price == pytest.approx(sim.model.mark_price(perp, now), rel=1e-12)
    assert fr.index_price == pytest.approx(sim.model.index_price("BTC", now), rel=1e-12)
    assert "index = index_price" in fr.note
    (error,) = result.errors
    # the shared HTTP layer quotes the start of the 400 body: Deribit's JSON-RPC error -32602
    assert isinstance(error, VenueError) and error.status == 400 and "-32602" in str(error)


def test_history_of_unknown_instrument_fails(sim: SimThread, tmp_path: Path) -> None:
    unknown = Instrument(venue="deribit", symbol="XRP_USDC-PERPETUAL", asset="XRP", quote="USDC", settle="USDC",
                         kind=Kind.PERP, margin=Margin.LINEAR)
    end = datetime.now(UTC)

    async def run(pool: VenuePool) -> FundingHistory:
        return await deribit(pool).fetch_funding_history(unknown, end - timedelta(days=1), end)

    with pytest.raises(VenueError, match="-32602") as err:
        run_with_pool(sim.settings(tmp_path), run)
    assert err.value.status == 400
