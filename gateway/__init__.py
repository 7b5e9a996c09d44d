"""The firegate runtime: configuration, scheduling, ledger, outbox, notifier, command line."""

__version__ = "0.1.0"
