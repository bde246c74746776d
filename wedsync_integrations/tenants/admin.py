"""Admin for tenants: organisations (with usage-token rotation) and their weddings."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count, OuterRef, Q, Subquery
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from wedsync_integrations.calendar import LONDON
from wedsync_integrations.integrations.audit import actor_for_user
from wedsync_integrations.usage.models import UsageToken
from wedsync_integrations.usage.tokens import PREFIX_LENGTH, issue_token

from .models import Organisation, Wedding


def _active_token_prefix():
    return Subquery(
        UsageToken.objects.filter(organisation=OuterRef("pk"), revoked_at__isnull=True).values("prefix")[:1]
    )


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "vendor_type",
        "country",
        "vat_registered",
        "is_active",
        "weddings_link",
        "usage_token",
    ]
    list_filter = ["is_active", "vendor_type", "vat_registered", "country"]
    search_fields = ["name", "slug", "vat_number"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["usage_token", "created_at", "updated_at"]
    actions = ["rotate_usage_token"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "vendor_type", "is_active"]}),
        ("Locale", {"fields": ["country", "currency", "timezone"]}),
        ("VAT", {"fields": ["vat_registered", "vat_number"]}),
        (
            "Value parameters (CRM reports)",
            {
                "fields": [
                    "minutes_saved_per_request",
                    "value_per_request_gbp",
                    "revenue_multiplier",
                    "retention_uplift_percent",
                ]
            },
        ),
        ("Usage ingest", {"fields": ["usage_token"]}),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_queryset(self, request):
        today = timezone.now().astimezone(LONDON).date()
        return (
            super()
            .get_queryset(request)
            .annotate(
                wedding_count=Count("weddings", distinct=True),
                upcoming_count=Count("weddings", filter=Q(weddings__date__gte=today), distinct=True),
                active_token_prefix=_active_token_prefix(),
            )
        )

    @admin.display(description="Weddings (upcoming)", ordering="wedding_count")
    def weddings_link(self, obj: Organisation):
        url = reverse("admin:tenants_wedding_changelist") + f"?organisation__id__exact={obj.pk}"
        return format_html('<a href="{}">{} ({})</a>', url, obj.wedding_count, obj.upcoming_count)

    @admin.display(description="Usage token")
    def usage_token(self, obj: Organisation):
        prefix = getattr(obj, "active_token_prefix", None)
        if prefix is None and obj.pk:
            token = UsageToken.objects.filter(organisation=obj, revoked_at__isnull=True).first()
            prefix = token.prefix if token else None
        return f"{prefix}… (active)" if prefix else "none: use the “Rotate usage token” action"

    @admin.action(description="Rotate usage token (new token shown once)", permissions=["change"])
    def rotate_usage_token(self, request, queryset):
        organisations = list(queryset)
        if request.POST.get("confirm") != "yes":
            # Rotating cuts the AI platform off until it has the new token: confirm first.
            return TemplateResponse(
                request,
                "admin/usage/rotate_token_confirm.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Rotate usage token",
                    "opts": self.model._meta,
                    "organisations": organisations,
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        actor = actor_for_user(request.user)
        for organisation in organisations:
            token = issue_token(organisation, created_by=actor)
            # Django's admin history for the object: who rotated, when, which token (by prefix).
            self.log_change(request, organisation, f"Rotated the usage token (new token {token[:PREFIX_LENGTH]}…).")
            self.message_user(
                request,
                format_html(
                    "New usage token for <strong>{}</strong>: <code>{}</code> — copy it now; it will not be "
                    "shown again. The previous token no longer works.",
                    organisation.name,
                    token,
                ),
                messages.WARNING,
            )
        return None


@admin.register(Wedding)
class WeddingAdmin(admin.ModelAdmin):
    list_display = ["date", "organisation", "venue", "region"]
    list_filter = ["date", "region", "organisation"]
    search_fields = ["venue", "region", "organisation__name", "organisation__slug"]
    list_select_related = ["organisation"]
    autocomplete_fields = ["organisation"]
    date_hierarchy = "date"
    ordering = ["-date"]
    readonly_fields = ["created_at"]
