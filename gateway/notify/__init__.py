"""Paging the on-call staff: SMS channels, rota, escalation, acknowledgement by reply."""
