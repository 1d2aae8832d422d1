"""`lifecycleActionResults`: its figures against plain SQL over the ledger and order rows
the test wrote (not `engine.action_results`), bad input naming the argument, permissions,
and a host without SQL over its orders."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection

from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.graphql.execution import execute_graphql
from lifecycle_plugin.graphql.viewer import Viewer
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.models import ActionLedgerEntry, CustomerProfile
from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.models import Order
from lifecycle_plugin.sandbox.store import SandboxStore

from .conftest import codes, customer_viewer, staff_viewer

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
DAY = timedelta(days=1)
SINCE, UNTIL = T0 - 10 * DAY, T0 + 40 * DAY

QUERY = """query($since: DateTime!, $until: DateTime!, $windowDays: Int) {
  lifecycleActionResults(since: $since, until: $until, windowDays: $windowDays) {
    since until windowDays conversionsUnavailable
    actions { action sent customers vouchersIssued failed pending recorded converted orders conversionRate
              heldBack { consent total } revenue { currency amount } }
  }
}"""


@pytest.fixture
def clock_start():
    return T0 + 60 * DAY


@pytest.fixture
def engine(clock):
    return LifecycleEngine(SandboxHost(), clock=clock, plugin_manager=make_plugin_manager(load_entry_points=False))


def admin_viewer():
    return Viewer.app(can_manage_users=True)


def run(engine, viewer, **variables):
    variables = {"since": SINCE.isoformat(), "until": UNTIL.isoformat(), **variables}
    return execute_graphql({"query": QUERY, "variables": variables}, viewer, engine_factory=lambda: engine)


class Writer:
    """Ledger rows as the actions leave them (`actions.offers`): a sent message, its voucher, a skip."""

    def __init__(self):
        self.profiles, self.n = {}, 0

    def profile(self, email):
        if email not in self.profiles:
            self.profiles[email] = CustomerProfile.objects.create(
                email=email, stage="new", stage_since=T0 - 90 * DAY, stage_rule="orders",
                history_cutoff=T0 - 90 * DAY, decided_at=T0)
        return self.profiles[email]

    def entry(self, action, email, status, at, result=None, payload=None):
        self.n += 1
        row = ActionLedgerEntry.objects.create(
            dedupe_key=f"{action}:{email}:{self.n}", action=action, profile=self.profile(email), status=status,
            result=result or {}, payload=payload or {},
            completed_at=at if status in ("done", "skipped", "cancelled") else None)
        ActionLedgerEntry.objects.filter(pk=row.pk).update(created_at=at)
        return row

    def sent(self, action, email, at, voucher_days=None):
        voucher = None
        if voucher_days is not None:
            voucher = self.entry(f"{action}_voucher", email, "done", at, payload={"for_action": action},
                                 result={"code": f"C{self.n}", "valid_until": (at + voucher_days * DAY).isoformat()})
        return self.entry(action, email, "done", at,
                          result={"voucher_code": voucher.result["code"] if voucher else None,
                                  "sent_at": at.isoformat(), "delivered_by": "notify"},
                          payload={"voucher_entry": voucher.dedupe_key if voucher else None})


@pytest.fixture
def written(db):
    shop, ledger = SandboxStore(None), Writer()
    # repeat_purchase: ann with a 14-day voucher orders on day 10 (USD) and day 12 (PLN);
    # bob (7 days) on day 8, too late; cat on day 3 and before the message (not counted).
    ledger.sent("repeat_purchase", "ann@example.com", T0, voucher_days=14)
    shop.place_order("ann@example.com", "40.00", at=T0 + 10 * DAY, notify=False)
    shop.place_order("ann@example.com", "25.50", channel="channel-pln", at=T0 + 12 * DAY, notify=False)
    ledger.sent("repeat_purchase", "bob@example.com", T0)
    shop.place_order("bob@example.com", "100.00", at=T0 + 8 * DAY, notify=False)
    ledger.sent("repeat_purchase", "cat@example.com", T0 + DAY)
    shop.place_order("cat@example.com", "30.00", at=T0 + 3 * DAY, notify=False)
    shop.place_order("cat@example.com", "9.00", at=T0 - DAY, notify=False)
    ledger.entry("repeat_purchase", "dan@example.com", "skipped", T0, result={"reason": "no marketing consent"})
    ledger.entry("repeat_purchase", "eve@example.com", "failed", T0)
    # winback_reminder: two messages to dan, one order in both windows (counted once).
    ledger.sent("winback_reminder", "dan@example.com", T0 + 20 * DAY)
    ledger.sent("winback_reminder", "dan@example.com", T0 + 22 * DAY)
    shop.place_order("dan@example.com", "60.00", at=T0 + 23 * DAY, notify=False)
    # outside the period: not read
    ledger.sent("winback_reminder", "eve@example.com", UNTIL + DAY)
    shop.place_order("eve@example.com", "70.00", at=UNTIL + 2 * DAY, notify=False)
    return ledger


def sql_figures(window_days=7):
    """action → figures, in plain SQL over the ledger and sandbox order rows."""
    ledger, profiles, orders = (ActionLedgerEntry._meta.db_table, CustomerProfile._meta.db_table,
                                Order._meta.db_table)
    period = "e.completed_at >= %(since)s AND e.completed_at < %(until)s"
    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT e.action, count(*), count(DISTINCT e.profile_id) FROM {ledger} e
            WHERE e.status = 'done' AND e.result ? 'sent_at' AND {period} GROUP BY e.action""",
                       {"since": SINCE, "until": UNTIL})
        sent = {action: (n, customers) for action, n, customers in cursor.fetchall()}
        cursor.execute(f"""
            SELECT e.payload->>'for_action', count(*) FROM {ledger} e
            WHERE e.status = 'done' AND e.action LIKE '%%\\_voucher' AND {period} GROUP BY 1""",
                       {"since": SINCE, "until": UNTIL})
        vouchers = dict(cursor.fetchall())
        cursor.execute(f"""
            SELECT DISTINCT e.action, o.id, p.email, o.currency, o.total_amount - o.refunded_amount
            FROM {ledger} e JOIN {profiles} p ON p.id = e.profile_id
            LEFT JOIN {ledger} v ON v.dedupe_key = e.payload->>'voucher_entry'
            JOIN {orders} o ON lower(o.user_email) = p.email AND o.status <> 'canceled'
             AND o.created_at > e.completed_at
             AND o.created_at <= COALESCE((v.result->>'valid_until')::timestamptz,
                                          e.completed_at + %(days)s * interval '1 day')
            WHERE e.status = 'done' AND e.result ? 'sent_at' AND {period}""",
                       {"since": SINCE, "until": UNTIL, "days": window_days})
        attributed = cursor.fetchall()
    figures = {}
    for action, (n, customers) in sent.items():
        rows = [row for row in attributed if row[0] == action]
        revenue = {}
        for _, _, _, currency, net in rows:
            revenue[currency] = revenue.get(currency, Decimal(0)) + net
        converted = len({row[2] for row in rows})
        figures[action] = {
            "sent": n, "customers": customers, "vouchersIssued": vouchers.get(action, 0), "converted": converted,
            "orders": len(rows), "conversionRate": converted / customers,
            "revenue": [{"currency": c, "amount": float(a)} for c, a in sorted(revenue.items())],
        }
    return figures


