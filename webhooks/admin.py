"""Admin for the webhooks family: an operations console for inbound events.

- Configs (kernel admin): one per organisation and source, signing secrets write-only.
- Inbound events: filters by source, status, priority and organisation; a "reprocess" action
  (audited) that runs the selected events through their handlers again, now.
- Rejected attempts: read-only evidence.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.utils.html import format_html

from wedsync_integrations.integrations import audit
from wedsync_integrations.integrations.admin import ReadOnlyAdmin, pretty_json, register_family_admin

from . import processing
from .family import FAMILY
from .models import EventStatus, InboundEvent, RejectedAttempt

register_family_admin(FAMILY)

REPROCESS_INLINE_LIMIT = 200


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = ["id", "received_at", "source", "organisation", "event_type", "status_badge", "priority",
                    "attempts", "processed_at", "last_error_short"]  # fmt: skip
    list_filter = ["status", "source", "priority", "organisation"]
    search_fields = ["external_id", "event_type", "organisation__slug", "correlation_id", "last_error"]
    list_select_related = ["organisation"]
    date_hierarchy = "received_at"
    actions = ["reprocess"]
    exclude = ["payload", "headers"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # Read-only, like the kernel's retry items: saving the page would write back every column
        # as it was read, over whatever a worker recorded meanwhile (status, attempts, handlers).
        return False

    def has_reprocess_permission(self, request):
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name not in ("payload", "headers")] + [
            "payload_pretty",
            "headers_pretty",
        ]

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        colour = {
            EventStatus.PROCESSED: "#1a7f37",
            EventStatus.RETRYING: "#9a6700",
            EventStatus.FAILED: "#cf222e",
            EventStatus.UNHANDLED: "#57606a",
        }.get(obj.status, "#0969da")
        return format_html('<b style="color:{}">{}</b>', colour, obj.get_status_display())

    @admin.display(description="last error")
    def last_error_short(self, obj):
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error

    @admin.display(description="payload")
    def payload_pretty(self, obj):
        return pretty_json(obj.payload)

    @admin.display(description="headers")
    def headers_pretty(self, obj):
        return pretty_json(obj.headers)

    @admin.action(description="Reprocess now (run the handlers again)", permissions=["reprocess"])
    def reprocess(self, request, queryset):
        events = list(queryset.select_related("organisation").order_by("id")[: REPROCESS_INLINE_LIMIT + 1])
        if len(events) > REPROCESS_INLINE_LIMIT:
            self.message_user(
                request, f"Select at most {REPROCESS_INLINE_LIMIT} events to reprocess at once.", messages.ERROR
            )
            return
        totals = processing.reprocess(events)
        for event in events:
            audit.record(
                FAMILY,
                actor=audit.actor_for_user(request.user),
                user=request.user,
                action="reprocess",
                target=event,
                organisation=event.organisation,
                summary=f"reprocessed {event.source} {event.event_type} #{event.pk} from admin",
            )
        ok = not totals.get(EventStatus.RETRYING) and not totals.get(EventStatus.FAILED)
        self.message_user(
            request,
            f"Reprocessed {len(events)} event(s): " + ", ".join(f"{k} {v}" for k, v in sorted(totals.items())),
            messages.SUCCESS if ok else messages.WARNING,
        )


@admin.register(RejectedAttempt)
class RejectedAttemptAdmin(ReadOnlyAdmin):
    list_display = ["at", "source", "organisation", "reason", "client_ip", "detail", "body_bytes"]
    list_filter = ["reason", "source"]
    search_fields = ["client_ip", "organisation__slug", "body_sha256", "correlation_id"]
    list_select_related = ["organisation"]
    date_hierarchy = "at"
