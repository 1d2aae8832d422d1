"""Per-action results (`engine.action_results`) over Saleor's own orders: the conversions read
`SaleorHost.ladder_sources` (refunds from transactions), checked against plain SQL over the
rows the test wrote in Saleor's `order_order` and the plugin's ledger; and an action's
conversion against its holdout for customers and orders made by Saleor's own mutations
(customerCreate, orderBulkCreate)."""

from . import require_saleor

require_saleor()

from datetime import timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402

import pytest  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from lifecycle_plugin.engine.action_results import action_results  # noqa: E402
from lifecycle_plugin.models import ActionLedgerEntry, CustomerProfile  # noqa: E402
from lifecycle_plugin.runtime import get_engine  # noqa: E402

from .test_flows import ORDER_BULK_CREATE, _bulk_order, mutate  # noqa: E402
from .test_kpis import CUSTOMER_CREATE  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]


def sent(email, at, n, voucher_days=None):
    profile, _ = CustomerProfile.objects.get_or_create(
        email=email, defaults=dict(stage="new", stage_since=at, stage_rule="x", history_cutoff=at, decided_at=at))
    voucher_key = None
    if voucher_days is not None:
        voucher_key = f"repeat_purchase_voucher:{profile.pk}:{n}"
        ActionLedgerEntry.objects.create(
            dedupe_key=voucher_key, action="repeat_purchase_voucher", profile=profile, status="done",
            payload={"for_action": "repeat_purchase"}, completed_at=at,
            result={"code": f"C{n}", "valid_until": (at + timedelta(days=voucher_days)).isoformat()})
    ActionLedgerEntry.objects.create(
        dedupe_key=f"repeat_purchase:{profile.pk}:{n}", action="repeat_purchase", profile=profile, status="done",
        payload={"voucher_entry": voucher_key}, completed_at=at,
        result={"voucher_code": f"C{n}" if voucher_key else None, "sent_at": at.isoformat(), "delivered_by": "notify"})


def test_conversions_over_saleors_orders_match_plain_sql(saleor_store):
    t0 = timezone.now().replace(microsecond=0) - timedelta(days=40)
    ann = saleor_store.account("ann@example.com", joined=t0 - timedelta(days=100))
    sent("ann@example.com", t0, 1, voucher_days=14)
    saleor_store.order("ann@example.com", user_id=ann, placed_at=t0 + timedelta(days=14), total="40.00")
    saleor_store.order("ann@example.com", user_id=ann, placed_at=t0 - timedelta(days=1), total="11.00")
    sent("bob@example.com", t0, 2)
    saleor_store.order("bob@example.com", placed_at=t0 + timedelta(days=7), total="60.00", currency="PLN")
    saleor_store.order("bob@example.com", placed_at=t0 + timedelta(days=2), total="30.00", refunded="30.00")
    saleor_store.order("bob@example.com", placed_at=t0 + timedelta(days=3), total="25.00", status="canceled")
    sent("cat@example.com", t0, 3)
    saleor_store.order("cat@example.com", placed_at=t0 + timedelta(days=7, seconds=1), total="90.00")

    [result] = action_results(get_engine()).actions

    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT count(DISTINCT p.email), o.currency, sum(o.total_gross_amount)
              FROM lifecycle_plugin_actionledgerentry m
              JOIN lifecycle_plugin_customerprofile p ON p.id = m.profile_id
              JOIN order_order o ON lower(o.user_email) = p.email
             WHERE m.action = 'repeat_purchase' AND o.status NOT IN ('draft', 'unconfirmed', 'canceled', 'expired')
               AND NOT EXISTS (SELECT 1 FROM payment_transactionitem t
                                WHERE t.order_id = o.id AND t.refunded_value >= o.total_gross_amount)
               AND o.created_at > m.completed_at
               AND o.created_at <= CASE WHEN m.result->>'voucher_code' IS NULL THEN m.completed_at + interval '7 days'
                                        ELSE m.completed_at + interval '14 days' END
             GROUP BY ROLLUP (o.currency) ORDER BY o.currency NULLS FIRST""")
        rows = cursor.fetchall()
    converted = rows[0][0]
    revenue = {currency: amount for _, currency, amount in rows[1:]}
    assert (result.sent, result.customers, result.vouchers_issued) == (3, 3, 1)
    assert result.converted == converted == 2  # ann at her voucher's end, bob at the 7-day end; cat too late
    assert result.revenue == revenue == {"PLN": Decimal("60.00"), "USD": Decimal("40.00")}


def held_out(email, at, n):
    """A repeat-purchase message skipped for the holdout, as `offers.send_message` leaves it."""
    profile, _ = CustomerProfile.objects.get_or_create(
        email=email, defaults=dict(stage="new", stage_since=at, stage_rule="x", history_cutoff=at, decided_at=at))
    ActionLedgerEntry.objects.create(
        dedupe_key=f"repeat_purchase:{profile.pk}:{n}", action="repeat_purchase", profile=profile, status="skipped",
        payload={"voucher_entry": None}, completed_at=at, result={"skipped": True, "reason": "held out"})


def test_conversion_against_the_holdout_over_customers_and_orders_made_by_saleors_mutations(
        staff_api_client, permission_manage_users, permission_manage_orders_import, permission_group_manage_orders,
        channel_USD, variant, warehouse, graphql_address_data, default_tax_class):
    staff_api_client.user.user_permissions.add(permission_manage_users, permission_manage_orders_import)
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    t0 = timezone.now().replace(microsecond=0) - timedelta(days=30)
    # sent: ann (orders on day 3) and bob (no order); held out: cat (orders on day 5), dan (on day 9: too late)
    orders_on = {"ann@example.com": 3, "bob@example.com": None, "cat@example.com": 5, "dan@example.com": 9}
    for email in orders_on:
        mutate(staff_api_client, CUSTOMER_CREATE, {"input": {"email": email, "firstName": "A"}}, "customerCreate")
    orders = [_bulk_order(email, t0 + timedelta(days=day), variant, warehouse, graphql_address_data, channel_USD,
                          default_tax_class) for email, day in orders_on.items() if day is not None]
    assert mutate(staff_api_client, ORDER_BULK_CREATE, {"orders": orders}, "orderBulkCreate")["count"] == 3
    sent("ann@example.com", t0, 1)
    sent("bob@example.com", t0, 2)
    held_out("cat@example.com", t0, 3)
    held_out("dan@example.com", t0, 4)

    [result] = action_results(get_engine()).actions

    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT m.status, count(DISTINCT p.email), count(DISTINCT p.email) FILTER (WHERE EXISTS (
                       SELECT 1 FROM order_order o JOIN account_user u ON u.id = o.user_id
                        WHERE lower(u.email) = p.email
                          AND o.status NOT IN ('draft', 'unconfirmed', 'canceled', 'expired')
                          AND o.created_at > m.completed_at AND o.created_at <= m.completed_at + interval '7 days'))
              FROM lifecycle_plugin_actionledgerentry m
              JOIN lifecycle_plugin_customerprofile p ON p.id = m.profile_id
             WHERE m.action = 'repeat_purchase' GROUP BY m.status""")
        groups = {status: (customers, converted) for status, customers, converted in cursor.fetchall()}
    lift = result.lift
    assert (lift.treated_customers, lift.treated_converted) == groups["done"] == (2, 1)
    assert (lift.holdout_customers, lift.holdout_converted) == groups["skipped"] == (2, 1)
    assert result.held_back.held_out == 2 and lift.difference == 0.0 and lift.ratio == 1.0
    assert [week.held_out_customers for week in result.weeks] == [2]
