"""The sim's record of requests in flight (``dtrack.sim.server.Flight``), which the concurrency tests rely on.

A round is the requests that were all in flight together before any of them was answered; ``hold`` makes
the server keep a round's answers until that many requests have arrived, so rounds do not depend on timing.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from conftest import SimThread
from dtrack.sim.server import Arrival, Flight

PATHS = ("/fapi/v1/premiumIndex?symbol=BTCUSDT", "/fapi/v1/premiumIndex?symbol=ETHUSDT",
         "/fapi/v1/premiumIndex?symbol=SOLUSDT")


def get(server: SimThread, path: str) -> str:
    with urllib.request.urlopen(server.venue_urls()["binance"]["usdm"] + path, timeout=30) as resp:
        return str(json.loads(resp.read())["symbol"])


def test_requests_one_after_another_are_rounds_of_one(sim_factory: Callable[..., SimThread]) -> None:
    server = sim_factory()
    assert [get(server, p) for p in PATHS] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert server.rounds() == [[p] for p in PATHS]
    assert (server.flight.max_in_flight, server.flight.in_flight, server.flight.timed_out) == (1, 0, 0)


def test_held_requests_sent_together_are_one_round(sim_factory: Callable[..., SimThread]) -> None:
    server = sim_factory(hold=(3, 1))
    with ThreadPoolExecutor(3) as pool:
        symbols = list(pool.map(lambda p: get(server, p), PATHS))
    assert symbols == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    get(server, PATHS[0])  # after the answers: a new round
    assert server.rounds() == [sorted(PATHS), [PATHS[0]]]
    assert server.rounds(since=1) == [[PATHS[0]]]
    assert (server.flight.max_in_flight, server.flight.in_flight, server.flight.timed_out) == (3, 0, 0)


def test_a_round_that_never_fills_is_released_and_counted(sim_factory: Callable[..., SimThread]) -> None:
    """A client that sends one at a time against a hold of two: each request is let go after the hold's
    timeout, each alone in its round, and ``timed_out`` says so (the concurrency tests assert it is 0)."""
    server = sim_factory(hold=(2, 2))
    server.flight.hold_timeout = 0.2
    assert [get(server, p) for p in PATHS[:2]] == ["BTCUSDT", "ETHUSDT"]
    assert server.rounds() == [[PATHS[0]], [PATHS[1]]]
    assert server.flight.timed_out == 2


def test_a_late_answer_from_an_older_round_does_not_close_the_open_one() -> None:
    """a and b together; a answered, then c (which needed a's answer) arrives; b's late answer must not split c
    from d, which arrives before either of them is answered."""

    def at(path: str) -> Arrival:
        return Arrival("binance", "usdm", "GET", path)

    async def scenario() -> Flight:
        flight = Flight()
        a = await flight.arrive(at("/a"))
        b = await flight.arrive(at("/b"))
        flight.answered(a)
        c = await flight.arrive(at("/c"))
        flight.answered(b)
        d = await flight.arrive(at("/d"))
        flight.answered(c)
        flight.answered(d)
        return flight

    flight = asyncio.run(scenario())
    assert [[x.path for x in r] for r in flight.rounds] == [["/a", "/b"], ["/c", "/d"]]
    assert (flight.max_in_flight, flight.in_flight) == (2, 0)
