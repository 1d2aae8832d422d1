"""The synthetic store: reproducible, realistic enough that every stage is populated."""

from collections import Counter

import pytest
from django.contrib.auth.models import User
from django.db import connection

from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.models import CustomerProfile, DeletedCustomer
from lifecycle_plugin.rules import Stage
from lifecycle_plugin.sandbox.generator import generate_store, reset_store
from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.models import Checkout, Order, OrderLine

from .conftest import NOW

pytestmark = pytest.mark.django_db


def fingerprint() -> str:
    """A digest of every generated row (ids, e-mails, times, amounts, statuses)."""
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT md5(coalesce((SELECT string_agg(concat_ws('|', id, email, username, date_joined, first_name), ','
                                             ORDER BY id) FROM auth_user), '')
                    || coalesce((SELECT string_agg(concat_ws('|', id, number, user_id, user_email, channel_id,
                                             total_amount, status, charge_status, refunded_amount, created_at,
                                             fulfilled_at), ',' ORDER BY number) FROM lifecycle_sandbox_order), '')
                    || coalesce((SELECT string_agg(concat_ws('|', order_id, product_name, quantity, unit_price), ','
                                             ORDER BY id) FROM lifecycle_sandbox_orderline), '')
                    || coalesce((SELECT string_agg(concat_ws('|', token, user_id, email, lines_count, created_at), ','
                                             ORDER BY token) FROM lifecycle_sandbox_checkout), ''))
        """)
        return cursor.fetchone()[0]


def test_the_same_seed_makes_the_same_store():
    reset_store()  # ids come from the tables' sequences: start both stores from fresh ones
    first = generate_store(customers=300, years=2, seed=11, now=NOW)
    digest = fingerprint()
    reset_store()
    second = generate_store(customers=300, years=2, seed=11, now=NOW)
    assert fingerprint() == digest
    assert first.as_dict() == second.as_dict()
    reset_store()
    generate_store(customers=300, years=2, seed=12, now=NOW)
    assert fingerprint() != digest


def test_the_bulk_load_gives_the_same_rows_and_keeps_the_schema():
    def schema():
        with connection.cursor() as cursor:
            cursor.execute("""
                SELECT c.relname, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
                FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
                WHERE c.relname IN ('auth_user', 'lifecycle_sandbox_order', 'lifecycle_sandbox_orderline',
                                    'lifecycle_sandbox_checkout')
                UNION ALL
                SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
                WHERE conrelid::regclass::text IN ('auth_user', 'lifecycle_sandbox_order',
                                                   'lifecycle_sandbox_orderline', 'lifecycle_sandbox_checkout')
                ORDER BY 1, 2, 3
            """)
            return cursor.fetchall()

    before = schema()
    reset_store()
    generate_store(customers=200, years=1, seed=5, now=NOW, bulk=False)
    digest = fingerprint()
    reset_store()
    generate_store(customers=200, years=1, seed=5, now=NOW, bulk=True)
    assert fingerprint() == digest
    assert schema() == before


def test_the_store_is_shaped_like_a_real_one():
    summary = generate_store(customers=3000, years=3, seed=42, now=NOW)
    assert summary.customers == 3000
    assert User.objects.count() == summary.accounts
    assert Order.objects.count() == summary.orders and OrderLine.objects.count() == summary.order_lines
    assert Checkout.objects.count() == summary.checkouts
    # about a quarter guests, some of whom register later with the e-mail in another case
    assert 0.15 < summary.guests / summary.customers < 0.35
    assert summary.guests_registered_later > 0
    differently_cased = Order.objects.filter(user__isnull=True).extra(
        where=["lower(trim(user_email)) IN (SELECT lower(trim(email)) FROM auth_user WHERE email <> lower(email))"]
    )
    assert differently_cased.exists()
    # ~5 orders a customer; Saleor's statuses in realistic shares
    assert 3 < summary.orders / summary.customers < 8
    statuses = Counter(dict(summary.order_statuses))
    assert 0.03 < statuses["canceled"] / summary.orders < 0.08
    for status in ("expired", "unconfirmed", "draft", "returned", "partially_returned", "unfulfilled"):
        assert statuses[status] > 0, status
    assert Order.objects.filter(charge_status="none", status="fulfilled").exists()  # some unpaid
    assert Order.objects.filter(channel__slug="channel-pln", currency="PLN").exists()
    assert not Order.objects.exclude(created_at__lte=NOW).exists()
    assert Checkout.objects.filter(lines_count=0).exists() and Checkout.objects.filter(lines_count__gt=0).exists()
    with connection.cursor() as cursor:  # lines add up to the order total
        cursor.execute("""SELECT count(*) FROM lifecycle_sandbox_order o
                          WHERE o.total_amount <> (SELECT sum(quantity * unit_price) FROM lifecycle_sandbox_orderline
                                                   WHERE order_id = o.id)""")
        assert cursor.fetchone()[0] == 0


def test_every_default_stage_is_well_populated(engine, clock):
    generate_store(customers=3000, years=3, seed=42, now=NOW)
    report = backfill(engine, chunk_size=700)
    assert report.customers == SandboxHost().count_customers()
    counts = Counter(CustomerProfile.objects.values_list("stage", flat=True))
    total = sum(counts.values())
    for stage in Stage:
        assert counts[stage.value] / total > 0.02, (stage, counts)


def test_generate_refuses_a_store_with_customers(db):
    generate_store(customers=10, seed=1, now=NOW)
    with pytest.raises(RuntimeError, match="reset"):
        generate_store(customers=10, seed=1, now=NOW)


def test_emptying_the_store_is_not_deleting_customers(django_capture_on_commit_callbacks):
    """With a staff account kept, reset_store deletes the customers' accounts one by one;
    that must leave no tombstones, or the next store's customers of the same e-mails
    (the same seed makes the same e-mails) would be hidden from the engine."""
    User.objects.create(username="staff", email="staff@example.com", is_staff=True)
    generate_store(customers=50, years=1, seed=3, now=NOW)
    with django_capture_on_commit_callbacks(execute=True):
        reset_store()
    generate_store(customers=50, years=1, seed=3, now=NOW)

    assert not DeletedCustomer.objects.exists()
    engine = LifecycleEngine(SandboxHost(), plugin_manager=make_plugin_manager(load_entry_points=False))
    assert backfill(engine, chunk_size=100).created == 50
