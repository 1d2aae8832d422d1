"""The event inbox on Saleor: what Saleor's real mutations, hooks and tasks add to it, one
drain per burst of events, the drain task deciding the customers and projecting their stage
onto Saleor's User, and both sides under Saleor's writer-database guard.

Most tests hold the drain back (the `inbox` fixture) to see what waits in the inbox, then
run the real `drain_events` task the way a worker takes it.
"""

from . import require_saleor

require_saleor()

import json  # noqa: E402
import logging  # noqa: E402
from contextlib import nullcontext  # noqa: E402
from datetime import timedelta  # noqa: E402

import pytest  # noqa: E402
from django.conf import settings as django_settings  # noqa: E402
from django.db import connections, transaction  # noqa: E402
from django.test import TestCase  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from saleor.account.models import User  # noqa: E402
from saleor.celeryconf import app  # noqa: E402
from saleor.core.db.connection import UnsafeWriterAccessError  # noqa: E402
from saleor.core.tasks import RestrictWriterDBTask  # noqa: E402
from saleor.graphql.tests.utils import get_graphql_content  # noqa: E402
from saleor.order.models import Order  # noqa: E402
from saleor.order.tasks import expire_orders_task  # noqa: E402
from saleor.plugins.manager import get_plugins_manager  # noqa: E402

from lifecycle_plugin import tasks  # noqa: E402
from lifecycle_plugin.apps import beat_schedule  # noqa: E402
from lifecycle_plugin.models import CustomerProfile, PendingEvent, StageTransition  # noqa: E402

from .test_flows import (  # noqa: E402
    DRAFT_ORDER_COMPLETE,
    ORDER_BULK_CREATE,
    ORDER_CANCEL,
    ORDER_MARK_AS_PAID,
    STAGE,
    _bulk_order,
    complete_paid_checkout,  # noqa: F401 - a fixture
    gid,
    mutate,
    profile,
    projected,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]

ACCOUNT_UPDATE = """
mutation ($input: AccountInput!) {
  accountUpdate(input: $input) { errors { field code message } user { firstName } }
}"""


def drained(report: dict, events: int) -> bool:
    return report == {"events": events, "batches": 1, "failed": 0, "more": False}


# ---------------------------------------------------------------------- what the hooks add


def test_checkout_complete_adds_the_customers_events_and_queues_one_drain(complete_paid_checkout, customer_user,
                                                                          inbox):
    order = complete_paid_checkout()

    rows = inbox.rows()
    # Every order event checkoutComplete fires (fully paid by transaction), keyed by the
    # account, although the order's contact e-mail is another one.
    assert order.user_email != customer_user.email
    assert {(email, user_id) for email, user_id, _ in rows} == {(customer_user.email, customer_user.pk)}
    assert {"order_created", "order_paid", "order_fully_paid", "order_confirmed"} <= {event for *_, event in rows}
    # A burst of events, one drain: only the first event raised the flag.
    assert len(rows) >= 4 and inbox.drains == [()]
    assert inbox.flag_raised()
    # Nothing was decided in the request.
    assert not CustomerProfile.objects.exists()
    assert projected(customer_user) is None


def test_the_drain_decides_the_customer_and_projects_the_stage_on_the_saleor_user(complete_paid_checkout,
                                                                                 customer_user, inbox):
    complete_paid_checkout()
    burst = inbox.events()

    assert drained(inbox.drain(), len(burst))

    assert inbox.rows() == [] and not inbox.flag_raised()
    found = profile(customer_user.email)
    assert (found.stage, found.user_id, found.orders_count) == ("new", customer_user.pk, 1)
    # The whole burst is one decision, named after the customer's latest event.
    (move,) = StageTransition.objects.filter(profile=found)
    assert (move.from_stage, move.to_stage, move.rule, move.reason, move.event) == (
        None, "new", "new:one_order", "event", burst[-1])
    # The projection on Saleor's User: the stage in public metadata, a summary in private.
    customer_user.refresh_from_db(fields=["metadata", "private_metadata"])
    assert customer_user.metadata[STAGE] == "new"
    assert customer_user.metadata["key"] == "value"  # the customer's own metadata is kept
    assert json.loads(customer_user.private_metadata["lifecycle.profile"])["orders"] == 1
    # Nothing left: a second drain finds nothing and queues no other.
    assert inbox.drain() == {"events": 0, "batches": 0, "failed": 0, "more": False}
    assert inbox.drains == [()]