def shown(response):
    assert "errors" not in response, response
    keys = ("sent", "customers", "vouchersIssued", "converted", "orders", "conversionRate", "revenue")
    return {row["action"]: {key: row[key] for key in keys}
            for row in response["data"]["lifecycleActionResults"]["actions"]}


@pytest.mark.parametrize("window_days", [7, 8])
def test_the_figures_equal_plain_sql_over_the_rows_written(engine, written, window_days):
    response = run(engine, admin_viewer(), windowDays=window_days)

    assert shown(response) == sql_figures(window_days)
    answer = response["data"]["lifecycleActionResults"]
    assert answer["windowDays"] == window_days and answer["conversionsUnavailable"] is None


def test_the_scenarios_figures_and_the_rows_without_messages(engine, written):
    answer = run(engine, admin_viewer())["data"]["lifecycleActionResults"]
    rows = {row["action"]: row for row in answer["actions"]}

    repeat = rows["repeat_purchase"]
    assert (repeat["sent"], repeat["converted"], repeat["orders"], repeat["vouchersIssued"]) == (3, 2, 3, 1)
    assert repeat["revenue"] == [{"currency": "PLN", "amount": 25.5}, {"currency": "USD", "amount": 70.0}]
    assert repeat["heldBack"] == {"consent": 1, "total": 1} and repeat["failed"] == 1
    assert (rows["winback_reminder"]["sent"], rows["winback_reminder"]["orders"]) == (2, 1)
    assert rows["winback_reminder"]["revenue"] == [{"currency": "USD", "amount": 60.0}]


