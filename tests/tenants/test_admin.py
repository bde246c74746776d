"""Tenants admin: organisations and weddings, and usage-token rotation shown exactly once."""

from __future__ import annotations

import logging
import re
from datetime import date

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from wedsync_integrations.usage.models import UsageToken
from wedsync_integrations.usage.tokens import issue_token, organisation_for_token

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/tenants/organisation/"
TOKEN = re.compile(r"wsu_[A-Za-z0-9_-]{40,}")


def _rotate(client, *organisations, confirm: bool):
    data = {"action": "rotate_usage_token", "_selected_action": [o.pk for o in organisations]}
    if confirm:
        data["confirm"] = "yes"
    return client.post(CHANGELIST, data)


def test_organisation_list_searches_filters_and_counts_weddings(
    admin_client, organisation, make_organisation, make_wedding
):
    other = make_organisation(slug="bloom", name="Bloom Florists", vendor_type="florist")
    make_wedding(organisation, date(2020, 6, 13))
    make_wedding(organisation, date(2099, 6, 13))
    issue_token(organisation, created_by="test")

    page = admin_client.get(CHANGELIST, {"q": "acme"}).content.decode()
    florists = admin_client.get(CHANGELIST, {"vendor_type__exact": "florist"}).content.decode()

    assert "Acme Photography" in page and other.name not in page
    assert f"/admin/tenants/wedding/?organisation__id__exact={organisation.pk}" in page
    assert ">2 (1)</a>" in page  # two weddings, one upcoming
    assert UsageToken.objects.get().prefix in page
    assert other.name in florists and "Acme Photography" not in florists


def test_organisation_list_query_count_does_not_grow_with_rows(admin_client, make_organisation):
    make_organisation()
    admin_client.get(CHANGELIST)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(CHANGELIST)
    for _ in range(10):
        issue_token(make_organisation(), created_by="test")
    with CaptureQueriesContext(connection) as many:
        admin_client.get(CHANGELIST)

    assert len(many) == len(few)


def test_rotate_action_is_offered(admin_client, organisation):
    response = admin_client.get(CHANGELIST)

    actions = dict(response.context["action_form"].fields["action"].choices)
    assert actions["rotate_usage_token"] == "Rotate usage token (new token shown once)"


def test_rotation_asks_for_confirmation_first_and_changes_nothing(admin_client, organisation):
    old = issue_token(organisation, created_by="test")

    response = _rotate(admin_client, organisation, confirm=False)

    assert response.status_code == 200
    page = response.content.decode()
    assert "stops working" in page and "Acme Photography" in page
    assert organisation_for_token(old) == organisation
    assert UsageToken.objects.count() == 1


def test_confirmed_rotation_shows_the_new_token_once_and_revokes_the_old(admin_client, organisation, caplog):
    old = issue_token(organisation, created_by="test")

    with caplog.at_level(logging.INFO):
        response = _rotate(admin_client, organisation, confirm=True)

    assert response.status_code == 302
    shown = admin_client.get(response["Location"]).content.decode()
    [new] = set(TOKEN.findall(shown))
    assert organisation_for_token(new) == organisation
    assert organisation_for_token(old) is None
    assert "copy it now; it will not be shown again" in shown
    # once: the next page no longer carries it, and nothing stored or logged contains it
    assert new not in admin_client.get(CHANGELIST).content.decode()
    assert new not in caplog.text
    assert f"prefix={new[:12]}" in caplog.text and "by=admin:admin" in caplog.text
    entry = LogEntry.objects.get(action_flag=CHANGE, object_id=str(organisation.pk))
    assert entry.get_change_message() == f"Rotated the usage token (new token {new[:12]}…)."
    assert new not in str(UsageToken.objects.values())


def test_rotating_several_organisations_gives_each_its_own_token(admin_client, organisation, make_organisation):
    other = make_organisation(slug="bloom")

    response = _rotate(admin_client, organisation, other, confirm=True)

    messages = [str(m) for m in get_messages(response.wsgi_request)]
    tokens = [TOKEN.search(m).group(0) for m in messages]
    assert {organisation_for_token(t) for t in tokens} == {organisation, other}


def test_wedding_admin_lists_filters_and_searches(admin_client, organisation, make_organisation, make_wedding):
    make_wedding(organisation, date(2026, 6, 13), venue="Tithe Barn", region="South West")
    make_wedding(make_organisation(slug="bloom"), date(2026, 6, 20), venue="Kew Gardens", region="London")

    by_region = admin_client.get("/admin/tenants/wedding/", {"region": "South West"}).content.decode()
    by_search = admin_client.get("/admin/tenants/wedding/", {"q": "kew"}).content.decode()
    by_org = admin_client.get("/admin/tenants/wedding/", {"organisation__id__exact": organisation.pk}).content.decode()

    assert "Tithe Barn" in by_region and "Kew Gardens" not in by_region
    assert "Kew Gardens" in by_search and "Tithe Barn" not in by_search
    assert "Tithe Barn" in by_org and "Kew Gardens" not in by_org


def test_organisation_change_form_renders_with_token_status(admin_client, organisation):
    issue_token(organisation, created_by="test")

    page = admin_client.get(f"/admin/tenants/organisation/{organisation.pk}/change/").content.decode()

    assert f"{UsageToken.objects.get().prefix}… (active)" in page
    assert UsageToken.objects.get().token_hash not in page
