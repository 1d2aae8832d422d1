"""Abandoned checkout: a reminder some hours after a cart with lines stops changing, a second one
later, both cancelled by completing, emptying or deleting the checkout, never for a cart older
than the customer's last order."""

import re
from datetime import timedelta
from pathlib import Path

import pytest

from lifecycle_plugin.actions.preview import preview_message
from lifecycle_plugin.actions.rendering import render_message
from lifecycle_plugin.conf import ConfigError, load_settings
from lifecycle_plugin.host import OrderProduct
from lifecycle_plugin.models import ActionLedgerEntry, ActionStatus, ScheduledAction

from .conftest import T0, buy, customer_account, only

pytestmark = pytest.mark.django_db

ANN = "ann@example.com"
GUEST = "guest@example.com"
ACTION = "abandoned_checkout"
MUG = OrderProduct("Blue mug", 2, "Large", "UHJvZHVjdDox", "MUG-L")
TEA = OrderProduct("Green tea", 1, "", "UHJvZHVjdDoy", "TEA")
URL = "https://shop.example.com/checkout?token={token}&channel={channel}"


@pytest.fixture
def shop(make_shop):
    return make_shop(only(ACTION, checkout_url_template=URL))


def left_cart(shop, host, clock, email=GUEST, products=(MUG, TEA), **fields):
    """A shopper fills a cart (Saleor: checkoutCreate + checkoutLinesAdd) and leaves it."""
    cart = host.cart(email, at=clock.now, products=list(products), guest=email == GUEST, **fields)
    shop.process(email, event="checkout_updated")
    return cart


def sent(shop):
    return shop.messages(ACTION)


def reasons(shop, kind="scheduled"):
    """Why reminders (scheduled rows) or their messages (ledger entries) were skipped."""
    if kind == "scheduled":
        rows = ScheduledAction.objects.filter(action=ACTION, status=ActionStatus.SKIPPED).order_by("id")
        return [row.last_error.removeprefix("skipped: ") for row in rows]
    rows = ActionLedgerEntry.objects.filter(action=ACTION, status=ActionStatus.SKIPPED).order_by("id")
    return [row.result.get("reason") for row in rows]


def test_a_guest_cart_left_alone_is_reminded_after_4_and_24_hours(shop, host, clock):
    cart = left_cart(shop, host, clock)
    [first] = shop.scheduled(ACTION)
    assert first.due_at == T0 + timedelta(hours=4) and first.status == ActionStatus.PENDING

    clock.advance(hours=3, minutes=59)
    assert shop.run_due() == 0 and sent(shop) == []
    clock.advance(minutes=1)
    assert shop.run_due() == 1
    [message] = sent(shop)
    assert message.customer.email == GUEST and message.customer.user_id is None
    assert message.subject == "You left something in your cart"
    assert "  - Blue mug (Large) x 2\n  - Green tea\n" in message.text
    link = f"https://shop.example.com/checkout?token={cart.token}&channel=default-channel"
    assert f"Pick up where you left off: {link}" in message.text
    assert f'<a href="{link.replace("&", "&amp;")}">' in message.html
    assert message.payload["checkout"]["lines"] == 2 and message.payload["reminder"] == {"number": 1, "count": 2}
    assert message.payload["unsubscribe_url"] and "Unsubscribe: http" in message.text  # marketing
    assert message.channel == "default-channel"

    clock.advance(hours=19, minutes=59)
    assert shop.run_due() == 0
    clock.advance(minutes=1)  # 24 hours after the cart's last change
    assert shop.run_due() == 1
    assert [m.payload["reminder"]["number"] for m in sent(shop)] == [1, 2]
    assert sent(shop)[1].subject == "Still thinking it over? Your cart is waiting"
    clock.advance(days=30)
    assert shop.run_due() == 0 and len(sent(shop)) == 2


def test_an_account_cart_is_reminded_too(shop, host, clock):
    customer_account(host, ANN, first_name="Ann")
    left_cart(shop, host, clock, email=ANN)
    clock.advance(hours=4)
    shop.run_due()
    [message] = sent(shop)
    assert message.customer.email == ANN and message.customer.user_id is not None
    assert message.subject == "Ann, you left something in your cart"
    assert message.text.startswith("Hello Ann,")


def test_a_cart_that_keeps_changing_moves_its_reminder_later(shop, host, clock):
    cart = left_cart(shop, host, clock)
    clock.advance(hours=3)
    host.change_cart(cart, clock.now, products=[MUG])  # checkoutLinesDelete
    shop.process(GUEST, event="checkout_updated")
    assert [(s.due_at, s.status) for s in shop.scheduled(ACTION)] == [
        (T0 + timedelta(hours=4), ActionStatus.CANCELLED), (T0 + timedelta(hours=7), ActionStatus.PENDING)]
    clock.advance(hours=1)
    assert shop.run_due() == 0 and sent(shop) == []
    clock.advance(hours=3)
    assert shop.run_due() == 1
    [message] = sent(shop)
    assert "Blue mug" in message.text and "Green tea" not in message.text


