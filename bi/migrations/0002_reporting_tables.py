"""Looker's reporting tables (bi/reporting.py): schema `reporting` on PostgreSQL, prefixed tables
elsewhere. Created from bi/schema.py's column lists; dropped on reversal."""

from django.db import migrations


def create(apps, schema_editor):
    from bi import reporting

    reporting.ensure_tables(schema_editor.connection)


def drop(apps, schema_editor):
    from bi import reporting

    reporting.drop_tables(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("bi", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
