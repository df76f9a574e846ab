"""What dtrack asks Binance derivatives for: hosts, paths, weights, limits, error codes (data only).

Two hosts, each with its own 2400-per-minute request-weight budget reported back in the
``X-MBX-USED-WEIGHT-1M`` response header:

- ``usdm``  = USDⓈ-M futures (fapi): linear, quantities in the base coin, USDT/USDC quoted;
- ``coinm`` = COIN-M futures (dapi): inverse, quantities in contracts of ``contractSize`` USD.

Spot (``api.binance.com``) is not used yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from dtrack.net.http import RateLimit

VENUE: Final = "binance"

USDM: Final = "usdm"
COINM: Final = "coinm"

HOSTS: Final = {
    USDM: "https://fapi.binance.com",
    COINM: "https://dapi.binance.com",
}
MAIN_HOST: Final = USDM

#: Response header with the weight used by this IP in the current minute (both hosts).
USED_WEIGHT_HEADER: Final = "X-MBX-USED-WEIGHT-1M"

#: 2400 request weight per minute and IP, per host (``exchangeInfo.rateLimits`` REQUEST_WEIGHT).
#: ``fundingRate`` and ``fundingInfo`` also share a separate cap of 500 requests per 5 minutes
#: per IP (USDⓈ-M docs); the generic limiter keeps one budget per host, so that cap is not
#: enforced client-side. dtrack stays far below it: one fundingInfo per ``funding_interval_ttl``
#: and one fundingRate page per 1000 settlements (about 41 days of a 1 h symbol).
LIMITS: Final = {
    USDM: RateLimit(2400, 60, used_header=USED_WEIGHT_HEADER),
    COINM: RateLimit(2400, 60, used_header=USED_WEIGHT_HEADER),
}


@dataclass(frozen=True, slots=True)
class Paths:
    """The REST paths of one host (same endpoints, ``/fapi`` or ``/dapi`` prefix)."""

    exchange_info: str
    premium_index: str
    funding_info: str
    open_interest: str
    funding_rate: str


PATHS: Final = {
    USDM: Paths(
        exchange_info="/fapi/v1/exchangeInfo",
        premium_index="/fapi/v1/premiumIndex",
        funding_info="/fapi/v1/fundingInfo",
        open_interest="/fapi/v1/openInterest",
        funding_rate="/fapi/v1/fundingRate",
    ),
    COINM: Paths(
        exchange_info="/dapi/v1/exchangeInfo",
        premium_index="/dapi/v1/premiumIndex",
        funding_info="/dapi/v1/fundingInfo",
        open_interest="/dapi/v1/openInterest",
        funding_rate="/dapi/v1/fundingRate",
    ),
}

# Request weights (same on both hosts).
WEIGHT_EXCHANGE_INFO: Final = 1
WEIGHT_PREMIUM_INDEX_ALL: Final = 10  # without ``symbol``: every symbol of the host
WEIGHT_PREMIUM_INDEX_ONE: Final = 1
WEIGHT_FUNDING_INFO: Final = 1  # plus the shared 500 / 5 min cap (see LIMITS)
WEIGHT_OPEN_INTEREST: Final = 1
WEIGHT_FUNDING_RATE: Final = 1  # plus the shared 500 / 5 min cap (see LIMITS)

#: fundingRate page size: default 100, maximum 1000; ascending from ``startTime``.
FUNDING_RATE_LIMIT_DEFAULT: Final = 100
FUNDING_RATE_LIMIT_MAX: Final = 1000

#: Interval of symbols absent from fundingInfo (it lists only symbols with an adjustment).
DEFAULT_INTERVAL_HOURS: Final = 8

#: contractType of perpetuals; status field per host and its trading value.
PERPETUAL: Final = "PERPETUAL"
TRADING: Final = "TRADING"
STATUS_FIELD: Final = {USDM: "status", COINM: "contractStatus"}

# Error codes of the ``{"code": -1121, "msg": "Invalid symbol."}`` envelope (sent with HTTP 4xx).
ERR_UNKNOWN: Final = -1000
ERR_DISCONNECTED: Final = -1001
ERR_TOO_MANY_REQUESTS: Final = -1003
ERR_INVALID_PARAMETER: Final = -1130
ERR_INVALID_SYMBOL: Final = -1121
RATE_LIMIT_CODES: Final = frozenset({ERR_TOO_MANY_REQUESTS})
