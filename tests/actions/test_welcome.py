"""The welcome sequence on the sandbox host: a welcome on a new account, nurture while a lead, stopped by an order.

Messages are the sandbox outbox's rows and vouchers its own ``Voucher`` rows; the store
notifies the engine as Saleor's hooks do, and the after-commit work runs inline.
"""

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from lifecycle_plugin.actions.rendering import render_message
from lifecycle_plugin.actions.welcome import CONFIRMATION_RECHECK, CONFIRMATION_WAIT
from lifecycle_plugin.conf import ConfigError, load_settings
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.models import ActionLedgerEntry, ActionStatus, ScheduledAction
from lifecycle_plugin.sandbox.commands.common import DEMO_ACTION_SETTINGS
from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.models import OutboxMessage, Voucher
from lifecycle_plugin.sandbox.store import SandboxStore, ensure_channels

from .conftest import T0, at_once, build_engine, only

pytestmark = pytest.mark.django_db


class Store(SandboxStore):
    """The sandbox store with the engine's after-commit work run inline, and the periodic tasks."""

    def __init__(self, clock, capture, **settings):
        self.clock, self.capture = clock, capture
        super().__init__(build_engine(SandboxHost(), clock, only("welcome", **settings)))

    def configure(self, **settings):
        self.engine = build_engine(SandboxHost(), self.clock, only("welcome", **settings))

    def notify(self, customer, event):
        with self.capture(execute=True):
            return super().notify(customer, event)

    def tick(self, **advance):
        """Time passes, then the due-action task runs (every 5 minutes in production)."""
        self.clock.advance(**advance)
        with self.capture(execute=True):
            self.engine.sweep()
            self.engine.run_due_actions()


@pytest.fixture
def store(clock, django_capture_on_commit_callbacks):
    ensure_channels()
    return Store(clock, django_capture_on_commit_callbacks)


def sent(action=None):
    rows = OutboxMessage.objects.order_by("id")
    return list(rows.filter(action=action) if action else rows)


def ledger(action):
    return list(ActionLedgerEntry.objects.filter(action=action).order_by("id"))


def pending_nurture():
    return list(ScheduledAction.objects.filter(action="welcome_nurture", status=ActionStatus.PENDING))


def test_a_new_account_is_welcomed_once_then_nurtured_at_the_chosen_days(store, clock):
    ann = store.register("ann@example.com", first_name="Ann")
    [welcome] = sent("welcome")
    assert welcome.email == "ann@example.com" and welcome.subject == "Welcome, Ann!"
    assert "thank you for creating an account" in welcome.text
    assert welcome.payload["unsubscribe_url"] and "Unsubscribe:" in welcome.text  # marketing
    assert welcome.payload["nurture"] == {"number": 0, "count": 2}

    # Saleor reports the account again (and an unrelated update): nothing more.
    store.notify(CustomerRef.of(ann.email, ann.pk), "customer_created")
    store.notify(CustomerRef.of(ann.email, ann.pk), "customer_updated")
    assert len(sent("welcome")) == 1

    store.tick(days=3, minutes=-10)
    assert sent("welcome_nurture") == []  # never before it is due
    store.tick(minutes=15)
    [first] = sent("welcome_nurture")
    assert first.payload["nurture"] == {"number": 1, "count": 2} and "a few days ago" in first.text
    store.tick(days=7)  # day 10 after the welcome
    store.tick(days=7)
    assert [m.payload["nurture"]["number"] for m in sent("welcome_nurture")] == [1, 2]
    assert "we are still here" in sent("welcome_nurture")[1].text
    store.tick(days=60)
    assert len(sent()) == 3 and not pending_nurture()
    assert {e.status for e in ActionLedgerEntry.objects.filter(action__startswith="welcome")} == {ActionStatus.DONE}


def test_ordering_stops_the_nurture_and_the_ledger_says_why(store, clock):
    ann = store.register("ann@example.com")
    store.tick(days=3, minutes=5)
    assert len(sent("welcome_nurture")) == 1 and len(pending_nurture()) == 1

    store.tick(days=1)
    store.place_order(ann, "40.00")

    assert not pending_nurture()
    cancelled = ScheduledAction.objects.get(action="welcome_nurture", status=ActionStatus.CANCELLED)
    assert cancelled.payload["number"] == 2
    [stopped] = ledger("welcome_stopped")
    assert stopped.status == ActionStatus.DONE and stopped.result["reason"] == "the customer ordered"
    assert stopped.payload["nurture_sent"] == 1 and stopped.payload["nurture_cancelled"] == 1
    store.tick(days=30)
    assert len(sent("welcome_nurture")) == 1


