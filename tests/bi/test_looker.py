"""Looker: reporting tables in our own database (loaded per scope, only when the gates pass), LookML
generated from them (and parsed back against them), login with a form body, the datagroup trigger."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import responses
from django.core.management import call_command
from django.db import connection
from freezegun import freeze_time

from bi import lookml, reporting
from bi.models import Destination
from bi.sync import refresh_everything
from wedsync_integrations.usage.models import UsageRollup

from .conftest import LOOKER, LOOKER_SECRETS, NOW, fixture, sync, utc

pytestmark = pytest.mark.django_db
API = f"{LOOKER}/api/4.0"


def reporting_rows(table="executive_metrics") -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {reporting.table_name(table)} ORDER BY row_key")  # noqa: S608
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def table_columns(table: str) -> set[str]:
    schema, name = reporting.physical_name(table)
    with connection.cursor() as cursor:
        if schema:
            cursor.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                [schema, name],
            )
            return {row[0] for row in cursor.fetchall()}
        return {column.name for column in connection.introspection.get_table_description(cursor, name)}


@pytest.fixture
def vendor():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{API}/login", json=fixture("looker", "login"))
        rsps.get(f"{API}/datagroups", json=fixture("looker", "datagroups"))
        rsps.patch(f"{API}/datagroups/42", json=fixture("looker", "datagroups")[0])
        yield rsps


def test_the_reporting_tables_hold_every_scope_after_a_refresh(june):
    with freeze_time(NOW):
        refresh_everything(NOW)
    rows = reporting_rows()
    assert {r["organisation_slug"] for r in rows} == {"acme", "bloom", "platform"}
    friday = next(r for r in rows if r["row_key"] == f"org:{june[0].pk}:day:2026-06-12")
    assert friday["requests"] == 70 and Decimal(str(friday["ai_cost_gbp"])) == Decimal("1.7375")
    assert friday["loaded_at"] is not None
    assert len(reporting_rows("feature_usage")) > 0


def test_a_scope_failing_its_gate_keeps_what_it_had(june):
    acme, bloom = june
    with freeze_time(NOW):
        refresh_everything(NOW)
    UsageRollup.objects.filter(organisation=acme, hour=utc(2026, 6, 13, 9)).update(requests=31, unpriced_requests=2)
    UsageRollup.objects.get(organisation=acme, hour=utc(2026, 6, 13, 9)).save()
    later = NOW + timedelta(minutes=1)
    with freeze_time(later):
        refresh_everything(later)
    rows = {r["row_key"]: r for r in reporting_rows()}
    assert rows[f"org:{acme.pk}:day:2026-06-13"]["requests"] == 30  # held back: nothing partial
    assert rows["platform:day:2026-06-13"]["requests"] == 40  # the platform includes acme: held back too


def test_the_generated_lookml_names_only_columns_that_exist(june):
    with freeze_time(NOW):
        refresh_everything(NOW)
    files = lookml.files(model_name="wedsync", datagroup_name="wedsync_executive_metrics_etl",
                         connection_name="wedsync_reporting")  # fmt: skip
    for path, text in files.items():
        if not path.startswith("views/"):
            continue
        table = re.search(r"sql_table_name: (\S+) ;;", text).group(1)
        assert table == reporting.lookml_table_name(path.removeprefix("views/").removesuffix(".view.lkml"))
        referenced = set(re.findall(r"\$\{TABLE\}\.(\w+)", text))
        existing = table_columns(path.removeprefix("views/").removesuffix(".view.lkml"))
        assert referenced and referenced <= existing, referenced - existing
        assert text.count("primary_key: yes") == 1
        assert text.count("{") == text.count("}")
    model = files["wedsync.model.lkml"]
    trigger = re.search(r"sql_trigger: (.+) ;;", model).group(1)
    with connection.cursor() as cursor:  # the datagroup's trigger is valid SQL on the reporting tables
        cursor.execute(trigger.replace("reporting.", f"{connection.ops.quote_name('reporting')}.")
                       if connection.vendor == "postgresql" else trigger)  # fmt: skip
        assert cursor.fetchone()[0] is not None


def test_manage_py_bi_lookml_writes_the_files(tmp_path, looker_config):
    looker_config(model_name="weddings", datagroup_name="bi_etl")
    call_command("bi", "lookml", "--out", str(tmp_path), "--org", "acme")
    model = (tmp_path / "weddings.model.lkml").read_text()
    assert "datagroup: bi_etl {" in model and "persist_with: bi_etl" in model
    assert "sql_always_where: ${executive_metrics.organisation_slug} = 'acme' ;;" in model
    assert (tmp_path / "views" / "executive_metrics.view.lkml").exists()


def test_login_takes_a_form_body_and_the_datagroup_is_triggered(vendor, june, looker_config):
    config = looker_config()
    before = int(NOW.timestamp())
    result = sync(config)
    assert result.delivered == 1
    login = next(c for c in vendor.calls if c.request.url == f"{API}/login")
    assert login.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert login.request.body == "client_id={client_id}&client_secret={client_secret}".format(**LOOKER_SECRETS)
    patch = next(c for c in vendor.calls if c.request.method == "PATCH")
    assert patch.request.url == f"{API}/datagroups/42"  # found by model and name among others
    assert patch.request.headers["Authorization"] == "token " + fixture("looker", "login")["access_token"]
    body = json.loads(patch.request.body)
    assert body["stale_before"] == body["triggered_at"] and body["triggered_at"] >= before
    assert Destination.objects.get(config=config).vendor_object_id == "42"


def test_a_second_trigger_uses_the_stored_datagroup(vendor, june, looker_config):
    config = looker_config()
    sync(config)
    vendor.calls.reset()
    UsageRollup.objects.get(organisation=june[0], hour=utc(2026, 6, 13, 9)).save()
    UsageRollup.objects.filter(organisation=june[0], hour=utc(2026, 6, 13, 9)).update(requests=33)
    UsageRollup.objects.get(organisation=june[0], hour=utc(2026, 6, 13, 9)).save()
    sync(config, at=NOW + timedelta(minutes=1))
    assert [c.request.method for c in vendor.calls] == ["PATCH"]


def test_grant_readonly_needs_postgresql_or_makes_a_read_only_role():
    from django.core.management.base import CommandError

    if connection.vendor != "postgresql":
        with pytest.raises(CommandError, match="needs PostgreSQL"):
            call_command("bi", "grant_readonly", "looker_reader")
        return
    pytest.skip(
        "on PostgreSQL: test_services.py::test_grant_readonly_makes_a_role_that_reads_the_reporting_schema_only"
    )
