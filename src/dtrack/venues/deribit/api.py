"""What dtrack asks Deribit: host, JSON-RPC method paths, parameters, limits and error codes (data only).

Deribit API v2 answers every public method at ``/api/v2/public/<method>`` with query parameters and
the envelope ``{"jsonrpc": "2.0", "result": ..., "usIn", "usOut", "usDiff", "testnet"}``; errors come
as ``{"jsonrpc": "2.0", "error": {"code", "message", "data"?}}`` (HTTP 400 for bad parameters).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from dtrack.net.http import RateLimit

VENUE: Final = "deribit"

#: host key -> default base URL (the sim mounts this host as ``/deribit/rest``)
HOSTS: Final = {"rest": "https://www.deribit.com"}
MAIN_HOST: Final = "rest"

INSTRUMENTS: Final = "/api/v2/public/get_instruments"
BOOK_SUMMARY: Final = "/api/v2/public/get_book_summary_by_currency"
TICKER: Final = "/api/v2/public/ticker"
FUNDING_HISTORY: Final = "/api/v2/public/get_funding_rate_history"
INDEX_PRICE: Final = "/api/v2/public/get_index_price"
CHART_DATA: Final = "/api/v2/public/get_tradingview_chart_data"
LAST_TRADES: Final = "/api/v2/public/get_last_trades_by_currency"
VOL_INDEX: Final = "/api/v2/public/get_volatility_index_data"
HISTORICAL_VOL: Final = "/api/v2/public/get_historical_volatility"
ORDER_BOOK: Final = "/api/v2/public/get_order_book"

#: every listed future (perpetuals included) in one call; get_instruments is limited to ~1 req/s,
#: so it is asked once and disk-cached
INSTRUMENTS_PARAMS: Final = {"currency": "any", "kind": "future"}
#: book summaries are asked per settlement currency (BTC, ETH for the inverse perps; USDC for the linear ones)
BOOK_SUMMARY_KIND: Final = "future"

#: Deribit limits with credits (a leaky bucket). The commonly cited default for non-matching-engine
#: requests: 500 credits a request, 50,000 at most, refilled 10,000/s — a burst of 100 requests, then ~20/s
#: (exchange-api.md §4; unconfirmed for unauthenticated IPs). As a window: 100 per 5 s, the same sustained
#: rate with the burst allowed (the shared limiter keeps 10 % headroom), so that a dashboard's round of ~25
#: Deribit requests goes out at once instead of over two seconds.
LIMITS: Final = {"rest": RateLimit(100, 5.0)}
#: every public non-matching-engine method draws the same credits (500) per request: weight 1 of that
#: budget each, the new open-interest / price methods included
WEIGHTS: Final = {INSTRUMENTS: 1, BOOK_SUMMARY: 1, TICKER: 1, FUNDING_HISTORY: 1, INDEX_PRICE: 1, CHART_DATA: 1,
                   LAST_TRADES: 1, VOL_INDEX: 1, HISTORICAL_VOL: 1, ORDER_BOOK: 1}

#: get_funding_rate_history answers hourly rows; dtrack asks at most 30 days (720 rows) per request.
#: The cap on rows per answer is undocumented (it may be lower): the adapter follows a short answer up.
HISTORY_CHUNK: Final = timedelta(days=30)

#: get_tradingview_chart_data resolutions (``1 3 5 10 15 30 60 120 180 360 720 1D``: no 4 h one) per
#: period in hours: (resolution, hours per candle). 4 h closes are the closes of the hourly candles that
#: end on a 4 h boundary.
CHART_RESOLUTIONS: Final = {1: ("60", 1), 4: ("60", 1), 24: ("1D", 24)}
#: the same resolutions by candle length in seconds (``fetch_candles``: OHLCV bars as Deribit cuts them; no 4 h)
CHART_RESOLUTIONS_S: Final = {60: "1", 180: "3", 300: "5", 600: "10", 900: "15", 1800: "30", 3600: "60",
                              7200: "120", 10800: "180", 21600: "360", 43200: "720", 86400: "1D"}
#: candles dtrack asks per chart request. Deribit documents no cap (third-party clients page at 4,000
#: to 10,000); 1,000 keeps well under it, and every page of a window is asked concurrently.
CHART_CHUNK: Final = 1000
#: chart answer ``status`` values: candles, or none in the range
CHART_OK: Final = "ok"
CHART_NO_DATA: Final = "no_data"

#: ``get_order_book`` ``depth`` values (levels a side; the docs' enum, default 20): dtrack asks the smallest one
#: that holds the depth wanted, at most 10,000
BOOK_DEPTHS: Final = (1, 5, 10, 20, 50, 100, 1000, 10000)

#: error codes
TOO_MANY_REQUESTS: Final = 10028
INVALID_PARAMS: Final = -32602

#: marks of the instrument list
PERPETUAL: Final = "perpetual"
INVERSE_TYPE: Final = "reversed"
LINEAR_TYPE: Final = "linear"
#: ``state`` of a trading instrument (others: created, closed, settled ...: not trading, skipped)
OPEN_STATE: Final = "open"

# --- options ---------------------------------------------------------------------------------------

OPTION_KIND: Final = "option"
#: assets whose options Deribit lists as inverse options under their own currency (``BTC-28MAR25-90000-C``,
#: priced in the coin). Other assets' options are linear, grouped under ``currency=USDC``
#: (``SOL_USDC-28MAR25-200-C``, priced in USDC).
COIN_OPTION_CURRENCIES: Final = ("BTC", "ETH")
LINEAR_OPTION_CURRENCY: Final = "USDC"
#: the currencies Deribit publishes DVOL (get_volatility_index_data) and realized volatility
#: (get_historical_volatility) for
VOL_CURRENCIES: Final = ("BTC", "ETH")
#: get_last_trades_by_currency answers at most 1,000 trades (``count`` max); dtrack asks one page, the newest
#: (``sorting=desc``): the flow view reads the latest large trades, not the whole tape
TRADES_COUNT: Final = 1000
TRADES_SORTING: Final = "desc"
#: DVOL daily candles; Deribit documents no cap per answer, clients assume 1,000 points: dtrack asks at most
#: that many per request (a year of daily closes is one request) and follows ``continuation`` if one comes back
VOL_RESOLUTION: Final = "1D"
VOL_CHUNK: Final = 1000
#: follow-up requests per DVOL window at most (``continuation`` pages)
VOL_MAX_FOLLOW: Final = 8
#: Deribit expires options at 08:00 UTC (the hour read from a name such as ``BTC-24APR26-72000-C``)
EXPIRY_HOUR: Final = 8

