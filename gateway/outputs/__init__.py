"""Northbound: the durable outbox and its sinks (MQTT, InfluxDB)."""
