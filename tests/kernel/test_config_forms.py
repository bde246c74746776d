"""Issue 13, item 4, on the real admin site: every family's configuration page renders the chosen
provider's settings as typed fields built from its settings serializer (numbers with their bounds,
drop-downs of its choices, tick boxes, one line per list item), only that provider's secret boxes,
validates through the same serializer (errors on the field, nothing half-written), and on the add
page choosing a vendor shows its fields without saving anything."""

from __future__ import annotations

import re

import pytest
import responses
from django.urls import reverse

from tests.alerts.conftest import PD_ROUTING_KEY
from tests.monitoring.conftest import DD_KEY
from wedsync_integrations.integrations.registry import families, get_family

pytestmark = pytest.mark.django_db

EVERY_PROVIDER = [(family.name, name) for family in families() for name in sorted(family.providers)]


@pytest.fixture(autouse=True)
def no_vendor():
    """The change page runs a live health check: every vendor call is answered (or refused) here."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def url(family: str, view: str, *args) -> str:
    opts = get_family(family).config_model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def names(page: str, prefix: str) -> set[str]:
    """The names of the form fields on the page that start with `prefix`."""
    return {name for name in re.findall(rf'name="{prefix}(\w+)"', page) if not name.endswith("__clear")}


def tag(page: str, name: str) -> str:
    found = re.search(rf'<(input|select|textarea)[^>]*name="{name}"[^>]*>', page)
    assert found, f"no field {name}"
    return found.group(0)


@pytest.mark.parametrize(("family", "provider"), EVERY_PROVIDER, ids=[f"{f}-{p}" for f, p in EVERY_PROVIDER])
def test_every_providers_pages_show_its_own_settings_and_secrets_only(
    admin_client, make_config, organisation, family, provider
):
    provider_cls = get_family(family).provider(provider)
    config = make_config(family, organisation, provider)  # nothing set yet: the page must still render
    for page_url in (url(family, "add") + f"?provider={provider}", url(family, "change", config.pk)):
        response = admin_client.get(page_url)
        page = response.content.decode()
        assert response.status_code == 200, page_url
        assert names(page, "setting__") == set(provider_cls.settings_serializer().fields)
        assert names(page, "secret__") == set(provider_cls.secrets_serializer().fields)
        assert 'name="settings"' not in page  # no raw JSON box any more


def test_a_datadog_page_has_only_datadogs_secret_box(admin_client, make_config, organisation):
    config = make_config("monitoring", organisation, "datadog", secrets={"api_key": DD_KEY})
    page = admin_client.get(url("monitoring", "change", config.pk)).content.decode()
    assert names(page, "secret__") == {"api_key"}  # not New Relic's licence key nor Prometheus's token
    assert DD_KEY not in page


def test_fields_take_their_kind_bounds_choices_and_defaults_from_the_serializer(admin_client):
    page = admin_client.get(url("alerts", "add") + "?provider=sms").content.decode()
    segments = tag(page, "setting__max_segments")
    assert 'type="number"' in segments and 'min="1"' in segments and 'max="10"' in segments
    assert "<textarea" in tag(page, "setting__to_numbers") and "One per line." in page

    page = admin_client.get(url("bi", "add") + "?provider=looker").content.decode()
    assert '<option value="" selected>— not set: organisation —</option>' in page  # the scope's default
    assert 'placeholder="wedsync"' in tag(page, "setting__model_name")
    assert 'type="url"' in tag(page, "setting__base_url")

    page = admin_client.get(url("alerts", "add") + "?provider=webhook").content.decode()
    assert 'type="checkbox" name="setting__severities" value="critical"' in page

    page = admin_client.get(url("accounting", "add") + "?provider=xero").content.decode()
    assert "<select" in tag(page, "setting__vat_registered")
    assert '<option value="true">Yes</option>' in page and '<option value="false">No</option>' in page
    assert 'type="text" name="setting__tax_type"' in page  # no credentials yet to list Xero's tax rates with
    assert "Xero&#x27;s own list is offered once this is saved." in page


def test_a_typed_form_stores_typed_values_and_leaves_blank_boxes_to_their_defaults(
    admin_client, make_config, organisation
):
    config = make_config(
        "alerts", organisation, "sms", settings={"from_number": "+447700900001", "to_numbers": ["+447700900123"]},
        secrets={"account_sid": "AC" + "0" * 32, "auth_token": "twilio-token-0001"},
    )  # fmt: skip
    response = admin_client.post(url("alerts", "change", config.pk), {
        "organisation": organisation.pk, "enabled": "on", "settings_for": "sms",
        "setting__from_number": "+447700900001", "setting__to_numbers": "+447700900123\r\n\r\n +447700900456 ",
        "setting__max_segments": "3", "setting__management_numbers": "", "setting__base_url": "",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    config.refresh_from_db()
    assert config.settings == {
        "from_number": "+447700900001", "to_numbers": ["+447700900123", "+447700900456"], "max_segments": 3,
    }  # fmt: skip
    entry = get_family("alerts").audit_model.objects.get(action="change_config")
    assert entry.changes["settings"][1]["max_segments"] == 3


def test_a_bad_list_item_is_named_on_its_field_and_nothing_is_saved(admin_client, make_config, organisation):
    config = make_config("alerts", organisation, "email", settings={"recipients": ["oncall@acme.example"]})
    response = admin_client.post(url("alerts", "change", config.pk), {
        "organisation": organisation.pk, "enabled": "on", "settings_for": "email",
        "setting__recipients": "oncall@acme.example\nnot-an-address",
    })  # fmt: skip
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["setting__recipients"] == [
        "item 2: Enter a valid email address."
    ]
    config.refresh_from_db()
    assert config.settings == {"recipients": ["oncall@acme.example"]}


def test_a_required_setting_left_blank_is_refused_on_its_field(admin_client, make_config, organisation):
    config = make_config("alerts", organisation, "webhook", settings={"url": "https://receiver.example.com/x"},
                         secrets={"signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})  # fmt: skip
    response = admin_client.post(url("alerts", "change", config.pk), {
        "organisation": organisation.pk, "enabled": "on", "settings_for": "webhook", "setting__url": "",
    })  # fmt: skip
    assert response.context["adminform"].form.errors["setting__url"] == ["This field is required."]
    config.refresh_from_db()
    assert config.settings == {"url": "https://receiver.example.com/x"}


def test_choosing_a_vendor_on_the_add_page_shows_its_fields_and_saves_nothing(admin_client, organisation):
    page = admin_client.get(url("alerts", "add")).content.decode()
    assert 'name="_choose_provider"' in page and not names(page, "setting__") and not names(page, "secret__")

    # what the "Show its settings" button (or the script pressing it) posts
    response = admin_client.post(url("alerts", "add"), {
        "organisation": organisation.pk, "provider": "pagerduty", "enabled": "on", "settings_for": "",
        "_choose_provider": "1",
    })  # fmt: skip

    page = response.content.decode()
    assert response.status_code == 200
    assert "Now showing the settings and secrets of PagerDuty (Events API v2): fill them in, then save." in page
    assert "Please correct" not in page  # nothing is wrong
    assert names(page, "secret__") == {"routing_key"} and names(page, "setting__") == {"base_url"}
    assert 'name="settings_for" value="pagerduty"' in page
    assert "This field is required" not in page  # nothing was meant to be saved yet
    assert not get_family("alerts").config_model.objects.exists()

    # then the page's own save
    response = admin_client.post(url("alerts", "add"), {
        "organisation": organisation.pk, "provider": "pagerduty", "enabled": "on", "settings_for": "pagerduty",
        "secret__routing_key": PD_ROUTING_KEY, "setting__base_url": "",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    created = get_family("alerts").config_model.objects.get()
    assert (created.provider, created.settings) == ("pagerduty", {})
    assert dict(created.secrets) == {"routing_key": PD_ROUTING_KEY}


def test_another_vendors_fields_posted_to_the_add_page_are_not_saved(admin_client, organisation):
    """The page showed Slack's secret; the post names PagerDuty: that is a change of vendor."""
    response = admin_client.post(url("alerts", "add"), {
        "organisation": organisation.pk, "provider": "pagerduty", "enabled": "on", "settings_for": "slack",
        "secret__webhook_url": "https://hooks.slack.com/services/T0/B0/x", "secret__routing_key": PD_ROUTING_KEY,
    })  # fmt: skip
    assert response.status_code == 200
    assert not get_family("alerts").config_model.objects.exists()
    assert PD_ROUTING_KEY not in response.content.decode()  # a typed secret is never echoed