def test_completing_the_checkout_cancels_the_reminders(shop, host, clock):
    cart = left_cart(shop, host, clock)
    clock.advance(hours=2)
    host.drop_cart(cart)  # checkoutComplete: Saleor deletes the checkout and places the order
    buy(host, GUEST, clock.now, guest=True)
    shop.process(GUEST, event="order_created")
    assert [s.status for s in shop.scheduled(ACTION)] == [ActionStatus.CANCELLED]
    clock.advance(days=2)
    assert shop.run_due() == 0 and sent(shop) == []


def test_emptying_the_cart_cancels_the_reminders(shop, host, clock):
    cart = left_cart(shop, host, clock)
    clock.advance(hours=1)
    host.change_cart(cart, clock.now, lines=0)
    shop.process(GUEST, event="checkout_updated")
    assert [s.status for s in shop.scheduled(ACTION)] == [ActionStatus.CANCELLED]
    clock.advance(days=2)
    shop.run_due()
    assert sent(shop) == []


def test_a_deleted_checkout_has_no_event_so_the_reminder_checks_it_when_due(shop, host, clock):
    cart = left_cart(shop, host, clock)
    host.drop_cart(cart)  # expired and deleted by Saleor's task: no hook fires
    clock.advance(hours=4)
    assert shop.run_due() == 1
    assert sent(shop) == [] and reasons(shop) == ["the checkout was completed or deleted"]
    assert not shop.entries(ACTION)


def test_the_message_checks_the_cart_again_after_waiting_for_the_quiet_hours(make_shop, host, clock):
    shop = make_shop(only(ACTION, quiet_hours="15:00-18:00"))
    cart = left_cart(shop, host, clock)  # T0 is noon: due at 16:00, quiet until 18:00
    clock.advance(hours=4)
    shop.run_due()
    [entry] = shop.entries(ACTION)
    assert entry.status == ActionStatus.PENDING and "quiet hours" in entry.result["held"]
    host.drop_cart(cart)  # completed at 17:00, the event lost
    clock.advance(hours=2)
    shop.retry()
    entry.refresh_from_db()
    assert entry.status == ActionStatus.SKIPPED and entry.result["reason"] == "the checkout was completed or deleted"
    assert sent(shop) == []


def test_never_for_a_cart_older_than_the_customers_last_order(shop, host, clock):
    customer_account(host, ANN)
    left_cart(shop, host, clock, email=ANN)  # a cart left open ...
    clock.advance(hours=1)
    buy(host, ANN, clock.now)  # ... and an order placed from another checkout
    shop.process(ANN, event="order_created")
    assert [s.status for s in shop.scheduled(ACTION)] == [ActionStatus.CANCELLED]
    clock.advance(hours=1)
    newer = host.cart(ANN, at=clock.now, products=[TEA])  # a cart started after the order counts
    shop.process(ANN, event="checkout_updated")
    clock.advance(hours=4)
    shop.run_due()
    [message] = sent(shop)
    assert message.payload["checkout"]["token"] == newer.token


def test_an_order_placed_meanwhile_without_an_event_still_stops_the_reminder(shop, host, clock):
    left_cart(shop, host, clock)
    buy(host, GUEST, clock.now + timedelta(hours=1), guest=True)  # its event lost
    clock.advance(hours=4)
    shop.run_due()
    assert sent(shop) == [] and reasons(shop) == ["the customer ordered since starting the checkout"]


def test_replayed_events_schedule_and_send_each_reminder_once(shop, host, clock):
    left_cart(shop, host, clock)
    for event in ("checkout_updated", "checkout_updated", "reconciliation", "customer_updated"):
        shop.process(GUEST, event=event)
    assert len(shop.scheduled(ACTION)) == 1
    clock.advance(hours=4)
    shop.run_due()
    shop.process(GUEST, event="checkout_updated")  # after the first reminder: the second stays pending
    shop.run_due()
    assert shop.run_entries([e.pk for e in shop.entries()]) == 0
    clock.advance(hours=20)
    shop.run_due()
    shop.process(GUEST, event="reconciliation")
    clock.advance(days=3)
    shop.run_due()
    assert [m.payload["reminder"]["number"] for m in sent(shop)] == [1, 2]
    assert len(shop.entries(ACTION)) == 2


def test_the_second_reminder_is_optional_and_the_first_delay_is_the_owners(make_shop, host, clock):
    shop = make_shop(only(ACTION, abandoned_checkout_delay_hours="1", abandoned_checkout_second_hours="0"))
    left_cart(shop, host, clock)
    clock.advance(hours=1)
    assert shop.run_due() == 1
    clock.advance(days=5)
    shop.run_due()
    assert [m.payload["reminder"] for m in sent(shop)] == [{"number": 1, "count": 1}]
    assert "Pick up where" not in sent(shop)[0].text  # no checkout address set: no link


