"""New Relic's own default workflow payload (the template a new Webhook notification starts with)
names the issue "id", not "issueId": it must still be deduplicated on issue + state + updatedAt,
one event per state change, as docs/vendors/newrelic.md says."""

from __future__ import annotations

from webhooks.models import InboundEvent

from . import vendors

TOKEN = "nr-destination-token-0123456789"


def default_template_body(state: str, updated_at: int) -> bytes:
    """The fields of New Relic's default workflow webhook template, rendered for one issue."""
    return vendors.as_json(
        {
            "id": "d1b1f3fd-995a-4066-88ab-8ce4f6960654",
            "issueUrl": "https://radar-api.service.newrelic.com/accounts/1/issues/d1b1f3fd",
            "title": "wedsync.ai.response_time above 3000 ms",
            "priority": "CRITICAL",
            "impactedEntities": ["wedsync-ai"],
            "totalIncidents": 1,
            "state": state,
            "trigger": "STATE_CHANGE",
            "isCorrelated": False,
            "createdAt": 1781359400000,
            "updatedAt": updated_at,
            "sources": ["newrelic"],
            "alertPolicyNames": ["WedSync AI"],
            "alertConditionNames": ["Response time"],
            "workflowName": "WedSync",
        }
    )


def test_the_default_template_is_deduplicated_on_issue_state_and_update_time(post, organisation, webhook_config):
    webhook_config("newrelic", organisation, TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    activated = default_template_body("ACTIVATED", 1781359500000)
    assert post("newrelic", "acme", activated, auth).status_code == 200
    assert post("newrelic", "acme", activated, auth).json()["duplicates"] == 1
    closed = default_template_body("CLOSED", 1781359800000)
    assert post("newrelic", "acme", closed, auth).json()["duplicates"] == 0
    assert list(InboundEvent.objects.order_by("id").values_list("external_id", flat=True)) == [
        "d1b1f3fd-995a-4066-88ab-8ce4f6960654:ACTIVATED:1781359500000",
        "d1b1f3fd-995a-4066-88ab-8ce4f6960654:CLOSED:1781359800000",
    ]
