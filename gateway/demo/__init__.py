"""The embedded demo and the simulators for a configured building: the only code in gateway/
that imports `simulators/`."""
