"""Two workers at once never produce a second voucher or message.

These tests commit for real (`transaction=True`): each thread has its own database
connection, as two Celery workers would.
"""

import time
from datetime import timedelta

import pytest

from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.models import ActionLedgerEntry, ActionStatus

from .conftest import T0, at_once, build_engine, buy

pytestmark = pytest.mark.django_db(transaction=True)


def slow(host, name, seconds=0.3):
    """Make a host call slow, so the other worker arrives while it is under way."""
    original = getattr(host, name)

    def call(*args, **kwargs):
        time.sleep(seconds)
        return original(*args, **kwargs)

    setattr(host, name, call)


def test_two_workers_run_the_same_entries(host, clock):
    dispatched = []
    engine = build_engine(host, clock, dispatch=dispatched.extend)
    buy(host, "ann@example.com", T0)
    engine.process(CustomerRef("ann@example.com"))  # commits; the entries wait for a worker
    assert len(dispatched) == 2
    slow(host, "issue_voucher")

    at_once(lambda: engine.run_entries(dispatched), lambda: engine.run_entries(dispatched))

    assert len(host.vouchers) == 1 and len(host.messages) == 1
    assert set(ActionLedgerEntry.objects.exclude(action__startswith="event:").values_list("status", flat=True)) == {
        ActionStatus.DONE
    }


def test_two_workers_process_the_same_event(host, clock):
    engines = [build_engine(host, clock) for _ in range(2)]  # entries run inline after each commit
    buy(host, "ann@example.com", T0)
    slow(host, "read_facts", 0.1)

    at_once(*(lambda e=e: e.process(CustomerRef("ann@example.com"), event="order_created") for e in engines))

    assert len(host.vouchers) == 1 and len(host.messages) == 1


def test_two_workers_run_due_reminders(host, clock):
    engine = build_engine(host, clock, settings={"winback_reminder_voucher": "true"})
    buy(host, "ann@example.com", T0)
    engine.process(CustomerRef("ann@example.com"))
    host.messages.clear()
    host.vouchers.clear()
    clock.advance(days=95)
    engine.sweep()  # at risk: reminder 1 is due now
    slow(host, "deliver_message", 0.2)
    other = build_engine(host, clock, settings={"winback_reminder_voucher": "true"})

    at_once(engine.run_due_actions, other.run_due_actions)

    reminders = [m for m in host.messages if m.action == "winback_reminder"]
    assert len(reminders) == 1 and len(host.vouchers) == 1
    clock.advance(days=14)
    at_once(engine.run_due_actions, other.run_due_actions)
    reminders = [m for m in host.messages if m.action == "winback_reminder"]
    assert [m.payload["reminder"]["number"] for m in reminders] == [1, 2]
    assert len(host.vouchers) == 1  # one voucher for the whole series
    assert {m.payload["voucher"]["code"] for m in reminders} == {host.issued[-1].code}


def test_two_workers_run_a_due_review_request(host, clock):
    engine = build_engine(host, clock)
    buy(host, "ann@example.com", T0, fulfilled_at=T0 + timedelta(hours=2))
    clock.advance(hours=3)
    engine.process(CustomerRef("ann@example.com"), event="order_fulfilled")
    host.messages.clear()
    clock.advance(days=15)
    slow(host, "deliver_message", 0.2)

    at_once(engine.run_due_actions, build_engine(host, clock).run_due_actions)

    assert [m.action for m in host.messages] == ["review_request"]
