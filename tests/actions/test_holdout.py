"""The stable holdout (`actions.holdout`, ``holdout_percent``): a deterministic split near the
requested share, the same in any process; a held-out customer gets no message and no voucher
and the ledger records why; the results count them; a percent out of range is refused."""

import subprocess
import sys
from argparse import Namespace
from io import StringIO

import pytest

from lifecycle_plugin.rules.holdout import is_held_out
from lifecycle_plugin.conf import load_settings
from lifecycle_plugin.engine.action_results import action_results
from lifecycle_plugin.models import ActionStatus, CustomerProfile
from lifecycle_plugin.rules.config import ConfigError

from .conftest import T0, buy, only

IDS = range(1, 10_001)


def held_out_ids(action, percent):
    return {profile_id for profile_id in IDS if is_held_out(action, profile_id, percent)}


@pytest.mark.parametrize("percent", [1, 10, 25, 50])
def test_the_split_is_near_the_requested_share_on_10000_ids(percent):
    share = len(held_out_ids("repeat_purchase", percent)) / len(IDS)

    # a fair split's standard deviation is at most 0.5 percentage points here: 1.5 points is 3 of them
    assert abs(share - percent / 100) < 0.015


def test_the_split_is_the_same_every_time_and_nested_as_the_share_grows():
    assert held_out_ids("winback_reminder", 10) == held_out_ids("winback_reminder", 10)
    assert held_out_ids("winback_reminder", 10) < held_out_ids("winback_reminder", 20)
    assert not held_out_ids("winback_reminder", 0)


def test_each_action_splits_on_its_own():
    welcome, winback = held_out_ids("welcome", 50), held_out_ids("winback_reminder", 50)

    # independent halves overlap on about a quarter, not all or nothing
    assert abs(len(welcome & winback) / len(IDS) - 0.25) < 0.02


def test_the_split_does_not_depend_on_the_processs_hash_seed():
    program = ("from lifecycle_plugin.rules.holdout import is_held_out; "
               "print(sorted(i for i in range(1, 2001) if is_held_out('tier_upgrade', i, 20)))")
    answers = {subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("1", "2")}

    assert len(answers) == 1
    assert answers.pop().strip() == str(sorted(i for i in range(1, 2001) if is_held_out("tier_upgrade", i, 20)))


@pytest.mark.django_db
def test_a_held_out_customer_gets_no_message_and_no_voucher_and_is_recorded(make_shop, host):
    shop = make_shop(only("repeat_purchase", holdout_percent="50"))
    emails = [f"c{i:02d}@example.com" for i in range(30)]
    for email in emails:
        buy(host, email, T0)
        shop.process(email)

    profiles = {p.email: p.id for p in CustomerProfile.objects.filter(email__in=emails)}
    held = {email for email, profile_id in profiles.items() if is_held_out("repeat_purchase", profile_id, 50)}
    assert held and held != set(emails)  # both groups are there
    messaged = {m.customer.email for m in shop.messages("repeat_purchase")}
    vouchers = {v.customer.email for v in host.vouchers}
    assert messaged == vouchers == set(emails) - held
    for entry in shop.entries("repeat_purchase") + shop.entries("repeat_purchase_voucher"):
        if entry.profile.email in held:
            assert (entry.status, entry.result["reason"]) == (ActionStatus.SKIPPED, "held out")
            assert entry.completed_at is not None  # the held-out window starts here
    repeat = {r.action: r for r in action_results(shop.engine).actions}["repeat_purchase"]
    assert (repeat.held_back.held_out, repeat.held_out_customers, repeat.customers) == (
        len(held), len(held), len(emails) - len(held))


@pytest.mark.django_db
def test_nobody_is_held_out_by_default(shop, host):
    shop.configure(**only("repeat_purchase"))
    for i in range(10):
        buy(host, f"c{i}@example.com", T0)
        shop.process(f"c{i}@example.com")

    assert len(shop.messages("repeat_purchase")) == len(host.issued) == 10


def test_the_setting_defaults_to_0_and_refuses_a_percent_out_of_range():
    assert load_settings({}).values["holdout_percent"] == 0
    assert load_settings({"holdout_percent": "50"}).values["holdout_percent"] == 50
    for bad, message in [("51", "must be from 0 to 50 percent, got 51"),
                         ("-1", "must be from 0 to 50 percent, got -1"),
                         ("5.5", "must be a whole number of percent, got '5.5'")]:
        with pytest.raises(ConfigError) as caught:
            load_settings({"holdout_percent": bad})
        assert caught.value.errors == {"holdout_percent": message}


@pytest.mark.django_db
def test_saving_a_percent_out_of_range_is_refused_naming_the_field_and_saves_nothing():
    from lifecycle_plugin.sandbox.commands.common import Out
    from lifecycle_plugin.sandbox.commands.settings import cmd_settings
    from lifecycle_plugin.sandbox.models import StoredSetting

    out = StringIO()
    printer = Out(progress=False)
    printer.stream = out
    code = cmd_settings(Namespace(assignments=["holdout_percent=60"], no_run=True, chunk_size=3, now=None), printer)

    assert code == 2 and "Messages: holdout (percent)" in out.getvalue() and "0 to 50" in out.getvalue()
    assert not StoredSetting.objects.exists()


@pytest.mark.django_db
def test_a_transactional_message_is_never_held_out(make_shop, host, clock):
    shop = make_shop(only("review_request", review_request_delay_days="7", holdout_percent="50"))
    emails = [f"r{i:02d}@example.com" for i in range(12)]
    for email in emails:
        order = buy(host, email, T0)
        shop.process(email)
        host.update_order(email, order.order_id, fulfilled_at=T0)
        shop.process(email, event="order_fulfilled")
    clock.advance(days=8)
    shop.run_due()

    profiles = CustomerProfile.objects.filter(email__in=emails)
    assert any(is_held_out("review_request", p.id, 50) for p in profiles)  # some would be, were it marketing
    assert {m.customer.email for m in shop.messages("review_request")} == set(emails)
