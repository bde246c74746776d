from wedsync_integrations.integrations.registry import Family

FAMILY = Family("monitoring", "Monitoring", app_label="monitoring")