def test_requests_until_the_drain_runs_queue_no_other_and_beats_drain_takes_them(staff_orders, draft_order,
                                                                                customer_user, inbox):
    order_id = gid("Order", draft_order.pk)
    mutate(staff_orders, DRAFT_ORDER_COMPLETE, {"id": order_id}, "draftOrderComplete")
    assert len(inbox.drains) == 1
    # That drain is lost (a broker hiccup, a worker killed): the flag stays up, so the
    # next request adds its events without queueing another ...
    mutate(staff_orders, ORDER_MARK_AS_PAID, {"id": order_id}, "orderMarkAsPaid")
    assert len(inbox.drains) == 1 and inbox.flag_raised()
    assert inbox.rows() == [(customer_user.email, customer_user.pk, event)
                            for event in ("order_created", "order_confirmed", "order_fully_paid")]

    # ... and the drain beat sends every minute, by the task's name, takes them all.
    entry = beat_schedule()["lifecycle-drain-events"]
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert drained(app.tasks[entry["task"]].apply().get(), 3)
    assert profile(customer_user.email).stage == "new" and projected(customer_user) == "new"
    assert not inbox.flag_raised()

    # With the flag down, the next event queues a drain again.
    mutate(staff_orders, ORDER_CANCEL, {"id": order_id}, "orderCancel")
    assert len(inbox.drains) == 2
    assert "order_cancelled" in inbox.events()
    inbox.drain()
    assert profile(customer_user.email).stage == "lead"


def test_order_bulk_create_adds_every_customer_in_one_statement(
    staff_api_client, permission_manage_orders_import, permission_group_manage_orders, channel_USD, variant,
    warehouse, graphql_address_data, default_tax_class, inbox,
):
    staff_api_client.user.user_permissions.add(permission_manage_orders_import)
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    now = timezone.now()
    accounts = {email: User.objects.create(email=email) for email in ("first@example.com", "second@example.com")}
    guest = "Guest.Importer@Example.com"  # no account: a guest's orders, keyed by the lower-cased e-mail
    history_of = {"first@example.com": [40, 10], "second@example.com": [300, 200, 100, 10], guest: [20, 5]}
    orders = [_bulk_order(email, now - timedelta(days=days), variant, warehouse, graphql_address_data, channel_USD,
                          default_tax_class)
              for email, days_ago in history_of.items() for days in days_ago]

    with CaptureQueriesContext(connections[django_settings.DATABASE_CONNECTION_DEFAULT_NAME]) as queries:
        data = mutate(staff_api_client, ORDER_BULK_CREATE, {"orders": orders}, "orderBulkCreate")
    assert data["count"] == 8

    inserts = [q["sql"] for q in queries.captured_queries if "INSERT INTO lifecycle_plugin_pendingevent" in q["sql"]]
    assert len(inserts) == 1  # eight orders, three customers, one statement
    assert sorted(inbox.rows()) == sorted([
        ("first@example.com", accounts["first@example.com"].pk, "order_bulk_created"),
        ("second@example.com", accounts["second@example.com"].pk, "order_bulk_created"),
        (guest.lower(), None, "order_bulk_created"),
    ])
    assert inbox.drains == [()]

    assert drained(inbox.drain(), 3)
    stages = {email: profile(email).stage for email in history_of}
    assert stages == {"first@example.com": "repeat", "second@example.com": "loyal", guest: "repeat"}
    assert profile(guest).user_id is None and profile(guest).orders_count == 2


