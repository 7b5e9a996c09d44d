"""Shared fixtures: real servers live in tests/servers.py, the shared demo run in
tests/demo_kit.py."""

pytest_plugins = ["tests.servers", "tests.demo_kit"]
