"""The one guarded path for every message that comes from outside (MQTT ``cmd/*`` today;
GB/T 26875.3 frames and SMS replies later): size before parsing, bounded parsing, a schema,
clean text, freshness and replay, and a refusal that is logged, audited and dropped."""

from gateway.inbound.guard import (
    AckCommand,
    ActionCommand,
    Command,
    Guard,
    InboundLimits,
    MaintenanceCommand,
    Refusal,
    ShelveCommand,
    clean_text,
    parse_json,
    shown,
)

__all__ = ["AckCommand", "ActionCommand", "Command", "Guard", "InboundLimits",
           "MaintenanceCommand", "Refusal", "ShelveCommand", "clean_text", "parse_json",
           "shown"]