def test_switched_off_nothing_is_scheduled_and_pending_reminders_are_skipped(shop, make_shop, host, clock):
    left_cart(shop, host, clock)
    shop.configure(**{**only(ACTION), "abandoned_checkout_enabled": "false"})
    host.cart("other@example.com", at=clock.now, products=[MUG], guest=True)
    shop.process("other@example.com", event="checkout_updated")
    clock.advance(hours=4)
    shop.run_due()
    assert sent(shop) == [] and reasons(shop) == ["switched off"]
    assert len(shop.scheduled(ACTION)) == 1


def test_a_guest_gets_the_checkouts_language_an_account_its_own(make_shop, host, clock, tmp_path, settings):
    folder = tmp_path / "lifecycle_plugin"
    folder.mkdir()
    (folder / "abandoned_checkout.de.subject.txt").write_text("Ihr Warenkorb wartet")
    (folder / "abandoned_checkout.de.txt").write_text("{% for p in products %}{{ p.name }};{% endfor %}")
    settings.LIFECYCLE_TEMPLATE_DIRS = [str(tmp_path)]
    shop = make_shop(only(ACTION))
    left_cart(shop, host, clock, language="de-DE")
    customer_account(host, ANN)
    host.languages[ANN] = "en"
    left_cart(shop, host, clock, email=ANN, language="de")  # an account writes in its own language
    clock.advance(hours=4)
    shop.run_due()
    by_email = {m.customer.email: m for m in sent(shop)}
    assert by_email[GUEST].subject == "Ihr Warenkorb wartet" and by_email[GUEST].text == "Blue mug;Green tea;\n"
    assert by_email[GUEST].payload["language"] == "de"
    assert by_email[ANN].subject == "You left something in your cart"


def test_marketing_consent_is_needed_like_every_offer(make_shop, host, clock):
    shop = make_shop(only(ACTION, marketing_consent_required="true", marketing_consent_key="news"))
    user = customer_account(host, ANN)
    host.metadata[user.user_id]["news"] = "yes"
    left_cart(shop, host, clock, email=ANN)
    left_cart(shop, host, clock)  # a guest has no account to hold consent
    clock.advance(hours=4)
    shop.run_due()
    assert [m.customer.email for m in sent(shop)] == [ANN]
    assert reasons(shop, "ledger") == ["no marketing consent"]


def test_a_template_that_fails_for_one_customer_skips_only_them(make_shop, host, clock):
    broken = "{% for p in products %}{% if p.name == 'Bad' %}{% include 'missing.txt' %}{% endif %}{% endfor %}ok"
    shop = make_shop(only(ACTION, abandoned_checkout_text_template=broken))
    left_cart(shop, host, clock, products=[OrderProduct("Bad")])
    customer_account(host, ANN)
    left_cart(shop, host, clock, email=ANN)
    clock.advance(hours=4)
    shop.run_due()
    assert [m.customer.email for m in sent(shop)] == [ANN]
    [reason] = reasons(shop, "ledger")
    assert reason.startswith("the template could not be rendered: TemplateDoesNotExist")


@pytest.mark.parametrize("name, value, message", [
    ("abandoned_checkout_text_template", "{{ checkout.urll }}", "unknown template variable checkout.urll"),
    ("abandoned_checkout_subject_template", "{{ episode }}", "unknown template variable episode"),
    ("checkout_url_template", "https://shop.example.com/checkout", "must contain {token}"),
    ("checkout_url_template", "https://shop.example.com/c/{id}", "unknown placeholder {id}"),
    ("checkout_url_template", "https://shop.example.com/c/{token", "is not a valid address template"),
    ("checkout_url_template", "shop.example.com/c/{token}", "is not an http(s) address"),
    ("checkout_url_template", "https://shop.example.com/c/{token!r}", "without a format or conversion"),
    ("abandoned_checkout_delay_hours", "0", "hours"),
    ("abandoned_checkout_second_hours", "721", "hours"),
])
def test_bad_settings_are_refused_naming_what_is_wrong(name, value, message):
    with pytest.raises(ConfigError) as refused:
        load_settings({name: value})
    assert message in refused.value.errors[name]


def test_the_preview_shows_the_shipped_message_with_sample_lines(shop):
    preview = preview_message(shop.engine, ACTION, None, T0)
    assert preview.subject == "Ann, you left something in your cart"
    assert "  - Blue mug (Large) x 2\n  - Green tea\n" in preview.text


def test_the_docs_show_the_message_as_the_shipped_template_renders_it():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "actions.md").read_text()
    shown = re.search(r"<!-- abandoned_checkout example -->\n```text\n(.*?)```", docs, re.S).group(1)
    data = {
        "customer": {"first_name": "Ann", "name": "Ann Lee", "email": "ann@example.com"},
        "products": [{"name": "Blue mug", "variant": "Large", "quantity": 2}, {"name": "Green tea", "quantity": 1}],
        "checkout": {"url": "https://shop.example.com/checkout?token=7f0c2d4e-0a51-4d59-9d1b-2f7a8c3e9b10"},
        "reminder": {"number": 1, "count": 2},
        "unsubscribe_url": "https://shop.example.com/plugins/global/saleor.lifecycle/unsubscribe/?token=...",
    }
    rendered = render_message(ACTION, data)
    assert shown == f"Subject: {rendered.subject}\n\n{rendered.text}"
