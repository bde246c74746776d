"""The exporting families' entries in the drill's vendor outages (drill/outages.py, drill/exports.py):
with no fault armed, what each `produce` queues through the family's own code reaches the sandbox
vendor, carrying exactly the markers it returned, in that order, once."""

from __future__ import annotations

import pytest

from drill import tenants
from drill.outages import OUTAGES, VendorOutage, outage_row

pytestmark = pytest.mark.django_db

EXPORTERS = {
    (outage.family, outage.provider): outage for outage in OUTAGES if outage.family in ("accounting", "crm", "bi")
}


# Power BI's pushes follow the rollups' signal, sent once their transaction commits: that test
# needs real commits.
SENT_ON_COMMIT = {("bi", "powerbi")}


@pytest.mark.parametrize("key", sorted(set(EXPORTERS) - SENT_ON_COMMIT), ids=lambda key: f"{key[0]}-{key[1]}")
def test_each_exporting_vendor_receives_the_markers_produce_returns_in_order(key, sandbox, eager_celery):
    assert_receives_markers_in_order(EXPORTERS[key], sandbox)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("key", sorted(SENT_ON_COMMIT), ids=lambda key: f"{key[0]}-{key[1]}")
def test_each_vendor_fed_after_a_commit_receives_the_markers_in_order(key, sandbox, eager_celery):
    assert_receives_markers_in_order(EXPORTERS[key], sandbox)


def assert_receives_markers_in_order(outage: VendorOutage, sandbox) -> None:
    org = tenants.organisation(tenants.random_slug(f"drill-test-{outage.provider}"))
    config = tenants.configure(
        outage.family, org, outage.provider, settings=outage.settings(sandbox), secrets_=outage.secrets(sandbox)
    )

    markers = outage.produce(config, 3, "test")

    assert len(set(markers)) == 3
    assert outage.arrived(sandbox, markers, 0) == markers


def test_the_family_entries_cover_accounting_crm_and_bi_vendors_and_say_which_resends_are_safe():
    assert set(EXPORTERS) == {
        ("accounting", "xero"),
        ("accounting", "quickbooks"),
        ("crm", "lightblue"),
        ("crm", "tave"),
        ("bi", "powerbi"),
    }
    # an idempotency key, a refused duplicate ID or a look-up first: no second copy allowed
    assert {key for key, outage in EXPORTERS.items() if outage.allowed_duplicates == 0} == set(EXPORTERS) - {
        ("bi", "powerbi")
    }
    assert EXPORTERS[("bi", "powerbi")].allowed_duplicates == 1  # POST rows has no key: the lost reply's batch


def test_a_delivery_that_arrives_before_an_earlier_one_or_twice_or_never_fails_the_row():
    row = outage_row("outage", 5, ["a", "b", "c"], ["b", "a", "b"], None, allowed_duplicates=0)

    assert (row.stored, row.lost, row.duplicated) == (2, 1, 1)
    assert row.failures() == [
        "delivered out of order",
        "not all delivered within 90 s (never arrived: c)",
        "1 lost",
        "1 duplicated (at most 0 in flight)",
    ]
