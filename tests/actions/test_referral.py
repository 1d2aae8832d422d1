"""Referrals: a shareable code for repeat and loyal customers, the referrer's reward once a
new customer's first order with it is paid and kept past the return window, refusals with
their reasons, and the facts (made, rewarded, advocate) checked against plain SQL."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from lifecycle_plugin.engine.deletion import forget
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.host_support import ADVOCATE_KEY
from lifecycle_plugin.models import ActionStatus, CustomerProfile, Referral, ReferralCode
from lifecycle_plugin.rules import OrderState
from lifecycle_plugin.rules import referral as rules

from .conftest import T0, buy, customer_account, only

pytestmark = pytest.mark.django_db

ANN, BOB, CAT = "ann@example.com", "bob@example.com", "cat@example.com"
REFERRALS = only("referral", referral_return_window_days="14")


@pytest.fixture
def shop(make_shop):
    return make_shop(REFERRALS)


def referrer_with_code(shop, host, clock, email=ANN, guest=False) -> str:
    """A customer who bought twice (repeat) and got their code; returns it."""
    if not guest:
        customer_account(host, email, first_name="Ann")
    buy(host, email, T0, ship_to="1 Main St, Springfield")
    shop.process(email)
    clock.advance(days=1)
    buy(host, email, clock.now, ship_to="1 Main St, Springfield")
    shop.process(email)
    [code] = ReferralCode.objects.filter(referrer__email=email).values_list("code", flat=True)
    return code


def referee_order(shop, host, clock, code, email=BOB, **fields):
    order = buy(host, email, clock.now, voucher=code, ship_to=fields.pop("ship_to", "9 Elm Rd, Shelbyville"),
                **fields)
    shop.process(email)
    return order


def sql_counts(email):
    """Referrals made (accepted) and rewarded for a referrer, in plain SQL over the rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FILTER (WHERE r.status <> 'refused'), count(*) FILTER (WHERE r.status = 'rewarded')
                 FROM lifecycle_plugin_referral r JOIN lifecycle_plugin_customerprofile p ON p.id = r.referrer_id
                WHERE p.email = %s""", [email])
        return cursor.fetchone()


def test_repeat_customer_gets_one_shareable_code_and_a_message(shop, host, clock):
    code = referrer_with_code(shop, host, clock)
    [request] = host.vouchers
    assert request.shareable and request.customer.email == ANN
    assert host.voucher_rows[code].single_use is False
    [message] = shop.messages("referral_code")
    assert code in message.text and code in message.html
    assert message.subject == "Ann, share 10% off with your friends"
    assert "kept for 14 days, you get 10% off your next order" in message.text
    assert message.payload["marketing"] is True and message.payload["unsubscribe_url"]
    # loyal later, replays: still one code
    for _ in range(3):
        clock.advance(days=1)
        buy(host, ANN, clock.now)
        shop.process(ANN)
    assert len(host.vouchers) == 1 and len(shop.messages("referral_code")) == 1


def test_new_customers_order_rewards_the_referrer_once_after_the_window(shop, host, clock):
    code = referrer_with_code(shop, host, clock)
    order = referee_order(shop, host, clock, code)
    [referral] = Referral.objects.all()
    assert (referral.status, referral.order_id, referral.referrer.email) == (Referral.PENDING, order.order_id, ANN)
    [check] = shop.scheduled("referral_check")
    assert check.due_at == order.placed_at + timedelta(days=14)

    clock.advance(days=13, hours=23)
    assert shop.run_due() == 0 and shop.messages("referral_reward") == []
    clock.advance(hours=1)
    shop.process(BOB, event="order_fully_paid")  # a replayed event changes nothing
    assert shop.run_due() == 1
    for _ in range(2):  # replays
        shop.process(BOB, event="order_fully_paid")
        shop.run_due()
        shop.process(ANN, event="referral")
    [reward] = shop.messages("referral_reward")
    assert reward.customer.email == ANN
    assert reward.payload["marketing"] is False  # earned, not an offer: transactional
    reward_request = host.vouchers[-1]
    assert not reward_request.shareable and reward_request.customer.email == ANN
    assert reward.payload["voucher"]["code"] == host.issued[-1].code != code
    assert code in reward.text and "a friend of yours placed their first order" in reward.text
    assert len(host.vouchers) == 2
    referral.refresh_from_db()
    assert referral.status == Referral.REWARDED

    profile = CustomerProfile.objects.get(email=ANN)
    made, rewarded = sql_counts(ANN)
    assert (profile.extra_facts["referrals_made"], profile.extra_facts["referrals_rewarded"]) == (made, rewarded) \
        == (1, 1)
    assert host.metadata[profile.user_id][ADVOCATE_KEY] == "true"
    assert host.private_metadata[profile.user_id]["lifecycle.profile"].count('"advocate": true') == 1

    from lifecycle_plugin.graphql.execution import execute_graphql
    from lifecycle_plugin.graphql.viewer import Viewer

    fields = "{ referralsMade referralsRewarded advocate }"
    expected = {"referralsMade": made, "referralsRewarded": rewarded, "advocate": True}
    staff = execute_graphql({"query": f'{{ customerLifecycle(email: "{ANN}") {fields} }}'},
                            Viewer.staff(999, "staff@example.com", can_manage_users=True),
                            engine_factory=lambda: shop.engine)
    assert staff["data"]["customerLifecycle"] == expected
    mine = execute_graphql({"query": f"{{ myLifecycle {fields} }}"}, Viewer.customer(profile.user_id, ANN),
                           engine_factory=lambda: shop.engine)
    assert mine["data"]["myLifecycle"] == expected


def test_a_refund_within_the_window_cancels_the_reward(shop, host, clock):
    code = referrer_with_code(shop, host, clock)
    order = referee_order(shop, host, clock, code)
    clock.advance(days=5)
    host.update_order(BOB, order.order_id, refunded=Decimal("5"))
    shop.process(BOB, event="order_refunded")
    clock.advance(days=10)
    shop.run_due()
    referral = Referral.objects.get()
    assert (referral.status, referral.reason) == (Referral.CANCELLED,
                                                  "the order was refunded within the return window")
    assert shop.messages("referral_reward") == [] and len(host.vouchers) == 1
    shop.process(ANN, event="referral")
    assert sql_counts(ANN) == (1, 0)
    assert ADVOCATE_KEY not in host.metadata[CustomerProfile.objects.get(email=ANN).user_id]


def test_an_unpaid_order_waits_and_its_window_runs_from_payment(shop, host, clock):
    code = referrer_with_code(shop, host, clock)
    order = referee_order(shop, host, clock, code, paid=False)
    clock.advance(days=14)
    assert shop.run_due() == 1 and shop.messages("referral_reward") == []  # unpaid: checked daily
    clock.advance(days=3)
    host.update_order(BOB, order.order_id, paid=True)
    clock.advance(days=1)
    shop.run_due()  # found paid now: the window starts
    clock.advance(days=13)
    shop.run_due()
    assert shop.messages("referral_reward") == []
    clock.advance(days=1, hours=1)
    shop.run_due()
    assert len(shop.messages("referral_reward")) == 1


@pytest.mark.parametrize("case, reason", [
    ("own account", rules.SAME_ACCOUNT),
    ("own e-mail as a guest", rules.SAME_EMAIL),
    ("shared address", rules.SAME_ADDRESS),
    ("not new", rules.NOT_NEW),
])
def test_refused_referrals_keep_their_reason_and_earn_nothing(shop, host, clock, case, reason):
    code = referrer_with_code(shop, host, clock, guest=case == "own e-mail as a guest")
    if case == "own account":
        buy(host, ANN, clock.now, voucher=code)
        shop.process(ANN)
    elif case == "own e-mail as a guest":
        buy(host, ANN, clock.now, guest=True, voucher=code)
        shop.process(ANN)
    elif case == "shared address":
        referee_order(shop, host, clock, code, ship_to="1 main st., SPRINGFIELD")
    else:
        buy(host, BOB, clock.now - timedelta(days=40))
        shop.process(BOB)
        referee_order(shop, host, clock, code)
    [referral] = Referral.objects.all()
    assert (referral.status, referral.reason) == (Referral.REFUSED, reason)
    clock.advance(days=30)
    shop.run_due()
    assert shop.messages("referral_reward") == [] and [v for v in host.vouchers if not v.shareable] == []


def test_code_used_twice_after_its_limit_or_by_the_same_referee_is_refused(make_shop, host, clock):
    shop = make_shop({**REFERRALS, "referral_max_per_code": "1"})
    code = referrer_with_code(shop, host, clock)
    referee_order(shop, host, clock, code)
    clock.advance(hours=1)
    referee_order(shop, host, clock, code)  # Bob again
    referee_order(shop, host, clock, code, email=CAT, ship_to="3 Oak Ave")
    reasons = list(Referral.objects.order_by("id").values_list("status", "reason"))
    assert reasons == [(Referral.PENDING, ""), (Referral.REFUSED, rules.ALREADY_REFERRED),
                       (Referral.REFUSED, rules.code_used_up(1))]
    clock.advance(days=20)
    shop.run_due()
    assert len(shop.messages("referral_reward")) == 1


def test_a_code_used_after_the_referrer_was_deleted_is_refused(shop, host, clock):
    code = referrer_with_code(shop, host, clock)
    ann = CustomerProfile.objects.get(email=ANN)
    forget(CustomerRef(ANN, ann.user_id), host=host)
    assert ReferralCode.objects.get(code=code).referrer is None
    referee_order(shop, host, clock, code)
    referral = Referral.objects.get()
    assert (referral.status, referral.reason) == (Referral.REFUSED, rules.REFERRER_DELETED)


def test_a_pending_reward_is_cancelled_when_the_referrer_is_deleted_meanwhile(shop, host, clock):
    code = referrer_with_code(shop, host, clock)
    referee_order(shop, host, clock, code)
    ann = CustomerProfile.objects.get(email=ANN)
    forget(CustomerRef(ANN, ann.user_id), host=host)
    clock.advance(days=15)
    shop.run_due()
    referral = Referral.objects.get()
    assert (referral.status, referral.reason) == (Referral.CANCELLED, "the code's owner was deleted")
    assert shop.messages("referral_reward") == []


def test_switched_off_nothing_is_issued(make_shop, host, clock):
    shop = make_shop(only("repeat_purchase"))
    customer_account(host, ANN)
    buy(host, ANN, T0)
    buy(host, ANN, T0 + timedelta(days=1))
    shop.process(ANN)
    assert ReferralCode.objects.count() == 0 and shop.entries("referral_code") == []


def test_a_cancelled_order_cancels_the_reward(shop, host, clock):
    code = referrer_with_code(shop, host, clock)
    order = referee_order(shop, host, clock, code)
    host.update_order(BOB, order.order_id, state=OrderState.CANCELLED)
    shop.process(BOB, event="order_cancelled")
    clock.advance(days=15)
    shop.run_due()
    assert Referral.objects.get().reason == "the order is cancelled"
    assert shop.entries("referral_reward") == []


def test_a_check_run_again_rewards_nothing_more(shop, host, clock):
    """As if a second worker ran the same due check again after the first committed."""
    from lifecycle_plugin.models import ScheduledAction

    code = referrer_with_code(shop, host, clock)
    referee_order(shop, host, clock, code)
    clock.advance(days=15)
    assert shop.run_due() == 1
    ScheduledAction.objects.filter(action="referral_check").update(status=ActionStatus.PENDING)
    shop.run_due()
    assert len(shop.messages("referral_reward")) == 1
    assert len(shop.entries("referral_reward_voucher")) == 1


def test_the_docs_show_each_message_as_the_shipped_templates_render_it():
    """docs/actions.md quotes both messages; render the same data and compare."""
    import re
    from pathlib import Path

    from lifecycle_plugin.actions.rendering import render_message

    docs = Path(__file__).resolve().parents[2] / "docs" / "actions.md"
    section = docs.read_text().split("## Referral and advocacy", 1)[1]
    quoted = re.findall(r"```text\n(.*?)```", section, re.S)
    base = {"customer": {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee", "name": "Ann Lee"},
            "stage": "repeat", "stage_label": "Repeat customer", "tier": "", "tier_label": "", "products": [],
            "order": None}
    code = {**base, "marketing": True, "trigger_stage": "repeat",
            "unsubscribe_url": "https://shop.example.com/plugins/global/saleor.lifecycle/unsubscribe/?token=…",
            "referral": {"reward_discount": "10%", "return_window_days": 14, "max_per_code": 10},
            "voucher": {"code": "LC-7KQ2M9XPR4TDH", "discount": "10%", "valid_until_date": "2027-12-01"}}
    reward = {**base, "marketing": False, "unsubscribe_url": "",
              "referral": {"code": "LC-7KQ2M9XPR4TDH", "placed_at": "2026-12-03T10:00:00+00:00"},
              "voucher": {"code": "LC-Q8WZ3NB5K2MRT", "discount": "10%", "valid_until_date": "2027-01-17"}}
    rendered = [render_message(action, data, {}, ()) for action, data in
                (("referral_code", code), ("referral_reward", reward))]
    assert quoted == [f"Subject: {r.subject}\n\n{r.text.rstrip()}\n" for r in rendered]


def test_the_referral_metrics_match_plain_sql(make_shop, host, clock):
    from lifecycle_plugin.graphql.execution import execute_graphql
    from lifecycle_plugin.graphql.viewer import Viewer

    shop = make_shop({**REFERRALS, "referral_max_per_code": "2"})
    code = referrer_with_code(shop, host, clock)
    since = clock.now
    referee_order(shop, host, clock, code)  # pending, rewarded later
    refunded = referee_order(shop, host, clock, code, email=CAT, ship_to="3 Oak Ave")  # cancelled later
    referee_order(shop, host, clock, code, email="dan@example.com", ship_to="4 Pine Ct")  # over the limit
    referee_order(shop, host, clock, code, email="eve@example.com", ship_to="1 Main St, Springfield")  # address
    host.update_order(CAT, refunded.order_id, refunded=Decimal("1"))
    clock.advance(days=15)
    shop.run_due()
    shop.process(ANN, event="referral")
    query = ('query($s: DateTime!, $u: DateTime!) { lifecycleReferrals(since: $s, until: $u) { '
             'made pending rewarded cancelled refused refusedByReason { reason count } codesIssued advocates } }')
    answer = execute_graphql({"query": query, "variables": {"s": since.isoformat(), "u": clock.now.isoformat()}},
                             Viewer.staff(999, "staff@example.com", can_manage_users=True),
                             engine_factory=lambda: shop.engine)["data"]["lifecycleReferrals"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, count(*) FROM lifecycle_plugin_referral WHERE created_at >= %s "
                       "AND created_at < %s GROUP BY status", [since, clock.now])
        by_status = dict(cursor.fetchall())
        cursor.execute("SELECT reason, count(*) FROM lifecycle_plugin_referral WHERE status = 'refused' "
                       "GROUP BY reason ORDER BY 2 DESC, 1")
        reasons = [{"reason": r, "count": n} for r, n in cursor.fetchall()]
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_customerprofile "
                       "WHERE (extra_facts->>'referrals_rewarded')::int > 0")
        (advocates,) = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_referralcode WHERE issued_at >= %s AND issued_at < %s",
                       [since, clock.now])
        (codes,) = cursor.fetchone()
    assert by_status == {"rewarded": 1, "cancelled": 1, "refused": 2}
    assert answer == {
        "made": by_status["rewarded"] + by_status["cancelled"], "pending": 0, "rewarded": by_status["rewarded"],
        "cancelled": by_status["cancelled"], "refused": by_status["refused"], "refusedByReason": reasons,
        "codesIssued": codes, "advocates": advocates}
    assert advocates == 1


def test_switched_off_before_the_reward_falls_due_the_referral_is_cancelled(make_shop, host, clock):
    shop = make_shop(REFERRALS)
    code = referrer_with_code(shop, host, clock)
    referee_order(shop, host, clock, code)
    shop.configure(**{**REFERRALS, "referral_enabled": "false"})
    clock.advance(days=15)
    shop.run_due()
    referral = Referral.objects.get()
    assert (referral.status, referral.reason) == (Referral.CANCELLED, "switched off")
    assert shop.messages("referral_reward") == []


@pytest.mark.parametrize("since, until", [
    ("2026-02-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00"),  # reversed
    ("2010-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00"),  # over ten years
])
def test_referral_metrics_refuse_a_bad_period_naming_until(make_shop, since, until):
    from lifecycle_plugin.graphql.execution import execute_graphql
    from lifecycle_plugin.graphql.viewer import Viewer

    shop = make_shop(REFERRALS)
    query = 'query($s: DateTime!, $u: DateTime!) { lifecycleReferrals(since: $s, until: $u) { made } }'
    answer = execute_graphql({"query": query, "variables": {"s": since, "u": until}},
                             Viewer.staff(999, "staff@example.com", can_manage_users=True),
                             engine_factory=lambda: shop.engine)
    [error] = answer["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["argument"] == "until"
