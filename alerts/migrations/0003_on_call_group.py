"""The "On-call" group: its members (and superusers) may acknowledge and resolve alerts in admin."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "On-call"
PERMISSIONS = ["acknowledge_alert", "view_alert", "view_delivery", "view_alertauditentry", "view_mutewindow",
               "add_mutewindow", "change_mutewindow", "view_routingpolicy"]  # fmt: skip


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure ours exist now.
    app_config = apps.get_app_config("alerts")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.add(*Permission.objects.filter(content_type__app_label="alerts", codename__in=PERMISSIONS))


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0002_alerts_deliveries_routing"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
