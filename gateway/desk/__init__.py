"""The control room's alarm desk (``firegate desk``): every gateway's alarms and the fleet's
health in one browser page, and operators' acknowledgements and closes sent back to the gateway
that owns the alarm, whose ledger stays the source of truth.

It runs centrally, beside the broker: it imports nothing of the gateway runtime
(``gateway.runtime``) or the demo, only the configuration helpers and the shared vocabulary.
"""
