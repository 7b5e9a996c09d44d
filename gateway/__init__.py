"""The firegate runtime: configuration, scheduling, ledger, outbox, notifier, command line."""
