"""Shared fixtures: real servers live in tests/support/servers.py, the shared demo run in
tests/support/demo_kit.py."""

pytest_plugins = ["tests.support.servers", "tests.support.demo_kit"]
