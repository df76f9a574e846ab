"""Small socket and stream helpers for tests."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def collect(it: AsyncIterator[T], done: Callable[[list[T]], bool], what: str | Callable[[list[T]], str],
                  wait: float, *, close: bool = False) -> list[T]:
    """What ``it`` yields until ``done(got)`` is true; after ``wait`` seconds the test fails naming ``what`` (a text,
    or a function of what came) and the last items. ``close``: close the iterator afterwards, whatever happened."""
    got: list[T] = []

    async def run() -> None:
        async for item in it:
            got.append(item)
            if done(got):
                return

    try:
        await asyncio.wait_for(run(), wait)
    except TimeoutError:
        said = what(got) if callable(what) else what
        raise AssertionError(f"timed out after {wait:g} s waiting for {said}; got {got[-5:]}") from None
    finally:
        if close:
            closer: Any = getattr(it, "aclose", None)
            if closer is not None:
                await closer()
    return got
