"""Copy the confirmations the webhooks app recorded before the accounting family existed into
accounting's own table (webhooks is transport only; webhooks 0008 then drops its table).

Ids, events and times are kept; none can be matched yet (no export existed), so the hourly match
task picks up the recent ones. Reversing copies them back."""

from django.db import migrations

FIELDS = ("id", "source", "organisation_id", "inbound_event_id", "vendor_account", "entity_type", "entity_id",
          "operation", "occurred_at", "created_at")
BATCH = 2000


def copy(apps, schema_editor, source, target):
    rows = source.objects.order_by("id").values(*FIELDS)
    batch = []
    for row in rows.iterator(chunk_size=BATCH):
        batch.append(target(**row))
        if len(batch) >= BATCH:
            target.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    target.objects.bulk_create(batch, ignore_conflicts=True)


def forwards(apps, schema_editor):
    copy(apps, schema_editor, apps.get_model("webhooks", "ExportConfirmation"),
         apps.get_model("accounting", "ExportConfirmation"))


def backwards(apps, schema_editor):
    copy(apps, schema_editor, apps.get_model("accounting", "ExportConfirmation"),
         apps.get_model("webhooks", "ExportConfirmation"))


class Migration(migrations.Migration):
    dependencies = [
        ("accounting", "0001_initial"),
        ("webhooks", "0007_vendor_credentials"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