def test_an_event_from_one_of_saleors_tasks_reaches_the_inbox(order_unconfirmed, channel_USD, customer_user, inbox):
    # Saleor's beat expires unconfirmed orders; order_expired fires inside that task.
    channel_USD.expire_orders_after = 5
    channel_USD.save(update_fields=["expire_orders_after"])
    Order.objects.filter(pk=order_unconfirmed.pk).update(created_at=timezone.now() - timedelta(minutes=10))

    with TestCase.captureOnCommitCallbacks(execute=True):
        expire_orders_task.delay()

    assert Order.objects.get(pk=order_unconfirmed.pk).status == "expired"
    assert inbox.rows() == [(customer_user.email, customer_user.pk, "order_expired")]
    assert len(inbox.drains) == 1
    assert drained(inbox.drain(), 1)
    assert profile(customer_user.email).stage == "lead"  # an expired order is not a purchase


def test_a_hook_called_inside_saleors_transaction_writes_its_event_there_and_asks_for_a_drain_after_the_commit(
        order_unconfirmed, customer_user, inbox):
    # Saleor's mutations mostly call hooks after their commit (call_event defers them with
    # on_commit: draftOrderComplete, checkoutComplete); a hook called inside an atomic block
    # writes its event in that transaction, so it commits, or rolls back, with the order.
    manager = get_plugins_manager(allow_replica=False)
    with TestCase.captureOnCommitCallbacks() as after_commit, transaction.atomic():
        manager.order_confirmed(order_unconfirmed)
        assert inbox.rows() == [(customer_user.email, customer_user.pk, "order_confirmed")]
    assert inbox.drains == [] and not inbox.flag_raised()  # nothing before the commit
    assert len(after_commit) == 1  # one drain request for the transaction
    after_commit[0]()
    assert inbox.drains == [()] and inbox.flag_raised()

    with pytest.raises(RuntimeError), transaction.atomic():
        manager.order_cancelled(order_unconfirmed)
        raise RuntimeError("the mutation fails after the hook")
    assert inbox.events() == ["order_confirmed"]  # the event of the rolled-back change is gone


# ---------------------------------------------------------------------- the plugin switched off


def test_hooks_add_nothing_while_the_plugin_is_off(complete_paid_checkout, user_api_client, staff_orders,
                                                   draft_order, customer_user, lifecycle_plugin, inbox):
    lifecycle_plugin.active = False
    lifecycle_plugin.save(update_fields=["active"])

    complete_paid_checkout()
    mutate(user_api_client, ACCOUNT_UPDATE, {"input": {"firstName": "Renamed"}}, "accountUpdate")
    mutate(staff_orders, DRAFT_ORDER_COMPLETE, {"id": gid("Order", draft_order.pk)}, "draftOrderComplete")

    assert not PendingEvent.objects.exists()
    assert inbox.drains == [] and not inbox.flag_raised()
    assert not CustomerProfile.objects.exists() and projected(customer_user) is None


def test_events_waiting_when_the_plugin_is_switched_off_wait_for_it(staff_orders, draft_order, customer_user,
                                                                    lifecycle_plugin, inbox):
    mutate(staff_orders, DRAFT_ORDER_COMPLETE, {"id": gid("Order", draft_order.pk)}, "draftOrderComplete")
    waiting = inbox.rows()
    assert len(waiting) == 2

    lifecycle_plugin.active = False
    lifecycle_plugin.save(update_fields=["active"])
    assert inbox.drain() is None  # the drain queued before does nothing ...
    assert inbox.rows() == waiting  # ... and drops nothing
    assert not CustomerProfile.objects.exists()

    lifecycle_plugin.active = True
    lifecycle_plugin.save(update_fields=["active"])
    assert drained(inbox.drain(), 2)
    assert profile(customer_user.email).stage == "new"


# ---------------------------------------------------------------------- Saleor's writer guard

RESTRICT_WRITER = "saleor.core.db.connection.restrict_writer_middleware"
LOG_WRITER_USAGE = "saleor.core.db.connection.log_writer_usage_middleware"


def commit_inside_the_request(get_response):
    """Middleware: a request's after-commit work runs inside the request, as in production,
    where the mutation's transaction commits during the request (a test's never does, and
    Saleor's test client runs that work after the request instead)."""

    def middleware(request):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return get_response(request)

    return middleware


