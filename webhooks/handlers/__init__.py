"""The webhooks app carries events; it registers no handler of its own. What an event means belongs
to the family that acts on it: alerts (alerts/webhook_handlers.py), "new client" for the CRM and
monitoring families (crm/handlers.py, monitoring/handlers.py), ledger confirmations for accounting
(accounting/confirmations.py)."""
