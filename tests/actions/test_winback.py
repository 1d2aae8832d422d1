"""Win-back reminders: at an interval, up to a count, stopped by the next order."""

import pytest

from lifecycle_plugin.models import ActionStatus, StageTransition

from .conftest import T0, buy, customer_account, only

pytestmark = pytest.mark.django_db

ANN = "ann@example.com"


@pytest.fixture
def shop(make_shop):
    return make_shop(only("winback_reminder", winback_reminder_interval_days="10", winback_reminder_max_count="3"))


def gone_quiet(shop, host, clock, days=91):
    buy(host, ANN, T0)
    shop.process(ANN)
    clock.advance(days=days)
    shop.sweep()


def reminder_numbers(shop):
    return [m.payload["reminder"]["number"] for m in shop.messages("winback_reminder")]


def test_reminders_repeat_at_the_interval_up_to_the_count(shop, host, clock):
    gone_quiet(shop, host, clock)  # at risk since day 90
    assert shop.run_due() == 1
    assert reminder_numbers(shop) == [1]
    clock.advance(days=9)
    assert shop.run_due() == 0
    clock.advance(days=1)
    assert shop.run_due() == 1
    assert reminder_numbers(shop) == [1, 2]
    for _ in range(5):  # the engine keeps running long after
        clock.advance(days=10)
        shop.run_due()
        shop.sweep()
    assert reminder_numbers(shop) == [1, 2, 3]  # lapsing on day 180 did not start a second series
    assert [m.payload["reminder"]["count"] for m in shop.messages()] == [3, 3, 3]
    assert len(shop.entries("winback_reminder")) == 3


def test_replays_send_each_reminder_once(shop, host, clock):
    gone_quiet(shop, host, clock)
    shop.sweep()
    shop.process(ANN, event="customer_updated")
    shop.run_due()
    shop.run_due()
    ids = [e.pk for e in shop.entries()]
    assert shop.run_entries(ids) == 0
    assert reminder_numbers(shop) == [1]


def test_an_order_stops_the_reminders_and_is_logged_as_a_win_back(shop, host, clock):
    gone_quiet(shop, host, clock)
    shop.run_due()
    clock.advance(days=3)
    order = buy(host, ANN, clock.now)
    shop.process(ANN)

    assert [s.status for s in shop.scheduled("winback_reminder")] == [ActionStatus.DONE, ActionStatus.CANCELLED]
    clock.advance(days=30)
    assert shop.run_due() == 0
    assert reminder_numbers(shop) == [1]
    transition = StageTransition.objects.order_by("id").last()
    assert (transition.from_stage, transition.reason) == ("at_risk", "win_back")
    [logged] = shop.entries("winback_order")
    assert logged.payload["win_back"] is True and logged.payload["order"]["id"] == order.order_id
    assert logged.payload["reminders_sent"] == 1 and logged.payload["reminders_cancelled"] == 1
    assert logged.status == ActionStatus.DONE


def test_a_reminder_still_waiting_is_dropped_after_an_order(shop, host, clock):
    gone_quiet(shop, host, clock)
    shop.engine.run_due_actions()  # reminder 1 written; its message not sent yet (the worker is slow)
    [entry] = shop.entries("winback_reminder")
    buy(host, ANN, clock.now)
    shop.process(ANN)
    shop.run_entries([entry.pk])
    entry.refresh_from_db()
    assert entry.status == ActionStatus.SKIPPED and entry.result["reason"] == "the customer ordered again"
    assert shop.messages() == []


def test_a_new_silence_starts_a_new_series(shop, host, clock):
    gone_quiet(shop, host, clock)
    shop.run_due()
    buy(host, ANN, clock.now)
    shop.process(ANN)
    clock.advance(days=91)
    shop.sweep()
    shop.run_due()
    assert reminder_numbers(shop) == [1, 1]
    assert len({m.payload["episode"] for m in shop.messages()}) == 2


def test_only_lapsed_starts_them_when_the_owner_says_so(make_shop, host, clock):
    shop = make_shop(only("winback_reminder", winback_reminder_stages="lapsed"))
    gone_quiet(shop, host, clock)
    assert shop.run_due() == 0
    clock.advance(days=90)
    shop.sweep()
    assert shop.run_due() == 1
    assert shop.messages()[0].payload["stage"] == "lapsed"


def test_one_voucher_for_the_series(make_shop, host, clock):
    shop = make_shop(only("winback_reminder", winback_reminder_voucher="true", winback_reminder_interval_days="7",
                          winback_reminder_valid_days="10", winback_reminder_discount="20%"))
    gone_quiet(shop, host, clock)
    shop.run_due()
    clock.advance(days=7)
    shop.run_due()
    clock.advance(days=7)  # the voucher (valid 10 days) has expired by the third reminder
    shop.run_due()
    assert len(host.vouchers) == 1 and host.vouchers[0].value == 20
    codes = [(m.payload["voucher"] or {}).get("code") for m in shop.messages()]
    code = host.issued[0].code
    assert codes == [code, code, None]
    assert code in shop.messages()[0].text and "20% off" in shop.messages()[0].subject
    assert code not in shop.messages()[2].text


def test_no_consent_no_reminder_but_the_series_goes_on(make_shop, host, clock):
    shop = make_shop(only("winback_reminder", marketing_consent_key="news", winback_reminder_interval_days="10"))
    ann = customer_account(host, ANN)
    gone_quiet(shop, host, clock)
    shop.run_due()
    assert shop.messages() == []
    host.metadata[ann.user_id] = {"news": "granted"}  # the customer opted in meanwhile
    clock.advance(days=10)
    shop.run_due()
    assert reminder_numbers(shop) == [2]


def test_switched_off_stops_the_series_and_keeps_the_ledger(shop, host, clock):
    gone_quiet(shop, host, clock)
    shop.run_due()
    shop.configure(**only("winback_reminder", winback_reminder_enabled="false"))
    clock.advance(days=30)
    shop.run_due()
    assert reminder_numbers(shop) == [1]
    assert [s.status for s in shop.scheduled("winback_reminder")] == [ActionStatus.DONE, ActionStatus.SKIPPED]
    assert [e.status for e in shop.entries("winback_reminder")] == [ActionStatus.DONE]


def test_a_missed_sweep_does_not_remind_a_customer_who_is_back(shop, host, clock):
    buy(host, ANN, T0)
    shop.process(ANN)
    clock.advance(days=100)  # at risk since day 90, but no sweep ran before the next order
    buy(host, ANN, clock.now)
    shop.process(ANN)
    assert shop.scheduled("winback_reminder") == []
    assert shop.run_due() == 0 and shop.messages() == []
