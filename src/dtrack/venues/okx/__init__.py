"""OKX v5: USDT-, USDC- and USD-margined (coin-margined) perpetual swaps over the public REST API."""
