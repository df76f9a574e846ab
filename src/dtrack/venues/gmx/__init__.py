"""GMX v2: perpetual pools on Arbitrum and Avalanche read from the GMX API (``/v1/markets``): funding accrues every
second, with borrow fees per side beside it."""
