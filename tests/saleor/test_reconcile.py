"""The reconciliation on Saleor: an order whose event never reached the inbox is decided once
the reconciliation task has run, and a store whose events all arrived gets nothing queued.

The inbox write is made to fail the way a dropped connection makes it fail: the statement
raises. (Closing the connection itself would end the test's own transaction; the sandbox's
tests/sandbox/test_reconcile.py kills a real connection.)
"""

from . import require_saleor

require_saleor()

import logging  # noqa: E402
from datetime import timedelta  # noqa: E402

import pytest  # noqa: E402
from django.db import DatabaseError, connection  # noqa: E402
from django.test import TestCase  # noqa: E402
from django.utils import timezone  # noqa: E402

from lifecycle_plugin import tasks  # noqa: E402
from lifecycle_plugin.engine import reconcile as reconciliation  # noqa: E402
from lifecycle_plugin.models import CustomerProfile, InboxState, StageTransition  # noqa: E402

from .test_flows import complete_paid_checkout, profile, projected  # noqa: E402, F401 - a fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]

INSERT = "INSERT INTO lifecycle_plugin_pendingevent"


@pytest.fixture
def previous_run(monkeypatch):
    """A reconciliation stopped 20 minutes ago; and the test does not wait the two minutes
    a change is left to its own event (SETTLE)."""
    monkeypatch.setattr(reconciliation, "SETTLE", timedelta(0))
    InboxState.objects.filter(pk=1).update(reconciled_until=timezone.now() - timedelta(minutes=20))


def inbox_insert_failing(execute, sql, params, many, context):
    if sql.lstrip().startswith(INSERT):
        raise DatabaseError("server closed the connection unexpectedly")
    return execute(sql, params, many, context)


def run_reconcile() -> dict:
    """The beat's task, as a worker runs it (through Saleor's task class and writer guard)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return tasks.reconcile.apply().get()


def test_an_order_placed_while_the_inbox_write_fails_is_decided_after_the_reconciliation(
        complete_paid_checkout, customer_user, inbox, previous_run, caplog, lifecycle_task_failures):
    caplog.set_level(logging.ERROR, logger="lifecycle_plugin.saleor.plugin")
    with connection.execute_wrapper(inbox_insert_failing):
        order = complete_paid_checkout()

    # Saleor's transaction went on: the order is placed, its events are lost and logged.
    assert order.status == "unfulfilled" and order.user_id == customer_user.pk
    assert inbox.rows() == [] and inbox.drains == []
    assert "not added to the inbox" in caplog.text
    assert not CustomerProfile.objects.exists()

    report = run_reconcile()

    assert (report["changed"], report["queued"]) == (1, 1)
    assert inbox.rows() == [(customer_user.email, customer_user.pk, reconciliation.EVENT)]
    assert len(inbox.drains) == 1
    inbox.drain()
    found = profile(customer_user.email)
    assert (found.stage, found.orders_count) == ("new", 1) and projected(customer_user) == "new"
    assert StageTransition.objects.get(profile=found).event == reconciliation.EVENT
    # The next run looks at that change again and at the projection just written onto the
    # account, which is not a change the decision missed: nothing is queued.
    assert run_reconcile()["queued"] == 0
    assert inbox.rows() == []
    assert not lifecycle_task_failures


def test_nothing_is_queued_when_every_event_arrived(complete_paid_checkout, customer_user, inbox, previous_run,
                                                    lifecycle_task_failures):
    complete_paid_checkout()
    inbox.drain()
    assert profile(customer_user.email).stage == "new"

    report = run_reconcile()

    assert (report["changed"], report["queued"]) == (1, 0)
    assert inbox.rows() == [] and len(inbox.drains) == 1  # only the events' own drain
    assert not lifecycle_task_failures


def test_the_first_run_only_records_where_the_next_starts(complete_paid_checkout, inbox, lifecycle_task_failures):
    InboxState.objects.filter(pk=1).update(reconciled_until=None)
    with connection.execute_wrapper(inbox_insert_failing):
        complete_paid_checkout()

    report = run_reconcile()

    assert report["since"] is None and report["queued"] == 0  # history is the backfill's
    assert InboxState.objects.get(pk=1).reconciled_until is not None
    assert not lifecycle_task_failures