@pytest.mark.parametrize("variables, argument", [
    ({"since": UNTIL.isoformat(), "until": SINCE.isoformat()}, "until"),
    ({"since": SINCE.isoformat(), "until": SINCE.isoformat()}, "until"),
    ({"until": (SINCE + timedelta(days=3700)).isoformat()}, "until"),
    ({"windowDays": 0}, "windowDays"),
    ({"windowDays": 366}, "windowDays"),
])
def test_bad_input_is_an_error_naming_the_argument(engine, written, variables, argument):
    response = run(engine, admin_viewer(), **variables)

    assert response["data"]["lifecycleActionResults"] is None
    assert codes(response) == ["BAD_USER_INPUT"]
    assert response["errors"][0]["extensions"]["argument"] == argument


def test_customers_and_staff_without_manage_users_are_refused(engine, written, store, ann, clerk, admin):
    for viewer in (customer_viewer(ann), staff_viewer(clerk), Viewer.app(can_manage_users=False)):
        response = run(engine, viewer)
        assert response["data"]["lifecycleActionResults"] is None
        assert codes(response) == ["PERMISSION_DENIED"]
    assert "errors" not in run(engine, staff_viewer(admin))


def test_a_host_without_sql_gives_the_counts_and_null_conversions_with_the_reason(store, written):
    response = execute_graphql({"query": QUERY, "variables": {"since": SINCE.isoformat(), "until": UNTIL.isoformat()}},
                               admin_viewer(), engine_factory=store.engine_factory)

    answer = response["data"]["lifecycleActionResults"]
    assert "ladder_sources" in answer["conversionsUnavailable"]
    repeat = {row["action"]: row for row in answer["actions"]}["repeat_purchase"]
    assert repeat["sent"] == 3
    assert (repeat["converted"], repeat["orders"], repeat["revenue"], repeat["conversionRate"]) == (
        None, None, None, None)


WEEKS_QUERY = """query($since: DateTime!, $until: DateTime!) {
  lifecycleActionResults(since: $since, until: $until) {
    actions { action vouchersRedeemed heldBack { heldOut total }
              lift { treatedCustomers treatedConverted treatedRate holdoutCustomers holdoutConverted holdoutRate
                     difference ratio }
              weeks { week weekStart sent customers converted vouchersRedeemed weeks { week } } }
  }
}"""


@pytest.fixture
def with_holdout(written):
    shop = SandboxStore(None)
    # ann redeems her voucher with the day-10 order; fay and gus are held out of repeat_purchase
    # (7 days): fay orders on day 2, gus after his window
    code = ActionLedgerEntry.objects.get(action="repeat_purchase_voucher").result["code"]
    Order.objects.filter(user_email="ann@example.com", created_at=T0 + 10 * DAY).update(voucher_code=code)
    for email, at, ordered in (("fay@example.com", T0, T0 + 2 * DAY), ("gus@example.com", T0 + DAY, T0 + 9 * DAY)):
        written.entry("repeat_purchase", email, "skipped", at, result={"skipped": True, "reason": "held out"})
        shop.place_order(email, "10.00", at=ordered, notify=False)
    return written


