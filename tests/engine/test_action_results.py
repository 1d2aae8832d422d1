"""Per-action results (`engine.action_results`), checked against plain SQL over the rows each
test wrote (ledger entries, opt-outs and sandbox orders), and against the figures the
scenario was built to have."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection

from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.engine.action_results import DEFAULT_WINDOW_DAYS, Lift, action_results
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.models import ActionLedgerEntry, CustomerProfile, MarketingOptOut
from lifecycle_plugin.sandbox.models import Order
from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.store import SandboxStore
from lifecycle_plugin.testing import MemoryHost

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


@pytest.fixture
def clock_start():
    return T0 + 60 * DAY


@pytest.fixture
def engine(clock):
    return LifecycleEngine(SandboxHost(), clock=clock, plugin_manager=make_plugin_manager(load_entry_points=False))


@pytest.fixture
def shop(db):
    return SandboxStore(None)


class Ledger:
    """Writes ledger rows the way the actions leave them (see `actions.offers`, `engine.ledger`)."""

    def __init__(self):
        self.profiles = {}
        self.n = 0

    def profile(self, email):
        if email not in self.profiles:
            self.profiles[email] = CustomerProfile.objects.create(
                email=email, stage="new", stage_since=T0 - 90 * DAY, stage_rule="orders", history_cutoff=T0 - 90 * DAY,
                decided_at=T0)
        return self.profiles[email]

    def entry(self, action, email, status, *, at=T0, result=None, payload=None, created_at=None):
        self.n += 1
        row = ActionLedgerEntry.objects.create(
            dedupe_key=f"{action}:{self.profile(email).pk}:{self.n}", action=action, profile=self.profile(email),
            status=status, result=result or {}, payload=payload or {},
            completed_at=at if status in ("done", "skipped", "cancelled") else None)
        # Recorded when it happened (auto_now_add would say: when the test ran).
        ActionLedgerEntry.objects.filter(pk=row.pk).update(created_at=created_at or at)
        return row

    def sent(self, action, email, at=T0, *, voucher_valid_days=None, held=False):
        voucher = None
        if voucher_valid_days is not None:
            voucher = self.entry(f"{action}_voucher", email, "done", at=at, payload={"for_action": action},
                                 result={"code": f"V{self.n}", "valid_until": (at + voucher_valid_days * DAY).isoformat()})
        result = {"voucher_code": voucher.result["code"] if voucher else None, "subject": "Hi", "marketing": True,
                  "sent_at": at.isoformat(), "delivered_by": "notify", "reference": "x"}
        if held:
            result["held"] = "quiet hours until 08:00"
        return self.entry(action, email, "done", at=at, result=result,
                          payload={"voucher_entry": voucher.dedupe_key if voucher else None})

    def skipped(self, action, email, reason, at=T0, payload=None):
        return self.entry(action, email, "skipped", at=at, result={"skipped": True, "reason": reason},
                          payload=payload)

    def held_out(self, action, email, at=T0, *, voucher_valid_days=None):
        """A message (and the voucher it would have announced) skipped for the holdout (`actions.holdout`)."""
        voucher = None
        if voucher_valid_days is not None:
            voucher = self.skipped(f"{action}_voucher", email, "held out", at=at,
                                   payload={"for_action": action, "valid_days": voucher_valid_days})
        return self.skipped(action, email, "held out", at=at,
                            payload={"voucher_entry": voucher.dedupe_key if voucher else None})


# ---------------------------------------------------------------- the independent computation


def expected_from_sql(action, window_days=DEFAULT_WINDOW_DAYS, week=None):
    """Plain SQL over the test's tables: the sandbox's orders, the ledger, the opt-outs.

    `week`: the Monday of the one ISO week to count (entries finished, or recorded, in it).
    """
    counted_order = """o.status NOT IN ('draft', 'unconfirmed', 'canceled', 'expired')
                       AND NOT (o.total_amount > 0 AND o.refunded_amount >= o.total_amount)"""
    window_end = f"""CASE WHEN m.result->>'voucher_code' IS NOT NULL
                          THEN (SELECT (v.result->>'valid_until')::timestamptz FROM lifecycle_plugin_actionledgerentry v
                                 WHERE v.dedupe_key = m.payload->>'voucher_entry')
                          ELSE m.completed_at + interval '{window_days} days' END"""
    # a held-out message's window: its held-out voucher's validity, else window_days
    held_out_window_end = f"""m.completed_at + make_interval(days => COALESCE(
                                  (SELECT (v.payload->>'valid_days')::int FROM lifecycle_plugin_actionledgerentry v
                                    WHERE v.dedupe_key = m.payload->>'voucher_entry'), {window_days}))"""
    ledger = "lifecycle_plugin_actionledgerentry" if week is None else (
        "(SELECT * FROM lifecycle_plugin_actionledgerentry WHERE COALESCE(completed_at, created_at) >= %(w0)s "
        "AND COALESCE(completed_at, created_at) < %(w1)s)")
    messages = f"""{ledger} m JOIN lifecycle_plugin_customerprofile p ON p.id = m.profile_id
                   WHERE m.action = %(a)s AND m.status = 'done' AND m.result ? 'sent_at'"""
    held_out = f"""{ledger} m JOIN lifecycle_plugin_customerprofile p ON p.id = m.profile_id
                   WHERE m.action = %(a)s AND m.status = 'skipped' AND m.result->>'reason' = 'held out'"""
    with_orders = 'JOIN lifecycle_sandbox_order o ON lower(o.user_email) = p.email WHERE m.action'
    orders_of_messages = f"""SELECT DISTINCT o.id, o.currency, o.total_amount - o.refunded_amount AS net, p.email
                             FROM {messages.replace('WHERE m.action', with_orders)}
                             AND {counted_order} AND o.created_at > m.completed_at AND o.created_at <= {window_end}"""
    orders_of_held_out = f"""SELECT DISTINCT o.id, p.email FROM {held_out.replace('WHERE m.action', with_orders)}
                             AND {counted_order} AND o.created_at > m.completed_at
                             AND o.created_at <= {held_out_window_end}"""
    queries = {
        "sent": f"SELECT count(*) FROM {messages}",
        "customers": f"SELECT count(DISTINCT m.profile_id) FROM {messages}",
        "converted": f"SELECT count(DISTINCT email) FROM ({orders_of_messages}) x",
        "orders": f"SELECT count(*) FROM ({orders_of_messages}) x",
        "vouchers": f"""SELECT count(*) FROM {ledger} e
                        WHERE action = %(a)s || '_voucher' AND status = 'done'""",
        "redeemed": f"""SELECT count(*) FROM {ledger} e WHERE action = %(a)s || '_voucher' AND status = 'done'
                          AND EXISTS (SELECT 1 FROM lifecycle_sandbox_order o
                                       WHERE o.voucher_code = e.result->>'code' AND {counted_order})""",
        "held_out": f"SELECT count(*) FROM {held_out}",
        "held_out_customers": f"SELECT count(DISTINCT m.profile_id) FROM {held_out}",
        "held_out_converted": f"SELECT count(DISTINCT email) FROM ({orders_of_held_out}) x",
        "consent": f"""SELECT count(*) FROM {ledger} e WHERE e.action = %(a)s
                        AND e.status = 'skipped' AND e.result->>'reason' = 'no marketing consent'
                        AND NOT EXISTS (SELECT 1 FROM lifecycle_plugin_marketingoptout x WHERE x.profile_id = e.profile_id
                                                                            AND x.opted_out_at <= e.completed_at)""",
        "opted_out": f"""SELECT count(*) FROM {ledger} e WHERE e.action = %(a)s
                          AND e.status = 'skipped' AND (e.result->>'reason' = 'the customer unsubscribed'
                          OR (e.result->>'reason' = 'no marketing consent' AND EXISTS (
                              SELECT 1 FROM lifecycle_plugin_marketingoptout x
                               WHERE x.profile_id = e.profile_id AND x.opted_out_at <= e.completed_at)))""",
        "cap": f"""SELECT count(*) FROM {ledger} e WHERE action = %(a)s AND status = 'skipped'
                     AND result->>'reason' LIKE 'frequency cap%%'""",
        "quiet": f"""SELECT count(*) FROM {ledger} e WHERE action = %(a)s AND status = 'pending'
                       AND result ? 'held'""",
        "failed": f"SELECT count(*) FROM {ledger} e WHERE action = %(a)s AND status = 'failed'",
    }
    params = {"a": action}
    if week is not None:
        monday = datetime(week.year, week.month, week.day, tzinfo=timezone.utc)
        params.update(w0=monday, w1=monday + 7 * DAY)
    figures = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql, params)
            figures[name] = cursor.fetchone()[0]
        cursor.execute(f"SELECT currency, sum(net) FROM ({orders_of_messages}) x GROUP BY currency", params)
        figures["revenue"] = dict(cursor.fetchall())
    return figures


def figures_of(result):
    return {
        "sent": result.sent, "customers": result.customers, "converted": result.converted, "orders": result.orders,
        "vouchers": result.vouchers_issued, "redeemed": result.vouchers_redeemed, "consent": result.held_back.consent,
        "opted_out": result.held_back.opted_out, "cap": result.held_back.frequency_cap,
        "quiet": result.held_back.quiet_hours, "failed": result.failed, "revenue": dict(result.revenue),
        "held_out": result.held_back.held_out, "held_out_customers": result.held_out_customers,
        "held_out_converted": result.held_out_converted,
    }


# ---------------------------------------------------------------- the scenario


@pytest.fixture
def scenario(shop):
    ledger = Ledger()
    usd, pln = "default-channel", "channel-pln"

    # ann: voucher valid 14 days; an order before the message, one at the voucher's last moment
    # (the window's end: it counts), a cancelled and a fully refunded one (neither counts).
    ledger.sent("repeat_purchase", "ann@example.com", voucher_valid_days=14)
    shop.place_order("ann@example.com", "35.00", at=T0 - DAY, notify=False)
    shop.place_order("ann@example.com", "40.00", at=T0 + 14 * DAY, notify=False)
    shop.place_order("ann@example.com", "99.00", at=T0 + 2 * DAY, status="canceled", notify=False)
    refunded = shop.place_order("ann@example.com", "77.00", at=T0 + 3 * DAY, notify=False)
    refunded.refunded_amount = Decimal("77.00")
    refunded.save(update_fields=["refunded_amount"])
    # bob: no voucher (7 days); his order comes a second after the window ends.
    ledger.sent("repeat_purchase", "bob@example.com")
    shop.place_order("bob@example.com", "100.00", channel=pln, at=T0 + 7 * DAY + SECOND, notify=False)
    # cat converts twice in two currencies, the second at the 7-day window's last moment.
    ledger.sent("repeat_purchase", "cat@example.com", held=True)
    shop.place_order("cat@example.com", "30.00", at=T0 + DAY, notify=False)
    shop.place_order("cat@example.com", "50.00", channel=pln, at=T0 + 7 * DAY, notify=False)
    # held back, one for each reason
    ledger.skipped("repeat_purchase", "dan@example.com", "no marketing consent")
    ledger.skipped("repeat_purchase", "eve@example.com", "no marketing consent", at=T0 + DAY)
    MarketingOptOut.objects.create(profile=ledger.profile("eve@example.com"), opted_out_at=T0, source="page")
    ledger.skipped("repeat_purchase", "fay@example.com", "the customer unsubscribed")
    ledger.skipped("repeat_purchase", "gus@example.com", "frequency cap: 3 marketing messages in the last 7 days")
    ledger.entry("repeat_purchase", "hal@example.com", "pending",
                 result={"held": "quiet hours until 2026-03-01T08:00:00+00:00", "until": "2026-03-01T08:00:00+00:00"})
    ledger.skipped("repeat_purchase", "ivy@example.com", "its voucher was not issued")
    ledger.entry("repeat_purchase", "jon@example.com", "failed")
    ledger.entry("repeat_purchase", "kai@example.com", "pending")  # waiting to run: not held back
    # dan opted out only after his skip: that skip was for consent.
    MarketingOptOut.objects.create(profile=ledger.profile("dan@example.com"), opted_out_at=T0 + DAY, source="page")

    # ann gets two win-back reminders with overlapping windows and orders twice in them:
    # one customer converted, two orders, each counted once.
    ledger.sent("winback_reminder", "ann@example.com", at=T0 + 20 * DAY)
    ledger.sent("winback_reminder", "ann@example.com", at=T0 + 22 * DAY)
    shop.place_order("ann@example.com", "10.00", at=T0 + 23 * DAY, notify=False)
    shop.place_order("ann@example.com", "10.00", at=T0 + 24 * DAY, notify=False)  # the same amount: two orders still
    ledger.entry("winback_order", "ann@example.com", "done", at=T0 + 23 * DAY, result={"order_id": "x"})

    # An action no list names (a plugin's): it has its row like the built-in ones.
    ledger.sent("thank_you_card", "kim@example.com", at=T0 + 30 * DAY)
    # ... the last window of all ends with kim's order (the orders read are bounded by it)
    shop.place_order("kim@example.com", "12.00", channel=pln, at=T0 + 37 * DAY, notify=False)
    return ledger


def by_action(results):
    return {result.action: result for result in results.actions}


def test_every_figure_matches_plain_sql_over_the_rows(engine, scenario):
    results = by_action(action_results(engine))

    assert set(results) == {"repeat_purchase", "winback_reminder", "winback_order", "thank_you_card"}
    for action in ("repeat_purchase", "winback_reminder", "thank_you_card"):
        assert figures_of(results[action]) == expected_from_sql(action), action


def test_the_scenarios_figures(engine, scenario):
    results = by_action(action_results(engine))
    repeat = results["repeat_purchase"]

    assert (repeat.sent, repeat.customers, repeat.vouchers_issued) == (3, 3, 1)
    # ann (voucher window end) and cat (7-day window end); bob ordered a second too late.
    assert (repeat.converted, repeat.orders) == (2, 3)
    assert repeat.revenue == {"PLN": Decimal("50.00"), "USD": Decimal("70.00")}
    assert repeat.conversion_rate == pytest.approx(2 / 3)
    held = repeat.held_back
    assert (held.consent, held.opted_out, held.frequency_cap, held.quiet_hours, held.other) == (1, 2, 1, 1, 1)
    assert held.total == 6
    assert (repeat.failed, repeat.sent_after_quiet_hours, repeat.pending, repeat.unsure) == (1, 1, 1, 0)

    winback = results["winback_reminder"]
    assert (winback.sent, winback.customers, winback.converted, winback.orders) == (2, 1, 1, 2)
    assert winback.revenue == {"USD": Decimal("20.00")}
    assert results["winback_order"].recorded == 1 and results["winback_order"].sent == 0
    card = results["thank_you_card"]
    assert (card.converted, card.conversion_rate, card.revenue) == (1, 1.0, {"PLN": Decimal("12.00")})


def test_a_longer_window_catches_the_late_order(engine, scenario):
    results = by_action(action_results(engine, window_days=8))

    assert figures_of(results["repeat_purchase"]) == expected_from_sql("repeat_purchase", window_days=8)
    assert results["repeat_purchase"].converted == 3  # bob too
    assert results["repeat_purchase"].revenue == {"PLN": Decimal("150.00"), "USD": Decimal("70.00")}


def test_the_period_takes_entries_by_when_they_finished_or_were_recorded(engine, scenario):
    late = T0 + 20 * DAY
    scenario.entry("repeat_purchase", "zed@example.com", "failed", created_at=T0 + 40 * DAY)

    results = by_action(action_results(engine, since=late, until=T0 + 30 * DAY))

    assert set(results) == {"winback_reminder", "winback_order"}  # the card was sent at the period's end
    assert results["winback_reminder"].sent == 2
    later = by_action(action_results(engine, since=T0 + 30 * DAY))
    assert later["thank_you_card"].sent == 1 and later["repeat_purchase"].failed == 1
    early = by_action(action_results(engine, until=T0 + SECOND))
    assert early["repeat_purchase"].sent == 3 and early["repeat_purchase"].failed == 1  # jon's, not zed's
    assert early["repeat_purchase"].held_back.consent == 1 and early["repeat_purchase"].held_back.opted_out == 1


@pytest.mark.parametrize("arguments, words", [
    ({"since": T0, "until": T0}, "must end after it starts"),
    ({"since": T0.replace(tzinfo=None)}, "aware datetime"),
    ({"window_days": 0}, "from 1 to 365"),
    ({"window_days": "7"}, "whole number"),
])
def test_bad_arguments_are_refused_in_plain_words(engine, arguments, words):
    with pytest.raises(ValueError, match=words):
        action_results(engine, **arguments)


def test_unpaid_orders_do_not_convert_when_only_paid_orders_count(scenario, shop, clock):
    from lifecycle_plugin.conf import load_settings

    scenario.sent("nudge", "lee@example.com")
    shop.place_order("lee@example.com", "20.00", at=T0 + DAY, paid=False, notify=False)
    paid_only = load_settings({"count_only_paid": "true"})
    strict = LifecycleEngine(SandboxHost(), paid_only.config, clock=clock,
                             plugin_manager=make_plugin_manager(load_entry_points=False))
    lenient = LifecycleEngine(SandboxHost(), clock=clock, plugin_manager=make_plugin_manager(load_entry_points=False))

    assert by_action(action_results(lenient))["nudge"].converted == 1
    assert by_action(action_results(strict))["nudge"].converted == 0


# ---------------------------------------------------------------- weeks, redeemed vouchers, the holdout

#: T0 is a Sunday: its ISO week starts on Monday 23 February, the next day's on 2 March.
WEEK_1, WEEK_2 = date(2026, 2, 23), date(2026, 3, 2)


def redeem(order, code):
    Order.objects.filter(pk=order.pk).update(voucher_code=code)


@pytest.fixture
def holdout_scenario(shop):
    ledger = Ledger()
    # week 1 (T0, a Sunday): three messages with vouchers; ann redeems hers, gus orders without his,
    # ian's order with his code is cancelled (not a redemption, not a conversion)
    ann = ledger.sent("repeat_purchase", "ann@example.com", voucher_valid_days=14)
    redeem(shop.place_order("ann@example.com", "40.00", at=T0 + 2 * DAY, notify=False), ann.result["voucher_code"])
    ledger.sent("repeat_purchase", "gus@example.com", voucher_valid_days=14)
    shop.place_order("gus@example.com", "25.00", at=T0 + 2 * DAY, notify=False)
    ian = ledger.sent("repeat_purchase", "ian@example.com", voucher_valid_days=14)
    redeem(shop.place_order("ian@example.com", "60.00", at=T0 + DAY, status="canceled", notify=False),
           ian.result["voucher_code"])
    # dan is held out with the voucher he would have got (14 days): his order on day 10 is in his window
    ledger.held_out("repeat_purchase", "dan@example.com", voucher_valid_days=14)
    shop.place_order("dan@example.com", "30.00", at=T0 + 10 * DAY, notify=False)
    # week 2: bob converts, cat does not; eve (held out, 7 days) orders at her window's last moment,
    # fay (held out) a day after hers
    ledger.sent("repeat_purchase", "bob@example.com", at=T0 + DAY)
    shop.place_order("bob@example.com", "20.00", at=T0 + 3 * DAY, notify=False)
    ledger.sent("repeat_purchase", "cat@example.com", at=T0 + DAY)
    ledger.held_out("repeat_purchase", "eve@example.com", at=T0 + DAY)
    shop.place_order("eve@example.com", "15.00", at=T0 + 8 * DAY, notify=False)
    ledger.held_out("repeat_purchase", "fay@example.com", at=T0 + 2 * DAY)
    shop.place_order("fay@example.com", "15.00", at=T0 + 10 * DAY, notify=False)
    # one order in the windows of two reminders of two weeks: once in the period, once in each week
    ledger.sent("winback_reminder", "kim@example.com", at=T0 - DAY)
    ledger.sent("winback_reminder", "kim@example.com", at=T0 + DAY)
    shop.place_order("kim@example.com", "10.00", at=T0 + 2 * DAY, notify=False)
    return ledger


def test_weeks_redeemed_vouchers_and_the_holdout_match_plain_sql(engine, holdout_scenario):
    results = by_action(action_results(engine))

    for action in ("repeat_purchase", "winback_reminder"):
        result = results[action]
        assert figures_of(result) == expected_from_sql(action), action
        assert [week.week for week in result.weeks] == [WEEK_1, WEEK_2]
        for week in result.weeks:
            assert figures_of(week) == expected_from_sql(action, week=week.week), (action, week.week)
            assert week.weeks == ()


def test_the_holdout_scenarios_figures(engine, holdout_scenario):
    repeat = by_action(action_results(engine))["repeat_purchase"]

    assert (repeat.sent, repeat.customers, repeat.converted, repeat.vouchers_issued, repeat.vouchers_redeemed) == (
        5, 5, 3, 3, 1)
    assert (repeat.held_back.held_out, repeat.held_back.other, repeat.held_back.total) == (3, 0, 3)
    lift = repeat.lift
    assert (lift.treated_customers, lift.treated_converted, lift.holdout_customers, lift.holdout_converted) == (
        5, 3, 3, 2)
    assert lift.difference == pytest.approx(3 / 5 - 2 / 3) and lift.ratio == pytest.approx((3 / 5) / (2 / 3))
    first, second = repeat.weeks
    assert (first.iso_week, first.sent, first.converted, first.vouchers_redeemed) == ("2026-W09", 3, 2, 1)
    assert (first.held_out_customers, first.held_out_converted) == (1, 1)
    assert (second.iso_week, second.sent, second.converted, second.vouchers_redeemed) == ("2026-W10", 2, 1, 0)
    assert (second.held_out_customers, second.held_out_converted, second.lift.holdout_rate) == (2, 1, 0.5)

    winback = by_action(action_results(engine))["winback_reminder"]
    assert (winback.orders, [week.orders for week in winback.weeks]) == (1, [1, 1])
    assert winback.lift.holdout_customers == 0 and winback.lift.difference is None and winback.lift.ratio is None


@pytest.mark.parametrize("treated, holdout, difference, ratio", [
    ((10, 3), (0, 0), None, None),        # nobody held out
    ((0, 0), (10, 1), None, None),        # nobody sent it
    ((10, 3), (10, 0), 0.3, None),        # nobody held out converted: no ratio, never a division error
    ((10, 3), (20, 2), 0.2, 3.0),
])
def test_the_lift_is_null_when_a_group_is_empty(treated, holdout, difference, ratio):
    lift = Lift(treated[0], treated[1], holdout[0], holdout[1])

    assert lift.difference == (pytest.approx(difference) if difference is not None else None)
    assert lift.ratio == (pytest.approx(ratio) if ratio is not None else None)


def test_without_order_sql_the_holdout_groups_are_counted_and_the_lift_is_null(holdout_scenario, clock):
    memory = LifecycleEngine(MemoryHost(), clock=clock, plugin_manager=make_plugin_manager(load_entry_points=False))

    repeat = by_action(action_results(memory))["repeat_purchase"]

    assert (repeat.held_out_customers, repeat.held_back.held_out) == (3, 3)
    assert repeat.lift is None and repeat.vouchers_redeemed is None and repeat.weeks[0].lift is None
