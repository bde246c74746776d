"""Default beat schedules of the alerts family (editable in admin under Periodic tasks).

- alerts.escalate_due every 10 s: wedding-day escalation must go out within 15 s of its time.
- integrations.drain_family("alerts") every 15 s: the safety net that retries failed deliveries
  and picks up anything a worker could not be told about (broker hiccup).
- alerts.check_error_rates every 5 minutes: error-rate alerts from the hourly usage rollups.
"""

import json

from django.db import migrations

SCHEDULES = [
    ("alerts: escalate unacknowledged alerts", "alerts.escalate_due", 10, []),
    ("alerts: drain and retry channel deliveries", "integrations.drain_family", 15, ["alerts"]),
    ("alerts: check AI error rates", "alerts.check_error_rates", 300, []),
]


def install(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, seconds, args in SCHEDULES:
        every, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": task, "interval": every, "args": json.dumps(args), "enabled": True}
        )


def uninstall(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0003_on_call_group"),
        ("django_celery_beat", "0018_improve_crontab_helptext"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
