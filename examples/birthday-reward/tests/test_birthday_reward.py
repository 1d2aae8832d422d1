"""The birthday reward against the sandbox host and the real engine, loaded through its entry point.

Run from this directory with the package installed (``pip install -e .``) and a
PostgreSQL in DATABASE_URL: ``python -m pytest``.
"""

from datetime import date, datetime, timedelta, timezone

import pytest

from birthday_reward.hooks import ACTION, is_shop_birthday
from lifecycle_plugin.api import (
    ActionLedgerEntry,
    Clock,
    SandboxHost,
    SandboxOutboxMessage,
    SandboxStore,
    SandboxVoucher,
    get_engine,
    make_plugin_manager,
)

pytestmark = pytest.mark.django_db

FIRST_ORDER = datetime(2025, 3, 14, 10, tzinfo=timezone.utc)


@pytest.fixture
def clock():
    return Clock(FIRST_ORDER)


@pytest.fixture
def engine(settings, clock):
    # The owner's settings, as the sandbox reads them; messages go to the sandbox outbox.
    settings.LIFECYCLE_SETTINGS = {"delivery_channel": "notify", "marketing_consent_required": "false"}
    settings.BIRTHDAY_REWARD = {"discount": "20%", "valid_days": "7"}
    return get_engine(SandboxHost(), clock=clock)


@pytest.fixture
def tick(engine, clock, django_capture_on_commit_callbacks):
    def run(day: date):
        clock.now = datetime(day.year, day.month, day.day, 3, 30, tzinfo=timezone.utc)
        with django_capture_on_commit_callbacks(execute=True):  # the ledger entries run after commit
            return engine.daily_tick(day)

    return run


def test_the_installed_package_is_found_through_its_entry_point():
    pm = make_plugin_manager()
    plugin = pm.get_plugin("birthday_reward")
    assert plugin is not None and plugin.__name__ == "birthday_reward.hooks"


def test_a_voucher_and_a_message_on_the_shop_birthday(engine, tick):
    store = SandboxStore(engine)
    ann = store.register("ann@example.com", first_name="Ann", at=FIRST_ORDER - timedelta(days=1))
    store.place_order(ann, "30.00", at=FIRST_ORDER)

    tick(date(2026, 3, 13))
    assert not SandboxVoucher.objects.exists()
    tick(date(2026, 3, 14))
    tick(date(2026, 3, 14))  # the tick ran twice today: still one reward

    [voucher] = SandboxVoucher.objects.all()
    assert voucher.value == 20 and voucher.customer_email == "ann@example.com"
    [message] = SandboxOutboxMessage.objects.filter(action=ACTION)
    # ("Happy shop birthday, Ann: ..." where the host tells the engine customers' names.)
    assert message.subject.startswith("Happy shop birthday") and message.subject.endswith(": 20% off")
    assert "1 year ago today" in message.text and voucher.code in message.text
    assert ActionLedgerEntry.objects.filter(action=ACTION).count() == 1

    tick(date(2027, 3, 14))
    assert SandboxVoucher.objects.count() == 2
    assert "2 years ago today" in SandboxOutboxMessage.objects.filter(action=ACTION).last().text


def test_leap_day_first_orders_are_celebrated_on_28_february():
    assert is_shop_birthday(date(2024, 2, 29), date(2025, 2, 28))
    assert not is_shop_birthday(date(2024, 2, 29), date(2025, 3, 1))
    assert is_shop_birthday(date(2024, 2, 29), date(2028, 2, 29))
    assert not is_shop_birthday(date(2024, 2, 29), date(2024, 2, 29))
