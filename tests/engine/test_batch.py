"""`process_many`: many customers in one transaction, decided as `process` decides each."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifecycle_plugin import hookimpl
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.models import ActionLedgerEntry, CustomerProfile, ScheduledAction, StageTransition, TierChange

from .test_engine import T0, Recorder, account, host, make_engine, stages  # noqa: F401 - host: a fixture

pytestmark = pytest.mark.django_db


def shop_of(host, count, *, start=0):
    refs = []
    for index in range(start, start + count):
        email = f"c{index}@example.com"
        host.order(email, T0 - timedelta(days=200 + index), total="30")
        if index % 2:
            host.order(email, T0 - timedelta(days=20), total="700")
        refs.append(CustomerRef(email))
    return refs


def snapshot():
    return sorted(
        CustomerProfile.objects.values_list("email", "stage", "tier", "orders_count", "next_check_at", "version"),
        key=repr,
    )


def history():
    return (
        sorted(StageTransition.objects.values_list("profile__email", "from_stage", "to_stage", "reason", "occurred_at",
                                                   "event", "rule"), key=repr),
        sorted(TierChange.objects.values_list("profile__email", "from_tier", "to_tier", "reason", "occurred_at"),
               key=repr),
        sorted(ActionLedgerEntry.objects.values_list("dedupe_key", flat=True)),
    )


def test_a_batch_decides_and_records_exactly_what_one_by_one_does(host, clock):
    refs = shop_of(host, 12)
    one_by_one = Recorder()
    engine = make_engine(host, clock, one_by_one)
    for ref in refs:
        engine.process(ref, event="order_created")
    clock.advance(days=100)
    for ref in refs:
        engine.process(ref, event="order_paid")
    expected_profiles, expected_history = snapshot(), history()
    expected_calls = sorted(one_by_one.calls, key=repr)
    host.projections.clear()

    CustomerProfile.objects.all().delete()
    clock.now = T0
    batched = Recorder()
    engine = make_engine(host, clock, batched)
    engine.process_many([(ref, "order_created") for ref in refs])
    clock.advance(days=100)
    outcomes = engine.process_many([(ref, "order_paid") for ref in refs])

    # profile ids differ (new rows), everything else is the same
    assert snapshot() == expected_profiles
    assert history()[:2] == expected_history[:2]
    assert [k.split(":")[1] for k in history()[2]] == [k.split(":")[1] for k in expected_history[2]]
    assert sorted(batched.calls, key=repr) == expected_calls
    assert [o.profile_id for o in outcomes] == [
        CustomerProfile.objects.get(email=ref.email).pk for ref in refs
    ]
    assert {p.customer.email for p in host.projections} == {ref.email for ref in refs}


def test_the_statements_of_a_batch_do_not_grow_with_its_customers(host, clock):
    small, large = shop_of(host, 3), shop_of(host, 40, start=3)
    engine = make_engine(host, clock, Recorder())
    counts = []
    for refs in (small, large):
        with CaptureQueriesContext(connection) as queries:
            engine.process_many([(ref, "order_created") for ref in refs])
        counts.append(len(queries))
        clock.advance(days=100)  # the second round moves profiles to at risk: updates too
        with CaptureQueriesContext(connection) as queries:
            engine.process_many([(ref, "order_paid") for ref in refs])
        counts.append(len(queries))
    assert counts[0] == counts[2] and counts[1] == counts[3], counts
    assert CustomerProfile.objects.count() == 43


def test_a_customer_named_twice_is_processed_once(host, clock):
    user = account("ann@example.com")
    host.register("ann@example.com", user.pk, T0)
    host.order("ann@example.com", T0)
    recorder = Recorder()
    engine = make_engine(host, clock, recorder)
    first, second = engine.process_many([(CustomerRef("ann@example.com"), "order_created"),
                                         (CustomerRef("ann@example.com", user.pk), "order_paid")])
    assert first is second
    profile = CustomerProfile.objects.get()
    assert (profile.user_id, profile.version) == (user.pk, 1)
    assert stages(profile) == [(None, "new", "event")]
    assert profile.transitions.get().event == "order_paid"  # the latest event names it
    assert [c for c in recorder.calls if c[0] == "counted"] == [("counted", "1", False)]


def test_unknown_customers_get_none_and_no_profile(host, clock):
    refs = shop_of(host, 2)
    outcomes = make_engine(host, clock).process_many(
        [(refs[0], "x"), (CustomerRef("nobody@example.com"), "x"), (refs[1], "x")])
    assert outcomes[1] is None and outcomes[0].created and outcomes[2].created
    assert CustomerProfile.objects.count() == 2


def test_two_customers_of_a_batch_on_one_profile_are_decided_in_turn(host, clock):
    """An account that changed its e-mail: the old and the new address name one profile."""
    user = account("new@example.com")
    host.order("old@example.com", T0 - timedelta(days=10))
    engine = make_engine(host, clock)
    engine.process(CustomerRef("old@example.com"))
    CustomerProfile.objects.update(user_id=user.pk)
    host.register("new@example.com", user.pk, T0)
    host.order("new@example.com", T0)
    engine.process_many([(CustomerRef("new@example.com", user.pk), "customer_updated"),
                         (CustomerRef("old@example.com", user.pk), "customer_updated")])
    profile = CustomerProfile.objects.get()  # one profile, decided twice in one transaction
    assert profile.user_id == user.pk
    assert profile.version == 3


def test_an_empty_batch_does_nothing(host, clock):
    with CaptureQueriesContext(connection) as queries:
        assert make_engine(host, clock).process_many([]) == []
    assert len(queries) == 0


class Canceller:
    """Cancels a customer's pending reminders on every counted order, as the win-back action does."""

    def __init__(self, schedule_first=()):
        self.cancelled = {}
        self.schedule_first = set(schedule_first)

    @hookimpl
    def lifecycle_order_counted(self, context, order):
        if context.profile.customer.email in self.schedule_first:
            context.schedule("reminder", key="now", due_at=context.now + timedelta(days=1))
        self.cancelled[context.profile.customer.email] = context.cancel_scheduled("reminder")


