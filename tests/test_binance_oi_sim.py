"""The real Binance adapter against the simulated Binance over real sockets: open interest, OI
history, long/short, klines, quotes and spot, with the market model as the reference.

The sim is pinned at NOW_MS and so is the adapter's clock (``run_at``), so every value can be
compared with the model: rel=1e-12 where the sim sends full float precision; COIN-M amounts are
whole contracts (half a contract's USD value); long/short shares have 4 decimals (5e-5); last
prices lie on the tick (half a tick).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dtrack.errors import UnsupportedError, VenueError, VenueUnavailable
from dtrack.records import Kind, Unit
from dtrack.sim.model import DAY_MS, HOUR_MS, MarketModel, SimFuture, SimPerp
from dtrack.venues.fields import ms_to_utc, utc_to_ms
from dtrack.venues.pool import open_pool

EXACT = 1e-12
NOW_MS = 1_790_000_000_000  # 2026-09-21 14:13:20 UTC: quarterlies 2026-09-25 and 2026-12-25
NOW = ms_to_utc(NOW_MS)
ASSETS = ["BTC", "ETH", "SOL", "PEPE"]


def run_at(settings, fn, now_ms: int = NOW_MS) -> Any:
    """Run ``fn(pool)`` with the adapters' clock pinned where the sim's model is."""

    async def main() -> Any:
        async with open_pool(settings, now=lambda: ms_to_utc(now_ms)) as pool:
            return await fn(pool)

    return asyncio.run(main())


def fetch(base: str, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(base + path, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def logged(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def model_contracts(model: MarketModel, now_ms: int = NOW_MS) -> dict[str, SimPerp | SimFuture]:
    return {c.symbol: c for c in [*model.perps("binance"), *model.futures("binance", now_ms)]}


@pytest.fixture
def pinned(sim_factory, tmp_path):
    """A sim pinned at NOW_MS with a request log; settings without retries (faults fail at once)."""
    log = tmp_path / "requests.jsonl"
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS), log_requests=str(log))
    return server, server.settings(tmp_path, retries=0), log


async def contracts(pool, assets=ASSETS):
    return await pool.adapter("binance").contracts(assets)


# --- listing ---------------------------------------------------------------------------------------


def test_quarterlies_are_listed_with_expiry_and_terms(pinned) -> None:
    server, settings, _log = pinned
    listed = run_at(settings, contracts)
    futures = {i.symbol: i for i in listed if i.kind is Kind.FUTURE}
    want = server.model.futures("binance", NOW_MS)
    assert sorted(futures) == sorted(f.symbol for f in want)
    for fut in want:
        inst = futures[fut.symbol]
        assert inst.expiry == ms_to_utc(fut.expiry_ms) and inst.expiry.tzinfo is UTC
        assert (inst.asset, inst.quote, inst.margin.value, inst.market) == (fut.asset, fut.quote, fut.margin, fut.host)
        assert (inst.contract_size, inst.contract_unit) == (fut.contract_size, Unit(fut.contract_unit))
    assert futures["BTCUSD_260925"].expiry == datetime(2026, 9, 25, 8, tzinfo=UTC)
    assert futures["ETHUSDT_261225"].normalized_id == "ETH-USDT-20261225"


# --- open interest ---------------------------------------------------------------------------------


def test_open_interest_matches_the_model_in_one_round(pinned) -> None:
    server, settings, log = pinned
    model = server.model

    async def job(pool):
        listed = await contracts(pool)
        before = len(logged(log))
        return await pool.adapter("binance").fetch_open_interest(listed), before

    answer, before = run_at(settings, job)
    assert answer.errors == []
    truth = model_contracts(model)
    got = {o.instrument.symbol: o for o in answer.items}
    assert sorted(got) == sorted(truth)
    for symbol, c in truth.items():
        oi, mark = got[symbol], model.contract_mark(c, NOW_MS)
        base, usd = model.open_interest_base(c, NOW_MS) * c.multiplier, model.open_interest_base(c, NOW_MS) * mark
        assert oi.price_used == pytest.approx(mark / c.multiplier, rel=EXACT)
        assert (oi.price_source, oi.time, oi.note) == ("mark (premiumIndex)", NOW, "")
        if c.host == "coinm":
            assert oi.unit is Unit.CONTRACTS and oi.amount == round(usd / c.contract_size)
            assert oi.usd == pytest.approx(usd, abs=c.contract_size / 2)
            assert oi.base == pytest.approx(base, abs=c.contract_size / 2 / mark)
        else:
            assert oi.unit is Unit.BASE
            assert (oi.base, oi.usd) == (pytest.approx(base, rel=EXACT), pytest.approx(usd, rel=EXACT))
    asked = sorted(row["path"] for row in logged(log)[before:])
    usdm_futures = sorted(f.symbol for f in model.futures("binance", NOW_MS, "usdm"))
    assert asked == sorted([f"/{'dapi' if c.host == 'coinm' else 'fapi'}/v1/openInterest?symbol={s}"
                            for s, c in truth.items()]
                           + ["/dapi/v1/premiumIndex", "/fapi/v1/premiumIndex"]
                           + [f"/fapi/v1/premiumIndex?symbol={s}" for s in usdm_futures])


def test_open_interest_is_one_concurrent_round(sim_factory, tmp_path) -> None:
    """23 requests (17 openInterest, 2 bulk and 4 single premiumIndex) are all in flight together: one round
    (requests all in flight before any is answered). The sim holds each round's answers until the round's
    requests have arrived, so the rounds do not depend on the machine's speed."""
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS), hold=(2, 23))
    settings = server.settings(tmp_path)

    async def job(pool):
        adapter = pool.adapter("binance")
        listed = await adapter.contracts(ASSETS)  # the listing round (then disk-cached)
        return await adapter.fetch_open_interest(listed)

    answer = run_at(settings, job)
    assert len(answer.items) == 17 and answer.errors == []
    listing, prices = server.rounds()
    assert listing == ["/dapi/v1/exchangeInfo", "/fapi/v1/exchangeInfo"]
    assert len(prices) == 23 and sum("/v1/openInterest?" in p for p in prices) == 17
    assert sum("/v1/premiumIndex" in p for p in prices) == 6 and server.flight.timed_out == 0


