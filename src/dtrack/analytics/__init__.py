"""Pure, vectorized analytics over records (no I/O, no venue code)."""
