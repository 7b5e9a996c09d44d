"""Southbound drivers: Modbus transports, read planning, codecs and device profiles.

Drivers turn a device profile and a bus into values; they know nothing of rules or outputs.
"""
