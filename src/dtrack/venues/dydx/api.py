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
- WebSocket (``indexer/services/socks``): ``wss://indexer.dydx.trade/v4/ws``; the server pings every 30 s
  (``WS_HEARTBEAT_INTERVAL_MS``) and closes a connection whose pong is 10 s late (code 1011); a client
  ``{"type": "ping"}`` gets no answer (removed in 2024, v4-chain PR #1301). Subscribing is limited per connection,
  channel and id (2 a second) and to 32 ``v4_trades`` subscriptions a connection. See ``dydx.stream``.
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
#: the trades of one market (newest first; ``type`` LIMIT / LIQUIDATED / DELEVERAGED / TWAP_SUBORDER): what the
#: ``v4_trades`` channel's first message (``subscribed``) carries
TRADES: Final = "/v4/trades/perpetualMarket/{ticker}"

#: WebSocket host key -> default base URL (the socks service; testnet wss://indexer.v4testnet.dydx.exchange)
WS: Final = "ws"
WS_HOSTS: Final = {WS: "wss://indexer.dydx.trade"}
#: the WebSocket path after the base URL
WS_PATH: Final = "/v4/ws"
#: the public trades channel, one subscription per market (``id`` = the ticker)
TRADES_CHANNEL: Final = "v4_trades"
#: subscriptions of one channel a connection may hold (socks config ``V4_TRADES_CHANNEL_LIMIT``, default 32)
TRADES_PER_CONNECTION: Final = 32

#: the indexer's request budget per IP (comlink config.ts defaults: 100 requests per 10 s)
RATE_LIMIT_WINDOW_S: Final = 10.0
LIMITS: Final = {REST: RateLimit(100, RATE_LIMIT_WINDOW_S)}
#: the most rows one answer holds (comlink ``API_LIMIT_V4``); dtrack always sends ``limit``
PAGE_LIMIT: Final = 1000
#: candle resolution per period in hours dtrack asks for (the indexer also has 1MIN .. 30MINS)
CANDLE_RESOLUTIONS: Final = {1: "1HOUR", 4: "4HOURS", 24: "1DAY"}
#: every candle resolution of the indexer by bar length in seconds (``fetch_candles``)
CANDLE_RESOLUTIONS_S: Final = {60: "1MIN", 300: "5MINS", 900: "15MINS", 1800: "30MINS", 3600: "1HOUR",
                               14400: "4HOURS", 86400: "1DAY"}
#: levels a side an ``orderbooks`` answer holds at most: comlink ``API_ORDERBOOK_LEVELS_PER_SIDE_LIMIT`` (default
#: 100, ``limitPerSide`` of orderbook-controller.ts); the path takes no depth parameter
BOOK_LEVELS: Final = 100

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
