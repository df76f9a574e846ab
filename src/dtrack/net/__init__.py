"""Network plumbing shared by every venue: HTTP with limits/retries/bans, and the disk cache."""
