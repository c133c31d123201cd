"""The gateway: HTTP for publishers and dispatchers, live task streams, per-enterprise tokens."""