def test_a_saved_configuration_keeps_its_vendor(admin_client, make_config, organisation):
    config = make_config("alerts", organisation, "pagerduty", secrets={"routing_key": PD_ROUTING_KEY})
    response = admin_client.post(url("alerts", "change", config.pk), {
        "organisation": organisation.pk, "provider": "slack", "enabled": "on", "settings_for": "pagerduty",
        "setting__base_url": "",
    })  # fmt: skip
    assert response.status_code == 302
    config.refresh_from_db()
    assert config.provider == "pagerduty" and dict(config.secrets) == {"routing_key": PD_ROUTING_KEY}


def test_times_on_the_page_are_london_with_their_age(admin_client, make_config, organisation):
    from datetime import UTC, datetime

    from freezegun import freeze_time

    config = make_config("alerts", organisation, "pagerduty", secrets={"routing_key": PD_ROUTING_KEY},
                         last_success_at=datetime(2026, 7, 4, 13, 2, tzinfo=UTC))  # fmt: skip
    with freeze_time("2026-07-04T13:05:00Z"):
        page = admin_client.get(url("alerts", "change", config.pk)).content.decode()
    assert "04 Jul 2026 14:02 BST (3\xa0minutes ago)" in page  # summer: London is UTC+1


def test_the_resume_button_resumes_for_staff_who_may_change_and_is_refused_to_viewers(
    admin_client, client, django_user_model, make_config, organisation
):
    from django.contrib.auth.models import Permission

    config = make_config("alerts", organisation, "pagerduty", secrets={"routing_key": PD_ROUTING_KEY})
    config.stop("HTTP 403 invalid routing key")
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_alertconfig"))
    client.force_login(viewer)

    assert 'id="resume-button"' not in client.get(url("alerts", "change", config.pk)).content.decode()
    assert client.post(url("alerts", "resume", config.pk)).status_code == 403
    config.refresh_from_db()
    assert config.status == "stopped"

    assert admin_client.get(url("alerts", "resume", config.pk)).status_code == 405  # a GET changes nothing
    assert 'id="resume-button"' in admin_client.get(url("alerts", "change", config.pk)).content.decode()
    response = admin_client.post(url("alerts", "resume", config.pk), follow=True)
    config.refresh_from_db()
    assert config.status == "active"
    assert "Resumed 1 configuration(s); held items are due now." in response.content.decode()
    assert get_family("alerts").audit_model.objects.filter(action="resume", target_id=str(config.pk)).exists()


