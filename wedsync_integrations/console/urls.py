"""/admin/console/: every page needs a signed-in staff member (admin_view), and every button is a
CSRF-checked POST to the admin endpoint that already does that job."""

from django.contrib import admin
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from . import organisation, views

app_name = "console"

urlpatterns = [
    path("", admin.site.admin_view(require_GET(views.dashboard_page)), name="dashboard"),
    path("organisations/<slug:slug>/", admin.site.admin_view(organisation.organisation_page), name="organisation"),
    path(
        "organisations/<slug:slug>/test-all/",
        admin.site.admin_view(require_POST(organisation.test_all_connections)),
        name="test_all",
    ),
]