def test_a_failed_price_host_keeps_the_other_host_and_reports_it(pinned) -> None:
    server, settings, _log = pinned
    server.server.faults.endpoints[("binance", "/fapi/v1/premiumIndex")] = 500

    async def job(pool):
        return await pool.adapter("binance").fetch_open_interest(await contracts(pool, ["BTC"]))

    answer = run_at(settings, job)
    # USDⓈ-M perpetuals have no price (bulk failed); the USDⓈ-M quarterlies are priced by symbol
    # (the same path: they fail too); COIN-M is intact.
    assert sorted(o.instrument.symbol for o in answer.items) == ["BTCUSD_260925", "BTCUSD_261225", "BTCUSD_PERP"]
    assert answer.errors and all(isinstance(e, VenueUnavailable) for e in answer.errors)
    assert any("/fapi/v1/premiumIndex" in str(e) for e in answer.errors)


def test_open_interest_fails_when_nothing_can_be_read(pinned) -> None:
    server, settings, _log = pinned
    for path in ("/fapi/v1/openInterest", "/dapi/v1/openInterest"):
        server.server.faults.endpoints[("binance", path)] = 500

    async def job(pool):
        listed = await contracts(pool, ["ETH"])
        return (await asyncio.gather(pool.adapter("binance").fetch_open_interest(listed), return_exceptions=True))[0]

    assert isinstance(run_at(settings, job), VenueUnavailable)


def test_unknown_symbol_is_an_error_entry_not_a_crash(pinned) -> None:
    _server, settings, _log = pinned

    async def job(pool):
        listed = await contracts(pool, ["BTC"])
        ghost = replace(_by_symbol(listed, "BTCUSDT"), symbol="GHOSTUSDT")
        return await pool.adapter("binance").fetch_open_interest([*listed, ghost])

    answer = run_at(settings, job)
    assert "GHOSTUSDT" not in {o.instrument.symbol for o in answer.items} and len(answer.items) == 7
    messages = [str(e) for e in answer.errors]
    assert any("openInterest?symbol=GHOSTUSDT" in m and "HTTP 400" in m for m in messages)
    assert any("no row for GHOSTUSDT" in m for m in messages)


# --- quotes and spot ---------------------------------------------------------------------------------


