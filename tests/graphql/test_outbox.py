"""lifecycleOutbox: what is waiting to go out (pending, held for the quiet hours, to be retried,
scheduled), soonest first, filtered; each figure against plain SQL over the rows written here."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from lifecycle_plugin.models import ActionLedgerEntry, CustomerProfile, ScheduledAction

from .conftest import codes, staff_viewer

pytestmark = pytest.mark.django_db

OUTBOX = """
query($filter: LifecycleOutboxFilterInput, $first: Int, $offset: Int) {
  lifecycleOutbox(filter: $filter, first: $first, offset: $offset) {
    totalCount actions entries { kind action state email goesOutAt attempts lastError reason }
  }
}"""


@pytest.fixture
def rows(store, ann, bob):
    """One row of every kind, waiting or not, around the clock's now."""
    now = store.clock.now
    profiles = {p.email: p for p in CustomerProfile.objects.all()}
    ann_p, bob_p = profiles["ann@example.com"], profiles["bob@example.com"]
    ledger = [
        ("l-due", "repeat_purchase", ann_p, "pending", 0, None, {}),
        ("l-held", "winback_reminder", bob_p, "pending", 0, now + timedelta(hours=9),
         {"held": "quiet hours until 08:00", "until": (now + timedelta(hours=9)).isoformat()}),
        ("l-hold-over", "tier_upgrade", ann_p, "pending", 0, now - timedelta(hours=1), {"held": "quiet hours"}),
        ("l-retry", "tier_upgrade", bob_p, "failed", 2, None, {}),
        ("l-given-up", "tier_upgrade", ann_p, "failed", 5, None, {}),
        ("l-done", "repeat_purchase", bob_p, "done", 1, None, {}),
        ("l-sending", "repeat_purchase", ann_p, "sending", 1, None, {}),
        ("l-uncertain", "review_request", bob_p, "uncertain", 1, None, {}),
    ]
    for key, action, profile, status, attempts, not_before, result in ledger:
        ActionLedgerEntry.objects.create(dedupe_key=key, action=action, profile=profile, status=status,
                                         attempts=attempts, not_before=not_before, result=result,
                                         last_error="SMTP 451" if status == "failed" else "")
    # Last touched an hour before the clock's now, as the engine's writes would be (auto_now is the wall clock).
    ActionLedgerEntry.objects.update(updated_at=now - timedelta(hours=1))
    ScheduledAction.objects.create(dedupe_key="s-due", action="review_request", profile=ann_p,
                                   due_at=now + timedelta(days=3))
    ScheduledAction.objects.create(dedupe_key="s-later", action="winback_reminder", profile=bob_p,
                                   due_at=now + timedelta(days=30))
    ScheduledAction.objects.create(dedupe_key="s-done", action="review_request", profile=bob_p,
                                   due_at=now - timedelta(days=3), status="done")


