"""The admin building blocks, mounted on a test AdminSite for the monitoring family."""

from __future__ import annotations

import json
import re

import pytest
import responses
from django.core.exceptions import ValidationError
from django.urls import reverse

from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.breaker import CircuitBreaker
from wedsync_integrations.integrations.errors import RetryableError
from wedsync_integrations.integrations.models import ConfigStatus, RetryState

from .conftest import API_KEY, APP_KEY

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.kernel.admin_urls")]

NEW_KEY = "dd-api-key-replaced-99999999"
SITE = "kernel_test_admin"


@pytest.fixture(autouse=True)
def vendor():
    """The change page shows live health (cached): the keyed provider's check hits this."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get("https://api.datadoghq.com/api/v1/validate", json={"valid": True})
        yield mock


@pytest.fixture
def config(keyed_provider, make_config, organisation):
    return make_config(
        "monitoring",
        organisation,
        "keyed",
        settings={"site": "datadoghq.eu"},
        secrets={"api_key": API_KEY, "app_key": APP_KEY},
    )


def _url(model, view, *args):
    return reverse(f"{SITE}:monitoring_{model}_{view}", args=args)


def _form_data(config, settings=None, **overrides):
    """What the browser posts from the change page: each setting in its own typed box."""
    data = {
        "organisation": config.organisation_id,
        "enabled": "on",
        "settings_for": config.provider,
        "secret__api_key": "",
        "secret__app_key": "",
    }
    for name, value in (config.settings if settings is None else settings).items():
        data[f"setting__{name}"] = value
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_the_change_page_never_contains_a_secret(admin_client, config):
    response = admin_client.get(_url("monitoringconfig", "change", config.pk))
    html = response.content.decode()
    assert response.status_code == 200
    assert API_KEY not in html and APP_KEY not in html
    assert 'name="secret__api_key"' in html and 'type="password"' in html
    assert "Set — leave blank to keep it" in html
    assert 'name="secret__api_key__clear"' in html
    assert "OK — key valid" in html  # health, from the provider's check


def test_a_blank_secret_keeps_the_stored_value(admin_client, config, family):
    response = admin_client.post(
        _url("monitoringconfig", "change", config.pk), _form_data(config, settings={"site": "datadoghq.com"})
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    config.refresh_from_db()
    assert dict(config.secrets) == {"api_key": API_KEY, "app_key": APP_KEY}
    assert config.settings == {"site": "datadoghq.com"}
    entry = family.audit_model.objects.get(action="change_config")
    assert entry.changes == {"settings": [{"site": "datadoghq.eu"}, {"site": "datadoghq.com"}]}


def test_a_new_value_replaces_the_secret_and_the_audit_names_it_without_the_value(admin_client, config, family):
    response = admin_client.post(
        _url("monitoringconfig", "change", config.pk), _form_data(config, secret__api_key=NEW_KEY)
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    config.refresh_from_db()
    assert dict(config.secrets) == {"api_key": NEW_KEY, "app_key": APP_KEY}
    entry = family.audit_model.objects.get(action="change_config")
    assert entry.actor == "admin:admin" and entry.user.username == "admin"
    assert entry.changes == {"secrets": {"api_key": "(changed)"}}
    assert NEW_KEY not in json.dumps(entry.changes) + entry.summary and API_KEY not in entry.summary


def test_a_secret_can_be_cleared(admin_client, config):
    response = admin_client.post(
        _url("monitoringconfig", "change", config.pk), _form_data(config, secret__app_key__clear="on")
    )
    assert response.status_code == 302
    config.refresh_from_db()
    assert dict(config.secrets) == {"api_key": API_KEY}


def test_provider_validation_errors_show_on_the_form_and_nothing_is_saved(admin_client, config):
    response = admin_client.post(
        _url("monitoringconfig", "change", config.pk),
        _form_data(config, settings={"site": "datadoghq.example", "batch_size": "5000"}, secret__app_key="short"),
    )
    assert response.status_code == 200  # the form again, with errors
    form = response.context["adminform"].form
    assert "datadoghq.example is not one of the available choices" in form.errors["setting__site"][0]
    assert form.errors["setting__batch_size"] == ["Ensure this value is less than or equal to 1000."]
    assert any("app_key" in message for message in form.errors["secret__app_key"])
    assert "short" not in response.content.decode().split('name="secret__app_key"')[1][:200]
    config.refresh_from_db()
    assert config.settings == {"site": "datadoghq.eu"}


def test_a_refused_form_is_not_tried_on_the_vendor_by_the_pages_health_check(admin_client, config, vendor):
    response = admin_client.post(
        _url("monitoringconfig", "change", config.pk),
        _form_data(config, settings={"site": "datadoghq.eu", "batch_size": "0"}, secret__api_key=NEW_KEY),
    )
    assert response.status_code == 200 and "setting__batch_size" in response.context["adminform"].form.errors
    sent = [call.request.headers.get("DD-API-KEY") for call in vendor.calls]
    assert NEW_KEY not in sent  # the page re-checked (at most) with the stored key, never the refused one
    config.refresh_from_db()
    assert dict(config.secrets)["api_key"] == API_KEY


def test_adding_a_config_without_its_required_secret_is_refused(admin_client, keyed_provider, organisation, family):
    response = admin_client.post(
        _url("monitoringconfig", "add"),
        {"organisation": organisation.pk, "provider": "keyed", "settings_for": "keyed", "enabled": "on"},
    )
    assert response.status_code == 200
    assert "secret__api_key" in response.context["adminform"].form.errors
    assert not family.config_model.objects.exists()

    response = admin_client.post(
        _url("monitoringconfig", "add"),
        {"organisation": organisation.pk, "provider": "keyed", "settings_for": "keyed", "enabled": "on",
         "secret__api_key": API_KEY},
    )  # fmt: skip
    assert response.status_code == 302
    created = family.config_model.objects.get()
    assert dict(created.secrets) == {"api_key": API_KEY}
    entry = family.audit_model.objects.get(action="create_config")
    assert entry.changes == {"secrets": {"api_key": "(changed)"}} and API_KEY not in json.dumps(entry.changes)


def test_test_connection_action_reports_the_health_and_is_audited(admin_client, fake_provider, make_config,
                                                                    organisation, family):  # fmt: skip
    config = make_config("monitoring", organisation, "fake")
    response = admin_client.post(
        _url("monitoringconfig", "changelist"),
        {"action": "test_connection", "_selected_action": [config.pk]},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any("fake is fine" in m for m in messages)
    assert family.audit_model.objects.filter(action="test_connection", target_id=str(config.pk)).exists()


def _dead_item(config, family):
    item = outbox.enqueue(config, operation="send", payload={"items": [1, 2]})
    config.get_provider()  # the fake provider is registered
    type(item).objects.filter(pk=item.pk).update(state=RetryState.DEAD, attempts=10, last_error="gave up")
    return item


def test_replay_now_appears_in_the_action_list_and_replays(admin_client, fake_provider, make_config, organisation,
                                                            family):  # fmt: skip
    config = make_config("monitoring", organisation, "fake")
    item = _dead_item(config, family)
    changelist = admin_client.get(_url("monitoringretryitem", "changelist"))
    choices = dict(changelist.context["action_form"].fields["action"].choices)
    assert "replay_now" in choices

    response = admin_client.post(
        _url("monitoringretryitem", "changelist"),
        {"action": "replay_now", "_selected_action": [item.pk]},
        follow=True,
    )
    item.refresh_from_db()
    assert item.state == RetryState.SUCCEEDED
    assert fake_provider.delivered == [("send", {"items": [1, 2]})]
    assert any("Replayed 1 item" in str(m) for m in response.context["messages"])
    assert family.audit_model.objects.filter(action="replay", target_id=str(item.pk)).exists()


def test_the_retry_item_admin_is_read_only(admin_client, fake_provider, make_config, organisation, family):
    config = make_config("monitoring", organisation, "fake")
    item = _dead_item(config, family)
    page = admin_client.get(_url("monitoringretryitem", "change", item.pk))
    assert page.status_code == 200
    html = page.content.decode()
    assert "&quot;items&quot;" in html  # the payload, pretty-printed
    assert 'name="_save"' not in html

    # a worker finishes the item meanwhile; a stale form post must not put it back
    type(item).objects.filter(pk=item.pk).update(state=RetryState.SUCCEEDED)
    response = admin_client.post(_url("monitoringretryitem", "change", item.pk), {"state": "pending"})
    assert response.status_code == 403
    item.refresh_from_db()
    assert item.state == RetryState.SUCCEEDED
    assert admin_client.get(_url("monitoringretryitem", "add")).status_code == 403
    assert admin_client.post(_url("monitoringretryitem", "delete", item.pk)).status_code == 403


def test_sync_log_and_audit_admins_are_read_only(admin_client, fake_provider, make_config, organisation, family):
    config = make_config("monitoring", organisation, "fake")
    outbox.enqueue(config, operation="send", payload={})
    outbox.drain_pair(family, organisation.pk, "fake")
    log = family.sync_log_model.objects.get()
    assert admin_client.get(_url("monitoringsynclog", "changelist")).status_code == 200
    assert admin_client.post(_url("monitoringsynclog", "change", log.pk), {}).status_code == 403
    assert admin_client.get(_url("monitoringsynclog", "add")).status_code == 403


def test_the_config_list_shows_status_queue_depth_and_circuit(admin_client, fake_provider, make_config,
                                                              organisation, make_organisation, family):  # fmt: skip
    config = make_config("monitoring", organisation, "fake")
    make_config("monitoring", make_organisation(name="Zzz Florals"), "fake")  # listed second
    fake_provider.script = [RetryableError("HTTP 503", status=503)]
    outbox.enqueue(config, operation="send", payload={})
    outbox.enqueue(config, operation="send", payload={})
    outbox.drain_pair(family, organisation.pk, "fake")
    breaker = CircuitBreaker("monitoring", organisation.pk, "fake")
    for _ in range(breaker.failure_threshold):
        breaker.record_failure()
    html = admin_client.get(_url("monitoringconfig", "changelist")).content.decode()
    assert "Retrying 1 item (next attempt " in html  # the 503'd item will be sent again by itself
    assert '<td class="field-queue_depth">2</td>' in html
    circuits = re.findall(r'<td class="field-circuit_state">(\w+)</td>', html)
    assert circuits == ["open", "closed"]  # Acme's vendor keeps failing; the other tenant is unaffected


def test_resume_action_restarts_a_stopped_config_and_makes_its_items_due(admin_client, fake_provider, make_config,
                                                                         organisation, family):  # fmt: skip
    config = make_config("monitoring", organisation, "fake")
    config.stop("HTTP 403 invalid key")
    admin_client.post(
        _url("monitoringconfig", "changelist"), {"action": "resume_configs", "_selected_action": [config.pk]}
    )
    config.refresh_from_db()
    assert config.status == ConfigStatus.ACTIVE
    assert family.audit_model.objects.filter(action="resume").exists()


def test_model_validation_names_the_path_under_real_fields(keyed_provider, organisation, family):
    config = family.config_model(
        organisation=organisation, provider="keyed", settings={"colour": "blue"}, secrets={"app_key": "short"}
    )
    with pytest.raises(ValidationError) as caught:
        config.full_clean()
    errors = caught.value.message_dict
    assert errors["settings"] == ["settings.colour: unknown setting"]
    assert "secrets.api_key: This field is required." in errors["__all__"]
    assert "short" not in str(errors)


def test_replay_needs_the_change_permission(client, django_user_model, fake_provider, make_config, organisation,
                                            family):  # fmt: skip
    from django.contrib.auth.models import Permission

    item = _dead_item(make_config("monitoring", organisation, "fake"), family)
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_monitoringretryitem"))
    client.force_login(viewer)
    changelist = client.get(_url("monitoringretryitem", "changelist"))
    assert changelist.status_code == 200
    action_form = changelist.context["action_form"]  # None when no action is offered at all
    assert action_form is None or "replay_now" not in dict(action_form.fields["action"].choices)
    client.post(_url("monitoringretryitem", "changelist"), {"action": "replay_now", "_selected_action": [item.pk]})
    item.refresh_from_db()
    assert item.state == RetryState.DEAD


def test_resume_needs_the_change_permission(
    client, django_user_model, fake_provider, make_config, organisation, family
):
    """Resuming restarts deliveries of a config that was stopped on purpose (bad key, 410 Gone, an
    unsafe URL) and replays its held items: like "replay now", not for someone who may only look."""
    from django.contrib.auth.models import Permission

    config = make_config("monitoring", organisation, "fake")
    config.stop("HTTP 403 invalid key")
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_monitoringconfig"))
    client.force_login(viewer)
    changelist = client.get(_url("monitoringconfig", "changelist"))
    assert changelist.status_code == 200
    offered = dict(changelist.context["action_form"].fields["action"].choices)
    assert "resume_configs" not in offered and "test_connection" in offered  # a check only reads
    client.post(_url("monitoringconfig", "changelist"), {"action": "resume_configs", "_selected_action": [config.pk]})
    config.refresh_from_db()
    assert config.status == ConfigStatus.STOPPED
    assert not family.audit_model.objects.filter(action="resume").exists()


def test_view_only_staff_see_the_configuration_read_only_without_any_secret(client, django_user_model, config, family):
    """Issue 14, item 2: the form looked up fields a view-only page does not have (KeyError
    'settings', a 500 on every configuration page). They see it read-only, secrets never shown."""
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_monitoringconfig"))
    client.force_login(viewer)

    changelist = client.get(_url("monitoringconfig", "changelist"))
    page = client.get(_url("monitoringconfig", "change", config.pk))

    assert changelist.status_code == 200
    assert page.status_code == 200
    html = page.content.decode()
    assert API_KEY not in html and APP_KEY not in html
    assert "datadoghq.eu" in html  # the settings, shown
    assert 'name="secret__api_key"' not in html and 'name="setting__' not in html  # nothing to edit
    before = (dict(config.settings), dict(config.secrets))
    posted = client.post(_url("monitoringconfig", "change", config.pk), _form_data(config, secret__api_key=NEW_KEY))
    assert posted.status_code == 403
    config.refresh_from_db()
    assert (dict(config.settings), dict(config.secrets)) == before