def sql_weeks_and_holdout():
    """action → (redeemed, held out, lift groups, {ISO week: sent}), in plain SQL over the rows written."""
    ledger, profiles, orders = (ActionLedgerEntry._meta.db_table, CustomerProfile._meta.db_table,
                                Order._meta.db_table)
    period = {"since": SINCE, "until": UNTIL}
    in_period = "e.completed_at >= %(since)s AND e.completed_at < %(until)s"
    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT e.payload->>'for_action', count(*) FROM {ledger} e
            WHERE e.status = 'done' AND e.action LIKE '%%\\_voucher' AND {in_period}
              AND e.result->>'code' IN (SELECT voucher_code FROM {orders} WHERE status <> 'canceled') GROUP BY 1""",
                       period)
        redeemed = dict(cursor.fetchall())
        cursor.execute(f"""
            SELECT e.action, count(DISTINCT e.profile_id),
                   count(DISTINCT e.profile_id) FILTER (WHERE EXISTS (
                       SELECT 1 FROM {orders} o WHERE lower(o.user_email) = p.email AND o.status <> 'canceled'
                          AND o.created_at > e.completed_at AND o.created_at <= e.completed_at + interval '7 days'))
            FROM {ledger} e JOIN {profiles} p ON p.id = e.profile_id
            WHERE e.status = 'skipped' AND e.result->>'reason' = 'held out' AND {in_period} GROUP BY 1""", period)
        held = {action: (n, converted) for action, n, converted in cursor.fetchall()}
        cursor.execute(f"""
            SELECT e.action, to_char(e.completed_at AT TIME ZONE 'UTC', 'IYYY-"W"IW'), count(*) FROM {ledger} e
            WHERE e.status = 'done' AND e.result ? 'sent_at' AND {in_period} GROUP BY 1, 2""", period)
        weeks = {}
        for action, week, n in cursor.fetchall():
            weeks.setdefault(action, {})[week] = n
    return redeemed, held, weeks


def test_weeks_redeemed_vouchers_and_the_lift_equal_plain_sql(engine, with_holdout):
    response = execute_graphql({"query": WEEKS_QUERY, "variables": {"since": SINCE.isoformat(),
                                                                     "until": UNTIL.isoformat()}},
                               admin_viewer(), engine_factory=lambda: engine)
    assert "errors" not in response, response
    rows = {row["action"]: row for row in response["data"]["lifecycleActionResults"]["actions"]}
    redeemed, held, weeks = sql_weeks_and_holdout()
    treated = sql_figures()

    for action, row in rows.items():
        assert row["vouchersRedeemed"] == redeemed.get(action, 0)
        assert {week["week"]: week["sent"] for week in row["weeks"] if week["sent"]} == weeks.get(action, {})
        assert all(week["weeks"] == [] for week in row["weeks"])
        holdout_customers, holdout_converted = held.get(action, (0, 0))
        lift = row["lift"]
        assert (row["heldBack"]["heldOut"], lift["holdoutCustomers"], lift["holdoutConverted"]) == (
            holdout_customers, holdout_customers, holdout_converted)
        if action in treated:
            assert (lift["treatedCustomers"], lift["treatedConverted"]) == (
                treated[action]["customers"], treated[action]["converted"])
    repeat = rows["repeat_purchase"]["lift"]
    # treated: ann and cat of ann, bob, cat; held out: fay of fay and gus
    assert (repeat["treatedRate"], repeat["holdoutRate"]) == (pytest.approx(2 / 3), 0.5)
    assert (repeat["difference"], repeat["ratio"]) == (pytest.approx(2 / 3 - 0.5), pytest.approx(4 / 3))
    assert rows["winback_reminder"]["lift"]["difference"] is None  # nobody held out: null, not an error
    assert [(w["week"], w["weekStart"]) for w in rows["repeat_purchase"]["weeks"]] == [
        ("2026-W09", "2026-02-23"), ("2026-W10", "2026-03-02")]
