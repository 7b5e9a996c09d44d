"""Helpers shared by the tests: real servers, kits that assemble simulators and gateways."""
