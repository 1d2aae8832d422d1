"""What switching the plugin on costs Saleor's own mutations: checkoutComplete and orderMarkAsPaid.

Run inside a Saleor environment, from the project root:

    python -m pytest bench/saleor            # LIFECYCLE_BENCH_RUNS=60 for more runs

Each mutation runs many times, alternating plugin off and on (the Dashboard switch:
the configuration row's `active`), so drift of the machine hits both sides alike.
Celery is pointed at a real broker (Redis, `LIFECYCLE_BENCH_BROKER`, default
redis://127.0.0.1:6379/15) and not run eagerly, as in production: the request pays
for the hooks and for adding their events to the inbox and for queueing a drain task, which runs later in
a worker. No worker runs here; the queue and the inbox are emptied afterwards.

Prints one JSON line per mutation: median milliseconds off and on, their ratio,
and the SQL queries the plugin adds to each request.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from decimal import Decimal

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from saleor.celeryconf import app as celery_app
from saleor.checkout.fetch import fetch_checkout_info
from saleor.checkout.models import Checkout, CheckoutMetadata
from saleor.checkout.tests.utils import add_variant_to_checkout
from saleor.graphql.checkout.tests.mutations.test_checkout_complete_with_transactions import (
    prepare_checkout_for_test,
)
from saleor.graphql.tests.utils import get_graphql_content
from saleor.order.models import Order
from saleor.plugins.manager import get_plugins_manager
from saleor.warehouse.models import Stock

from lifecycle_plugin import tasks
from lifecycle_plugin.models import InboxState, PendingEvent
from lifecycle_plugin.saleor.plugin import LifecyclePlugin
from tests.saleor.test_flows import CHECKOUT_COMPLETE, ORDER_MARK_AS_PAID, gid

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]

RUNS = int(os.environ.get("LIFECYCLE_BENCH_RUNS", "40"))
WARM_UP = 3
BROKER = os.environ.get("LIFECYCLE_BENCH_BROKER", "redis://127.0.0.1:6379/15")
TARGET_RATIO = 1.05


@pytest.fixture
def production_celery(settings):
    """Tasks go to a real broker instead of running inside the request.

    Saleor's Celery app reads its configuration from Django's settings, so the
    settings fixture (which restores them afterwards) is the way to change it.
    """
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = BROKER
    assert not celery_app.conf.task_always_eager and celery_app.conf.broker_url == BROKER
    yield
    redis.Redis.from_url(BROKER).flushdb()  # drop the queued tasks: no worker runs here


@pytest.fixture
def hook_clock(monkeypatch):
    """Seconds spent in the plugin's Saleor hooks and in queueing their tasks: the plugin's
    own cost on the request, measured directly, where the off/on ratio also carries the
    machine's noise."""
    spent = [0.0]

    def timed(hook):
        return timed_call(hook, spent)

    for name, member in vars(LifecyclePlugin).items():
        if name in SALEOR_HOOKS:
            monkeypatch.setattr(LifecyclePlugin, name, timed(member))
    # A hook adds its event to the inbox inside the hook (in the hook's time above); after
    # the commit the call that raises the inbox's flag queues a drain: in production right
    # after Saleor's commit, here when the test client runs the on-commit callbacks.
    monkeypatch.setattr(tasks, "request_drain", timed_call(tasks.request_drain, spent))
    monkeypatch.setattr(tasks.forget_customer, "apply_async", timed_call(tasks.forget_customer.apply_async, spent))
    return spent


def inbox_statements(figure) -> float:
    """The queries the inbox may add to a request: per event a SAVEPOINT, the INSERT and a
    RELEASE inside Saleor's transaction (no commit of their own), and once after the commit
    the UPDATE that raises the drain flag."""
    return 3 * figure["inbox_events_per_request_plugin_on"] + 1


def timed_call(function, spent):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    return wrapper


SALEOR_HOOKS = {
    "customer_created", "customer_updated", "account_confirmed", "customer_deleted", "account_deleted",
    "customer_metadata_updated", "checkout_created", "checkout_updated", "order_created", "order_confirmed",
    "order_paid", "order_fully_paid", "order_cancelled", "order_expired", "order_refunded",
    "order_fully_refunded", "order_fulfilled", "order_bulk_created",
}


