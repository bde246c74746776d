"""The dashboard: what needs a person now (live), then the trends (cached charts)."""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone

from alerts.admin import is_on_call

from . import dashboard, trends


def dashboard_page(request):
    now = timezone.now()
    context = {
        **admin.site.each_context(request),
        "is_nav_sidebar_enabled": False,  # a start page: the tables need the whole 1366 px
        "title": "Operations",
        "subtitle": None,
        **dashboard.needs_a_person(request, now),
        "can_act_on_alerts": is_on_call(request.user),
        "charts": trends.dashboard_charts(now),
        "here": request.get_full_path(),
    }
    return TemplateResponse(request, "console/dashboard.html", context)