def test_a_connections_times_are_london_with_their_age(admin_client, make_config, organisation):
    from datetime import UTC, datetime

    from freezegun import freeze_time

    from tests.kernel.credential_providers import fresh_credential

    with freeze_time("2026-12-07T10:00:00Z"):
        token = fresh_credential()  # valid until 10:30: the page's health check needs no renewal
    config = make_config(
        "accounting", organisation, "xero", settings={"tenant_id": "0b6e1e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"},
        secrets={"client_id": "xero-client-id", "client_secret": "xero-client-secret"},
        credential=token, credential_status="connected", connected_account="Cotswold Lens Ltd",
        connected_by="admin:casey",
        connected_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        credential_refreshed_at=datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
        credential_expires_at=datetime(2026, 12, 7, 10, 30, tzinfo=UTC),
    )  # fmt: skip
    with freeze_time("2026-12-07T10:03:00Z"):
        page = admin_client.get(url("accounting", "change", config.pk)).content.decode()
    assert "connected at 01 Dec 2026 09:30 GMT (6\xa0days ago) by admin:casey" in page  # winter: London is UTC
    assert "access token expires 07 Dec 2026 10:30 GMT (in 27\xa0minutes)" in page
    assert "last refreshed 07 Dec 2026 10:00 GMT (3\xa0minutes ago)" in page
