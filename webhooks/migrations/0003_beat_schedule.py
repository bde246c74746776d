"""Install the webhooks beat entries (editable afterwards in admin, under Periodic tasks):
the sweeper that publishes events of "sweeper" sources and re-queues events a dead worker or a
lost publish left behind, every 10 s,
and a daily purge of old processed events and rejected attempts."""

from django.db import migrations

SCHEDULE = [
    # (name, task, every, period)
    ("webhooks: publish and re-queue inbound events", "webhooks.sweep", 10, "seconds"),
    ("webhooks: purge old inbound events", "webhooks.purge", 1, "days"),
]


def install(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, every, period in SCHEDULE:
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": interval, "enabled": True})


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, *_ in SCHEDULE]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0002_inbox"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, remove)]
