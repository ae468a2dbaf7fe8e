"""Event types: stream events (consumer-facing) and observability events (lifecycle)."""
