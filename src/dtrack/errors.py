"""The dtrack error tree, and nothing else.

Messages name the venue and endpoint involved and say what would be right; never a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


class DtrackError(Exception):
    """Base of every error dtrack raises on purpose."""

    kind = "error"


class ConfigError(DtrackError):
    """The settings file or environment holds a bad value."""

    kind = "config"


class UsageError(DtrackError):
    """Bad input on the command line (asset, duration, option combination)."""

    kind = "usage"


class UnsupportedError(DtrackError):
    """The venue does not offer this data (or dtrack does not implement it yet)."""

    kind = "unsupported"


class VenueClosed(UnsupportedError):
    """The venue has shut down; no live data exists."""

    kind = "closed"


def clip(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters plus "…": what a message echoes of user input stays one short line."""
    return text if len(text) <= limit else text[:limit] + "…"


class SymbolNotFound(DtrackError):
    """An asset or symbol nobody lists; carries the closest known names."""

    kind = "symbol_not_found"

    def __init__(self, name: str, close: Sequence[str] = (), where: str = "") -> None:
        self.name = name
        self.close = list(close)
        hint = f"; did you mean {', '.join(self.close)}?" if self.close else ""
        place = f" on {where}" if where else ""
        shown = repr(clip(name))
        super().__init__(f"no perpetual for {shown}{place}{hint}" if where else f"unknown asset {shown}{hint}")


class ParseError(DtrackError):
    """A venue payload was malformed or not what the endpoint documents."""

    kind = "parse"

    def __init__(self, venue: str, endpoint: str, detail: str) -> None:
        self.venue = venue
        self.endpoint = endpoint
        self.detail = detail
        super().__init__(f"{venue} {endpoint}: unexpected payload: {detail}")


class Implausible(ParseError):
    """A venue sent a value no market can have (a price <= 0, negative open interest, a funding rate
    beyond the venue's cap, a timestamp decades away): the row is dropped and listed, never shown as data."""

    kind = "implausible"

    def __init__(self, venue: str, endpoint: str, symbol: str, field: str, value: object, rule: str) -> None:
        self.symbol = symbol
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(venue, endpoint, f"{symbol or 'a row'} {field}={value!r} is implausible ({rule})")


class VenueError(DtrackError):
    """A venue answered with an error (or not at all)."""

    kind = "venue_error"

    #: the venue endpoint of the failed call (set by the HTTP layer), or None
    endpoint: str | None = None

    def __init__(
        self, venue: str, message: str, *, status: int | None = None, code: str | None = None
    ) -> None:
        self.venue = venue
        self.status = status
        self.code = code
        super().__init__(f"{venue}: {message}")


class RateLimited(VenueError):
    """HTTP 429 (or the venue's own rate-limit code); ``retry_after`` in seconds."""

    kind = "rate_limited"

    def __init__(self, venue: str, message: str, *, retry_after: float | None = None,
                 status: int | None = 429, code: str | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(venue, message, status=status, code=code)


class Banned(VenueError):
    """The venue banned this IP (Binance 418) until ``until``."""

    kind = "banned"

    def __init__(self, venue: str, message: str, *, until: datetime, status: int | None = 418) -> None:
        self.until = until
        super().__init__(venue, message, status=status)


class Blocked(VenueError):
    """HTTP 451/403: the venue refuses this location."""

    kind = "blocked"


class VenueUnavailable(VenueError):
    """Connection refused, timed out, or 5xx after retries."""

    kind = "unavailable"


class StoreError(DtrackError):
    """The store cannot be opened, read or written (unreachable server, unreadable file, not a dtrack store)."""

    kind = "store"
