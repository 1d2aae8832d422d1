"""The fields the Dashboard pages add: the settings form and its all-or-nothing save, the ledger, stage x tier."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from lifecycle_plugin import conf
from lifecycle_plugin.graphql.viewer import Viewer
from lifecycle_plugin.models import ActionLedgerEntry, CustomerProfile, ScheduledAction
from lifecycle_plugin.testing import MemoryHost

from .conftest import T0, Store, codes, staff_viewer

pytestmark = pytest.mark.django_db


class SettingsHost(MemoryHost):
    """The in-memory host with a settings store, as Saleor's configuration row or the sandbox's table."""

    def __init__(self):
        super().__init__()
        self.saved: dict[str, str] = {}
        self.saves = 0

    def plugin_settings(self):
        return dict(self.saved)

    def save_plugin_settings(self, values):
        self.saves += 1
        self.saved = dict(values)


@pytest.fixture
def store(clock) -> Store:
    return Store(SettingsHost(), clock)


def owner(user) -> Viewer:
    return Viewer.staff(user.pk, user.email, can_manage_users=True, can_manage_plugins=True)


SETTINGS = "{ lifecycleSettings { name label kind value default choices minimum maximum } }"
UPDATE = """
mutation($values: [LifecycleSettingValueInput!]!) {
  lifecycleSettingsUpdate(values: $values) { saved errors { field message } settings { name value } }
}
"""


def test_the_settings_form_lists_every_declared_setting_with_the_value_in_force(store, admin):
    store.host.saved = {"at_risk_days": "75"}
    rows = store.run(SETTINGS, staff_viewer(admin))["data"]["lifecycleSettings"]
    assert [row["name"] for row in rows] == [s.name for s in conf.all_settings()]
    by_name = {row["name"]: row for row in rows}
    assert by_name["at_risk_days"]["value"] == "75"
    assert by_name["lapsed_days"]["value"] == by_name["lapsed_days"]["default"]
    assert by_name["count_only_paid"]["kind"] == "Boolean"


def test_good_values_are_saved_and_read_back(store, admin):
    store.host.saved = {"lapsed_days": "200"}
    response = store.run(UPDATE, owner(admin), values=[{"name": "at_risk_days", "value": "50"},
                                                        {"name": "count_only_paid", "value": "true"}])
    payload = response["data"]["lifecycleSettingsUpdate"]
    assert payload["saved"] and payload["errors"] == []
    assert store.host.saves == 1
    assert store.host.saved["at_risk_days"] == "50" and store.host.saved["count_only_paid"] == "true"
    # What was saved before stays; settings never given keep following their defaults.
    assert set(store.host.saved) == {"at_risk_days", "count_only_paid", "lapsed_days"}
    conf.load_settings(store.host.saved)  # the plugin's own validation accepts what was saved
    read = {row["name"]: row["value"] for row in store.run(SETTINGS, staff_viewer(admin))["data"]["lifecycleSettings"]}
    assert read["at_risk_days"] == "50"


@pytest.mark.parametrize("values, field", [
    ([{"name": "at_risk_days", "value": "0"}], "at_risk_days"),
    ([{"name": "at_risk_days", "value": "400"}, {"name": "lapsed_days", "value": "300"}], "at_risk_days"),
    ([{"name": "tiers", "value": "gold USD"}], "tiers"),
    ([{"name": "no_such_setting", "value": "1"}], "no_such_setting"),
])
def test_a_bad_value_gets_its_field_message_and_nothing_is_saved(store, admin, values, field):
    store.host.saved = {"at_risk_days": "75"}
    payload = store.run(UPDATE, owner(admin), values=values)["data"]["lifecycleSettingsUpdate"]
    assert payload["saved"] is False
    assert field in [error["field"] for error in payload["errors"]]
    assert all(error["message"] for error in payload["errors"])
    assert store.host.saves == 0 and store.host.saved == {"at_risk_days": "75"}
    # The messages are the plugin settings' own (what the Saleor Dashboard's form shows).
    if field != "no_such_setting":
        merged = {"at_risk_days": "75", **{v["name"]: v["value"] for v in values}}
        with pytest.raises(conf.ConfigError) as raised:
            conf.load_settings(merged)
        expected = conf.dashboard_messages(raised.value)
        assert {e["field"]: e["message"] for e in payload["errors"]} == expected


def test_a_saved_threshold_opens_the_recompute_a_dashboard_save_does(store, admin, django_capture_on_commit_callbacks):
    from lifecycle_plugin.models import RecomputeRun

    store.host.saved = {"tier_window_days": "365"}
    with django_capture_on_commit_callbacks() as queued:
        payload = store.run(UPDATE, owner(admin), values=[{"name": "at_risk_days", "value": "60"}])[
            "data"]["lifecycleSettingsUpdate"]
    assert payload["saved"]
    run = RecomputeRun.objects.get()
    assert run.changed == ["at_risk_days"] and run.state == RecomputeRun.STATE_QUEUED
    assert len(queued) == 1  # the recompute task, once the save commits

    # Saving what is already in force changes nothing a stage depends on: no second run.
    store.run(UPDATE, owner(admin), values=[{"name": "at_risk_days", "value": "60"}])
    assert RecomputeRun.objects.count() == 1 and RecomputeRun.objects.get().requested_at == run.requested_at


def test_a_value_the_sql_ladder_cannot_decide_is_refused_by_name(store, admin):
    payload = store.run(UPDATE, owner(admin), values=[{"name": "personal_gap_multiplier", "value": "2.00000000001"}])[
        "data"]["lifecycleSettingsUpdate"]
    assert payload["saved"] is False and [e["field"] for e in payload["errors"]] == ["personal_gap_multiplier"]
    assert store.host.saves == 0


def test_changing_settings_needs_manage_plugins(store, admin):
    response = store.run(UPDATE, staff_viewer(admin), values=[{"name": "at_risk_days", "value": "50"}])
    assert codes(response) == ["PERMISSION_DENIED"] and store.host.saves == 0


def test_a_host_that_keeps_settings_elsewhere_says_so(clock, admin):
    plain = Store(MemoryHost(), clock)
    response = plain.run(UPDATE, owner(admin), values=[{"name": "at_risk_days", "value": "50"}])
    assert codes(response) == ["BAD_USER_INPUT"]


LEDGER = """
query($filter: LifecycleLedgerFilterInput, $first: Int, $offset: Int) {
  lifecycleLedger(filter: $filter, first: $first, offset: $offset) {
    totalCount actions entries { kind action status email createdAt dueAt }
  }
}
"""


@pytest.fixture
def ledger(store, ann, bob):
    profiles = {p.email: p for p in CustomerProfile.objects.all()}
    for index, (email, action, status) in enumerate([
        ("ann@example.com", "repeat_purchase", "done"), ("ann@example.com", "tier_upgrade", "failed"),
        ("bob@example.com", "repeat_purchase", "done"), ("bob@example.com", "winback", "uncertain"),
    ]):
        ActionLedgerEntry.objects.create(dedupe_key=f"k{index}", action=action, profile=profiles[email], status=status)
    ScheduledAction.objects.create(dedupe_key="s1", action="review_request", profile=profiles["ann@example.com"],
                                   due_at=T0 + timedelta(days=3))
    return profiles


def sql_count(where: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT (SELECT count(*) FROM lifecycle_plugin_actionledgerentry l JOIN lifecycle_plugin_customerprofile p
                    ON p.id = l.profile_id WHERE {where})
                 + (SELECT count(*) FROM lifecycle_plugin_scheduledaction l JOIN lifecycle_plugin_customerprofile p
                    ON p.id = l.profile_id WHERE {where})""", params * 2)
        return cursor.fetchone()[0]


