"""HTTP for every venue: one injected aiohttp session, per-host limits, retries, bans.

What it owns:
- a weight-aware limiter per host (local sliding window plus the venue's own usage header,
  e.g. ``X-MBX-USED-WEIGHT-1M``, or ``x-ratelimit-remaining``/``x-ratelimit-reset``);
- ``Retry-After`` on 429: no request to that host before it expires (waits if short, else raises);
- a 418 ban stops every request to the venue until it ends, and is remembered on disk (``BanBook``)
  so that a cron job does not keep hammering a banned venue;
- 451/403 -> ``Blocked``; 5xx, timeouts and refused connections -> jittered exponential retries,
  then ``VenueUnavailable``; 4xx are never retried; bad JSON -> ``ParseError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dtrack.errors import (
    Banned,
    Blocked,
    DtrackError,
    ParseError,
    RateLimited,
    VenueError,
    VenueUnavailable,
)

if TYPE_CHECKING:
    import aiohttp

    from dtrack.config import HttpSettings

log = logging.getLogger(__name__)

Clock = Callable[[], float]
BodyCheck = Callable[[Any], None]
#: A venue's reading of an error status: (status, body text) -> (status to treat it as, Retry-After
#: seconds) or None to keep it. E.g. Bybit's 403 "access too frequent" is an IP ban, not a geo-block.
StatusRemap = Callable[[int, str], tuple[int, float | None] | None]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A venue host's request budget: ``weight`` units per ``window`` seconds.

    ``used_header`` names a response header carrying the weight already used in the window
    (Binance ``X-MBX-USED-WEIGHT-1M``). ``headroom`` is the share of the budget dtrack allows itself.
    """

    weight: int
    window: float
    used_header: str | None = None
    headroom: float = 0.9


class BanBook:
    """IP bans (HTTP 418) per venue, persisted as JSON in the state directory."""

    def __init__(self, path: Path, clock: Clock = time.time) -> None:
        self.path = path
        self.clock = clock

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @staticmethod
    def _key(venue: str, url: str) -> str:
        return f"{venue}@{_ban_scope(url)}"

    def until(self, venue: str, url: str) -> datetime | None:
        """When the ban covering ``venue`` at ``url`` ends, or None if there is none."""
        entry = self._load().get(self._key(venue, url))
        if not entry:
            return None
        until = float(entry.get("until", 0))
        if until <= self.clock():
            return None
        return datetime.fromtimestamp(until, UTC)

    def ban(self, venue: str, url: str, seconds: float) -> datetime:
        """Record a ban of ``seconds`` from now; returns its end."""
        data = {k: v for k, v in self._load().items() if float(v.get("until", 0)) > self.clock()}
        until = self.clock() + seconds
        data[self._key(venue, url)] = {"venue": venue, "host": _ban_scope(url), "until": until}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        tmp.replace(self.path)
        return datetime.fromtimestamp(until, UTC)


