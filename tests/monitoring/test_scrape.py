"""/metrics/ai: who may scrape what, what the series say, and what a scrape costs."""

import base64

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time
from prometheus_client.parser import text_string_to_metric_families

from wedsync_integrations.integrations.registry import families

from .conftest import HOUR, NOW, SCRAPE_TOKEN, utc

pytestmark = pytest.mark.django_db
PLATFORM_TOKEN = "platform-scrape-token-0123456789"


@pytest.fixture
def two_tenants(make_organisation, organisation, make_rollup, prometheus_config, settings):
    settings.MONITORING_SCRAPE_TOKEN = PLATFORM_TOKEN
    rival = make_organisation(slug="rival", name="Rival Venues")
    prometheus_config()
    prometheus_config(organisation=rival, token="rival-scrape-token-0123456789")
    make_rollup(organisation, utc(2026, 6, 13, 13), requests=10, errors=0, latency_sum_ms=5_000)
    make_rollup(organisation, HOUR, requests=40, errors=2)
    make_rollup(rival, HOUR, requests=7, errors=0)
    return organisation, rival


def scrape(client, path, **headers):
    with freeze_time(NOW):
        return client.get(path, **{f"HTTP_{k.upper()}": v for k, v in headers.items()})


def series(response) -> dict:
    out = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def orgs_in(response) -> set[str]:
    return {dict(labels).get("org") for (_, labels) in series(response)} - {None}


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_a_tenant_token_sees_only_its_own_series(client, two_tenants):
    response = scrape(client, "/metrics/ai/acme", authorization=f"Bearer {SCRAPE_TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert orgs_in(response) == {"acme"}
    assert scrape(client, "/metrics/ai?org=acme", authorization=f"Bearer {SCRAPE_TOKEN}").status_code == 200


@pytest.mark.parametrize(
    "path,auth",
    [
        ("/metrics/ai/rival", f"Bearer {SCRAPE_TOKEN}"),  # acme's token on rival's series
        ("/metrics/ai?org=rival", f"Bearer {SCRAPE_TOKEN}"),
        ("/metrics/ai", f"Bearer {SCRAPE_TOKEN}"),  # a tenant token cannot scrape the platform
        ("/metrics/ai/acme", "Bearer wrong-token-0123456789"),
        ("/metrics/ai/nobody", f"Bearer {SCRAPE_TOKEN}"),
        ("/metrics/ai/acme", None),
        ("/metrics/ai/rival", basic("acme", SCRAPE_TOKEN)),  # basic user must match the path
        ("/metrics/ai", basic("rival", SCRAPE_TOKEN)),
    ],
)
def test_anything_else_is_the_same_401(client, two_tenants, path, auth):
    response = scrape(client, path, **({"authorization": auth} if auth else {}))
    assert response.status_code == 401
    assert response.content == b"unauthorised\n"
    assert "Bearer" in response["WWW-Authenticate"] and "Basic" in response["WWW-Authenticate"]


def test_basic_auth_with_the_slug_as_user_name(client, two_tenants):
    response = scrape(client, "/metrics/ai", authorization=basic("acme", SCRAPE_TOKEN))
    assert response.status_code == 200 and orgs_in(response) == {"acme"}


def test_a_disabled_prometheus_config_cannot_scrape(client, two_tenants):
    from monitoring.models import MonitoringConfig

    MonitoringConfig.objects.filter(provider="prometheus", organisation__slug="acme").update(enabled=False)
    assert scrape(client, "/metrics/ai/acme", authorization=f"Bearer {SCRAPE_TOKEN}").status_code == 401


def test_the_platform_token_sees_every_tenant_or_one(client, two_tenants):
    everyone = scrape(client, "/metrics/ai", authorization=f"Bearer {PLATFORM_TOKEN}")
    assert everyone.status_code == 200 and orgs_in(everyone) == {"acme", "rival"}
    one = scrape(client, "/metrics/ai/rival", authorization=f"Bearer {PLATFORM_TOKEN}")
    assert orgs_in(one) == {"rival"}
    assert scrape(client, "/metrics/ai/ghost", authorization=f"Bearer {PLATFORM_TOKEN}").status_code == 404


def test_without_a_platform_token_nobody_scrapes_the_platform(client, two_tenants, settings):
    settings.MONITORING_SCRAPE_TOKEN = ""
    for auth in ("Bearer ", "Bearer  ", f"Bearer {PLATFORM_TOKEN}"):
        assert scrape(client, "/metrics/ai", authorization=auth).status_code == 401


def test_series_names_types_and_values(client, two_tenants):
    response = scrape(client, "/metrics/ai/acme", authorization=f"Bearer {SCRAPE_TOKEN}")
    found = series(response)
    labels = (
        ("context", "wedding_industry"), ("env", "dev"), ("feature", "email_template"), ("model", "gpt-4o-mini"),
        ("org", "acme"), ("provider", "openai"), ("region", "unknown"), ("season", "peak"),
        ("service", "ai_architecture"),
    )  # fmt: skip
    assert found[("wedsync_ai_requests_total", labels)] == 50  # today: 13:00 + 14:00
    assert found[("wedsync_ai_errors_total", labels)] == 2
    assert found[("wedsync_ai_cost_gbp_total", labels)] == pytest.approx(1.975)
    assert found[("wedsync_ai_response_time_seconds_count", labels)] == 50
    assert found[("wedsync_ai_response_time_seconds_sum", labels)] == 41.0  # 5 s + 36 s
    # quantiles are those of the last finished hour (14:00)
    assert found[("wedsync_ai_response_time_seconds", tuple(sorted((*labels, ("quantile", "0.95")))))] == 2.3005
    assert found[("wedsync_ai_success_rate_percent", labels)] == 96.0
    assert found[("wedsync_ai_cost_per_request_gbp", labels)] == 0.0395
    text = response.content.decode()
    assert "# TYPE wedsync_ai_requests_total counter" in text
    assert "# TYPE wedsync_ai_response_time_seconds summary" in text
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")}
    assert names and not any("." in name for name in names)


def test_region_and_weddings_assisted_today_come_from_the_weddings_helped(client, two_tenants, make_wedding, assisted):
    from datetime import date

    acme, _ = two_tenants
    bristol = make_wedding(acme, date(2026, 6, 13), region="South West")
    bath = make_wedding(acme, date(2026, 6, 14), region="South West")
    london = make_wedding(acme, date(2026, 6, 15), region="London")
    assisted(acme, utc(2026, 6, 13, 13), london.pk, bath.pk)
    assisted(acme, HOUR, london.pk, bristol.pk, "2026-06-20")  # london helped in both hours
    found = series(scrape(client, "/metrics/ai/acme", authorization=f"Bearer {SCRAPE_TOKEN}"))
    assisted_today = {dict(labels)["region"]: value for (name, labels), value in found.items()
                      if name == "wedsync_ai_weddings_assisted"}  # fmt: skip
    # four distinct weddings today; by wedding (not by hour helped) South West leads London 2 to 1
    assert assisted_today == {"South West": 4}
    requests = [dict(labels) for (name, labels) in found if name == "wedsync_ai_requests_total"]
    assert requests and all(labels["region"] == "South West" for labels in requests)


def test_openmetrics_when_the_scraper_asks_for_it(client, two_tenants):
    response = scrape(
        client,
        "/metrics/ai/acme",
        authorization=f"Bearer {SCRAPE_TOKEN}",
        accept="application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    )
    assert response["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.content.endswith(b"# EOF\n")


def test_a_scrape_costs_the_same_few_queries_for_one_tenant_or_a_hundred(
    client, two_tenants, make_organisation, make_rollup
):
    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            assert scrape(client, "/metrics/ai", authorization=f"Bearer {PLATFORM_TOKEN}").status_code == 200
        return len(queries)

    few = count_queries()
    for n in range(100):
        org = make_organisation(slug=f"venue-{n}")
        for feature in ("a", "b", "c"):
            make_rollup(org, HOUR, feature=feature)
    # a few for usage, and three per integration family (its sync log, queue and configurations)
    assert count_queries() == few <= 4 + 3 * len(families())


def test_gzip_when_the_scraper_accepts_it(client, two_tenants):
    import gzip

    plain = scrape(client, "/metrics/ai/acme", authorization=f"Bearer {SCRAPE_TOKEN}")
    zipped = scrape(client, "/metrics/ai/acme", authorization=f"Bearer {SCRAPE_TOKEN}", accept_encoding="gzip")
    assert zipped["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain
    assert gzip.decompress(zipped.content) == plain.content
    assert "Accept-Encoding" in zipped["Vary"]
