"""A throwaway AdminSite carrying the kernel's family admin for monitoring, for tests/kernel/test_admin.py."""

from django.contrib.admin import AdminSite
from django.urls import path

from wedsync_integrations.integrations.admin import register_family_admin
from wedsync_integrations.integrations.registry import get_family

site = AdminSite(name="kernel_test_admin")
register_family_admin(get_family("monitoring"), site=site)

urlpatterns = [path("kadmin/", site.urls)]
