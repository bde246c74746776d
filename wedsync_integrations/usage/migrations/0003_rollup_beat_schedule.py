"""Install the beat schedule for the hourly-rollup task: every minute (cheap when nothing is
dirty). Created only if absent, so staff edits in admin survive re-running migrations."""

from django.db import migrations

TASK_NAME = "usage: update hourly rollups"


def install(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute = IntervalSchedule.objects.filter(every=1, period="minutes").order_by("id").first()
    if every_minute is None:
        every_minute = IntervalSchedule.objects.create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": "usage.update_rollups",
            "interval": every_minute,
            "enabled": True,
            "description": "Recompute AI-usage rollups for hours with new records (exporters read rollups).",
        },
    )


def uninstall(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0002_usage_error_message"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