def measure(name, lifecycle_plugin, hook_clock, prepare, run):
    """Alternate off/on runs of `run(prepare())`; only `run` is timed and its queries counted."""
    timings = {False: [], True: []}
    queries = {False: [], True: []}
    in_hooks = []
    broker = redis.Redis.from_url(BROKER)
    broker.flushdb()
    for index in range(2 * (RUNS + WARM_UP)):
        active = index % 2 == 1
        lifecycle_plugin.active = active
        lifecycle_plugin.save(update_fields=["active"])
        # As if a worker had drained the inbox since the last request: every request on
        # pays for its events and for queueing a drain (the most a request can pay).
        InboxState.objects.update(drain_requested=False)
        argument = prepare()
        # Django keeps at most 9,000 logged queries; once full, a capture would count none.
        connection.queries_log.clear()
        hook_clock[0] = 0.0
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            run(argument)
            elapsed = time.perf_counter() - started
        if index >= 2 * WARM_UP:
            timings[active].append(elapsed * 1000)
            queries[active].append(len(captured.captured_queries))
            if active:
                in_hooks.append(hook_clock[0] * 1000)
    # Every queued task is one message on Celery's default queue, every event one inbox row:
    # proof the hooks ran.
    queued = broker.llen("celery") / (RUNS + WARM_UP)
    events = PendingEvent.objects.count() / (RUNS + WARM_UP)
    PendingEvent.objects.all().delete()
    off, on = statistics.median(timings[False]), statistics.median(timings[True])
    figure = {
        "measured": name,
        "runs_each": RUNS,
        "median_ms_plugin_off": round(off, 2),
        "median_ms_plugin_on": round(on, 2),
        "ratio": round(on / off, 3),
        "target_ratio_at_most": TARGET_RATIO,
        "queries_plugin_off": statistics.median(queries[False]),
        "queries_plugin_on": statistics.median(queries[True]),
        "extra_queries": statistics.median(queries[True]) - statistics.median(queries[False]),
        # Saleor's own work can vary from run to run: the spread per side.
        "queries_plugin_off_range": [min(queries[False]), max(queries[False])],
        "queries_plugin_on_range": [min(queries[True]), max(queries[True])],
        "tasks_queued_per_request_plugin_on": queued,
        "inbox_events_per_request_plugin_on": events,
        "median_ms_in_plugin_hooks": round(statistics.median(in_hooks), 3),
        "plugin_hooks_share_of_request": round(statistics.median(in_hooks) / on, 4),
    }
    print(json.dumps(figure))
    return figure


def test_checkout_complete(lifecycle_plugin, production_celery, hook_clock, user_api_client, customer_user, channel_USD,
                           product, address, checkout_shipping, transaction_item_generator,
                           transaction_events_generator, capsys):
    variant = product.variants.first()
    Stock.objects.filter(product_variant=variant).update(quantity=100_000)

    def paid_checkout():
        checkout = Checkout.objects.create(
            currency=channel_USD.currency_code, channel=channel_USD, email=customer_user.email,
            price_expiration=timezone.now() + timezone.timedelta(hours=1),
        )
        checkout.set_country("US", commit=True)
        CheckoutMetadata.objects.create(checkout=checkout)
        info = fetch_checkout_info(checkout, [], get_plugins_manager(allow_replica=False))
        add_variant_to_checkout(info, variant, 1)
        checkout.save()
        return prepare_checkout_for_test(checkout, address, address, checkout_shipping(checkout),
                                         transaction_item_generator, transaction_events_generator,
                                         user=customer_user)

    def complete(checkout):
        content = get_graphql_content(user_api_client.post_graphql(CHECKOUT_COMPLETE, {"id": gid("Checkout", checkout.pk)}))
        assert content["data"]["checkoutComplete"]["order"]["chargeStatus"] == "FULL", content

    with capsys.disabled():
        figure = measure("saleor.checkoutComplete", lifecycle_plugin, hook_clock, paid_checkout, complete)
    assert Order.objects.filter(user=customer_user).count() == 2 * (RUNS + WARM_UP)
    assert figure["extra_queries"] <= inbox_statements(figure)
    assert figure["tasks_queued_per_request_plugin_on"] == 1  # one drain for the request's burst of events
    assert figure["inbox_events_per_request_plugin_on"] >= 1


def test_order_mark_as_paid(lifecycle_plugin, production_celery, hook_clock, staff_api_client, permission_group_manage_orders,
                            order_generator, capsys):
    permission_group_manage_orders.user_set.add(staff_api_client.user)

    def unpaid_order():
        order = order_generator()
        Order.objects.filter(pk=order.pk).update(
            total_gross_amount=Decimal("50"), total_net_amount=Decimal("50"),
            undiscounted_total_gross_amount=Decimal("50"), undiscounted_total_net_amount=Decimal("50"),
        )
        return order

    def mark_as_paid(order):
        content = get_graphql_content(staff_api_client.post_graphql(ORDER_MARK_AS_PAID, {"id": gid("Order", order.pk)}))
        assert content["data"]["orderMarkAsPaid"]["order"]["chargeStatus"] == "FULL", content

    with capsys.disabled():
        figure = measure("saleor.orderMarkAsPaid", lifecycle_plugin, hook_clock, unpaid_order, mark_as_paid)
    assert figure["extra_queries"] <= inbox_statements(figure)
    assert figure["tasks_queued_per_request_plugin_on"] == 1
    assert figure["inbox_events_per_request_plugin_on"] >= 1
