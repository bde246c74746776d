from datetime import timedelta

from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "wedsync_integrations.usage"
    label = "usage"
    verbose_name = "AI usage"

    def ready(self):
        from wedsync_integrations.integrations.registry import Schedule
        from wedsync_integrations.integrations.schedules import declare

        declare(
            "usage",
            # the safety net behind "price when a rate is added" (admin, import, feed)
            Schedule("usage: price records waiting for an exchange rate", "usage.price_pending", timedelta(minutes=5)),
            Schedule(
                "usage: alert on records waiting too long for a rate", "usage.check_pending_rates", timedelta(minutes=5)
            ),  # fmt: skip
            # a no-op until EXCHANGE_RATE_FEED_URL is set
            Schedule("usage: fetch exchange rates", "usage.fetch_exchange_rates", timedelta(hours=1)),
        )
