"""Shared fixtures: real servers live in tests/servers.py."""

pytest_plugins = ["tests.servers"]
