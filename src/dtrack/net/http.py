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
import email.utils
import json
import logging
import math
import os
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
_PROXY_AUTH_HINT = ": it wants credentials; give them as http://user:password@host:port"

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
        self._memory: dict[str, float] = {}

    def _load(self) -> dict[str, float]:
        """``{key: until}`` from disk plus this process's own bans; unreadable or odd entries are ignored."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = {}
        out: dict[str, float] = {}
        for key, entry in (raw.items() if isinstance(raw, dict) else ()):
            until = entry.get("until") if isinstance(entry, dict) else None
            if isinstance(until, int | float) and not isinstance(until, bool) and math.isfinite(until):
                out[str(key)] = float(until)
        for key, until in self._memory.items():
            out[key] = max(until, out.get(key, 0.0))
        return out

    @staticmethod
    def _key(venue: str, url: str) -> str:
        return f"{venue}@{_ban_scope(url)}"

    def until(self, venue: str, url: str) -> datetime | None:
        """When the ban covering ``venue`` at ``url`` ends, or None if there is none."""
        until = self._load().get(self._key(venue, url), 0.0)
        return datetime.fromtimestamp(until, UTC) if until > self.clock() else None

    def ban(self, venue: str, url: str, seconds: float) -> datetime:
        """Record a ban of ``seconds`` from now and return its end. It is kept in memory for this process
        even when the state directory cannot be written (a warning says so)."""
        until = self.clock() + seconds
        key = self._key(venue, url)
        self._memory[key] = until
        live = {k: v for k, v in self._load().items() if v > self.clock()}
        doc = {k: {"venue": k.split("@", 1)[0], "host": k.split("@", 1)[-1], "until": v} for k, v in live.items()}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
            tmp.replace(self.path)
        except OSError as exc:
            log.warning("%s: could not remember the ban in %s (%s); it holds for this run only", venue,
                        self.path, exc)
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
class _Bucket:
    """Limiter state of one budget (a host, or one endpoint of it)."""

    limit: RateLimit | None
    sent: deque[tuple[float, int]] = field(default_factory=deque)
    reported_used: int = 0
    reported_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def wait_for(self, weight: int, now: float) -> float:
        """Seconds until ``weight`` more fits in the budget (0 if it fits now)."""
        limit = self.limit
        if limit is None:
            return 0.0
        while self.sent and self.sent[0][0] <= now - limit.window:
            self.sent.popleft()
        budget = limit.weight * limit.headroom
        wait = 0.0
        if self.reported_used and now - self.reported_at < limit.window and self.reported_used + weight > budget:
            wait = self.reported_at + limit.window - now  # the venue's own count: wait for its window to pass
        used = sum(w for _, w in self.sent)
        excess = used + weight - budget
        for sent_at, w in self.sent:  # oldest first: wait until enough of them leave the window
            if excess <= 0:
                break
            excess -= w
            wait = max(wait, sent_at + limit.window - now)
        if excess > 0:  # more than the whole budget in one request: as soon as the window is empty
            wait = max(wait, limit.window if not self.sent else self.sent[-1][0] + limit.window - now)
        return max(0.0, wait)


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
        self._buckets: dict[str, _Bucket] = {}
        #: host -> epoch seconds before which nothing may be sent there (Retry-After, x-ratelimit-reset)
        self._not_before: dict[str, float] = {}

    def _bucket(self, base_url: str, limit: RateLimit | None, bucket: str) -> _Bucket:
        key = f"{_host(base_url)}|{bucket}"
        state = self._buckets.get(key)
        if state is None:
            state = self._buckets[key] = _Bucket(limit)
        return state

    def _hold_host(self, base_url: str, until: float) -> None:
        host = _host(base_url)
        self._not_before[host] = max(self._not_before.get(host, 0.0), until)

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
        try:
            return await self._attempts(venue, method, base_url, path, endpoint, params, json_body, weight, limit,
                                        bucket, check, remap)
        except VenueError as exc:
            exc.endpoint = exc.endpoint or endpoint  # a failure row names the endpoint
            raise

    async def _attempts(self, venue: str, method: str, base_url: str, path: str, endpoint: str,
                        params: Mapping[str, Any] | None, json_body: Any, weight: int, limit: RateLimit | None,
                        bucket: str, check: BodyCheck | None, remap: StatusRemap | None) -> Any:
        url = base_url.rstrip("/") + path
        state = self._bucket(base_url, limit, bucket)
        attempts = 1 + max(0, self.settings.retries)
        last: DtrackError | None = None
        for attempt in range(attempts):
            await self._admit(venue, base_url, endpoint, state, weight)
            try:
                return await self._once(venue, method, base_url, url, endpoint, params, json_body, state, check,
                                        remap)
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

    async def _admit(self, venue: str, base_url: str, endpoint: str, state: _Bucket, weight: int) -> None:
        """Wait until the host may be called (ban, Retry-After, weight budget) or raise."""
        until = self.bans.until(venue, base_url)
        if until is not None:
            raise Banned(venue, f"IP banned by the venue until {until:%Y-%m-%d %H:%M:%S} UTC; "
                                f"not calling {endpoint}", until=until)
        async with state.lock:
            while True:  # re-check after every sleep: others may have sent, a Retry-After may have come
                now = self.clock()
                wait = max(self._not_before.get(_host(base_url), 0.0) - now, state.wait_for(weight, now))
                if wait <= 0:
                    break
                if wait > self.settings.max_wait:
                    raise RateLimited(venue, f"{endpoint}: rate limit, next request allowed in {wait:.1f} s "
                                             f"(dtrack waits at most http.max_wait = {self.settings.max_wait:g} s)",
                                      retry_after=wait, status=None)
                log.info("%s: waiting %.2f s before %s (rate limit)", venue, wait, endpoint)
                await asyncio.sleep(wait)
            state.sent.append((self.clock(), weight))

    async def _once(
        self,
        venue: str,
        method: str,
        base_url: str,
        url: str,
        endpoint: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        state: _Bucket,
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
                self._read_usage(resp.headers, state, base_url)
                status = resp.status
                raw = await resp.read()
                headers = resp.headers
        except TimeoutError:
            raise VenueUnavailable(venue, f"{endpoint}: no answer within {self.settings.timeout:g} s") from None
        except aiohttp.ClientProxyConnectionError:  # HTTP(S)_PROXY names a proxy that does not answer
            raise VenueUnavailable(venue, f"{endpoint}: cannot reach the proxy set in HTTP(S)_PROXY") from None
        except aiohttp.ClientHttpProxyError as exc:  # the proxy refused the CONNECT of an https:// URL
            raise VenueError(venue, f"{endpoint}: the proxy set in HTTPS_PROXY refused the connection "
                                    f"(HTTP {exc.status}{_PROXY_AUTH_HINT if exc.status == 407 else ''})",
                             status=exc.status) from None
        except aiohttp.ClientError as exc:
            raise VenueUnavailable(venue, f"{endpoint}: connection failed ({type(exc).__name__})") from None
        try:
            text = raw.decode(resp.charset or "utf-8")
        except (UnicodeDecodeError, LookupError):
            raise ParseError(venue, endpoint, f"body is not valid text ({len(raw)} bytes)") from None
        if status >= 400:
            retry_after = _retry_after(headers.get("Retry-After"))
            meaning = status
            if remap is not None and (override := remap(status, text)) is not None:
                meaning, retry_after = override[0], override[1] if override[1] is not None else retry_after
            self._raise_status(venue, endpoint, base_url, meaning, status, retry_after, text, state)
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

    def _read_usage(self, headers: Mapping[str, str], state: _Bucket, base_url: str) -> None:
        limit = state.limit
        if limit is not None and limit.used_header:
            raw = headers.get(limit.used_header)
            if raw is not None and raw.strip().isdigit():
                state.reported_used = int(raw)
                state.reported_at = self.clock()
        remaining, reset = headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-reset")
        if remaining is not None and reset is not None and remaining.strip() == "0":
            at = _epoch_seconds(reset)
            if at is not None:
                self._hold_host(base_url, at)

    def _raise_status(
        self, venue: str, endpoint: str, base_url: str, status: int, sent: int, retry_after: float | None, text: str,
        state: _Bucket,
    ) -> None:
        """Raise the error ``status`` means (``sent`` is what the venue actually answered)."""
        snippet = _error_text(text)
        if status == 418:
            seconds = retry_after if retry_after is not None else 120.0
            until = self.bans.ban(venue, base_url, seconds)
            raise Banned(venue, f"{endpoint}: IP banned by the venue (HTTP {sent}: {snippet}) until "
                                f"{until:%Y-%m-%d %H:%M:%S} UTC", until=until, status=sent)
        if status == 429:
            if retry_after is not None:  # the whole host waits, whatever bucket the request drew on
                self._hold_host(base_url, self.clock() + retry_after)
            hint = f"; retry after {retry_after:g} s" if retry_after is not None else ""
            raise RateLimited(venue, f"{endpoint}: rate limited (HTTP {sent}){hint}", retry_after=retry_after,
                              status=sent)
        if status in (451, 403):
            raise Blocked(venue, f"{endpoint}: blocked from this location (HTTP {status}): {snippet}",
                          status=status)
        if status == 407:  # the proxy from HTTP_PROXY, not the venue, wants credentials
            raise VenueError(venue, f"{endpoint}: the proxy set in HTTP_PROXY refused the request (HTTP 407"
                                    f"{_PROXY_AUTH_HINT})", status=status)
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


def _retry_after(raw: str | None, now: float | None = None) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110)."""
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        value = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, value) if math.isfinite(value) else None


def _epoch_seconds(raw: str) -> float | None:
    """An ``x-ratelimit-reset`` epoch in seconds (a value in milliseconds is converted)."""
    try:
        value = float(raw)
    except ValueError:
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return value / 1000.0 if value > 1e11 else value


def _host(base_url: str) -> str:
    """The key of a venue host: netloc plus base path (the sim mounts every venue host on one port)."""
    parts = urlsplit(base_url)
    return f"{parts.netloc}{parts.path.rstrip('/')}"


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