def test_a_message_still_waiting_when_they_order_is_not_sent(store, clock):
    store.register("ann@example.com", first_name="Ann")
    with store.capture(execute=False):  # the nurture comes due, its message waits for a worker
        store.clock.advance(days=3, minutes=5)
        store.engine.run_due_actions()
    [waiting] = ledger("welcome_nurture")
    assert waiting.status == ActionStatus.PENDING
    store.place_order(waiting.profile.user_id, "40.00")
    with store.capture(execute=True):
        store.engine.run_entries([waiting.pk])
    waiting.refresh_from_db()
    assert waiting.status == ActionStatus.SKIPPED and waiting.result["reason"] == "the customer ordered"
    assert sent("welcome_nurture") == []


def test_a_cart_ends_the_lead_and_the_sequence(store, clock):
    ann = store.register("ann@example.com")
    store.tick(hours=2)
    store.open_checkout(user=ann, lines=2)
    [stopped] = ledger("welcome_stopped")
    assert stopped.result["reason"] == "the customer is no longer a lead (now prospect)"
    store.tick(days=30)
    assert [m.action for m in sent()] == ["welcome"]


def test_the_first_order_voucher_is_issued_in_the_chosen_channel_and_recalled_by_the_nurture(store, clock):
    store.configure(welcome_voucher="true", welcome_discount="15%", welcome_voucher_channel="channel-pln",
                    welcome_valid_days="5")
    ann = store.register("ann@example.com", first_name="Ann")
    [voucher] = Voucher.objects.all()
    assert voucher.channel.slug == "channel-pln" and voucher.value == Decimal("15") and voucher.single_use
    assert voucher.customer_email == "ann@example.com" and voucher.valid_until == T0 + timedelta(days=5)
    [welcome] = sent("welcome")
    assert welcome.subject == "Welcome, Ann! Here is 15% off your first order"
    assert voucher.code in welcome.text and welcome.channel == "channel-pln"

    store.tick(days=3, minutes=5)
    [first] = sent("welcome_nurture")
    assert voucher.code in first.text and first.subject == "Ann, your 15% welcome code is waiting"

    # The first order redeems it, in its channel; that order ends the sequence.
    store.tick(days=1)
    store.place_order(ann, "50.00", channel="channel-pln", voucher=voucher.code)
    voucher.refresh_from_db()
    assert voucher.used and ledger("welcome_stopped")[0].payload["nurture_cancelled"] == 1
    assert Voucher.objects.count() == 1


def test_an_expired_welcome_code_is_not_announced_again(store, clock):
    store.configure(welcome_voucher="true", welcome_valid_days="5")
    store.register("ann@example.com")
    store.tick(days=3, minutes=5)
    store.tick(days=7)  # the code expired on day 5: the second message does not announce it
    first, second = sent("welcome_nurture")
    code = Voucher.objects.get().code
    assert code in first.text and first.payload["voucher"]["code"] == code
    assert code not in second.text and second.payload["voucher"] is None
    assert Voucher.objects.count() == 1


def test_a_fixed_amount_needs_the_channel_currency(store, clock):
    store.configure(welcome_voucher="true", welcome_discount="USD 5, PLN 20", welcome_voucher_channel="channel-pln")
    store.register("ann@example.com")
    [entry] = ledger("welcome_voucher")
    assert entry.status == ActionStatus.SKIPPED and "default-channel USD" in entry.result["reason"]
    assert not Voucher.objects.exists() and len(sent("welcome")) == 1  # the welcome goes without one

    store.configure(welcome_voucher="true", welcome_discount="USD 5, PLN 20",
                    welcome_voucher_channel="channel-pln PLN")
    store.register("bob@example.com")
    [voucher] = Voucher.objects.all()
    assert voucher.discount_type == "fixed" and voucher.value == Decimal("20") and voucher.channel.slug == "channel-pln"


def test_an_unconfirmed_account_is_welcomed_once_it_is_confirmed(store, clock):
    ann = store.register("ann@example.com", confirmed=False)
    store.tick(hours=5)
    assert sent() == []
    [waiting] = ScheduledAction.objects.filter(action="welcome_waiting")
    assert waiting.status == ActionStatus.PENDING and waiting.due_at > clock.now  # looks again later

    store.confirm_account(ann)
    store.tick(hours=1)
    [welcome] = sent("welcome")
    welcomed_at = clock.now
    store.tick(days=3)
    [nurture] = sent("welcome_nurture")
    # counted from the welcome, not from the registration
    assert nurture.created_at >= welcomed_at + timedelta(days=3)