def expected(now) -> list[tuple]:
    """The outbox by plain SQL, one SELECT per state: (state, action, e-mail, goes out at)."""
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT 'due', l.action, p.email, l.updated_at + interval '5 minutes', 'ledger', l.id
              FROM lifecycle_plugin_actionledgerentry l JOIN lifecycle_plugin_customerprofile p ON p.id = l.profile_id
             WHERE l.status = 'pending' AND (l.not_before IS NULL OR l.not_before <= %(now)s)
            UNION ALL
            SELECT 'held', l.action, p.email, GREATEST(l.updated_at + interval '5 minutes', l.not_before), 'ledger', l.id
              FROM lifecycle_plugin_actionledgerentry l JOIN lifecycle_plugin_customerprofile p ON p.id = l.profile_id
             WHERE l.status = 'pending' AND l.not_before > %(now)s
            UNION ALL
            SELECT 'retry', l.action, p.email, l.updated_at + interval '5 minutes', 'ledger', l.id
              FROM lifecycle_plugin_actionledgerentry l JOIN lifecycle_plugin_customerprofile p ON p.id = l.profile_id
             WHERE l.status = 'failed' AND l.attempts < 5
            UNION ALL
            SELECT 'scheduled', s.action, p.email, s.due_at, 'scheduled', s.id
              FROM lifecycle_plugin_scheduledaction s JOIN lifecycle_plugin_customerprofile p ON p.id = s.profile_id
             WHERE s.status = 'pending'
            ORDER BY 4, 5, 6""", {"now": now})
        return [row[:3] for row in cursor.fetchall()]


def shown(page) -> list[tuple]:
    return [(e["state"], e["action"], e["email"]) for e in page["entries"]]


def test_the_outbox_lists_what_waits_soonest_first(store, admin, rows):
    page = store.run(OUTBOX, staff_viewer(admin), first=200)["data"]["lifecycleOutbox"]
    want = expected(store.clock.now)
    assert shown(page) == want and page["totalCount"] == len(want)
    # The held entry shows why and until when; the one whose quiet hours are over is due again.
    assert ("held", "winback_reminder", "bob@example.com") in want and ("due", "tier_upgrade", "ann@example.com") in want
    held = next(e for e in page["entries"] if e["state"] == "held")
    assert held["reason"] == "quiet hours until 08:00" and held["goesOutAt"] == (store.clock.now + timedelta(hours=9)).isoformat()
    retry = next(e for e in page["entries"] if e["state"] == "retry")
    assert (retry["attempts"], retry["lastError"]) == (2, "SMTP 451")
    # Given up, done, sending, uncertain and done scheduled rows wait for nothing.
    assert len(want) == 6
    assert page["actions"] == sorted({action for _, action, _ in want})


@pytest.mark.parametrize("filter, keep", [
    ({"state": "held"}, lambda state, action, email: state == "held"),
    ({"state": "due"}, lambda state, action, email: state == "due"),
    ({"state": "retry"}, lambda state, action, email: state == "retry"),
    ({"state": "scheduled"}, lambda state, action, email: state == "scheduled"),
    ({"action": "tier_upgrade"}, lambda state, action, email: action == "tier_upgrade"),
    ({"email": " BOB@example.com"}, lambda state, action, email: email == "bob@example.com"),
    ({"state": "scheduled", "email": "ann@example.com"},
     lambda state, action, email: state == "scheduled" and email == "ann@example.com"),
])
def test_the_filters(store, admin, rows, filter, keep):
    page = store.run(OUTBOX, staff_viewer(admin), filter=filter, first=200)["data"]["lifecycleOutbox"]
    want = [row for row in expected(store.clock.now) if keep(*row)]
    assert want and shown(page) == want and page["totalCount"] == len(want)


def test_pages_do_not_overlap_and_cover_the_outbox(store, admin, rows):
    first = store.run(OUTBOX, staff_viewer(admin), first=4)["data"]["lifecycleOutbox"]
    rest = store.run(OUTBOX, staff_viewer(admin), first=4, offset=4)["data"]["lifecycleOutbox"]
    assert shown(first) + shown(rest) == expected(store.clock.now) and first["totalCount"] == rest["totalCount"] == 6


@pytest.mark.parametrize("variables, argument", [
    ({"filter": {"state": "sent"}}, "filter.state"),
    ({"filter": {"email": "not-an-address"}}, "filter.email"),
    ({"filter": {"action": "x" * 65}}, "filter.action"),
    ({"first": 0}, "first"),
    ({"first": 201}, "first"),
    ({"offset": -1}, "offset"),
])
def test_a_bad_filter_is_an_error_naming_the_argument(store, admin, rows, variables, argument):
    result = store.run(OUTBOX, staff_viewer(admin), **variables)
    assert codes(result) == ["BAD_USER_INPUT"] and result["errors"][0]["extensions"]["argument"] == argument
    assert result["data"]["lifecycleOutbox"] is None


def test_the_outbox_needs_manage_users(store, clerk, rows):
    assert codes(store.run(OUTBOX, staff_viewer(clerk))) == ["PERMISSION_DENIED"]
