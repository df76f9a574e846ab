"""What dtrack asks Hyperliquid: its one REST host, the info path, request types and weights (data only).

Every public read is ``POST /info`` with a JSON body ``{"type": ...}``. Requests are metered per IP:
1200 weight per minute; each info type used here weighs 20, ``fundingHistory`` adds one unit per
20 rows it returns and ``candleSnapshot`` one per 60 candles. Hyperliquid has no error codes on
``/info``: a body it cannot read is answered with HTTP 422 and a plain-text message, an overload with
HTTP 429, and failures with HTTP 500.
"""

from __future__ import annotations

from typing import Final

from dtrack.net.http import RateLimit

#: host key -> default base URL (testnet: https://api.hyperliquid-testnet.xyz)
REST: Final = "rest"
HOSTS: Final = {REST: "https://api.hyperliquid.xyz"}
INFO_PATH: Final = "/info"

#: request budget of the host (per IP)
LIMITS: Final = {REST: RateLimit(1200, 60.0)}

# --- info request types ----------------------------------------------------------------------
META: Final = "meta"
META_AND_ASSET_CTXS: Final = "metaAndAssetCtxs"
PREDICTED_FUNDINGS: Final = "predictedFundings"
FUNDING_HISTORY: Final = "fundingHistory"
CANDLE_SNAPSHOT: Final = "candleSnapshot"
L2_BOOK: Final = "l2Book"

#: weight of every info type above but ``l2Book``
INFO_WEIGHT: Final = 20
#: weight of ``l2Book`` (the venue's rate-limit docs: "l2Book, allMids, clearinghouseState ... have weight 2")
L2_BOOK_WEIGHT: Final = 2
#: levels a side of an ``l2Book`` answer at most ("Returns at most 20 levels per side"), whatever depth is wanted
BOOK_LEVELS: Final = 20
#: fundingHistory costs one more unit per this many returned rows
HISTORY_ROWS_PER_EXTRA_WEIGHT: Final = 20
#: most rows one fundingHistory answer holds (oldest first); page by moving startTime on
HISTORY_PAGE: Final = 500
#: candleSnapshot costs one more unit per this many returned candles
CANDLES_PER_EXTRA_WEIGHT: Final = 60
#: most candles one candleSnapshot answer holds; the venue keeps only about the most recent 5000 of
#: each interval (UNCONFIRMED), so an older window answers less or nothing
CANDLE_PAGE: Final = 5000
#: candle interval per period in hours dtrack asks for (the venue also has 1m..12h, 3d, 1w, 1M)
CANDLE_INTERVALS: Final = {1: "1h", 4: "4h", 24: "1d"}
#: candle interval per bar length in seconds (``fetch_candles``: every fixed-length interval the venue lists;
#: "1M", a calendar month, has none)
CANDLE_INTERVALS_S: Final = {60: "1m", 180: "3m", 300: "5m", 900: "15m", 1800: "30m", 3600: "1h", 7200: "2h",
                             14400: "4h", 28800: "8h", 43200: "12h", 86400: "1d", 259200: "3d", 604800: "1w"}
#: margin tables: a ``marginTableId`` below this is a single tier at that leverage and is not listed in
#: ``meta.marginTables`` (venue docs, margin tiers: "For IDs less than 50, there is a single tier with max
#: leverage equal to the ID")
TIERED_TABLES_FROM: Final = 50

# --- conventions -----------------------------------------------------------------------------
#: Hyperliquid's own entry in predictedFundings (others: BinPerp, BybitPerp)
HL_PERP: Final = "HlPerp"
#: perps are margined and quoted in USDC
QUOTE: Final = "USDC"
#: builder-deployed (HIP-3) perp DEXs name their coins "dex:COIN"; dtrack reads the main DEX only
DEX_SEPARATOR: Final = ":"
#: funding settles every hour (venue docs); used when predictedFundings gives no interval
FUNDING_INTERVAL_HOURS: Final = 1.0
#: Hyperliquid's funding cap: 4 % per hour (its funding docs; exchange-api.md 6.3: the venue's whole public
#: funding history lies within -3 % .. 4 % per hour). ``/info`` answers carry no cap field.
FUNDING_CAP_PER_HOUR: Final = 0.04
#: HTTP status of a request body Hyperliquid cannot deserialize (text body, never retried)
STATUS_BAD_REQUEST: Final = 422
#: VenueError code dtrack uses when fundingHistory or candleSnapshot answers [] for a coin the venue does not list
CODE_UNKNOWN_COIN: Final = "unknown_coin"
