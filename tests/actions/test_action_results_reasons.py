"""The held-back figures of `engine.action_results` read the reasons the actions really
write: a consent skip, an opt-out, the frequency cap and a quiet-hours hold, made by the
built-in actions here, each land under their own reason. (The in-memory host has no SQL
over its orders: conversions are said to be unavailable, not shown as zero.)"""

from datetime import timedelta

import pytest

from lifecycle_plugin.engine.action_results import ENGINE_MARK_PREFIX, action_results
from lifecycle_plugin.engine.plans import once_only_key
from lifecycle_plugin.models import ActionLedgerEntry, CustomerProfile, MarketingOptOut

from .conftest import T0, buy, only

pytestmark = pytest.mark.django_db


def results(shop):
    return {result.action: result for result in action_results(shop.engine).actions}


def test_a_consent_skip_and_an_opt_out_are_told_apart(make_shop, host):
    shop = make_shop(only("repeat_purchase", marketing_consent_required="true"))
    for email in ("ann@example.com", "bob@example.com"):
        buy(host, email, T0)
    shop.process("ann@example.com")
    bob = CustomerProfile.objects.create(
        email="bob@example.com", stage="lead", stage_since=T0, stage_rule="x", history_cutoff=T0 - timedelta(days=1),
        decided_at=T0)
    MarketingOptOut.objects.create(profile=bob, opted_out_at=T0 - timedelta(days=1), source="page")
    shop.process("bob@example.com")

    repeat = results(shop)["repeat_purchase"]
    assert [e.result["reason"] for e in shop.entries("repeat_purchase")] == ["no marketing consent"] * 2
    assert (repeat.held_back.consent, repeat.held_back.opted_out, repeat.sent) == (1, 1, 0)
    # the voucher entries were skipped too, but a held-back message is counted once
    assert repeat.held_back.total == 2 and repeat.vouchers_issued == 0


def test_quiet_hours_and_the_cap_each_have_their_column(make_shop, host, clock):
    shop = make_shop(only("winback_reminder", winback_reminder_interval_days="1", winback_reminder_max_count="4",
                          marketing_cap_messages="2", marketing_cap_days="7"))
    buy(host, "ann@example.com", T0)
    shop.process("ann@example.com")
    clock.advance(days=91)
    shop.sweep()
    for _ in range(4):
        shop.run_due()
        clock.advance(days=1)
    quiet = make_shop(only("repeat_purchase", quiet_hours="11:00-13:00"))
    clock.now = T0 + timedelta(days=200)
    buy(host, "cat@example.com", clock.now - timedelta(minutes=1))
    quiet.process("cat@example.com")

    figures = results(shop)
    winback, repeat = figures["winback_reminder"], figures["repeat_purchase"]
    assert (winback.sent, winback.held_back.frequency_cap, winback.held_back.total) == (2, 2, 2)
    assert (repeat.sent, repeat.held_back.quiet_hours, repeat.held_back.total) == (0, 1, 1)
    assert winback.converted is None and winback.conversion_rate is None
    assert "ladder_sources" in action_results(shop.engine).conversions_unavailable


def test_the_engines_once_only_marks_are_no_action(make_shop, host):
    shop = make_shop(only("repeat_purchase"))
    buy(host, "ann@example.com", T0)
    shop.process("ann@example.com")

    assert once_only_key("order_counted", 1, "o").startswith(ENGINE_MARK_PREFIX)
    assert ActionLedgerEntry.objects.filter(action__startswith=ENGINE_MARK_PREFIX).exists()
    assert set(results(shop)) == {"repeat_purchase"}  # its voucher entry is counted on it
    assert results(shop)["repeat_purchase"].sent == 1 and results(shop)["repeat_purchase"].vouchers_issued == 1
