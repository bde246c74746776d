from wedsync_integrations.integrations.registry import Family

FAMILY = Family("alerts", "Alerts", app_label="alerts", model_prefix="Alert")
