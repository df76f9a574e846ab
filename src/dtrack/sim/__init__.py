"""Simulated venues: a seeded market model served in each venue's real wire format."""
