"""Admin: the On-call group from the migration, acknowledge/resolve actions only for on-call
members (and superusers), and an admin acknowledgement reaching PagerDuty and Slack."""

import json

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from alerts.lifecycle import raise_alert
from alerts.models import AlertStatus
from tests.alerts.conftest import SLACK_WEBHOOK, calls_to
from wedsync_integrations.integrations.registry import get_family

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:alerts_alert_changelist"


@pytest.fixture
def staff(db):
    user = User.objects.create_user("sam", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="On-call"))  # view permissions come with the group
    return user


@pytest.fixture
def bystander(db):
    from django.contrib.auth.models import Permission

    user = User.objects.create_user("pat", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_alert"))
    return user


def actions_offered(client) -> list[str]:
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    form = response.context["action_form"]
    return [name for name, _ in form.fields["action"].choices] if form is not None else []


def test_the_on_call_group_exists_with_the_acknowledge_permission():
    group = Group.objects.get(name="On-call")
    assert group.permissions.filter(codename="acknowledge_alert").exists()


def test_acknowledge_actions_are_offered_only_to_on_call_and_superusers(client, staff, bystander, organisation):
    raise_alert(organisation=organisation, title="x", severity="low")
    client.force_login(staff)
    assert {"acknowledge_alerts", "resolve_alerts"} <= set(actions_offered(client))
    client.force_login(bystander)
    assert "acknowledge_alerts" not in actions_offered(client)
    client.force_login(User.objects.create_superuser("root", password="pw"))
    assert "acknowledge_alerts" in actions_offered(client)


def test_a_bystander_cannot_acknowledge_by_posting_the_action(client, bystander, organisation):
    alert = raise_alert(organisation=organisation, title="x", severity="low").alert
    client.force_login(bystander)
    client.post(reverse(CHANGELIST), {"action": "acknowledge_alerts", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert alert.status == AlertStatus.TRIGGERED


def test_acknowledging_in_admin_tells_pagerduty_and_updates_slack(
    client, staff, organisation, channels, vendors, deliver_all
):
    alert = raise_alert(organisation=organisation, title="Payments AI down", severity="critical").alert
    deliver_all()
    client.force_login(staff)
    response = client.post(reverse(CHANGELIST), {"action": "acknowledge_alerts", "_selected_action": [alert.pk]})
    assert response.status_code == 302
    deliver_all()
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by, alert.acknowledged_via) == ("acknowledged", "admin:sam", "admin")
    events = [json.loads(c.request.body) for c in calls_to(vendors, "https://events.pagerduty.com/")]
    assert events[-1] == {
        "routing_key": "R0UT1NGKEY0000000000000000000000",
        "event_action": "acknowledge",
        "dedup_key": f"wedsync:acme:{alert.ref}",
    }
    slack = json.loads(calls_to(vendors, SLACK_WEBHOOK)[-1].request.body)
    assert slack["text"].startswith("Acknowledged by admin:sam via Django admin")
    entry = get_family("alerts").audit_model.objects.get(action="acknowledge")
    assert entry.user.username == "sam" and entry.changes["status"] == ["triggered", "acknowledged"]


def test_retry_queue_offers_replay_for_alert_deliveries(client, organisation):
    client.force_login(User.objects.create_superuser("root", password="pw"))
    response = client.get(reverse("admin:alerts_alertretryitem_changelist"))
    assert "replay_now" in [name for name, _ in response.context["action_form"].fields["action"].choices]
