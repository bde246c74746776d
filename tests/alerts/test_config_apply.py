"""The alerts family is configured through the kernel's `integrations apply` like every family:
the five channels validate with their own serializers, errors name the field, secrets stay secret."""

import json
from io import StringIO

import pytest

from alerts.models import AlertConfig
from wedsync_integrations.integrations import config_io

pytestmark = pytest.mark.django_db

DOCUMENT = {
    "organisations": [
        {
            "slug": "acme",
            "name": "Acme Photography",
            "vendor_type": "photographer",
            "integrations": [
                {
                    "family": "alerts",
                    "provider": "slack",
                    "secrets": {"webhook_url": "https://hooks.slack.com/services/T1/B1/xyzsecretxyz"},
                },
                {
                    "family": "alerts",
                    "provider": "email",
                    "settings": {"recipients": ["oncall@acme.example"], "management_recipients": ["md@acme.example"]},
                },
                {
                    "family": "alerts",
                    "provider": "sms",
                    "settings": {
                        "from_number": "+447700900001",
                        "to_numbers": ["+447700900123"],
                        "management_numbers": ["+447700900999"],
                    },
                    "secrets": {"account_sid": "AC" + "a" * 32, "auth_token": "twilio-token-xyz"},
                },
                {
                    "family": "alerts",
                    "provider": "pagerduty",
                    "secrets": {"routing_key": "R0UT1NGKEY0000000000000000000000"},
                },
                {
                    "family": "alerts",
                    "provider": "webhook",
                    "settings": {"url": "https://hooks.slack.com/not-really-a-receiver", "severities": ["critical"]},
                    "secrets": {"signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
                },
            ],
        }
    ]
}


def test_all_five_channels_apply_and_export_redacted():
    config_io.apply(DOCUMENT)
    assert set(AlertConfig.objects.values_list("provider", flat=True)) == {
        "slack",
        "email",
        "sms",
        "pagerduty",
        "webhook",
    }
    exported = json.dumps(config_io.export(org_slug="acme"))
    for secret in ("xyzsecretxyz", "twilio-token-xyz", "R0UT1NGKEY0000000000000000000000", "whsec_MfKQ9r8G"):
        assert secret not in exported


def test_bad_channel_settings_are_all_reported_and_nothing_is_written():
    bad = json.loads(json.dumps(DOCUMENT))
    integrations = bad["organisations"][0]["integrations"]
    integrations[1]["settings"]["recipients"] = ["not-an-email"]
    integrations[2]["settings"]["to_numbers"] = ["07700 900123"]
    integrations[4]["settings"]["url"] = "http://10.0.0.8/hook"
    with pytest.raises(config_io.ConfigFileError) as info:
        config_io.apply(bad)
    errors = "\n".join(info.value.errors)
    assert "integrations[1].settings.recipients" in errors
    assert "integrations[2].settings.to_numbers" in errors and "E.164" in errors
    assert "integrations[4].settings.url" in errors and "https" in errors
    assert not AlertConfig.objects.exists()


def test_the_apply_command_accepts_the_alerts_document(tmp_path):
    from django.core.management import call_command

    path = tmp_path / "acme.json"
    path.write_text(json.dumps(DOCUMENT))
    call_command("integrations", "apply", str(path), stdout=StringIO())
    assert AlertConfig.objects.count() == 5
