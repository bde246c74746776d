"""Rollups keep the fastest request of their group, so latency can go out as a summary (count,
sum, min, max). Existing rollups get theirs from the raw rows: one index-only lookup per rollup
along usage_rollup_source (hour, organisation, feature, provider, model, latency)."""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def backfill(apps, schema_editor):
    UsageRollup = apps.get_model("usage", "UsageRollup")
    AIUsageRecord = apps.get_model("usage", "AIUsageRecord")
    fastest = (
        AIUsageRecord.objects.filter(
            hour=OuterRef("hour"),
            organisation_id=OuterRef("organisation_id"),
            feature=OuterRef("feature"),
            provider=OuterRef("provider"),
            model=OuterRef("model"),
        )
        .order_by("latency_ms")
        .values("latency_ms")[:1]
    )
    UsageRollup.objects.filter(latency_min_ms__isnull=True).update(latency_min_ms=Subquery(fastest))


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0004_rollup_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="usagerollup",
            name="latency_min_ms",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="fastest request (with count, sum and max: a summary); null if unknown",
                null=True,
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