@pytest.fixture
def production_request(settings, caplog):
    """Requests under Saleor's production writer guard (ENABLE_RESTRICT_WRITER_MIDDLEWARE),
    with their after-commit work inside them. Returns: the unsafe writer queries logged so
    far that are the plugin's.

    That guard logs each query to the writer outside allow_writer() with its stack, which
    tells whose query it was. The test settings' guard raises instead, and Saleor's own
    after-commit work (e.g. draftOrderComplete saving the order's addresses) does not pass it.
    """
    settings.MIDDLEWARE = [LOG_WRITER_USAGE, f"{__name__}.commit_inside_the_request",
                           *[name for name in settings.MIDDLEWARE if name != RESTRICT_WRITER]]
    caplog.set_level(logging.WARNING, logger="saleor.core.db.connection")

    def ours() -> list[str]:
        return [record.getMessage() for record in caplog.records
                if record.name == "saleor.core.db.connection" and "lifecycle_plugin" in record.getMessage()]

    return ours


def post(client, query: str, variables: dict, name: str) -> dict:
    """A GraphQL request through the client's plain post (post_graphql runs the after-commit
    work itself, after the request)."""
    data = get_graphql_content(client.post({"query": query, "variables": variables}))["data"][name]
    assert not data["errors"], data["errors"]
    return data


@pytest.mark.parametrize("drain", ["held", "eager"])
def test_a_requests_events_pass_saleors_writer_guard(drain, production_request, staff_orders, draft_order,
                                                     customer_user, request, lifecycle_task_failures):
    # held: a worker drains later; eager: no broker, so Saleor runs the drain inside the request.
    held = request.getfixturevalue("inbox") if drain == "held" else None

    data = post(staff_orders, DRAFT_ORDER_COMPLETE, {"id": gid("Order", draft_order.pk)}, "draftOrderComplete")

    assert data["order"]["status"] == "UNFULFILLED"
    if held is not None:
        assert held.rows() == [(customer_user.email, customer_user.pk, "order_created"),
                               (customer_user.email, customer_user.pk, "order_confirmed")]
        assert len(held.drains) == 1
    else:
        assert not PendingEvent.objects.exists()
        assert profile(customer_user.email).stage == "new" and projected(customer_user) == "new"
    assert production_request() == []
    assert not lifecycle_task_failures


def test_the_guard_check_sees_an_inbox_write_outside_allow_writer(production_request, staff_orders, draft_order,
                                                                  inbox, monkeypatch):
    # What the test above would see if queue_events wrote without allow_writer().
    monkeypatch.setattr(tasks, "allow_writer", nullcontext)

    post(staff_orders, DRAFT_ORDER_COMPLETE, {"id": gid("Order", draft_order.pk)}, "draftOrderComplete")

    logged = production_request()
    inserts = [message for message in logged if "INSERT INTO lifecycle_plugin_pendingevent" in message]
    assert len(inserts) == 2
    # The rest: the savepoint around each INSERT, and the drain flag raised after the commit.
    assert all(any(statement in message for statement in ("SAVEPOINT", "UPDATE lifecycle_plugin_inboxstate"))
               for message in logged if message not in inserts)
    assert len(inbox.rows()) == 2  # production's guard only logs


def test_the_drain_task_writes_only_inside_allow_writer(staff_orders, draft_order, customer_user, inbox,
                                                        monkeypatch, lifecycle_task_failures):
    assert isinstance(tasks.drain_events, RestrictWriterDBTask)
    mutate(staff_orders, DRAFT_ORDER_COMPLETE, {"id": gid("Order", draft_order.pk)}, "draftOrderComplete")
    waiting = inbox.rows()

    # Without the task's allow_writer() Saleor's task guard refuses its first query ...
    with monkeypatch.context() as patch:
        patch.setattr(tasks, "allow_writer", nullcontext)
        tasks.drain_events.apply()
    assert [type(error) for _, error in lifecycle_task_failures] == [UnsafeWriterAccessError]
    lifecycle_task_failures.clear()
    assert inbox.rows() == waiting  # ... and the events wait for the next drain

    # With it, the same task under the same guard drains them.
    assert drained(inbox.drain(), len(waiting))
    assert not lifecycle_task_failures
    assert profile(customer_user.email).stage == "new"