@pytest.mark.parametrize("filter, where, params", [
    (None, "TRUE", []),
    ({"email": " ANN@example.com"}, "p.email = %s", ["ann@example.com"]),
    ({"action": "repeat_purchase"}, "l.action = %s", ["repeat_purchase"]),
    ({"status": "pending"}, "l.status = %s", ["pending"]),
])
def test_the_ledger_lists_and_filters_both_tables(store, admin, ledger, filter, where, params):
    page = store.run(LEDGER, staff_viewer(admin), filter=filter, first=200)["data"]["lifecycleLedger"]
    assert page["totalCount"] == sql_count(where, params) == len(page["entries"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT action FROM lifecycle_plugin_actionledgerentry UNION SELECT action FROM "
                       "lifecycle_plugin_scheduledaction ORDER BY 1")
        assert page["actions"] == [row[0] for row in cursor.fetchall()]
    assert {"repeat_purchase", "review_request", "tier_upgrade", "winback"} <= set(page["actions"])
    stamps = [entry["createdAt"] for entry in page["entries"]]
    assert stamps == sorted(stamps, reverse=True)


def test_the_ledger_pages_and_filters_by_kind(store, admin, ledger):
    first = store.run(LEDGER, staff_viewer(admin), first=2, offset=0)["data"]["lifecycleLedger"]
    rest = store.run(LEDGER, staff_viewer(admin), first=200, offset=2)["data"]["lifecycleLedger"]
    assert len(first["entries"]) == 2 and len(rest["entries"]) == first["totalCount"] - 2
    assert not {e["createdAt"] + e["action"] for e in first["entries"]} & {e["createdAt"] + e["action"] for e in rest["entries"]}
    scheduled = store.run(LEDGER, staff_viewer(admin), filter={"kind": "scheduled"})["data"]["lifecycleLedger"]
    assert [(e["kind"], e["action"]) for e in scheduled["entries"]] == [("scheduled", "review_request")]
    assert scheduled["entries"][0]["dueAt"]
    assert codes(store.run(LEDGER, staff_viewer(admin), first=500)) == ["BAD_USER_INPUT"]
    assert codes(store.run(LEDGER, staff_viewer(admin), filter={"kind": "outbox"})) == ["BAD_USER_INPUT"]


def test_stage_tier_counts_match_the_profiles(store, admin, ann, bob):
    rows = store.run("{ lifecycleStageTierCounts { stage { key } tier { key } count } }",
                     staff_viewer(admin))["data"]["lifecycleStageTierCounts"]
    got = {(r["stage"]["key"], r["tier"]["key"] if r["tier"] else None): r["count"] for r in rows}
    with connection.cursor() as cursor:
        cursor.execute("SELECT stage, tier, count(*) FROM lifecycle_plugin_customerprofile GROUP BY 1, 2")
        expected = {(stage, tier): count for stage, tier, count in cursor.fetchall()}
    assert got == expected and sum(got.values()) == 2
