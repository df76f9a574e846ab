"""What dtrack asks the GMX API (v2, ``https://<chain>.gmxapi.io/v1``): hosts, paths and units (data only).

Sources: the GMX SDK in ``gmx-io/gmx-interface`` (``sdk/src/configs/api.ts``: the production hosts;
``sdk/src/utils/markets/api.ts``: ``/v1/markets/info`` and ``/v1/markets/tickers``; ``sdk/src/utils/fees``:
``getFundingFactorPerPeriod``, ``getBorrowingFactorPerPeriod``; ``sdk/src/utils/markets/utils.ts``:
``getMarketTicker``) and the API's generated OpenAPI (``MarketInfoResponse``, ``MarketTickerResponse``; the GMX docs'
"API v2 reference", mirrored by api-evangelist/gmx).

- ``GET /v1/markets/info``: every market of the chain, its configuration and state in one answer. dtrack reads
  ``marketTokenAddress``, ``name`` ("ETH/USD [WETH-USDC]"), ``isSpotOnly``, ``isDisabled``, ``fundingFactorPerSecond``
  (what the paying side pays per second per USD of position), ``longsPayShorts`` (who pays: the larger side),
  ``borrowingFactorPerSecondForLongs`` / ``...ForShorts`` (borrow fee per second per USD, each side),
  ``longInterestUsd`` / ``shortInterestUsd`` (open interest per side, USD) and ``maxFundingFactorPerSecond`` (the
  cap of the funding factor). Every one of those numbers is an integer string in 30-decimal fixed point (value x
  10^30): parsed exactly (``parse.fixed``).
- ``GET /v1/markets/tickers``: per market ``symbol`` (its name), ``marketTokenAddress`` and the index token's
  oracle prices ``minPrice`` / ``maxPrice`` / ``markPrice`` (their mid), USD per ONE whole index token x 10^30 (the
  SDK's token prices, which ``convertToUsd(amount, decimals, price)`` divides by 10^decimals).
- Funding is a continuous accrual: no settlement, no interval. The larger side pays ``fundingFactorPerSecond``;
  the smaller side receives the same USD amount, i.e. ``fundingFactorPerSecond x paying OI / receiving OI`` per
  USD of its own position (``getFundingFactorPerPeriod``). Borrow fees are charged apart from funding.
- Rate limits: not published (UNCONFIRMED); an HTTP 429 is read as everywhere (``Retry-After`` when sent).
"""

from __future__ import annotations

from typing import Final

#: host key (the chain) -> default base URL
ARBITRUM: Final = "arbitrum"
AVALANCHE: Final = "avalanche"
HOSTS: Final = {ARBITRUM: "https://arbitrum.gmxapi.io", AVALANCHE: "https://avalanche.gmxapi.io"}

MARKETS_INFO: Final = "/v1/markets/info"
MARKETS_TICKERS: Final = "/v1/markets/tickers"

#: the API's fixed point: a number is sent as value x 10^30
PRECISION_DECIMALS: Final = 30
#: seconds per 8 hours and per (365-day) year: the 8 h-equivalent and the APR of a per-second factor
SECONDS_8H: Final = 28_800
SECONDS_YEAR: Final = 31_536_000

#: positions are sized and settled in USD (collateral: the pool's tokens)
QUOTE: Final = "USD"
#: how dtrack presents a continuous accrual: as an 8 h-equivalent
INTERVAL_HOURS: Final = 8.0
INTERVAL_SOURCE: Final = ("continuous (GMX accrues every second, no settlement): 8 h-equivalent = "
                          "fundingFactorPerSecond x 28,800; APR = x 31,536,000")
