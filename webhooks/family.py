from wedsync_integrations.integrations.registry import Family

FAMILY = Family("webhooks", "Webhooks", app_label="webhooks", model_prefix="Webhook")
