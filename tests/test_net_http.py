"""The HTTP layer over real sockets: limits, Retry-After, bans on disk, retries, error mapping."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from dtrack.config import HttpSettings
from dtrack.errors import Banned, Blocked, ParseError, RateLimited, VenueError, VenueUnavailable
from dtrack.net.http import BanBook, HttpClient, RateLimit, _ban_scope

Script = list[Callable[[web.Request], Awaitable[web.StreamResponse]]]
CLOCK = time.monotonic  # the client's clock and the test server's (see run_script)


def respond(status: int = 200, body: str = '{"ok": true}', headers: dict[str, str] | None = None,
            delay: float = 0.0) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(_request: web.Request) -> web.StreamResponse:
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=status, text=body, content_type="application/json", headers=headers)
    return handler


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_script(script: Script, body: Callable[[HttpClient, str], Awaitable[Any]], tmp: Path, port: int = 0,
               **http: Any) -> tuple[Any, list[float]]:
    """Serve ``script`` (one handler per request, the last repeats) and run ``body(client, url)``.

    ``hits`` are the requests' arrival times on the client's own clock (``time.monotonic``, injected into the
    client; asyncio's loop clock too). A request arrives after the client decided to send it and after every
    answer it waited for, so a wait the client owes shows as an exact lower bound between arrivals, whatever
    the machine's load: these tests assert such bounds, never that anything was fast."""
    hits: list[float] = []

    async def main() -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            hits.append(CLOCK())
            return await script[min(len(hits) - 1, len(script) - 1)](request)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        settings = HttpSettings(**{"timeout": 2.0, "retries": 2, "backoff": 0.01, "max_wait": 3.0, **http})
        try:
            async with aiohttp.ClientSession() as session:
                client = HttpClient(session, settings, BanBook(tmp / "bans.json"), clock=CLOCK)
                return await body(client, f"http://127.0.0.1:{bound}/venue/host")
        finally:
            await runner.cleanup()

    result = asyncio.run(main())
    return result, hits


def outcome(coro_fn: Callable[[HttpClient, str], Awaitable[Any]]) -> Callable[[HttpClient, str], Awaitable[Any]]:
    async def wrapped(client: HttpClient, url: str) -> Any:
        try:
            return await coro_fn(client, url)
        except Exception as exc:
            return exc
    return wrapped


def get(path: str = "/x", **kw: Any) -> Callable[[HttpClient, str], Awaitable[Any]]:
    return outcome(lambda c, u: c.get("binance", u, path, {"symbol": "BTCUSDT"}, **kw))


def test_ok_returns_json(tmp_path: Path) -> None:
    result, hits = run_script([respond()], get(), tmp_path)
    assert result == {"ok": True} and len(hits) == 1


def test_retry_after_is_honoured_before_the_next_request(tmp_path: Path) -> None:
    script = [respond(429, '{"code":-1003}', {"Retry-After": "1"}), respond()]
    result, hits = run_script(script, get(), tmp_path)
    assert result == {"ok": True} and len(hits) == 2
    assert hits[1] - hits[0] >= 1.0  # the retry waited Retry-After from the 429's receipt (after hits[0])


def test_long_retry_after_raises_and_blocks_the_host(tmp_path: Path) -> None:
    async def twice(c: HttpClient, u: str) -> list[Any]:
        first = await get()(c, u)
        second = await get()(c, u)
        return [first, second]

    (first, second), hits = run_script([respond(429, "{}", {"Retry-After": "60"})], twice, tmp_path)
    assert isinstance(first, RateLimited) and first.retry_after == 60
    assert isinstance(second, RateLimited) and "next request allowed in" in str(second)
    assert len(hits) == 1  # the second call never reached the venue


def test_418_ban_is_remembered_on_disk_across_clients(tmp_path: Path) -> None:
    port = free_port()
    result, hits = run_script([respond(418, '{"code":-1003}', {"Retry-After": "300"})], get(), tmp_path, port)
    assert isinstance(result, Banned) and "until" in str(result) and len(hits) == 1
    assert (tmp_path / "bans.json").is_file()
    again, hits2 = run_script([respond()], get(), tmp_path, port)  # a new run, same state dir, same host
    assert isinstance(again, Banned) and hits2 == []


def test_ban_scope_folds_subdomains_of_one_venue() -> None:
    assert _ban_scope("https://fapi.binance.com/x") == _ban_scope("https://dapi.binance.com") == "binance.com"
    assert _ban_scope("http://127.0.0.1:8765/binance/usdm") == "127.0.0.1:8765"


def test_ban_expires(tmp_path: Path) -> None:
    now = [1000.0]
    book = BanBook(tmp_path / "b.json", clock=lambda: now[0])
    book.ban("binance", "https://fapi.binance.com", 120)
    assert book.until("binance", "https://dapi.binance.com") is not None
    assert book.until("okx", "https://fapi.binance.com") is None
    now[0] += 121
    assert book.until("binance", "https://fapi.binance.com") is None


@pytest.mark.parametrize(("status", "error"), [(451, Blocked), (403, Blocked), (400, VenueError), (404, VenueError)])
def test_client_errors_are_not_retried(tmp_path: Path, status: int, error: type[Exception]) -> None:
    result, hits = run_script([respond(status, '{"code":-1121,"msg":"Invalid symbol."}')], get(), tmp_path)
    assert type(result) is error and len(hits) == 1 and str(status) in str(result)


def test_server_errors_are_retried_then_reported(tmp_path: Path) -> None:
    result, hits = run_script([respond(500, "oops")], get(), tmp_path)
    assert isinstance(result, VenueUnavailable) and len(hits) == 3 and "HTTP 500" in str(result)
    result, hits = run_script([respond(502), respond()], get(), tmp_path)
    assert result == {"ok": True} and len(hits) == 2


def test_timeout_becomes_unavailable(tmp_path: Path) -> None:
    result, hits = run_script([respond(delay=1.0)], get(), tmp_path, timeout=0.2, retries=1)
    assert isinstance(result, VenueUnavailable) and "no answer within 0.2 s" in str(result) and len(hits) == 2


def test_malformed_body_is_a_parse_error_naming_venue_and_endpoint(tmp_path: Path) -> None:
    result, _ = run_script([respond(body='[{"symbol": "BTC')], get("/fapi/v1/premiumIndex"), tmp_path)
    assert isinstance(result, ParseError)
    assert result.venue == "binance" and result.endpoint == "/fapi/v1/premiumIndex"


def test_used_weight_header_makes_the_client_wait(tmp_path: Path) -> None:
    limit = RateLimit(10, 0.5, used_header="X-MBX-USED-WEIGHT-1M")
    script = [respond(headers={"X-MBX-USED-WEIGHT-1M": "9"}), respond(headers={"X-MBX-USED-WEIGHT-1M": "1"})]

    async def two(c: HttpClient, u: str) -> list[Any]:
        return [await c.get("binance", u, "/x", limit=limit), await c.get("binance", u, "/x", limit=limit)]

    result, hits = run_script(script, two, tmp_path)
    assert result == [{"ok": True}, {"ok": True}]
    assert hits[1] - hits[0] >= 0.5  # the venue's count (9 of 10) held the second until its 0.5 s window passed


def test_exhausted_budget_beyond_max_wait_raises_without_sending(tmp_path: Path) -> None:
    limit = RateLimit(2400, 60, used_header="X-MBX-USED-WEIGHT-1M")

    async def two(c: HttpClient, u: str) -> list[Any]:
        first = await c.get("binance", u, "/x", limit=limit)
        second = await outcome(lambda c2, u2: c2.get("binance", u2, "/x", limit=limit, weight=10))(c, u)
        return [first, second]

    (first, second), hits = run_script([respond(headers={"X-MBX-USED-WEIGHT-1M": "2300"})], two, tmp_path)
    assert first == {"ok": True} and isinstance(second, RateLimited) and len(hits) == 1


def test_body_check_maps_venue_envelopes(tmp_path: Path) -> None:
    def check(body: Any) -> None:
        if body.get("code") != "0":
            raise RateLimited("okx", f"code {body['code']}", retry_after=None, status=200, code=body["code"])

    result, _ = run_script([respond(body='{"code":"50011","msg":"Too Many Requests"}')],
                           outcome(lambda c, u: c.get("okx", u, "/x", check=check)), tmp_path)
    assert isinstance(result, RateLimited) and result.code == "50011"


def test_refused_connection_is_unavailable(tmp_path: Path) -> None:
    port = free_port()

    async def main() -> Any:
        async with aiohttp.ClientSession() as session:
            client = HttpClient(session, HttpSettings(retries=1, backoff=0.01), BanBook(tmp_path / "b.json"))
            return await outcome(lambda c, u: c.get("okx", u, "/x"))(client, f"http://127.0.0.1:{port}")

    result = asyncio.run(main())
    assert isinstance(result, VenueUnavailable) and "connection failed" in str(result)


def test_buckets_keep_separate_budgets(tmp_path: Path) -> None:
    limit = RateLimit(2, 30)  # 90 % headroom: one request per bucket fits, a second does not

    async def three(c: HttpClient, u: str) -> list[Any]:
        a = await c.get("okx", u, "/a", limit=limit, bucket="/a|BTC-USDT-SWAP")
        b = await c.get("okx", u, "/a", limit=limit, bucket="/a|ETH-USDT-SWAP")
        again = await outcome(lambda c2, u2: c2.get("okx", u2, "/a", limit=limit, bucket="/a|BTC-USDT-SWAP"))(c, u)
        return [a, b, again]

    (a, b, again), hits = run_script([respond()], three, tmp_path)
    assert a == b == {"ok": True} and isinstance(again, RateLimited) and len(hits) == 2


def test_budget_holds_with_mixed_weights(tmp_path: Path) -> None:
    """Weights 1, 9, 5 against 10 per second (headroom 1): the third must wait until 10 weight has left."""
    limit = RateLimit(10, 1.0, headroom=1.0)

    async def three(c: HttpClient, u: str) -> None:
        await c.get("v", u, "/a", limit=limit, weight=1)
        await asyncio.sleep(0.55)
        await c.get("v", u, "/a", limit=limit, weight=9)
        await c.get("v", u, "/a", limit=limit, weight=5)

    _, hits = run_script([respond()], three, tmp_path)
    assert len(hits) == 3
    # No 1 s window may hold more than 10 weight, so the 5 is sent only once the 9 has left the window: at
    # least 1 s after the 9 was sent, which was at least 0.55 s after the 1 arrived (its answer, then the
    # sleep). Sending the 5 at once would show about 0.55 s here; waiting only for the 1 to leave, about 1 s.
    assert hits[2] - hits[0] >= 1.55 - 1e-6  # 1e-6: asyncio may end a sleep a clock tick early


def test_retry_after_holds_the_whole_host_across_buckets(tmp_path: Path) -> None:
    script = [respond(429, "{}", {"Retry-After": "1"}), respond()]

    async def two(c: HttpClient, u: str) -> Any:
        first = await outcome(lambda c2, u2: c2.get("okx", u2, "/a", bucket="a", limit=RateLimit(100, 1)))(c, u)
        second = await c.get("okx", u, "/b", bucket="b", limit=RateLimit(100, 1))
        return first, second

    (first, second), hits = run_script(script, two, tmp_path, retries=0)
    assert isinstance(first, RateLimited) and second == {"ok": True}
    assert len(hits) == 2 and hits[1] - hits[0] >= 1.0  # the other endpoint waited out the Retry-After too


def test_ratelimit_reset_in_milliseconds_and_http_date_retry_after() -> None:
    from dtrack.net.http import _epoch_seconds, _retry_after

    assert _epoch_seconds("1795219200000") == 1795219200.0 and _epoch_seconds("1795219200") == 1795219200.0
    assert _epoch_seconds("soon") is None
    assert _retry_after("Sat, 21 Nov 2026 00:00:30 GMT", now=1795219200.0) == 30.0
    assert _retry_after("2.5") == 2.5 and _retry_after("later") is None and _retry_after("inf") is None


def test_body_that_is_not_text_is_a_parse_error(tmp_path: Path) -> None:
    async def handler(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"\xff\xfe\xfa{}", content_type="application/json", charset="utf-8")

    result, _ = run_script([handler], get("/x"), tmp_path)
    assert isinstance(result, ParseError) and "not valid text" in str(result)


def test_ban_survives_an_unwritable_state_dir_and_a_corrupt_file(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    book = BanBook(blocker / "bans.json")
    until = book.ban("binance", "https://fapi.binance.com", 60)  # cannot be written: kept in memory
    assert book.until("binance", "https://dapi.binance.com") == until
    corrupt = tmp_path / "bans.json"
    corrupt.write_text('{"binance@binance.com": {"until": "soon"}, "okx@okx.com": 5, "x": {"until": 1e300}}')
    assert BanBook(corrupt).until("binance", "https://fapi.binance.com") is None
