"""dYdX v4: USDC-margined perpetuals read from the public indexer (``/v4``), hourly funding. v3 is shut down."""