def test_an_account_never_confirmed_gets_nothing(store, clock):
    store.register("ann@example.com", confirmed=False)
    for _ in range(CONFIRMATION_WAIT.days + 1):
        store.tick(days=1)
    assert sent() == []
    waiting = ScheduledAction.objects.get(action="welcome_waiting")
    assert waiting.status == ActionStatus.SKIPPED
    assert CONFIRMATION_RECHECK < timedelta(days=1)


def test_an_old_account_first_seen_now_is_not_welcomed(store, clock):
    store.register("ann@example.com", at=T0 - timedelta(days=30))
    assert sent() == [] and not ActionLedgerEntry.objects.filter(action__startswith="welcome").exists()


def test_marketing_needs_consent(store, clock):
    store.configure(marketing_consent_required="true")
    store.register("ann@example.com")
    store.tick(days=11)
    assert sent() == []
    assert {e.result["reason"] for e in ledger("welcome") + ledger("welcome_nurture")} == {"no marketing consent"}


def test_switched_off_nothing_starts_and_switching_off_stops_the_nurture(store, clock):
    store.configure(welcome_enabled="false")
    store.register("ann@example.com")
    assert sent() == [] and not ActionLedgerEntry.objects.filter(action__startswith="welcome").exists()

    store.configure()
    store.register("bob@example.com")
    store.configure(welcome_enabled="false")
    store.tick(days=11)
    assert [m.email for m in sent()] == ["bob@example.com"]


def test_a_shortened_list_sends_no_more(store, clock):
    store.configure(welcome_nurture_days="3, 10, 20")
    store.register("ann@example.com")
    store.tick(days=3, minutes=5)
    store.configure(welcome_nurture_days="3")
    store.tick(days=30)
    assert [m.payload["nurture"] for m in sent("welcome_nurture")] == [{"number": 1, "count": 3}]


def test_a_template_raising_for_one_customer_sends_them_nothing_and_says_why(store, clock):
    raising = '{% if customer.first_name == "Bob" %}{% include "lifecycle_plugin/missing.txt" %}{% endif %}Hi'
    store.configure(welcome_text_template=raising)
    store.register("bob@example.com", first_name="Bob")
    store.register("ann@example.com", first_name="Ann")
    assert [m.email for m in sent("welcome")] == ["ann@example.com"]
    bob = next(e for e in ledger("welcome") if e.profile.email == "bob@example.com")
    assert bob.status == ActionStatus.SKIPPED
    assert bob.result["reason"].startswith("the template could not be rendered: TemplateDoesNotExist")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("welcome_nurture_days", "10, 3", "each must be later than the one before: 3 comes after 10"),
    ("welcome_nurture_days", "0", "each delay must be from 1 to 3650 days, got 0"),
    ("welcome_nurture_days", "3 days", "write whole numbers of days separated by commas"),
    ("welcome_nurture_days", ", ".join(str(d) for d in range(1, 14)), "at most 12 nurture messages, got 13"),
    ("welcome_voucher_channel", "default channel USD", "write a channel slug"),
    ("welcome_voucher_channel", "default-channel XYZ", "'XYZ' is not an ISO 4217 currency code"),
    ("welcome_discount", "150%", "a percentage must be from 1 to 100"),
    ("welcome_subject_template", "Hi {{ nurture.numbr }}", "unknown template variable nurture.numbr"),
    ("welcome_nurture_text_template", "{{ reminder.number }}", "unknown template variable reminder.number"),
])
def test_bad_settings_are_refused_with_the_reason(name, value, message):
    with pytest.raises(ConfigError) as refused:
        load_settings({name: value})
    assert message in refused.value.errors[name]


def test_good_settings_are_read():
    values = load_settings({"welcome_nurture_days": " 2,5 , 9", "welcome_voucher_channel": "web-eu eur"}).values
    assert values["welcome_nurture_days"] == (2, 5, 9) and values["welcome_voucher_channel"] == ("web-eu", "EUR")
    assert load_settings({}).values["welcome_nurture_days"] == (3, 10)
    assert load_settings({"welcome_nurture_days": ""}).values["welcome_nurture_days"] == (3, 10)


