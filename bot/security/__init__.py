"""Protection of the public HTTP surface: client addresses, rate limits, headers."""
