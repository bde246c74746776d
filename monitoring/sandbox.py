"""Fake Datadog, New Relic and Pushgateway endpoints for the vendor sandbox, answering as
docs/vendors/datadog.md, newrelic.md and prometheus.md describe."""

from wedsync_integrations.sandbox.routes import Reply, route

route("POST", "/datadog/api/v2/series", status=202, json={"errors": []})
route("GET", "/datadog/api/v1/validate", json={"valid": True})


@route("POST", "/newrelic/metric/v1")
def newrelic_metrics(request):
    return Reply(202, json={"requestId": f"{request.id_hex[:8]}-0000-4000-8000-{request.id_hex[:12]}"})


route("PUT", r"/pushgateway/metrics/job/.+", status=200)
route("GET", "/pushgateway/-/healthy", body="OK\n")