def test_cancelling_in_a_batch_asks_once_and_only_touches_customers_with_pending_actions(host, clock):
    refs = shop_of(host, 3)
    engine = make_engine(host, clock)
    engine.process_many([(ref, "order_created") for ref in refs])
    first = CustomerProfile.objects.get(email=refs[0].email)
    ScheduledAction.objects.create(profile=first, action="reminder", dedupe_key="reminder:1", due_at=T0)
    ScheduledAction.objects.create(profile=first, action="other", dedupe_key="other:1", due_at=T0)
    for ref in refs:
        host.order(ref.email, T0 + timedelta(hours=1))
    clock.advance(hours=2)
    canceller = Canceller(schedule_first={refs[2].email})
    engine = make_engine(host, clock, canceller)

    with CaptureQueriesContext(connection) as queries:
        engine.process_many([(ref, "order_created") for ref in refs])

    assert canceller.cancelled == {refs[0].email: 1, refs[1].email: 0, refs[2].email: 1}
    assert set(ScheduledAction.objects.values_list("action", "status")) == {
        ("reminder", "cancelled"), ("other", "pending")}
    scheduled_sql = [q["sql"] for q in queries if ScheduledAction._meta.db_table in q["sql"]]
    # one look for the batch, an UPDATE for refs[0], none for refs[1], the new reminder and its UPDATE for refs[2]
    assert [sql.split()[0] for sql in scheduled_sql] == ["SELECT", "UPDATE", "INSERT", "UPDATE"]


def sweep_ready(host, clock, count):
    refs = [CustomerRef(f"s{index}@example.com") for index in range(count)]
    for ref in refs:
        host.order(ref.email, T0 - timedelta(days=10))
    engine = make_engine(host, clock)
    engine.process_many([(ref, "order_created") for ref in refs])
    clock.advance(days=120)  # every one of them is due: at risk since day 90
    return engine, refs


def test_a_sweep_pushes_back_a_profile_it_cannot_decide_and_advances_the_rest(host, clock, break_decisions):
    engine, refs = sweep_ready(host, clock, 4)
    broken = refs[2].email
    break_decisions(engine, broken)
    report = engine.sweep()

    assert (report.profiles, report.stage_changes) == (4, 3)
    stuck = CustomerProfile.objects.get(email=broken)
    assert stuck.stage != "at_risk" and stuck.next_check_at == clock.now + timedelta(hours=1)
    assert set(CustomerProfile.objects.exclude(email=broken).values_list("stage", flat=True)) == {"at_risk"}


def test_a_sweep_batch_whose_writes_fail_is_written_profile_by_profile(host, clock, monkeypatch):
    from django.db import IntegrityError

    from lifecycle_plugin.engine import plans

    engine, refs = sweep_ready(host, clock, 4)
    broken = CustomerProfile.objects.get(email=refs[1].email).pk
    update = plans._update_profiles

    def update_or_fail(profiles):
        if any(profile.pk == broken for profile in profiles):
            raise IntegrityError("a constraint the database refuses")
        return update(profiles)

    monkeypatch.setattr(plans, "_update_profiles", update_or_fail)
    report = engine.sweep()

    assert (report.profiles, report.stage_changes) == (4, 3)
    assert CustomerProfile.objects.get(pk=broken).next_check_at == clock.now + timedelta(hours=1)
    moved = StageTransition.objects.filter(to_stage="at_risk")
    assert sorted(moved.values_list("profile__email", flat=True)) == sorted(r.email for r in refs if r is not refs[1])


def test_two_addresses_of_one_new_account_in_a_batch_make_one_profile(host, clock):
    """Events under the old and the new e-mail of an account the engine has not seen yet."""
    user = account("new@example.com")
    host.register("new@example.com", user.pk, T0)
    host.order("old@example.com", T0 - timedelta(days=3))
    engine = make_engine(host, clock)
    engine.process_many([(CustomerRef("old@example.com", user.pk), "order_created"),
                         (CustomerRef("new@example.com", user.pk), "customer_updated")])
    profile = CustomerProfile.objects.get()  # not two profiles for one account (nor a failed batch)
    assert (profile.user_id, profile.email, profile.version) == (user.pk, "new@example.com", 2)


def test_an_event_naming_an_account_deleted_since_makes_a_guest_profile(host, clock):
    """The account the event named is gone (its profile with it): the host's answer counts, not the event's."""
    host.order("gone@example.com", T0 - timedelta(days=3))
    (outcome,) = make_engine(host, clock).process_many([(CustomerRef("gone@example.com", 987654), "order_created")])
    profile = CustomerProfile.objects.get()
    assert (profile.pk, profile.user_id, profile.stage) == (outcome.profile_id, None, "new")
    connection.check_constraints()  # what the commit would check: no profile of a missing account
