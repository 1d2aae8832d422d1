"""Quiet hours hold a message until they end; the frequency cap skips marketing over it."""

from datetime import datetime, time, timedelta, timezone

import pytest

from lifecycle_plugin.actions.pacing import parse_quiet_hours, parse_timezone
from lifecycle_plugin.models import ActionStatus

from .conftest import T0, buy, only

pytestmark = pytest.mark.django_db

ANN = "ann@example.com"


def test_quiet_hours_are_checked_in_plain_words():
    assert parse_quiet_hours("21:00-08:00") == (time(21), time(8))
    assert parse_quiet_hours("") is None
    for bad, words in [("9pm-8am", "HH:MM-HH:MM"), ("25:00-08:00", "from 00 to 23"), ("08:00-08:00", "different")]:
        with pytest.raises(ValueError, match=words):
            parse_quiet_hours(bad)
    with pytest.raises(ValueError, match="not a time zone"):
        parse_timezone("Mars/Olympus")


def test_a_message_due_in_the_quiet_hours_waits_until_they_end(make_shop, host, clock):
    # T0 is 12:00 UTC: 13:00 in Warsaw, inside 12:30-14:00 there.
    shop = make_shop(only("repeat_purchase", quiet_hours="12:30-14:00", quiet_hours_timezone="Europe/Warsaw"))
    buy(host, ANN, T0)
    shop.process(ANN)

    assert shop.messages() == []
    [entry] = shop.entries("repeat_purchase")
    end = datetime(2026, 1, 1, 13, tzinfo=timezone.utc)  # 14:00 in Warsaw
    assert entry.status == ActionStatus.PENDING and entry.not_before == end
    assert set(entry.result) == {"held", "until"} and datetime.fromisoformat(entry.result["until"]) == end
    assert entry.result["held"].startswith("quiet hours until 2026-01-01T14:00:00+01:00")
    assert entry.attempts == 0

    clock.advance(minutes=59)
    shop.retry()
    assert shop.messages() == []
    clock.advance(minutes=1)
    shop.retry()
    [message] = shop.messages("repeat_purchase")
    entry.refresh_from_db()
    assert entry.status == ActionStatus.DONE and entry.result["held"].startswith("quiet hours until")
    assert entry.result["sent_at"] == (T0 + timedelta(hours=1)).isoformat()


def test_quiet_hours_may_wrap_past_midnight(make_shop, host):
    shop = make_shop(only("repeat_purchase", quiet_hours="11:00-01:30"))
    buy(host, ANN, T0)
    shop.process(ANN)
    [entry] = shop.entries("repeat_purchase")
    assert entry.not_before == datetime(2026, 1, 2, 1, 30, tzinfo=timezone.utc)


def test_outside_the_quiet_hours_nothing_waits(make_shop, host):
    shop = make_shop(only("repeat_purchase", quiet_hours="21:00-08:00"))
    buy(host, ANN, T0)
    shop.process(ANN)
    assert len(shop.messages("repeat_purchase")) == 1


def test_marketing_over_the_cap_is_skipped_with_the_reason(make_shop, host, clock):
    shop = make_shop(only("winback_reminder", winback_reminder_interval_days="1", winback_reminder_max_count="4",
                          winback_reminder_voucher="true", marketing_cap_messages="2", marketing_cap_days="7"))
    buy(host, ANN, T0)
    shop.process(ANN)
    clock.advance(days=91)
    shop.sweep()
    for _ in range(4):
        shop.run_due()
        clock.advance(days=1)

    assert [m.payload["reminder"]["number"] for m in shop.messages()] == [1, 2]
    skipped = [e for e in shop.entries("winback_reminder") if e.status == ActionStatus.SKIPPED]
    assert [e.result["reason"] for e in skipped] == ["frequency cap: 2 marketing messages in the last 7 days"] * 2
    assert len(host.issued) == 1  # the series' one voucher, issued before the cap was reached
