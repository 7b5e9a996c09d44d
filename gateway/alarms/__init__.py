"""The alarm ledger (raise, acknowledge, clear, close) and its recovery after a crash."""
