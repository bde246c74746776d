"""`/` leads somewhere useful: the console for staff, a plain landing page otherwise."""

import pytest

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_get_a_landing_page_with_the_way_in(client):
    response = client.get("/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "WedSync Integrations" in page and "/admin/" in page and "/api/schema/" in page


def test_staff_land_on_the_console(admin_client):
    response = admin_client.get("/")
    assert response.status_code == 302 and response["Location"] == "/admin/console/"


def test_a_signed_in_non_staff_user_is_not_sent_to_the_console(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("guest", "g@example.com", "pw-guest-1"))
    assert client.get("/").status_code == 200
