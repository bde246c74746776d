"""Install the monitoring family's Celery beat schedules (editable afterwards in admin).

Every minute, all year: the sync only exports when an hour has finished, so a one-minute beat
costs little and gets each hour out within about a minute of its grace period. Peak-season and
wedding-day runs are therefore exactly as frequent as off-season ones (never less).
"""

import json

from django.db import migrations

SCHEDULES = [
    ("monitoring: export finished hours", "integrations.sync_family"),
    ("monitoring: drain retry queue", "integrations.drain_family"),
]


def install(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    for name, task in SCHEDULES:
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={
                "task": task,
                "interval": every_minute,
                "args": json.dumps(["monitoring"]),
                "enabled": True,
                "description": "Installed by monitoring/migrations/0003_beat_schedules.py",
            },
        )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, _ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0002_export_cursor"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, remove)]
