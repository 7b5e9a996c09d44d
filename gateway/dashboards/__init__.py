"""Grafana dashboards for the fire control room, written as code with grafana-foundation-sdk.

One module per dashboard; ``common`` holds what they share; ``export`` writes the JSON that
Grafana's file provisioning reads; ``push`` sends it to a running Grafana over its HTTP API.
"""
