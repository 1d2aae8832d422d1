"""Delivery channels, templates, settings, and third-party plugins next to the built-ins."""

import json

import pytest
from django.core import mail

from lifecycle_plugin import hookimpl
from lifecycle_plugin.conf import RULE_SETTINGS, all_settings, dashboard_messages, load_settings
from lifecycle_plugin.host import DeliveryReceipt
from lifecycle_plugin.models import ActionStatus, HookFailure
from lifecycle_plugin.rules import ConfigError

from .conftest import T0, buy, only

pytestmark = pytest.mark.django_db

ANN = "ann@example.com"


def test_email_channel_sends_text_and_html_with_djangos_mail(make_shop, host):
    shop = make_shop(only("repeat_purchase", delivery_channel="email"))
    buy(host, ANN, T0)
    shop.process(ANN)

    assert host.messages == []  # not through the host
    [email] = mail.outbox
    assert email.to == [ANN] and email.from_email == "shop@example.com"
    assert email.subject == "Here is 10% off your next order"
    assert host.issued[0].code in email.body
    [(html, mimetype)] = email.alternatives
    assert mimetype == "text/html" and "<strong>10%</strong>" in html
    [entry] = shop.entries("repeat_purchase")
    assert entry.result["delivered_by"] == "email"
    assert entry.result["reference"] == email.extra_headers["Message-ID"]
    assert email.extra_headers["X-Lifecycle-Key"] == entry.dedupe_key


def test_notify_channel_hands_the_message_to_the_host(make_shop, host):
    shop = make_shop(only("repeat_purchase", delivery_channel="notify"))
    buy(host, ANN, T0, channel="channel-eu")
    shop.process(ANN)
    assert mail.outbox == []
    [message] = host.messages
    assert message.action == "repeat_purchase" and message.channel == "channel-eu"
    payload = json.loads(json.dumps(dict(message.payload)))  # plain JSON for apps
    assert payload["customer"]["email"] == ANN
    assert payload["voucher"]["code"] == host.issued[0].code and payload["voucher"]["discount"] == "10%"
    assert payload["stage"] == "new" and payload["marketing"] is True
    assert payload["dedupe_key"] == shop.entries("repeat_purchase")[0].dedupe_key


def test_the_owners_templates_replace_the_shipped_ones(make_shop, host):
    shop = make_shop(only(
        "repeat_purchase",
        repeat_purchase_subject_template="Code {{ voucher.code }} for {{ customer.email }}",
        repeat_purchase_text_template="Hi <{{ customer.email }}>, stage {{ stage_label }}",
        repeat_purchase_html_template="<p>{{ customer.email }} & {{ voucher.code }}</p>",
    ))
    buy(host, "a<b>@example.com", T0)
    shop.process("a<b>@example.com")
    [message] = host.messages
    code = host.issued[0].code
    assert message.subject == f"Code {code} for a<b>@example.com"
    assert message.text == "Hi <a<b>@example.com>, stage New customer\n"  # plain text is not escaped
    assert message.html == f"<p>a&lt;b&gt;@example.com & {code}</p>"  # HTML is


def test_settings_say_what_is_wrong_in_plain_words():
    with pytest.raises(ConfigError) as caught:
        load_settings({
            "repeat_purchase_discount": "150%",
            "tier_upgrade_discount": "USD -5",
            "winback_reminder_discount": "XYZ 5",
            "review_request_delay_days": "0",
            "winback_reminder_max_count": "many",
            "repeat_purchase_stages": "new, vip",
            "winback_reminder_stages": "new",
            "delivery_channel": "sms",
            "repeat_purchase_enabled": "maybe",
            "tier_upgrade_html_template": "{% for %}",
        })
    errors = caught.value.errors
    assert errors["repeat_purchase_discount"] == "a percentage must be from 1 to 100, got 150%"
    assert errors["tier_upgrade_discount"] == "the USD amount must be greater than 0, got -5"
    assert "not an ISO 4217 currency code" in errors["winback_reminder_discount"]
    assert errors["review_request_delay_days"] == "must be from 1 to 3650 days, got 0"
    assert errors["winback_reminder_max_count"] == "must be a whole number of reminders, got 'many'"
    assert errors["repeat_purchase_stages"].startswith("'vip' is not a stage")
    assert errors["winback_reminder_stages"].startswith("'new' cannot be used here")
    assert errors["delivery_channel"] == "must be email or notify, got 'sms'"
    assert errors["repeat_purchase_enabled"] == "must be true or false, got 'maybe'"
    assert errors["tier_upgrade_html_template"].startswith("the template has an error")


def test_numbers_past_their_bounds_are_refused_with_the_dashboard_label():
    # 999,999,999 days used to validate, and then every decision raised OverflowError.
    with pytest.raises(ConfigError) as caught:
        load_settings({
            "tier_window_days": "999999999",
            "loyal_window_days": "3651",
            "personal_gap_multiplier": "101",
            "tiers": "gold: USD 1000000001",
            "repeat_purchase_discount": "USD 1000000001",
            "repeat_purchase_valid_days": "3651",
        })
    shown = dashboard_messages(caught.value)
    assert shown == {
        "tier_window_days": "Tier spend window (days): must be a whole number of at most 3650, got 999999999",
        "loyal_window_days": "Loyal: window (days): must be a whole number of at most 3650, got 3651",
        "personal_gap_multiplier": "Personal rhythm: multiplier: must be a number of at most 100, got 101",
        "tiers": "Loyalty tiers: tier 'gold': the USD threshold must be at most 1,000,000,000, got 1000000001",
        "repeat_purchase_discount": ("Repeat-purchase discount: discount: the USD amount must be at most "
                                     "1,000,000,000, got 1000000001"),
        "repeat_purchase_valid_days": ("Repeat-purchase discount: valid for (days): must be from 1 to 3650 days, "
                                       "got 3651"),
    }
    # Every bound is in the field's help text, where the owner reads it before typing.
    help_texts = {s.name: s.help_text for s in all_settings()}
    for name in ("at_risk_days", "lapsed_days", "loyal_window_days", "tier_window_days", "repeat_purchase_valid_days"):
        assert "3650" in help_texts[name], name
    assert "1,000,000,000" in help_texts["tiers"] and "1,000,000,000" in help_texts["repeat_purchase_discount"]
    assert "1000" in help_texts["loyal_min_orders"] and "100)" in help_texts["personal_gap_multiplier"]


