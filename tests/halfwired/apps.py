"""A deliberately half-wired family, for tests/kernel/test_family_checks.py: `manage.py check`
must name each missing piece. Installed only by tests/halfwired/settings.py."""

from datetime import timedelta

from django.apps import AppConfig


class HalfWiredConfig(AppConfig):
    name = "tests.halfwired"
    label = "halfwired"

    def ready(self):
        from wedsync_integrations.integrations.registry import Family, Provider, Schedule, register_family

        family = Family(
            "halfwired",
            "Half-wired",
            config="halfwired.HalfConfig",
            sync_log="halfwired.HalfSyncLog",
            audit="halfwired.HalfAuditEntry",
            retry="halfwired.HalfRetryItem",  # a plain model, not a RetryItemBase
            schedules=(
                Schedule("halfwired: sync", "integrations.sync_family", timedelta(minutes=1), args=("halfwired",)),
                Schedule("halfwired: nightly", "halfwired.not_a_task", timedelta(days=1)),
            ),
        )

        @family.register
        class Mute(Provider):  # no label, no deliver(), no check_health()
            name = "mute"

        register_family(family)  # and no admin, no sync handler
