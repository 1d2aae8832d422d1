"""The synthetic store has carts to remind of: open carts with named lines, and carts completed
an hour or three after they were filled; replaying its last days sends reminders for the first
kind only."""

from datetime import timedelta

import pytest
from django.db import connection

from lifecycle_plugin.conf import load_settings
from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.models import ScheduledAction
from lifecycle_plugin.sandbox.commands.common import DEMO_ACTION_SETTINGS
from lifecycle_plugin.sandbox.generator import generate_store
from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.models import Checkout, CheckoutLine, OutboxMessage
from lifecycle_plugin.sandbox.replay import SimulatedClock, replay_days

from .conftest import NOW

pytestmark = pytest.mark.django_db

DAYS = 20


def rows(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def test_the_generated_store_has_carts_with_lines_some_completed_by_an_order():
    summary = generate_store(customers=600, years=2, seed=5, now=NOW)
    assert summary.completed_checkouts > 0 and summary.checkout_lines == CheckoutLine.objects.count()
    # Every checkout has as many line rows as it says, each a named product.
    assert rows(f"""SELECT c.token FROM {Checkout._meta.db_table} c
                     LEFT JOIN {CheckoutLine._meta.db_table} l ON l.checkout_id = c.token
                    GROUP BY c.token, c.lines_count HAVING count(l.id) <> c.lines_count""") == []
    assert not CheckoutLine.objects.filter(product_name="").exists()
    # A completed cart: the same customer placed an order 1 to 3 hours after filling it.
    completed = rows(f"""SELECT count(DISTINCT c.token) FROM {Checkout._meta.db_table} c
                          JOIN lifecycle_sandbox_order o ON lower(o.user_email) = lower(c.email)
                         WHERE o.created_at > c.created_at AND o.created_at <= c.created_at + interval '3 hours'""")
    assert completed[0][0] >= summary.completed_checkouts


def test_replayed_days_remind_of_left_carts_and_not_of_completed_ones(django_capture_on_commit_callbacks):
    generate_store(customers=1500, years=2, seed=5, now=NOW)
    clock = SimulatedClock(NOW - timedelta(days=DAYS))
    loaded = load_settings(DEMO_ACTION_SETTINGS)
    engine = LifecycleEngine(SandboxHost(as_of=clock), loaded.config, clock=clock, settings=loaded.values,
                             plugin_manager=make_plugin_manager(load_entry_points=False))
    backfill(engine)
    with django_capture_on_commit_callbacks(execute=True):
        replay_days(engine, clock, NOW)

    reminders = list(OutboxMessage.objects.filter(action="abandoned_checkout"))
    assert reminders, "the replay sent no abandoned-checkout reminder"
    for message in reminders:
        token = message.payload["checkout"]["token"]
        cart = Checkout.objects.get(token=token)
        names = sorted(CheckoutLine.objects.filter(checkout=cart).values_list("product_name", flat=True))
        assert sorted(p["name"] for p in message.payload["products"]) == names
        assert message.payload["checkout"]["url"] == f"https://shop.example.com/checkout?token={token}"
        # Never for a cart the customer ordered after, by the time it was sent (plain SQL over the
        # store's rows; generated carts last changed when they were made).
        sent_at = cart.created_at + timedelta(hours=4 if message.payload["reminder"]["number"] == 1 else 24)
        [(later,)] = rows("""SELECT count(*) FROM lifecycle_sandbox_order o
                              WHERE (o.user_id = %s OR lower(o.user_email) = %s) AND o.created_at >= %s
                                AND o.created_at <= %s AND o.status <> 'draft'""",
                          [cart.user_id, message.email, cart.created_at, sent_at])
        assert later == 0, token
    # Carts completed within the replayed days were filled, scheduled and then given up.
    completed = rows(f"""SELECT DISTINCT c.token::text FROM {Checkout._meta.db_table} c
                          JOIN lifecycle_sandbox_order o ON lower(o.user_email) = lower(c.email)
                         WHERE c.created_at > %s AND o.created_at > c.created_at
                           AND o.created_at <= c.created_at + interval '3 hours'""", [NOW - timedelta(days=DAYS)])
    assert completed
    reminded = {m.payload["checkout"]["token"] for m in reminders}
    assert reminded.isdisjoint(token for (token,) in completed)
    given_up = ScheduledAction.objects.filter(action="abandoned_checkout", payload__token__in=[t for (t,) in completed])
    assert given_up.exists() and not given_up.filter(status="done").exists()