def test_every_action_setting_has_a_label_help_and_a_parser():
    action_settings = [s for s in all_settings() if s.name not in {r.name for r in RULE_SETTINGS}]
    names = [s.name for s in action_settings]
    assert len(names) == len(set(names))
    for setting in action_settings:
        assert setting.label and setting.help_text and setting.parse is not None
        setting.parse(setting.default)  # every default is valid
    for action in ("repeat_purchase", "tier_upgrade", "review_request", "winback_reminder"):
        assert f"{action}_enabled" in names
        for part in ("subject", "text", "html"):
            assert f"{action}_{part}_template" in names


def test_a_third_party_channel_goes_first(make_shop, host):
    texts = []

    class Sms:
        @hookimpl
        def lifecycle_deliver_message(self, message):
            texts.append(message.subject)
            return DeliveryReceipt("sms", "sms-1")

    shop = make_shop(only("repeat_purchase"), plugins=[Sms()])
    buy(host, ANN, T0)
    shop.process(ANN)
    assert texts == ["Here is 10% off your next order"] and host.messages == []
    assert shop.entries("repeat_purchase")[0].result["delivered_by"] == "sms"


def test_a_raising_third_party_action_does_not_affect_the_built_ins(make_shop, host, clock):
    class Broken:
        @hookimpl
        def lifecycle_stage_changed(self, context, change):
            context.enqueue("broken", key="x")
            raise RuntimeError("stage hook bug")

        @hookimpl
        def lifecycle_run_action(self, context, entry):
            raise RuntimeError("run hook bug")

        @hookimpl
        def lifecycle_deliver_message(self, message):
            return None  # not mine: the built-in channel takes it

    shop = make_shop(only("repeat_purchase"), plugins=[Broken()])
    buy(host, ANN, T0)
    shop.process(ANN)

    assert len(host.vouchers) == 1 and len(host.messages) == 1
    assert {e.action: e.status for e in shop.entries()} == {
        "repeat_purchase_voucher": ActionStatus.DONE, "repeat_purchase": ActionStatus.DONE}
    assert shop.retry() == 0  # nothing left to retry, so nothing is sent twice
    assert len(host.vouchers) == 1 and len(host.messages) == 1
    failures = set(HookFailure.objects.values_list("hook", "error"))
    assert ("lifecycle_stage_changed", "RuntimeError: stage hook bug") in failures
    assert ("lifecycle_run_action", "RuntimeError: run hook bug") in failures


def test_a_raising_third_party_channel_leaves_the_message_to_the_owners_channel(make_shop, host):
    class BrokenSms:
        @hookimpl
        def lifecycle_deliver_message(self, message):
            raise RuntimeError("sms plugin bug")

    shop = make_shop(only("repeat_purchase"), plugins=[BrokenSms()])
    buy(host, ANN, T0)
    shop.process(ANN)

    [message] = host.messages  # the built-in notify channel delivered it, once
    assert message.action == "repeat_purchase"
    [entry] = shop.entries("repeat_purchase")
    assert entry.status == ActionStatus.DONE and entry.result["delivered_by"] == "memory"  # MemoryHost's notify
    [failure] = HookFailure.objects.filter(hook="lifecycle_deliver_message")
    assert failure.error == "RuntimeError: sms plugin bug" and failure.profile_id == entry.profile_id
    assert shop.retry() == 0 and len(host.messages) == 1


def test_when_no_channel_delivers_the_message_fails_and_is_retried_with_the_same_voucher(make_shop, host, monkeypatch):
    shop = make_shop(only("repeat_purchase", delivery_channel="email"))
    buy(host, ANN, T0)

    def mail_server_down(*args, **kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", mail_server_down)
    shop.process(ANN)
    [entry] = shop.entries("repeat_purchase")
    assert entry.status == ActionStatus.FAILED and mail.outbox == []
    assert "ConnectionRefusedError: mail server down" in entry.last_error  # why, for whoever looks

    monkeypatch.undo()
    assert shop.retry() == 1
    [email] = mail.outbox
    assert host.issued[0].code in email.body and len(host.vouchers) == 1


def test_a_hook_wrapper_cannot_pass_for_the_owner_of_an_action(make_shop, host, caplog):
    class Wrapper:
        @hookimpl(wrapper=True)
        def lifecycle_run_action(self, context, entry):
            return (yield)

    shop = make_shop(only("repeat_purchase"), plugins=[Wrapper()])
    buy(host, ANN, T0)
    shop.process(ANN)

    assert len(host.vouchers) == 1 and len(host.messages) == 1
    assert {e.action: e.status for e in shop.entries()} == {
        "repeat_purchase_voucher": ActionStatus.DONE, "repeat_purchase": ActionStatus.DONE}
    assert "wrappers are not supported" in caplog.text
