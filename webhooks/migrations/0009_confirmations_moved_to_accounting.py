"""Accounting confirmations moved to the accounting app (webhooks is transport only): its
migration 0002 copied the rows; this drops the old table and the hourly beat entry that matched
them (the accounting family declares its own, accounting.match_confirmations)."""

from django.db import migrations

OLD_SCHEDULE = "webhooks: match accounting confirmations to exports"


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=OLD_SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0008_choices_from_the_registry"),
        ("accounting", "0002_confirmations_from_webhooks"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(remove_schedule, migrations.RunPython.noop),
        migrations.DeleteModel(name="ExportConfirmation"),
    ]
