"""SMS over a GSM/4G modem: PDU encoding, the AT command channel and the modem itself.

Hardware side only: nothing here knows about alarms, rotas or the gateway.
"""