def test_quotes_match_the_model(pinned) -> None:
    server, settings, _log = pinned
    model = server.model

    async def job(pool):
        return await pool.adapter("binance").fetch_quotes(await contracts(pool))

    answer = run_at(settings, job)
    assert answer.errors == []
    got = {q.instrument.symbol: q for q in answer.items}
    truth = model_contracts(model)
    assert sorted(got) == sorted(truth)
    for symbol, c in truth.items():
        q, m = got[symbol], c.multiplier
        mark = model.contract_mark(c, NOW_MS)
        tick = 0.1 if c.host == "coinm" else 1e-7 if m != 1 else 0.01
        assert q.time == NOW
        assert q.mark_price == pytest.approx(mark / m, rel=EXACT)
        assert q.index_price == pytest.approx(model.index_price(c.asset, NOW_MS), rel=EXACT)
        assert q.last_price == pytest.approx(mark / m, abs=tick / 2 / m * 1.0001)
    # a quarterly trades at a basis to the index: the model's, to the tick
    fut = got["BTCUSDT_261225"]
    assert fut.mark_price != pytest.approx(fut.index_price, rel=1e-4)


def test_quotes_without_last_prices_keep_marks(pinned) -> None:
    server, settings, _log = pinned
    server.server.faults.endpoints[("binance", "/fapi/v1/ticker/24hr")] = 500

    async def job(pool):
        return await pool.adapter("binance").fetch_quotes(await contracts(pool, ["ETH"]))

    answer = run_at(settings, job)
    lasts = {q.instrument.symbol: q.last_price for q in answer.items}
    assert all(v is None for s, v in lasts.items() if not s.startswith("ETHUSD_"))
    assert all(v is not None for s, v in lasts.items() if s.startswith("ETHUSD_"))
    assert all(q.mark_price is not None for q in answer.items) and len(answer.items) == 7
    assert len(answer.errors) == 1 and "/fapi/v1/ticker/24hr" in str(answer.errors[0])
    volumes = {q.instrument.symbol: q.volume_24h_usd for q in answer.items}
    assert all((v is None) == (not s.startswith("ETHUSD_")) for s, v in volumes.items())


def test_quotes_and_funding_share_one_bulk_premium_index(pinned) -> None:
    _server, settings, log = pinned

    async def job(pool):
        adapter = pool.adapter("binance")
        listed = await adapter.contracts(["BTC", "ETH"])
        before = len(logged(log))
        await asyncio.gather(adapter.fetch_quotes(listed),
                             adapter.fetch_funding_rates([i for i in listed if i.kind is Kind.PERP]))
        return before

    before = run_at(settings, job)
    paths = [row["path"] for row in logged(log)[before:]]
    assert paths.count("/fapi/v1/premiumIndex") == 1 and paths.count("/dapi/v1/premiumIndex") == 1


def test_spot_prices_match_the_model(pinned) -> None:
    server, settings, log = pinned
    answer = run_at(settings, lambda pool: pool.adapter("binance").fetch_spot([*ASSETS, "NOPE"]))
    assert answer.errors == []
    got = {s.asset: s for s in answer.items}
    assert sorted(got) == sorted(ASSETS)  # NOPEUSDT does not exist: simply absent
    for asset, spot in got.items():
        # the spot ticker carries no time: none, and the receive time as received_at
        assert (spot.symbol, spot.quote, spot.time, spot.received_at) == (f"{asset}USDT", "USDT", None, NOW)
        assert spot.price == pytest.approx(server.model.spot_price("binance", asset, NOW_MS), rel=EXACT)
    assert [(row["host"], row["path"]) for row in logged(log)] == [("spot", "/api/v3/ticker/price")]


def test_spot_failure_raises(pinned) -> None:
    server, settings, _log = pinned
    server.server.faults.endpoints[("binance", "/api/v3/ticker/price")] = 500

    async def job(pool):
        return (await asyncio.gather(pool.adapter("binance").fetch_spot(["BTC"]), return_exceptions=True))[0]

    assert isinstance(run_at(settings, job), VenueUnavailable)


# --- OI history ------------------------------------------------------------------------------------


def _by_symbol(listed, symbol):
    return next(i for i in listed if i.symbol == symbol)