def _ban_scope(url: str) -> str:
    """The part of a URL a ban covers: host:port, with sub-domains of one venue folded together
    (``fapi.binance.com`` and ``dapi.binance.com`` share ``binance.com``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    labels = host.split(".")
    if not host.replace(".", "").isdigit() and len(labels) > 2:
        host = ".".join(labels[-2:])
    return f"{host}:{parts.port}" if parts.port else host


@dataclass(slots=True)
class _HostState:
    """Limiter state of one host."""

    limit: RateLimit | None
    sent: deque[tuple[float, int]] = field(default_factory=deque)
    reported_used: int = 0
    reported_at: float = 0.0
    not_before: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def local_used(self, now: float) -> int:
        if self.limit is None:
            return 0
        while self.sent and self.sent[0][0] <= now - self.limit.window:
            self.sent.popleft()
        return sum(w for _, w in self.sent)


class HttpClient:
    """Sends venue requests through the limiter, retry and ban logic; returns parsed JSON."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: HttpSettings,
        bans: BanBook,
        *,
        clock: Clock = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.session = session
        self.settings = settings
        self.bans = bans
        self.clock = clock
        self.rng = rng or random.Random()
        self._hosts: dict[str, _HostState] = {}

    def _state(self, base_url: str, limit: RateLimit | None, bucket: str) -> _HostState:
        key = f"{urlsplit(base_url).netloc}{urlsplit(base_url).path}|{bucket}"
        state = self._hosts.get(key)
        if state is None:
            state = self._hosts[key] = _HostState(limit)
        return state

    async def get(
        self,
        venue: str,
        base_url: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        endpoint: str | None = None,
        weight: int = 1,
        limit: RateLimit | None = None,
        bucket: str = "",
        check: BodyCheck | None = None,
        remap: StatusRemap | None = None,
    ) -> Any:
        """GET ``base_url + path`` and return its JSON body (see ``request``)."""
        return await self.request(venue, "GET", base_url, path, params=params, endpoint=endpoint,
                                  weight=weight, limit=limit, bucket=bucket, check=check, remap=remap)

    async def post(
        self,
        venue: str,
        base_url: str,
        path: str,
        body: Any,
        *,
        endpoint: str | None = None,
        weight: int = 1,
        limit: RateLimit | None = None,
        bucket: str = "",
        check: BodyCheck | None = None,
        remap: StatusRemap | None = None,
    ) -> Any:
        """POST a JSON body to ``base_url + path`` and return the JSON answer (see ``request``)."""
        return await self.request(venue, "POST", base_url, path, json_body=body, endpoint=endpoint,
                                  weight=weight, limit=limit, bucket=bucket, check=check, remap=remap)

    async def request(
        self,
        venue: str,
        method: str,
        base_url: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        endpoint: str | None = None,
        weight: int = 1,
        limit: RateLimit | None = None,
        bucket: str = "",
        check: BodyCheck | None = None,
        remap: StatusRemap | None = None,
    ) -> Any:
        """One venue call with limits, retries and error mapping.

        ``limit`` is the budget the call draws on, shared by every call to the same host and ``bucket``
        (venues that meter per endpoint name the endpoint as the bucket). ``check`` inspects a decoded body
        for venue-level errors (OKX ``code``, Bybit ``retCode``,
        Deribit ``error``) and raises the matching ``VenueError``; ``remap`` reinterprets error statuses.
        """
        endpoint = endpoint or path
        url = base_url.rstrip("/") + path
        state = self._state(base_url, limit, bucket)
        attempts = 1 + max(0, self.settings.retries)
        last: DtrackError | None = None
        for attempt in range(attempts):
            await self._admit(venue, base_url, endpoint, state, weight)
            try:
                return await self._once(venue, method, url, endpoint, params, json_body, state, check, remap)
            except RateLimited as exc:
                last = exc
                if exc.retry_after is None or exc.retry_after > self.settings.max_wait:
                    raise
            except VenueUnavailable as exc:
                last = exc
                if attempt + 1 < attempts:
                    await asyncio.sleep(self._backoff(attempt))
        assert last is not None
        raise last

    def _backoff(self, attempt: int) -> float:
        base: float = self.settings.backoff * (2**attempt)
        return base * (0.5 + self.rng.random())

    async def _admit(self, venue: str, base_url: str, endpoint: str, state: _HostState, weight: int) -> None:
        """Wait until the host may be called (ban, Retry-After, weight budget) or raise."""
        until = self.bans.until(venue, base_url)
        if until is not None:
            raise Banned(venue, f"IP banned by the venue (HTTP 418) until {until:%Y-%m-%d %H:%M:%S} UTC; "
                                f"not calling {endpoint}", until=until)
        async with state.lock:
            now = self.clock()
            wait = max(0.0, state.not_before - now)
            limit = state.limit
            if limit is not None:
                budget = limit.weight * limit.headroom
                used = max(state.local_used(now + wait),
                           state.reported_used if now - state.reported_at < limit.window else 0)
                if used + weight > budget:
                    oldest = state.sent[0][0] if state.sent else now
                    wait = max(wait, oldest + limit.window - now,
                               state.reported_at + limit.window - now if state.reported_used else 0.0)
            if wait > self.settings.max_wait:
                raise RateLimited(venue, f"{endpoint}: rate limit, next request allowed in {wait:.1f} s",
                                  retry_after=wait, status=None)
            if wait > 0:
                log.info("%s: waiting %.2f s before %s (rate limit)", venue, wait, endpoint)
                await asyncio.sleep(wait)
            state.sent.append((self.clock(), weight))

    async def _once(
        self,
        venue: str,
        method: str,
        url: str,
        endpoint: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        state: _HostState,
        check: BodyCheck | None,
        remap: StatusRemap | None,
    ) -> Any:
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=self.settings.timeout)
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        log.debug("%s %s %s %s", venue, method, url, query)
        try:
            async with self.session.request(method, url, params=query or None, json=json_body,
                                            timeout=timeout) as resp:
                self._read_usage(resp.headers, state)
                status = resp.status
                text = await resp.text()
                headers = resp.headers
        except TimeoutError:
            raise VenueUnavailable(venue, f"{endpoint}: no answer within {self.settings.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise VenueUnavailable(venue, f"{endpoint}: connection failed ({type(exc).__name__})") from None
        if status >= 400:
            retry_after = _retry_after(headers.get("Retry-After"))
            meaning = status
            if remap is not None and (override := remap(status, text)) is not None:
                meaning, retry_after = override[0], override[1] if override[1] is not None else retry_after
            self._raise_status(venue, endpoint, url, meaning, status, retry_after, text, state)
        try:
            body = json.loads(text)
        except ValueError:
            raise ParseError(venue, endpoint, f"body is not JSON ({len(text)} bytes: {text[:60]!r})") from None
        if check is not None:
            try:
                check(body)
            except VenueError as exc:
                if endpoint not in str(exc):
                    exc.args = (f"{exc} [{endpoint}]",)
                raise
        return body

    def _read_usage(self, headers: Mapping[str, str], state: _HostState) -> None:
        limit = state.limit
        if limit is not None and limit.used_header:
            raw = headers.get(limit.used_header)
            if raw is not None and raw.strip().isdigit():
                state.reported_used = int(raw)
                state.reported_at = self.clock()
        remaining, reset = headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-reset")
        if remaining is not None and reset is not None and remaining.strip() == "0":
            with contextlib.suppress(ValueError):
                state.not_before = max(state.not_before, float(reset))

    def _raise_status(
        self, venue: str, endpoint: str, url: str, status: int, sent: int, retry_after: float | None, text: str,
        state: _HostState,
    ) -> None:
        """Raise the error ``status`` means (``sent`` is what the venue actually answered)."""
        snippet = _error_text(text)
        if status == 418:
            seconds = retry_after if retry_after is not None else 120.0
            until = self.bans.ban(venue, url, seconds)
            raise Banned(venue, f"{endpoint}: IP banned by the venue (HTTP {sent}: {snippet}) until "
                                f"{until:%Y-%m-%d %H:%M:%S} UTC", until=until, status=sent)
        if status == 429:
            if retry_after is not None:
                state.not_before = max(state.not_before, self.clock() + retry_after)
            hint = f"; retry after {retry_after:g} s" if retry_after is not None else ""
            raise RateLimited(venue, f"{endpoint}: rate limited (HTTP {sent}){hint}", retry_after=retry_after,
                              status=sent)
        if status in (451, 403):
            raise Blocked(venue, f"{endpoint}: blocked from this location (HTTP {status}): {snippet}",
                          status=status)
        if status >= 500:
            raise VenueUnavailable(venue, f"{endpoint}: server error (HTTP {status})", status=status)
        raise VenueError(venue, f"{endpoint}: request refused (HTTP {status}): {snippet}", status=status)


def _error_text(text: str) -> str:
    """The venue's own error message from a 4xx/5xx body (``msg``, ``message``, ``retMsg``, ``error``),
    else the start of the body."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        inner = body.get("error")
        source = inner if isinstance(inner, dict) else body
        code = source.get("code", body.get("retCode"))
        for key in ("msg", "message", "retMsg", "error"):
            value = source.get(key)
            if isinstance(value, str) and value:
                return f"{value} (code {code})" if code not in (None, "") else value
    return " ".join(text.split())[:160]


def _retry_after(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