def test_the_demo_welcomes_new_accounts():
    assert DEMO_ACTION_SETTINGS["welcome_enabled"] == "true"
    assert load_settings(DEMO_ACTION_SETTINGS).values["welcome_enabled"] is True


def test_the_ledger_as_plain_sql_agrees(store, clock):
    """One welcome and N nurture rows per account, whatever the replays (read with SQL, not the models)."""
    for email in ("ann@example.com", "bob@example.com"):
        user = store.register(email)
        store.notify(CustomerRef.of(email, user.pk), "customer_created")
    store.tick(days=3, minutes=5)
    store.tick(days=7)
    with connection.cursor() as cursor:
        cursor.execute(f"""SELECT p.email, l.action, count(*) FROM {ActionLedgerEntry._meta.db_table} l
                           JOIN lifecycle_plugin_customerprofile p ON p.id = l.profile_id
                           WHERE l.status = 'done' GROUP BY 1, 2 ORDER BY 1, 2""")
        rows = cursor.fetchall()
    assert rows == [(e, a, n) for e in ("ann@example.com", "bob@example.com")
                    for a, n in (("welcome", 1), ("welcome_nurture", 2))]
    assert OutboxMessage.objects.count() == 6


# ---------------------------------------------------------------------- the docs show what is shipped

DOCS = Path(__file__).resolve().parents[2] / "docs" / "actions.md"
DOC_CUSTOMER = {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee", "name": "Ann Lee"}
DOC_VOUCHER = {"code": "LC-7KQ2M9XPR4TD", "discount": "15%", "valid_until_date": "2026-02-01",
               "valid_until": "2026-02-01T12:00:00+00:00", "channel": "default-channel", "voucher_id": "81"}
DOC_UNSUBSCRIBE = "https://shop.example.com/plugins/global/saleor.lifecycle/unsubscribe/?token=..."
#: What each rendered block in docs/actions.md shows: (action, nurture number, voucher).
DOC_CASES = {"welcome": ("welcome", 0, DOC_VOUCHER), "welcome_nurture 1": ("welcome_nurture", 1, DOC_VOUCHER),
             "welcome_nurture 2": ("welcome_nurture", 2, None)}


def test_the_docs_show_each_message_as_the_shipped_templates_render_it():
    shown = dict(re.findall(r"<!-- rendered: ([\w ]+) -->\n```text\n(.*?)\n```", DOCS.read_text(), re.S))
    assert set(shown) == set(DOC_CASES)
    for name, (action, number, voucher) in DOC_CASES.items():
        rendered = render_message(action, {"customer": DOC_CUSTOMER, "voucher": voucher, "stage": "lead",
                                           "unsubscribe_url": DOC_UNSUBSCRIBE,
                                           "nurture": {"number": number, "count": 2}})
        assert shown[name] == f"Subject: {rendered.subject}\n\n{rendered.text.rstrip()}", name
        # The HTML part says the same.
        assert (voucher or {}).get("code", "LC-") in rendered.html or voucher is None
        assert ("LC-" in rendered.html) == (voucher is not None)


def test_an_unconfirmed_account_that_unsubscribes_meanwhile_starts_nothing(store, clock):
    from lifecycle_plugin.models import CustomerProfile, MarketingOptOut

    store.register("ann@example.com", confirmed=False)
    MarketingOptOut.objects.create(profile=CustomerProfile.objects.get(email="ann@example.com"),
                                   opted_out_at=clock.now, source="page")
    user = CustomerProfile.objects.get(email="ann@example.com").user
    store.confirm_account(user)
    store.tick(days=11)
    assert sent() == [] and not ActionLedgerEntry.objects.filter(action__startswith="welcome").exists()
    assert ScheduledAction.objects.get(action="welcome_waiting").status == ActionStatus.SKIPPED


@pytest.mark.django_db(transaction=True)
def test_two_workers_replaying_the_registration_at_once_send_one_welcome_and_one_voucher(clock):
    ensure_channels()
    engines = [build_engine(SandboxHost(), clock, only("welcome", welcome_voucher="true")) for _ in "ab"]
    user = SandboxStore().register("ann@example.com", notify=False)
    ann = CustomerRef.of(user.email, user.pk)
    for _ in range(2):
        at_once(*(lambda e=e: e.process(ann, event="customer_created") for e in engines))
    clock.advance(days=3, minutes=5)
    at_once(*(e.run_due_actions for e in engines))
    at_once(*(e.run_due_actions for e in engines))
    assert [m.action for m in sent()] == ["welcome", "welcome_nurture"]
    assert Voucher.objects.count() == 1
