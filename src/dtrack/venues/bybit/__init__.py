"""Bybit v5 public market data: linear (USDT, USDC) and inverse perpetuals."""
