"""Issue 14, item 2, on the real admin site: staff who may only view get every family's
configuration pages read-only (they were a 500: KeyError 'settings' in the kernel's form)."""

from __future__ import annotations

import pytest
import responses
from django.contrib.auth.models import Permission
from django.urls import reverse

from wedsync_integrations.integrations.registry import families

pytestmark = pytest.mark.django_db

SECRET = "view-only-must-never-see-this-0123456789"


@pytest.mark.parametrize("family", families(), ids=lambda family: family.name)
def test_view_only_staff_get_each_familys_configuration_pages(
    client, django_user_model, make_config, organisation, family
):
    opts = family.config_model._meta
    provider = sorted(family.providers)[0]
    config = make_config(family.name, organisation, provider, secrets={"signing_secret": SECRET, "api_key": SECRET})
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename=f"view_{opts.model_name}"))
    client.force_login(viewer)

    with responses.RequestsMock(assert_all_requests_are_fired=False):  # a live health check reaches no vendor
        changelist = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        page = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[config.pk]))

    assert changelist.status_code == 200
    assert page.status_code == 200
    assert SECRET not in page.content.decode()
    assert 'name="secret__' not in page.content.decode()
