"""Local storage: the one SQLite store base every store under the data directory uses (the
ledger, the outbox, the page store, the action requests)."""
