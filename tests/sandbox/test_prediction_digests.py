"""The prediction's reading from the ladder digests gives exactly the arrays the readers
over the host (its orders SELECT, and its facts) give, on a store with every kind of
order the ladder leaves out or counts, and the same rows plain SQL over the sandbox
tables finds; with "paid only" off and on; and the run reads the digests."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection

from lifecycle_plugin.engine import predictions
from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.engine.digest_writes import fill_missing, missing_count
from lifecycle_plugin.engine.prediction_orders import read_counted_orders_through_facts
from lifecycle_plugin.engine.prediction_orders_digest import _UNSETTLED_SQL, read_counted_orders_from_digests
from lifecycle_plugin.engine.prediction_orders_sql import read_counted_orders_in_sql
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.models import CustomerProfile, DeletedCustomer, LadderDigest
from lifecycle_plugin.rules.digest import DIGEST_VERSION
from lifecycle_plugin.sandbox.generator import generate_store
from lifecycle_plugin.sandbox.models import OrderStatus

np = pytest.importorskip("numpy")

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
DELETED_AT = NOW - timedelta(days=10)
GUEST = "same.moment@example.com"
ACCOUNT = "account.holder@example.com"


@pytest.fixture
def shop(store, engine, clock):
    """A generated store plus customers written to hit each rule: refunds, unpaid,
    cancelled and draft orders, two currencies, guests, confirmed and unconfirmed
    accounts, orders at the same microsecond, a future order, a deleted customer."""
    clock.now = NOW
    generate_store(customers=300, years=2, seed=23, now=NOW)
    pln = "channel-pln"
    day = timedelta(days=1)
    moment = NOW - 40 * day + timedelta(microseconds=123_457)

    guest = GUEST
    for total in ("10.10", "20.20", "0.70"):  # three orders of one currency at one microsecond
        store.place_order(guest, total, at=moment, notify=False)
    store.place_order(guest, "5.00", at=moment, channel=pln, notify=False)  # the same microsecond in PLN
    store.place_order(guest, "7.00", at=moment + timedelta(hours=2), notify=False)  # same day, later
    store.place_order(guest, "9.99", at=NOW - 3 * day, paid=False, notify=False)
    partly = store.place_order(guest, "80.00", at=NOW - 20 * day, notify=False)
    store.refund_order(partly, "30.55")
    fully = store.place_order(guest, "40.00", at=NOW - 19 * day, notify=False)
    store.refund_order(fully)
    store.cancel_order(store.place_order(guest, "60.00", at=NOW - 18 * day, notify=False))
    store.place_order(guest, "70.00", at=NOW - 17 * day, status=OrderStatus.DRAFT, notify=False)
    store.place_order(guest, "30.00", at=NOW + day, notify=False)  # after the run's now

    account = store.register(ACCOUNT, at=NOW - 400 * day, notify=False)
    store.place_order(account, "15.00", at=NOW - 300 * day, notify=False)
    store.place_order("Account.Holder@example.com ", "25.00", at=NOW - 200 * day, notify=False)  # a guest order of theirs
    # Paid only: a paid PLN order of 0 at the microsecond of an unpaid USD order; the
    # digest alone cannot tell which currency's entry is paid.
    tie = NOW - 100 * day + timedelta(microseconds=5)
    store.place_order(account, "0.00", at=tie, channel=pln, notify=False)
    store.place_order(account, "12.00", at=tie, paid=False, notify=False)
    store.place_order(account, "0.00", at=NOW - 50 * day, notify=False)  # paid, nothing spent

    unconfirmed = store.register("not.confirmed@example.com", at=NOW - 90 * day, confirmed=False, notify=False)
    store.place_order(unconfirmed, "33.00", at=NOW - 80 * day, notify=False)
    store.place_order(unconfirmed, "44.00", at=NOW - 10 * day, channel=pln, notify=False)
    store.place_order(unconfirmed, "0.00", at=NOW - 60 * day, notify=False)  # paid, nothing spent

    backfill(engine)

    # A customer deleted once comes back: only their orders after the deletion count.
    with connection.cursor() as cursor:
        cursor.execute("""SELECT email FROM lifecycle_plugin_customerprofile
                          WHERE orders_count >= 2 AND user_id IS NULL AND email <> %s ORDER BY email LIMIT 1""",
                       [guest])
        (deleted,) = cursor.fetchone()
    engine.forget(CustomerRef(deleted))
    DeletedCustomer.objects.update(deleted_at=DELETED_AT)  # tombstones take the wall clock
    clock.now = NOW - 5 * day
    store.place_order(deleted, "61.00", at=clock.now, notify=False)
    engine.process(CustomerRef(deleted))
    clock.now = NOW

    # Profiles written before the digest existed, or with an older version of it.
    ids = list(CustomerProfile.objects.order_by("id").values_list("id", flat=True))
    LadderDigest.objects.filter(profile_id__in=ids[::7]).delete()
    LadderDigest.objects.filter(profile_id__in=ids[3::11]).update(version=DIGEST_VERSION - 1)
    assert missing_count() > 40
    engine.deleted_email = deleted
    return engine


def entries(arrays) -> tuple[list, list, list, list]:
    """The arrays as they are, in their order (currencies by code)."""
    return (arrays.profile.tolist(), arrays.day.tolist(), arrays.amount.tolist(),
            [arrays.currencies[index] for index in arrays.currency.tolist()])


def independent_entries(paid_only: bool, deleted_email: str) -> tuple[list, ...]:
    """Plain SQL over the sandbox tables: per profile, currency and moment, the counted
    orders' net amounts added (numeric, then float8), in (profile, moment, currency) order;
    the deleted customer's orders up to the deletion left out."""
    paid = "AND o.charge_status IN ('full', 'overcharged')" if paid_only else ""
    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT p.id, (o.created_at AT TIME ZONE 'UTC')::date - DATE '0001-01-01' + 1,
                   sum(o.total_amount - o.refunded_amount)::float8, o.currency
            FROM lifecycle_sandbox_order o
            LEFT JOIN auth_user u ON u.id = o.user_id
            JOIN lifecycle_plugin_customerprofile p ON p.email = lower(trim(coalesce(u.email, o.user_email)))
            WHERE o.status NOT IN ('draft', 'unconfirmed', 'canceled', 'expired')
              AND NOT (o.total_amount > 0 AND o.refunded_amount >= o.total_amount)
              AND o.created_at <= %s {paid}
              AND NOT (p.email = %s AND o.created_at <= %s)
            GROUP BY p.id, o.created_at, o.currency
            ORDER BY p.id, o.created_at, o.currency COLLATE "C" """, [NOW, deleted_email, DELETED_AT])
        return tuple(map(list, zip(*cursor.fetchall())))


@pytest.mark.parametrize("paid_only", [False, True])
def test_the_digests_give_the_arrays_the_hosts_orders_give(shop, paid_only):
    shop.config = dataclasses.replace(shop.config, count_only_paid=paid_only)

    from_digests = read_counted_orders_from_digests(shop)
    assert missing_count() == 0  # the profiles without one were given a digest first
    through_sql = read_counted_orders_in_sql(shop.host.ladder_sources(), shop.config, NOW)
    through_facts = read_counted_orders_through_facts(shop, chunk_size=53)

    assert entries(from_digests) == entries(through_sql) == entries(through_facts)
    assert entries(from_digests) == independent_entries(paid_only, shop.deleted_email)
    assert len(from_digests.profile) > 700
    for arrays in (through_sql, through_facts):
        assert (from_digests.customers, from_digests.repeat_buyers) == (arrays.customers, arrays.repeat_buyers)
    assert from_digests.unprofiled is None

    # Three USD orders and a PLN one at one microsecond: one entry per currency, the USD
    # amounts added exactly (10.10 + 20.20 + 0.70 as floats is 31.000000000000004).
    guest = CustomerProfile.objects.get(email=GUEST).pk
    theirs = [(day, amount, code) for profile, day, amount, code in zip(*entries(from_digests)) if profile == guest]
    first = (NOW - timedelta(days=40)).date().toordinal()
    assert theirs[:3] == [(first, 5.0, "PLN"), (first, 31.0, "USD"), (first, 7.0, "USD")]
    assert [amount for _, amount, _ in theirs[3:]] == [49.45] + ([] if paid_only else [9.99])


def test_paid_only_reads_the_profiles_the_digest_cannot_settle_through_the_host(shop):
    fill_missing(shop.host, NOW)
    with connection.cursor() as cursor:
        cursor.execute(_UNSETTLED_SQL, {"version": DIGEST_VERSION})
        unsettled = [profile_id for (profile_id,) in cursor.fetchall()]
    assert unsettled == [CustomerProfile.objects.get(email=ACCOUNT).pk]


def test_the_run_reads_the_digests(shop, monkeypatch):
    called = []
    monkeypatch.setattr(predictions, "read_counted_orders_from_digests",
                        lambda engine, chunk_size: called.append(engine) or read_counted_orders_from_digests(engine))
    predictions.read_counted_orders(shop)
    assert called == [shop]