def test_oi_history_matches_the_model(pinned) -> None:
    server, settings, log = pinned
    model = server.model
    symbols = ["BTCUSDT", "1000PEPEUSDT", "BTCUSD_PERP", "ETHUSDT_261225"]

    async def job(pool):
        listed = await contracts(pool)
        adapter = pool.adapter("binance")
        return await asyncio.gather(*(adapter.fetch_oi_history(_by_symbol(listed, s), NOW - timedelta(days=7), NOW, 1)
                                      for s in symbols))

    histories = dict(zip(symbols, run_at(settings, job), strict=True))
    truth = model_contracts(model)
    for symbol, hist in histories.items():
        c = truth[symbol]
        times = [utc_to_ms(p.time) for p in hist.points]
        # every hour boundary in the last 7 days: 14:00 a week ago is before the window, 15:00 the first
        assert times == list(range(NOW_MS // HOUR_MS * HOUR_MS - 167 * HOUR_MS, NOW_MS, HOUR_MS)), symbol
        assert (hist.venue, hist.symbol, hist.period_hours, hist.note) == ("binance", symbol, 1.0, "")
        for p in hist.points:
            t = utc_to_ms(p.time)
            base, mark = model.open_interest_base(c, t), model.contract_mark(c, t)
            if c.host == "coinm":
                held = round(base * mark / c.contract_size)
                assert p.usd == pytest.approx(held * c.contract_size, rel=EXACT)
                assert p.base == pytest.approx(held * c.contract_size / mark, rel=EXACT)
            else:
                assert p.base == pytest.approx(base * c.multiplier, rel=EXACT)
                assert p.usd == pytest.approx(base * mark, rel=EXACT)
    asked = [row["path"] for row in logged(log) if "openInterestHist" in row["path"]]
    assert len(asked) == 4 and all("period=1h" in p and "limit=168" in p for p in asked)
    assert any("pair=BTCUSD&contractType=PERPETUAL" in p for p in asked)


def test_oi_history_keeps_30_days_and_asks_every_page_at_once(sim_factory, tmp_path) -> None:
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS), hold=(2, 2))  # answers wait for both of a round

    async def job(pool):
        adapter = pool.adapter("binance")
        btc = _by_symbol(await adapter.contracts(["BTC"]), "BTCUSDT")
        return await adapter.fetch_oi_history(btc, NOW - timedelta(days=45), NOW, 1)

    hist = run_at(server.settings(tmp_path), job)
    kept_from = NOW_MS - 30 * DAY_MS + 5 * 60_000
    want = list(range(-(-kept_from // HOUR_MS) * HOUR_MS, NOW_MS, HOUR_MS))
    assert [utc_to_ms(p.time) for p in hist.points] == want and len(want) == 720  # two pages: 500 + 220
    assert hist.note.startswith("Binance keeps openInterestHist for the latest 30 days only")
    _listing, pages = server.rounds()  # the two pages were in flight together: one round
    assert [p.split("&startTime")[0] for p in pages] == ["/futures/data/openInterestHist?symbol=BTCUSDT&period=1h"] * 2
    assert server.flight.timed_out == 0
    # the sim refuses what Binance refuses: a startTime older than 30 days
    status, body = fetch(server.venue_urls()["binance"]["usdm"],
                         f"/futures/data/openInterestHist?symbol=BTCUSDT&period=1h&startTime={NOW_MS - 31 * DAY_MS}")
    assert (status, body) == (400, {"code": -1130, "msg": "parameter 'startTime' is invalid."})


def test_coinm_quarterly_history_starts_at_the_roll(sim_factory, tmp_path) -> None:
    """Ten days after the September roll, BTCUSD_261225 is CURRENT_QUARTER; before the roll that
    series was BTCUSD_260925: the adapter keeps only this contract's part and says so."""
    now_ms = utc_to_ms(datetime(2026, 10, 5, 12, tzinfo=UTC))
    server = sim_factory(model=MarketModel(7, now_ms=now_ms))
    settings = server.settings(tmp_path)
    roll_ms = utc_to_ms(datetime(2026, 9, 25, 8, tzinfo=UTC))

    async def job(pool):
        adapter = pool.adapter("binance")
        dec = _by_symbol(await adapter.contracts(["BTC"]), "BTCUSD_261225")
        return await adapter.fetch_oi_history(dec, ms_to_utc(now_ms) - timedelta(days=20), ms_to_utc(now_ms), 4)

    hist = run_at(settings, job, now_ms)
    times = [utc_to_ms(p.time) for p in hist.points]
    assert times == list(range(roll_ms, now_ms + 1, 4 * HOUR_MS))  # 08:00 and 12:00 lie on the 4 h grid
    assert "quarterly roll at 2026-09-25 08:00 UTC" in hist.note
    model = server.model
    dec = model.future("binance", "BTCUSD_261225", now_ms)
    assert dec is not None
    for p in hist.points:
        t = utc_to_ms(p.time)
        held = round(model.open_interest_base(dec, t) * model.contract_mark(dec, t) / dec.contract_size)
        assert p.usd == pytest.approx(held * dec.contract_size, rel=EXACT)
    # the raw series before the roll is the September contract's (its OI, not December's)
    _status, rows = fetch(server.venue_urls()["binance"]["coinm"], "/futures/data/openInterestHist?pair=BTCUSD"
                          f"&contractType=CURRENT_QUARTER&period=4h&startTime={roll_ms - 8 * HOUR_MS}&limit=2")
    sept = MarketModel.futures("binance", roll_ms - 8 * HOUR_MS, "coinm")[0]
    assert sept.symbol == "BTCUSD_260925"
    t = rows[0]["timestamp"]
    assert int(rows[0]["sumOpenInterest"]) == round(model.open_interest_base(sept, t) * model.contract_mark(sept, t)
                                                    / sept.contract_size)


def test_history_fault_surfaces_per_call(pinned) -> None:
    """A 500 on openInterestHist fails each history call with VenueUnavailable; OI still answers."""
    server, settings, _log = pinned
    server.server.faults.endpoints[("binance", "/futures/data/openInterestHist")] = 500

    async def job(pool):
        adapter = pool.adapter("binance")
        listed = await contracts(pool, ["BTC"])
        perps = [i for i in listed if i.kind is Kind.PERP]
        return await asyncio.gather(adapter.fetch_open_interest(listed),
                                    *(adapter.fetch_oi_history(i, NOW - timedelta(days=1), NOW, 1) for i in perps),
                                    return_exceptions=True)

    oi, *histories = run_at(settings, job)
    assert len(oi.items) == 7 and oi.errors == []
    assert len(histories) == 3 and all(isinstance(h, VenueUnavailable) for h in histories)
    assert "openInterestHist" in str(histories[0]) and "HTTP 500" in str(histories[0])


def test_oi_history_period_must_be_1_4_or_24(pinned) -> None:
    _server, settings, _log = pinned

    async def job(pool):
        btc = _by_symbol(await contracts(pool, ["BTC"]), "BTCUSDT")
        return (await asyncio.gather(pool.adapter("binance").fetch_oi_history(btc, NOW - timedelta(days=1), NOW, 2),
                                     return_exceptions=True))[0]

    assert isinstance(run_at(settings, job), UnsupportedError)


# --- long/short ------------------------------------------------------------------------------------


def test_long_short_matches_the_model(pinned) -> None:
    server, settings, log = pinned
    model = server.model

    async def job(pool):
        adapter = pool.adapter("binance")
        perps = [i for i in await contracts(pool) if i.kind is Kind.PERP]
        return {a: await adapter.fetch_long_short(a, [i for i in perps if i.asset == a]) for a in ASSETS}

    answers = run_at(settings, job)
    t = NOW_MS // 300_000 * 300_000
    kinds = {"global accounts": "global accounts", "top-trader accounts": "top accounts",
             "top-trader positions": "top positions"}
    for asset, answer in answers.items():
        symbol = "1000PEPEUSDT" if asset == "PEPE" else f"{asset}USDT"
        assert answer.errors == [] and len(answer.items) == 3
        for ratio in answer.items:
            kind = next(v for k, v in kinds.items() if ratio.definition.startswith(k))
            share = model.long_share("binance", symbol, kind, t)
            assert ratio.definition.endswith(f"(USDⓈ-M {symbol})")
            assert (ratio.asset, ratio.symbol, ratio.period, ratio.time) == (asset, symbol, "5m", ms_to_utc(t))
            assert ratio.long_share == pytest.approx(share, abs=5e-5)
            assert ratio.ratio == pytest.approx(share / (1 - share), abs=5e-5)
    paths = [row["path"] for row in logged(log) if "LongShort" in row["path"]]
    assert len(paths) == 12 and all("period=5m" in p and "limit=1" in p for p in paths)


def test_long_short_needs_a_usdt_perpetual(pinned) -> None:
    _server, settings, log = pinned

    async def job(pool):
        coinm = [i for i in await contracts(pool, ["BTC"]) if i.market == "coinm"]
        return await pool.adapter("binance").fetch_long_short("BTC", coinm)

    answer = run_at(settings, job)
    assert (answer.items, answer.errors) == ([], [])
    assert not [row for row in logged(log) if "LongShort" in row["path"]]


# --- klines ----------------------------------------------------------------------------------------


def test_price_history_matches_the_model_candles(pinned) -> None:
    server, settings, log = pinned
    model = server.model
    symbols = ["BTCUSDT", "1000PEPEUSDT", "ETHUSD_PERP", "BTCUSDT_261225"]

    async def job(pool):
        listed = await contracts(pool)
        adapter = pool.adapter("binance")
        since = NOW - timedelta(days=2)
        return await asyncio.gather(*(adapter.fetch_price_history(_by_symbol(listed, s), since, NOW, 1)
                                      for s in symbols))

    truth = model_contracts(model)
    for symbol, points in zip(symbols, run_at(settings, job), strict=True):
        c = truth[symbol]
        opens = list(range(NOW_MS // HOUR_MS * HOUR_MS - 48 * HOUR_MS, NOW_MS, HOUR_MS))
        # 48 closed candles closing in the window, then the open one, timed "now"
        assert [utc_to_ms(p.time) for p in points] == [o + HOUR_MS for o in opens[:-1]] + [NOW_MS], symbol
        for p, o in zip(points, opens, strict=True):
            assert p.price == pytest.approx(model.candle(c, o, HOUR_MS)[3] / c.multiplier, rel=EXACT)
    asked = [row["path"] for row in logged(log) if "klines" in row["path"]]
    assert len(asked) == 4 and all("limit=49" in p for p in asked)


def test_coinm_klines_page_by_200_days(pinned) -> None:
    _server, settings, log = pinned

    async def job(pool):
        perp = _by_symbol(await contracts(pool, ["BTC"]), "BTCUSD_PERP")
        return await pool.adapter("binance").fetch_price_history(perp, NOW - timedelta(days=300), NOW, 24)

    points = run_at(settings, job)
    day0 = NOW_MS // DAY_MS * DAY_MS
    assert [utc_to_ms(p.time) for p in points] == [*range(day0 - 299 * DAY_MS, day0 + 1, DAY_MS), NOW_MS]
    asked = [row["path"] for row in logged(log) if "klines" in row["path"]]
    assert len(asked) == 2 and sorted(p.split("limit=")[1] for p in asked) == ["100", "201"]


def test_sim_refuses_what_binance_refuses(pinned) -> None:
    server, _settings, _log = pinned
    base = server.venue_urls()["binance"]
    assert fetch(base["usdm"], "/fapi/v1/klines?symbol=NOPEUSDT&interval=1h") == (
        400, {"code": -1121, "msg": "Invalid symbol."})
    assert fetch(base["usdm"], "/fapi/v1/klines?symbol=BTCUSDT&interval=7h") == (
        400, {"code": -1120, "msg": "Invalid interval."})
    assert fetch(base["coinm"], f"/dapi/v1/klines?symbol=BTCUSD_PERP&interval=1d&startTime={NOW_MS - 300 * DAY_MS}"
                                f"&endTime={NOW_MS}")[0] == 400
    assert fetch(base["spot"], '/api/v3/ticker/price?symbols=["BTCUSDT","NOPEUSDT"]') == (
        400, {"code": -1121, "msg": "Invalid symbol."})
    status, rows = fetch(base["spot"], '/api/v3/ticker/price?symbols=["BTCUSDT","ETHUSDT"]')
    assert status == 200 and [r["symbol"] for r in rows] == ["BTCUSDT", "ETHUSDT"]
    assert fetch(base["usdm"], "/futures/data/globalLongShortAccountRatio?period=5m")[1]["code"] == -1102
    status, row = fetch(base["usdm"], "/fapi/v2/ticker/price?symbol=BTCUSDT_260925")
    assert status == 200 and row["symbol"] == "BTCUSDT_260925" and set(row) == {"symbol", "price", "time"}
    status, body = fetch(base["usdm"], "/fapi/v1/openInterest?symbol=BTCUSDT_260925")
    assert status == 200 and set(body) == {"symbol", "openInterest", "time"}
    status, body = fetch(base["coinm"], "/dapi/v1/openInterest?symbol=BTCUSD_261225")
    assert (status, body["contractType"], body["pair"]) == (200, "NEXT_QUARTER", "BTCUSD")


def test_errors_name_the_endpoint(pinned) -> None:
    server, settings, _log = pinned
    server.server.faults.endpoints[("binance", "/fapi/v1/klines")] = 400

    async def job(pool):
        btc = _by_symbol(await contracts(pool, ["BTC"]), "BTCUSDT")
        return (await asyncio.gather(pool.adapter("binance").fetch_price_history(btc, NOW - timedelta(days=1), NOW, 1),
                                     return_exceptions=True))[0]

    err = run_at(settings, job)
    assert isinstance(err, VenueError) and "/fapi/v1/klines?symbol=BTCUSDT" in str(err)
