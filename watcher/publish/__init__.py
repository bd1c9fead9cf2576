"""Publishing: turning events into feeds (and, later, alerts)."""
