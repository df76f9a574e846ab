"""Every fault kind on one venue, against a real ``sim serve``-style server: the other venues still answer,
the failed one is reported with the right kind, exit code 3, Retry-After and 418 bans are respected
(read from the sim's request log), and nothing prints a traceback. Each venue answers its faults in its own
error format (checked on the wire), and dtrack classifies every venue's answer to each fault kind the same way.
Faults are set through the ``Faults`` object handed to the server (``sim_factory(faults=...)``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from clirun import Result, dtrack
from dtrack.sim.faults import Faults
from dtrack.sim.server import RETRY_AFTER_418, RETRY_AFTER_429, settings_document

#: every active venue (dYdX and GMX since the DEX issue)
ALL = {"binance", "bybit", "okx", "deribit", "hyperliquid", "dydx", "gmx"}

CASES = [
    ("down", "binance", "unavailable"),
    ("429", "binance", "rate_limited"),
    ("429", "bybit", "rate_limited"),
    ("418", "binance", "banned"),
    ("451", "okx", "blocked"),
    ("500", "deribit", "unavailable"),
    ("timeout", "hyperliquid", "unavailable"),
    ("malformed", "okx", "parse"),
]


def write_config(path: Path, urls: dict[str, dict[str, str]]) -> Path:
    doc: dict[str, Any] = settings_document(urls)
    doc["http"] = {"timeout": 1.0, "retries": 2, "backoff": 0.05, "max_wait": 5}
    path.write_text(yaml.safe_dump(doc))
    return path


def log_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DTRACK_STATE_DIR", str(tmp_path / "state"))


def run_funding(capsys: pytest.CaptureFixture[str], cfg: Path) -> Result:
    return dtrack(capsys, "--config", str(cfg), "funding", "BTC", "ETH", "--format", "json")


@pytest.mark.parametrize(("kind", "venue", "error_kind"), CASES, ids=[c[0] for c in CASES])
def test_fault_on_one_venue(capsys: pytest.CaptureFixture[str], tmp_path: Path, sim_factory: Callable[..., Any],
                            kind: str, venue: str, error_kind: str) -> None:
    log = tmp_path / "requests.jsonl"
    server = sim_factory(faults={venue: kind}, log_requests=str(log))
    cfg = write_config(tmp_path / "sim.yaml", server.venue_urls())
    r = run_funding(capsys, cfg)
    assert r.code == 3, r.err
    assert "Traceback" not in r.err and "Traceback" not in r.out
    doc = r.json()
    assert {row["venue"] for row in doc["rates"]} == ALL - {venue}
    assert [(e["venue"], e["kind"]) for e in doc["errors"]] == [(venue, error_kind)]
    assert f"dtrack: {venue} [{error_kind}]" in r.err
    rows = [row for row in log_rows(log) if row["venue"] == venue]
    assert rows, "the faulted venue was asked"
    if kind == "429" and venue == "bybit":
        # Bybit answers a rate limit in HTTP 200 (retCode 10006) with no Retry-After: nothing to wait for
        assert {row["status"] for row in rows} == {200}
    elif kind == "429":
        # no request to a host after its 429 answer until Retry-After has passed (requests already in
        # flight when the 429 was sent are not new requests)
        times = {(row["host"], row["time"]): datetime.fromisoformat(row["time"].replace("Z", "+00:00"))
                 for row in rows}
        for row in rows:
            t429 = times[(row["host"], row["time"])]
            later = [t for (host, _), t in times.items() if host == row["host"] and t > t429]
            too_soon = [(t - t429).total_seconds() for t in later
                        if 0.05 < (t - t429).total_seconds() < RETRY_AFTER_429 - 0.05]
            assert not too_soon, too_soon
        assert len(rows) > len({row["host"] for row in rows})  # retried after waiting
    if kind in ("418", "451"):
        assert all(row["status"] == int(kind) for row in rows)


def test_418_ban_holds_across_runs(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                   sim_factory: Callable[..., Any]) -> None:
    log = tmp_path / "requests.jsonl"
    server = sim_factory(faults={"binance": "418"}, log_requests=str(log))
    cfg = write_config(tmp_path / "sim.yaml", server.venue_urls())
    first = run_funding(capsys, cfg)
    asked_first = len([row for row in log_rows(log) if row["venue"] == "binance"])
    assert first.code == 3 and asked_first >= 1
    second = run_funding(capsys, cfg)  # a new process-like run: the ban comes from the state dir on disk
    assert second.code == 3
    assert len([row for row in log_rows(log) if row["venue"] == "binance"]) == asked_first
    err = second.json()["errors"]
    assert err[0]["kind"] == "banned" and "until" in err[0]["message"]
    assert {row["venue"] for row in second.json()["rates"]} == ALL - {"binance"}


def test_all_venues_down_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                     sim_factory: Callable[..., Any]) -> None:
    server = sim_factory(faults={v: "500" for v in ALL})
    cfg = write_config(tmp_path / "sim.yaml", server.venue_urls())
    r = run_funding(capsys, cfg)
    assert r.code == 1 and r.json()["rates"] == [] and len(r.json()["errors"]) == len(ALL)
    assert "Traceback" not in r.err


def test_bybit_403_too_frequent_is_a_ban_remembered_on_disk(capsys: pytest.CaptureFixture[str],
                                                             tmp_path: Path) -> None:
    """Bybit answers an IP rate-limit breach with HTTP 403 "access too frequent" (wait >= 10 min): an IP ban,
    not a geo-block. A plain 403 elsewhere stays "blocked from this location"."""
    import asyncio
    import threading

    from aiohttp import web

    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(status=403, text="access too frequent")

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    async def start() -> tuple[web.AppRunner, int]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    runner, port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        cfg = write_config(tmp_path / "bybit.yaml", {"bybit": {"rest": f"http://127.0.0.1:{port}"}})
        first = dtrack(capsys, "--config", str(cfg), "funding", "BTC", "--venue", "bybit", "--format", "json")
        assert first.code == 1 and "Traceback" not in first.err
        err = first.json()["errors"]
        assert [e["kind"] for e in err] == ["banned"]
        assert "HTTP 403: access too frequent" in err[0]["message"] and "until" in err[0]["message"]
        asked = len(hits)
        second = dtrack(capsys, "--config", str(cfg), "funding", "BTC", "--venue", "bybit", "--format", "json")
        assert second.code == 1 and second.json()["errors"][0]["kind"] == "banned" and len(hits) == asked
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)


def test_failed_venues_never_turn_an_asset_into_a_usage_error(capsys: pytest.CaptureFixture[str],
                                                              tmp_path: Path, sim_factory: Callable[..., Any]) -> None:
    """PEPE is listed only on the six venues that are down: that is a partial answer, not "unknown asset"."""
    server = sim_factory(faults={v: "down" for v in ALL - {"deribit"}})
    cfg = write_config(tmp_path / "sim.yaml", server.venue_urls())
    r = dtrack(capsys, "--config", str(cfg), "funding", "PEPE", "BTC", "--format", "json")
    assert r.code == 3, r.err
    doc = r.json()
    assert {row["venue"] for row in doc["rates"]} == {"deribit"} and {row["asset"] for row in doc["rates"]} == {"BTC"}
    assert sorted(e["venue"] for e in doc["errors"]) == sorted(ALL - {"deribit"})
    assert {s["asset"]: s["sentiment"] for s in doc["summary"]}["PEPE"] is None


def test_one_unreachable_host_of_a_venue_keeps_the_other(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                         sim: Any) -> None:
    """Binance COIN-M (dapi) unreachable, USDⓈ-M (fapi) fine: the USDⓈ-M rows come back, COIN-M is reported."""
    from net_helpers import closed_port

    urls = {"binance": dict(sim.venue_urls()["binance"])}
    urls["binance"]["coinm"] = f"http://127.0.0.1:{closed_port()}/binance/coinm"
    cfg = write_config(tmp_path / "split.yaml", urls)
    r = dtrack(capsys, "--config", str(cfg), "funding", "BTC", "--venue", "binance", "--format", "json")
    assert r.code == 3, r.err
    doc = r.json()
    assert {row["symbol"] for row in doc["rates"]} == {"BTCUSDT", "BTCUSDC"}
    assert [(e["venue"], e["kind"]) for e in doc["errors"]] == [("binance", "unavailable")]
    assert "exchangeInfo" in doc["errors"][0]["message"]


# --- each venue's own error format ---------------------------------------------------------------

#: one request per venue: (host, method, path, JSON body)
PROBES: dict[str, tuple[str, str, str, dict[str, Any] | None]] = {
    "binance": ("usdm", "GET", "/fapi/v1/premiumIndex?symbol=BTCUSDT", None),
    "bybit": ("rest", "GET", "/v5/market/tickers?category=linear&symbol=BTCUSDT", None),
    "okx": ("rest", "GET", "/api/v5/public/funding-rate?instId=BTC-USDT-SWAP", None),
    "deribit": ("rest", "GET", "/api/v2/public/ticker?instrument_name=BTC-PERPETUAL", None),
    "hyperliquid": ("rest", "POST", "/info", {"type": "metaAndAssetCtxs"}),
    "dydx": ("rest", "GET", "/v4/perpetualMarkets", None),
    "gmx": ("arbitrum", "GET", "/v1/markets/info", None),
}

#: (venue, kind) -> (HTTP status, Retry-After, body: a JSON document's expected members, or the text it contains)
FORMATS: dict[tuple[str, str], tuple[int, str | None, dict[str, Any] | str]] = {
    ("binance", "429"): (429, str(RETRY_AFTER_429), {"code": -1003}),
    ("binance", "418"): (418, str(RETRY_AFTER_418), {"code": -1003}),
    ("binance", "451"): (451, None, {"code": 0}),
    ("binance", "500"): (500, None, {"code": -1000}),
    ("bybit", "429"): (200, None, {"retCode": 10006, "retMsg": "Too many visits!"}),
    ("bybit", "418"): (403, None, "access too frequent"),
    ("bybit", "451"): (403, None, "block access from your country"),
    ("bybit", "500"): (500, None, {"retCode": 10016}),
    ("okx", "429"): (429, None, {"code": "50011", "data": []}),
    ("okx", "418"): (418, None, {"code": "50011", "data": []}),
    ("okx", "451"): (451, None, {"code": "451", "data": []}),
    ("okx", "500"): (500, None, {"code": "50026", "data": []}),
    ("deribit", "429"): (429, None, {"jsonrpc": "2.0", "error": {"code": 10028, "message": "too_many_requests"}}),
    ("deribit", "418"): (418, None, {"jsonrpc": "2.0", "error": {"code": 10028, "message": "too_many_requests"}}),
    ("deribit", "451"): (451, None, {"jsonrpc": "2.0", "error": {"code": 13021, "message": "forbidden"}}),
    ("deribit", "500"): (500, None, {"jsonrpc": "2.0", "error": {"code": 11094, "message": "internal_server_error"}}),
    ("hyperliquid", "429"): (429, None, "Too Many Requests"),
    ("hyperliquid", "418"): (418, None, "IP banned"),
    ("hyperliquid", "451"): (451, None, "Unavailable For Legal Reasons"),
    ("hyperliquid", "500"): (500, None, "Internal Server Error"),
    # the dYdX indexer's Retry-After is in milliseconds (comlink rate-limit.ts); a blocked location is its 403
    ("dydx", "429"): (429, str(RETRY_AFTER_429 * 1000), {"errors": [{"msg": "Too many requests"}]}),
    ("dydx", "418"): (418, None, {"errors": [{"msg": "IP banned"}]}),
    ("dydx", "451"): (403, None, {"errors": [{"code": "GEOBLOCKED",
                                              "msg": "blocked: requests from this jurisdiction are not served"}]}),
    ("dydx", "500"): (500, None, {"errors": [{"msg": "Internal Server Error"}]}),
    ("gmx", "429"): (429, str(RETRY_AFTER_429), {"statusCode": 429, "message": "Too Many Requests"}),
    ("gmx", "418"): (418, None, {"statusCode": 418, "message": "IP banned"}),
    ("gmx", "451"): (451, None, {"statusCode": 451, "message": "Unavailable For Legal Reasons"}),
    ("gmx", "500"): (500, None, {"statusCode": 500, "message": "Internal Server Error"}),
}


def probe(urls: dict[str, dict[str, str]], venue: str,
          request: tuple[str, str, str, dict[str, Any] | None] | None = None) -> tuple[int, dict[str, str], str]:
    """(status, headers, body text) of one request to ``venue`` (``PROBES[venue]`` unless given)."""
    host, method, path, body = request or PROBES[venue]
    data = json.dumps(body).encode() if body is not None else None
    sent = urllib.request.Request(urls[venue][host] + path, data=data, method=method,
                                  headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(sent, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


@pytest.mark.parametrize(("venue", "kind"), sorted(FORMATS), ids=[f"{v}-{k}" for v, k in sorted(FORMATS)])
def test_each_venue_answers_faults_in_its_own_format(sim: Any, venue: str, kind: str) -> None:
    faults = sim.server.faults
    faults.venues[venue] = kind
    try:
        status, headers, text = probe(sim.venue_urls(), venue)
    finally:
        del faults.venues[venue]
    want_status, retry_after, want_body = FORMATS[(venue, kind)]
    assert status == want_status
    assert headers.get("Retry-After") == retry_after
    if isinstance(want_body, str):
        assert want_body in text and not text.lstrip().startswith(("{", "["))  # plain text, not JSON
    else:
        body = json.loads(text)
        assert {k: body.get(k) for k in want_body} == want_body
    assert probe(sim.venue_urls(), venue)[0] == 200  # the fault lifted with the Faults entry


#: another endpoint of each venue, which an endpoint fault of PROBES must leave alone
OTHERS = {
    "binance": ("usdm", "GET", "/fapi/v1/fundingInfo", None),
    "bybit": ("rest", "GET", "/v5/market/instruments-info?category=linear", None),
    "okx": ("rest", "GET", "/api/v5/public/instruments?instType=SWAP", None),
    "deribit": ("rest", "GET", "/api/v2/public/get_index_price?index_name=btc_usd", None),
    "hyperliquid": ("rest", "POST", "/info", {"type": "meta"}),
    "dydx": ("rest", "GET", "/v4/historicalFunding/BTC-USD", None),
    "gmx": ("arbitrum", "GET", "/v1/markets/tickers", None),
}


@pytest.mark.parametrize("venue", sorted(ALL))
def test_an_endpoint_fault_hits_that_endpoint_only(sim_factory: Callable[..., Any], venue: str) -> None:
    """``Faults.endpoints``: one path fails in the venue's format (Hyperliquid: one info type), the rest answer."""
    _host, _method, path, body = PROBES[venue]
    endpoint = path.split("?")[0] + (f" {body['type']}" if body else "")
    server = sim_factory(faults=Faults(endpoints={(venue, endpoint): 500}))
    urls = server.venue_urls()
    assert probe(urls, venue)[:1] == (FORMATS[(venue, "500")][0],)
    assert probe(urls, venue, OTHERS[venue])[0] == 200


#: the error kind dtrack reports for each answered fault kind, whatever the venue's format (the 418 ban last:
#: it is remembered in the state directory)
KIND_OF = {"429": "rate_limited", "451": "blocked", "500": "unavailable", "418": "banned"}


@pytest.mark.parametrize("venue", sorted(ALL))
def test_dtrack_classifies_every_venues_fault_answers(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                      sim: Any, venue: str) -> None:
    """The same fault kind means the same error kind on every venue, read from each venue's own answer."""
    cfg = write_config(tmp_path / "sim.yaml", {venue: sim.venue_urls()[venue]})
    for kind, error_kind in KIND_OF.items():
        sim.server.faults.venues[venue] = kind
        try:
            r = dtrack(capsys, "--config", str(cfg), "funding", "BTC", "--venue", venue, "--format", "json")
        finally:
            del sim.server.faults.venues[venue]
        assert r.code == 1 and "Traceback" not in r.err
        assert [(e["venue"], e["kind"]) for e in r.json()["errors"]] == [(venue, error_kind)], (kind, r.err)
