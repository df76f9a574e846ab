"""Per-venue routes of the simulated venues, one module each, in the real wire formats."""
