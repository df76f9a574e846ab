"""What dtrack asks the dYdX v4 indexer: its host, paths, page size, rate limit and conventions (data only).

Sources: the indexer's own code, ``dydxprotocol/v4-chain`` ``indexer/services/comlink`` (controllers, ``config.ts``,
``lib/rate-limit.ts``), ``indexer/services/roundtable`` (``tasks/market-updater.ts``), ``indexer/services/ender``
(``handlers/funding-handler.ts``), ``indexer/packages/redis`` (``caches/next-funding-cache.ts``),
``indexer/packages/postgres`` (``lib/protocol-translations.ts``, ``stores/candle-table.ts``) and the protocol's
``protocol/x/perpetuals`` (funding clamps).

- Rate limit: per IP, ``RATE_LIMIT_GET_POINTS`` 100 per ``RATE_LIMIT_GET_DURATION_SECONDS`` 10 (one point per request;
  deep ``page`` offsets cost more, dtrack pages by time instead). A refused request is HTTP 429 with
  ``{"errors": [{"msg": "Too many requests"}]}`` and ``Retry-After`` in MILLISECONDS (``msBeforeNext``), beside
  ``RateLimit-Remaining`` / ``RateLimit-Reset`` (epoch ms) / ``RateLimit-Limit``. The deployed values are not
  published (research: per-route limiters were tried and reverted in 2025): these are the code's defaults.
- Errors: ``{"errors": [{"msg": ...}]}`` with a 4xx/5xx status; a restricted country gets HTTP 403 with
  ``code: "GEOBLOCKED"``; an unknown ticker of a per-market path HTTP 400 (validation), of ``perpetualMarkets?ticker=``
  HTTP 404. A 200 answer carries no error envelope.
- Numbers are decimal strings, times ISO-8601 UTC strings.
"""

from __future__ import annotations

from typing import Final

from dtrack.net.http import RateLimit

#: host key -> default base URL (testnet: https://indexer.v4testnet.dydx.exchange); every path starts with /v4
REST: Final = "rest"
HOSTS: Final = {REST: "https://indexer.dydx.trade"}

PERPETUAL_MARKETS: Final = "/v4/perpetualMarkets"
HISTORICAL_FUNDING: Final = "/v4/historicalFunding/{ticker}"
CANDLES: Final = "/v4/candles/perpetualMarkets/{ticker}"
ORDERBOOK: Final = "/v4/orderbooks/perpetualMarket/{ticker}"

#: the indexer's request budget per IP (comlink config.ts defaults: 100 requests per 10 s)
RATE_LIMIT_WINDOW_S: Final = 10.0
LIMITS: Final = {REST: RateLimit(100, RATE_LIMIT_WINDOW_S)}
#: the most rows one answer holds (comlink ``API_LIMIT_V4``); dtrack always sends ``limit``
PAGE_LIMIT: Final = 1000
#: candle resolution per period in hours dtrack asks for (the indexer also has 1MIN .. 30MINS)
CANDLE_RESOLUTIONS: Final = {1: "1HOUR", 4: "4HOURS", 24: "1DAY"}

# --- conventions -----------------------------------------------------------------------------
#: perpetuals are margined and settled in USDC (prices are the USD oracle's)
QUOTE: Final = "USDC"
#: market statuses whose positions hold and pay funding (INITIALIZING, PAUSED and FINAL_SETTLEMENT are left out)
LISTED_STATUSES: Final = frozenset({"ACTIVE", "POST_ONLY", "CANCEL_ONLY"})
#: funding settles every hour
FUNDING_INTERVAL_HOURS: Final = 1.0
#: where that interval comes from: the indexer turns each premium sample (an 8-hour rate in ppm) into a 1-hour rate
#: (``funding8HourValuePpmTo1HourRate``: / 1e6 / 8) and ``nextFundingRate`` is their average plus
#: ``defaultFundingRate1H``; settled rows of ``historicalFunding`` go through the same conversion
INTERVAL_SOURCE: Final = ("1 h: the indexer's nextFundingRate is a 1-hour rate (8-hour premium samples / 8, "
                          "+ defaultFundingRate1H; v4-chain indexer protocol-translations.ts)")
#: |8-hour funding rate| <= this x (initial margin - maintenance margin) at settlement (protocol default 600 %,
#: x/perpetuals ``DefaultFundingRateClampFactorPpm``; governance may change it)
FUNDING_CLAMP_FACTOR: Final = 6.0
#: a premium sample is clamped at this x (IMF - MMF) per 8 hours (default 6,000 %,
#: ``DefaultPremiumVoteClampFactorPpm``); ``nextFundingRate``, an average of samples before the settlement clamp, is
#: bounded by it
PREMIUM_VOTE_CLAMP_FACTOR: Final = 60.0
#: status of a request the indexer refused for a bad parameter (an unknown ticker), never retried
STATUS_BAD_REQUEST: Final = 400
#: status of a refused request (rate limit)
STATUS_RATE_LIMITED: Final = 429
