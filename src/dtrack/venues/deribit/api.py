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

#: every listed future (perpetuals included) in one call; get_instruments is limited to ~1 req/s,
#: so it is asked once and disk-cached
INSTRUMENTS_PARAMS: Final = {"currency": "any", "kind": "future"}
#: book summaries are asked per settlement currency (BTC, ETH for the inverse perps; USDC for the linear ones)
BOOK_SUMMARY_KIND: Final = "future"

#: Deribit limits with credits (a leaky bucket). The commonly cited default for non-matching-engine
#: requests refills ~20 requests/s; unconfirmed for unauthenticated IPs, so 20 per second is an
#: approximation (the shared limiter keeps 10 % headroom).
LIMITS: Final = {"rest": RateLimit(20, 1.0)}

#: get_funding_rate_history answers hourly rows; dtrack asks at most 30 days (720 rows) per request.
#: The cap on rows per answer is undocumented (it may be lower): the adapter follows a short answer up.
HISTORY_CHUNK: Final = timedelta(days=30)

#: error codes
TOO_MANY_REQUESTS: Final = 10028
INVALID_PARAMS: Final = -32602

#: marks of the instrument list
PERPETUAL: Final = "perpetual"
INVERSE_TYPE: Final = "reversed"
LINEAR_TYPE: Final = "linear"
