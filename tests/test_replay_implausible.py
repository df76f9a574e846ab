"""Absurd and empty venue answers end to end: ``dtrack funding / oi / basis / options`` against REAL payloads
served on the venues' real paths (the replay server of ``test_replay.py``), one field changed to a value no
market can have, or a list emptied.

Unlike ``test_replay.py`` the payloads are served as captured (no deterministic value change: that change,
underlying x 1.3 but option mark x 1.1, would itself put option marks below their intrinsic value); the one
change of each scenario is the only difference from the real answer. Every scenario asserts: the command
exits 3 (the other rows and venues still serve), no traceback, no ``internal`` error, the refused row is in
``errors`` with kind ``implausible`` (an emptied list: a failure naming the venue and endpoint) naming the
venue, endpoint, symbol, field and value, and no data row of that venue and symbol is printed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from clirun import dtrack
from conftest import load_payload
from test_replay import (
    BYBIT_INSTRUMENTS_INVERSE,
    BYBIT_INSTRUMENTS_LINEAR,
    BYBIT_TICKER_BTCUSDT,
    BYBIT_TICKERS_INVERSE,
    BYBIT_TICKERS_LINEAR,
    COINM_EXCHANGE_INFO,
    COINM_FUNDING_INFO,
    COINM_PREMIUM_ALL,
    DERIBIT_BOOK_SUMMARY,
    DERIBIT_INSTRUMENTS,
    DERIBIT_TICKER,
    HL_CTXS,
    HL_PREDICTED,
    USDM_EXCHANGE_INFO,
    USDM_FUNDING_INFO,
    USDM_PREMIUM_ALL,
    USDM_PREMIUM_BTCUSDT,
    ReplayServer,
    Route,
    get,
)

YEARS_50_MS = 50 * 365 * 86_400_000


@dataclass(frozen=True, slots=True)
class Captured(Route):
    """A real answer served as captured, but for ``shape`` (and ``absurd``, the scenario's one change)."""

    absurd: Callable[[Any], Any] | None = None

    def body(self) -> Any:
        doc = self.shape(copy.deepcopy(load_payload(self.payload)["cases"][self.case]["raw"]))
        return doc if self.absurd is None else self.absurd(doc)


def captured(route: Route, absurd: Callable[[Any], Any] | None = None) -> Captured:
    return Captured(route.prefix, route.method, route.path, route.payload, route.case, route.match, route.shape,
                    absurd)


# --- what each venue serves ----------------------------------------------------------------------------------------

OKX_SWAPS = get("okx", "/api/v5/public/instruments", "okx__rest_public_instruments__capture.json", 0, instType="SWAP")
OKX_FUTURES = get("okx", "/api/v5/public/instruments", "okx__rest_public_instruments__capture.json", 1,
                  instType="FUTURES")
OKX_OI = get("okx", "/api/v5/public/open-interest", "okx__ccxt_fetchOpenInterest.json", instType="SWAP")
OKX_SPOT = get("okx", "/api/v5/market/tickers", "okx__ccxt_fetchTicker.json", instType="SPOT")
BYBIT_SPOT = get("bybit", "/v5/market/tickers", "bybit__rest_tickers__docs.json", 2, category="spot")
BYBIT_OPTION_TICKERS = get("bybit", "/v5/market/tickers", "bybit__ccxt_fetchTickers.json", category="option")
BYBIT_OPTION_INSTRUMENTS = get("bybit", "/v5/market/instruments-info", "bybit__rest_instruments_info__docs.json", 2,
                               category="option")

BASE: dict[str, tuple[Route, ...]] = {
    "bybit": (BYBIT_INSTRUMENTS_LINEAR, BYBIT_INSTRUMENTS_INVERSE, BYBIT_TICKERS_LINEAR, BYBIT_TICKER_BTCUSDT,
              BYBIT_TICKERS_INVERSE, BYBIT_SPOT, BYBIT_OPTION_TICKERS, BYBIT_OPTION_INSTRUMENTS),
    "binance": (USDM_EXCHANGE_INFO, USDM_PREMIUM_ALL, USDM_PREMIUM_BTCUSDT, USDM_FUNDING_INFO, COINM_EXCHANGE_INFO,
                COINM_PREMIUM_ALL, COINM_FUNDING_INFO),
    "deribit": (DERIBIT_INSTRUMENTS, DERIBIT_BOOK_SUMMARY, DERIBIT_TICKER),
    "hyperliquid": (HL_CTXS, HL_PREDICTED),
    "okx": (OKX_SWAPS, OKX_FUTURES, OKX_OI, OKX_SPOT),
}
HOSTS = {"bybit": {"rest": "bybit"}, "binance": {"usdm": "binance-usdm", "coinm": "binance-coinm"},
         "deribit": {"rest": "deribit"}, "hyperliquid": {"rest": "hyperliquid"}, "okx": {"rest": "okx"}}


# --- the changes ---------------------------------------------------------------------------------------------------


def rows_of(doc: Any) -> list[dict[str, Any]]:
    """The rows of an answer, whatever its envelope (Bybit ``result.list``, OKX ``data``, Deribit ``result``,
    Binance the array itself)."""
    if isinstance(doc, list):
        return doc
    if "data" in doc:
        return list(doc["data"])
    result = doc["result"]
    return list(result["list"]) if isinstance(result, dict) and "list" in result else result


def set_field(key: str, value: Any, symbol: str | None = None, *, symbol_key: str = "symbol") -> Callable[[Any], Any]:
    """The answer with ``key`` = ``value`` in the row of ``symbol`` (every row when None)."""
    def change(doc: Any) -> Any:
        rows = rows_of(doc) if not isinstance(doc.get("result") if isinstance(doc, dict) else None, dict) \
            or "list" in doc["result"] else [doc["result"]]
        hit = [r for r in rows if symbol is None or r.get(symbol_key) == symbol]
        assert hit, f"no row of {symbol} to change"
        for row in hit:
            row[key] = value(row[key]) if callable(value) else value
        return doc
    return change


def emptied(doc: Any) -> Any:
    """The answer with its list of rows emptied (the envelope kept)."""
    if "data" in doc:
        doc["data"] = []
    else:
        doc["result"]["list"] = []
    return doc


def hl_btc(key: str, value: str) -> Callable[[Any], Any]:
    """metaAndAssetCtxs with BTC's context (the first) changed."""
    def change(doc: Any) -> Any:
        assert doc[0]["universe"][0]["name"] == "BTC"
        doc[1][0][key] = value
        return doc
    return change


@dataclass(frozen=True, slots=True)
class Refused:
    """A failure row the command must list: ``kind`` on ``venue`` / ``endpoint`` (an exact endpoint), with each of
    ``says`` in its message; ``symbol`` no data row of the venue may show."""

    venue: str
    endpoint: str
    symbol: str
    says: tuple[str, ...]
    kind: str = "implausible"
    #: no data row of the venue shows ``symbol`` (False where another contract of the venue has the same name)
    hidden: bool = True


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    argv: tuple[str, ...]
    venues: tuple[str, ...]
    changes: Mapping[Route, Callable[[Any], Any]]
    refused: tuple[Refused, ...]
    #: (venue, symbol) rows that must still be printed
    served: tuple[tuple[str, str], ...] = field(default=())
    #: a further check of the document (what was refused is not shown where no row names it)
    check: Callable[[dict[str, Any]], None] | None = None


SCENARIOS = (
    # --- funding -------------------------------------------------------------------------------------------------
    Scenario("funding: a Bybit mark of 0", ("funding", "BTC"), ("bybit", "hyperliquid"),
             {BYBIT_TICKERS_LINEAR: set_field("markPrice", "0", "BTCUSDT"),
              BYBIT_TICKER_BTCUSDT: set_field("markPrice", "0", "BTCUSDT")},
             (Refused("bybit", "/v5/market/tickers", "BTCUSDT", ("mark_price=0.0", "a price must be > 0")),),
             (("bybit", "BTCUSD"), ("hyperliquid", "BTC"))),
    Scenario("funding: a Bybit rate of 1,000 % per interval", ("funding", "BTC"), ("bybit", "hyperliquid"),
             {BYBIT_TICKERS_INVERSE: set_field("fundingRate", "10", "BTCUSD")},
             (Refused("bybit", "/v5/market/tickers", "BTCUSD",
                      ("rate=10.0", "outside [-0.005, 0.005] per 8 h: Bybit tickers fundingCap")),),
             (("bybit", "BTCUSDT"), ("hyperliquid", "BTC"))),
    Scenario("funding: a Bybit next funding time 50 years ahead", ("funding", "BTC"), ("bybit", "hyperliquid"),
             {BYBIT_TICKERS_INVERSE: set_field("nextFundingTime", lambda v: str(int(v) + YEARS_50_MS), "BTCUSD")},
             (Refused("bybit", "/v5/market/tickers", "BTCUSD",
                      ("next_funding_time='2075-", "more than a day after it was received")),),
             (("bybit", "BTCUSDT"),)),
    Scenario("funding: a negative Binance mark", ("funding", "BTC"), ("binance", "hyperliquid"),
             {USDM_PREMIUM_ALL: set_field("markPrice", "-11793.63104562", "BTCUSDT")},
             (Refused("binance", "/fapi/v1/premiumIndex", "BTCUSDT", ("markPrice=-11793.63104562",)),),
             (("binance", "BTCUSD_PERP"), ("hyperliquid", "BTC"))),
    Scenario("funding: a Deribit funding_8h of 1,000 %", ("funding", "BTC"), ("deribit", "hyperliquid"),
             {DERIBIT_TICKER: lambda doc: {**doc, "result": {**doc["result"], "funding_8h": 10}}},
             (Refused("deribit", "public/ticker", "BTC-PERPETUAL",
                      ("rate=10.0", "no venue publishes a cap above 5 % per interval")),),
             (("hyperliquid", "BTC"),)),
    Scenario("funding: a Hyperliquid rate beyond 4 %/h", ("funding", "BTC", "ETH"), ("hyperliquid", "bybit"),
             {HL_CTXS: hl_btc("funding", "10")},
             (Refused("hyperliquid", "POST /info metaAndAssetCtxs", "BTC",
                      ("rate=10.0", "Hyperliquid caps funding at 4 %/h")),),
             (("hyperliquid", "ETH"), ("bybit", "BTCUSDT"))),
    Scenario("funding: Bybit answers an empty linear list", ("funding", "BTC"), ("bybit", "hyperliquid"),
             {BYBIT_TICKERS_LINEAR: emptied, BYBIT_TICKER_BTCUSDT: emptied},
             (Refused("bybit", "/v5/market/tickers", "BTCUSDT", ("an empty list",), kind="parse"),),
             (("hyperliquid", "BTC"),)),
    # --- open interest -------------------------------------------------------------------------------------------
    Scenario("oi: a Bybit inverse mark of 0 (was an internal ZeroDivisionError)", ("oi", "BTC"),
             ("bybit", "hyperliquid"), {BYBIT_TICKERS_INVERSE: set_field("markPrice", "0", "BTCUSD")},
             (Refused("bybit", "/v5/market/tickers", "BTCUSD", ("price_used (mark)=0.0", "a price must be > 0")),),
             (("bybit", "BTCUSDT"), ("hyperliquid", "BTC"))),
    Scenario("oi: negative OKX open interest", ("oi", "BTC"), ("okx", "hyperliquid"),
             {OKX_OI: set_field("oi", "-2663107.3", "BTC-USDT-SWAP", symbol_key="instId")},
             (Refused("okx", "/api/v5/public/open-interest", "BTC-USDT-SWAP", ("oi=-2663107.3", "must be >= 0")),),
             (("hyperliquid", "BTC"),)),
    Scenario("oi: a Hyperliquid mark of 0", ("oi", "BTC", "ETH"), ("hyperliquid", "bybit"),
             {HL_CTXS: hl_btc("markPx", "0")},
             (Refused("hyperliquid", "POST /info metaAndAssetCtxs", "BTC", ("price_used (mark)=0.0",)),),
             (("hyperliquid", "ETH"), ("bybit", "BTCUSD"))),
    Scenario("oi: OKX answers an empty list", ("oi", "BTC"), ("okx", "hyperliquid"), {OKX_OI: emptied},
             (Refused("okx", "/api/v5/public/open-interest", "BTC-USDT-SWAP", ("an empty list",), kind="parse"),),
             (("hyperliquid", "BTC"),)),
    # --- basis ---------------------------------------------------------------------------------------------------
    # (Bybit's spot: OKX has no real mark-price answer, so its quotes fail in a replay, and a venue whose quotes
    # fail while its spot is refused reports the quotes' failure only: see the report)
    Scenario("basis: a Bybit spot price of 0", ("basis", "BTC"), ("bybit", "hyperliquid"),
             {BYBIT_SPOT: set_field("lastPrice", "0", "BTCUSDT")},
             # the spot pair BTCUSDT is refused; the perpetual of the same name is not
             (Refused("bybit", "/v5/market/tickers", "BTCUSDT", ("price=0.0", "a price must be > 0"), hidden=False),),
             (("bybit", "BTCUSDT"), ("bybit", "BTCUSD"), ("hyperliquid", "BTC")),
             lambda doc: _no_spot(doc, "no spot ticker answered")),
    Scenario("basis: a negative Bybit mark", ("basis", "BTC"), ("bybit", "okx", "hyperliquid"),
             {BYBIT_TICKERS_LINEAR: set_field("markPrice", "-51444.4", "BTCUSDT"),
              BYBIT_TICKER_BTCUSDT: set_field("markPrice", "-51444.4", "BTCUSDT")},
             (Refused("bybit", "/v5/market/tickers", "BTCUSDT", ("mark_price=-51444.4",)),),
             (("bybit", "BTCUSD"), ("hyperliquid", "BTC"))),
    # --- options -------------------------------------------------------------------------------------------------
    Scenario("options: Bybit marks negative and below intrinsic", ("options", "BTC"), ("bybit",),
             {BYBIT_OPTION_TICKERS: lambda doc: set_field("markPrice", "-5", "BTC-30MAY25-68000-P-USDT")(
                 set_field("markPrice", "1", "BTC-30MAY25-70000-C-USDT")(doc))},
             (Refused("bybit", "/v5/market/tickers", "BTC-30MAY25-68000-P-USDT",
                      ("mark_price_usd=-5.0", "must be >= 0")),
              Refused("bybit", "/v5/market/tickers", "BTC-30MAY25-70000-C-USDT",
                      ("mark_price_usd=1.0", "below the intrinsic value 9369.63")))),
    Scenario("options: a Bybit expiry 30 years away", ("options", "BTC"), ("bybit",),
             {BYBIT_OPTION_INSTRUMENTS: set_field("deliveryTime", lambda v: str(int(v) + 30 * 365 * 86_400_000),
                                                  "BTC-27MAR26-70000-P-USDT")},
             (Refused("bybit", "/v5/market/instruments-info", "BTC-27MAR26-70000-P-USDT",
                      ("expiry='2056-", "more than 5 years after")),)),
)


# --- running ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path, private_dirs: None) -> Path:
    """The test's private dirs (see conftest ``private_dirs``)."""
    return tmp_path


def serve(routes: Sequence[Route]) -> Iterator[ReplayServer]:
    server = ReplayServer(list(routes)).start()
    try:
        yield server
    finally:
        server.close()


def run(scenario: Scenario, tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    routes = [captured(r, scenario.changes.get(r)) for v in scenario.venues for r in BASE[v]]
    for server in serve(routes):
        doc = {"venues": {v: {"rest_urls": {k: server.url(p) for k, p in HOSTS[v].items()}} for v in scenario.venues},
               "http": {"timeout": 5, "retries": 0}}
        config = tmp / "settings.yaml"
        config.write_text(yaml.safe_dump(doc), encoding="utf-8")
        result = dtrack(capsys, "--config", str(config), *scenario.argv,
                        *(a for v in scenario.venues for a in ("--venue", v)), "--format", "json")
        return result.code, result.json() if result.out else {}, result.err
    raise AssertionError("unreachable")


def data_rows(doc: Any) -> Iterator[Mapping[str, Any]]:
    """Every object of the document but the ``errors`` rows."""
    if isinstance(doc, list):
        for item in doc:
            yield from data_rows(item)
    elif isinstance(doc, dict):
        yield doc
        for key, value in doc.items():
            if key != "errors":
                yield from data_rows(value)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_refused_not_printed(scenario: Scenario, env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc, err = run(scenario, env, capsys)
    assert "Traceback" not in err
    assert code == 3, (code, err, doc.get("errors"))
    errors = doc["errors"]
    assert all(e["kind"] != "internal" for e in errors), errors
    for want in scenario.refused:
        hits = [e for e in errors if (e["venue"], e["kind"], e["endpoint"]) == (want.venue, want.kind, want.endpoint)
                and want.symbol in e["message"] and all(s in e["message"] for s in want.says)]
        assert hits, (want, errors)
        shown = [r for r in data_rows(doc) if r.get("venue") == want.venue and r.get("symbol") == want.symbol]
        assert shown == [] or not want.hidden, shown
    rows = {(r.get("venue"), r.get("symbol")) for r in data_rows(doc)}
    for venue_symbol in scenario.served:
        assert venue_symbol in rows, (venue_symbol, sorted(r for r in rows if r[0]))
    if scenario.check is not None:
        scenario.check(doc)


def _no_spot(doc: dict[str, Any], source: str) -> None:
    """The basis summary shows no spot price (the only spot ticker was refused) and says why; each row's basis
    is taken against its venue's index instead, never against the refused 0."""
    (summary,) = doc["summary"]
    assert summary["spot_price"] is None and source in summary["spot_source"], summary
    for row in doc["rows"]:
        assert row["spot_price"] == row["index_price"] and row["spot_price"] > 0, row
        assert source in row["spot_source"], row


def test_the_captured_answers_themselves_are_served_without_refusal(env: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The baseline: the same routes unchanged give every row of the scenarios and no implausible error."""
    plain = Scenario("baseline", ("oi", "BTC", "ETH"), ("bybit", "okx", "hyperliquid"), {}, ())
    code, doc, err = run(plain, env, capsys)
    assert "Traceback" not in err and code in (0, 3), err
    assert not [e for e in doc["errors"] if e["kind"] in ("implausible", "internal")], doc["errors"]
    rows = {(r["venue"], r["symbol"]) for r in doc["rows"]}
    assert {("bybit", "BTCUSDT"), ("bybit", "BTCUSD"), ("okx", "BTC-USDT-SWAP"), ("hyperliquid", "BTC"),
            ("hyperliquid", "ETH")} <= rows
