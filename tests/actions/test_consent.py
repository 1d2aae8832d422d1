"""Consent: required for marketing by default, a separate switch for transactional messages,
answers from the metadata key or a consent plugin, and the customer's own unsubscribe above all."""

import pytest

from lifecycle_plugin import hookimpl
from lifecycle_plugin.conf import load_settings
from lifecycle_plugin.models import ActionStatus, CustomerProfile, MarketingOptOut

from .conftest import T0, buy, customer_account, only

pytestmark = pytest.mark.django_db

ANN = "ann@example.com"


def first_order(shop, host, consent=None):
    user = customer_account(host, ANN)
    if consent is not None:
        host.metadata[user.user_id]["news"] = consent
    buy(host, ANN, T0)
    shop.process(ANN)
    return user


def reviewed_order(shop, host, clock):
    order = buy(host, ANN, T0)
    shop.process(ANN)
    host.update_order(ANN, order.order_id, fulfilled_at=clock.now)
    shop.process(ANN, event="order_fulfilled")
    clock.advance(days=8)
    shop.run_due()


class Consent:
    def __init__(self, answer):
        self.answer, self.asked = answer, []

    @hookimpl
    def lifecycle_consent(self, customer, action):
        self.asked.append((customer.email, action))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_by_default_marketing_needs_consent_and_order_messages_do_not():
    values = load_settings({}).values
    assert values["marketing_consent_required"] is True
    assert values["transactional_consent_required"] is False


def test_without_a_key_or_a_plugin_no_marketing_goes_out_by_default(make_shop, host):
    shop = make_shop(only("repeat_purchase", marketing_consent_required="true"))
    first_order(shop, host)
    assert shop.messages() == [] and host.vouchers == []
    assert {e.result["reason"] for e in shop.entries()} == {"no marketing consent"}


def test_switched_off_marketing_goes_to_everyone_who_did_not_unsubscribe(make_shop, host):
    shop = make_shop(only("repeat_purchase", marketing_consent_required="false"))
    first_order(shop, host)
    assert len(shop.messages("repeat_purchase")) == 1


def test_the_review_request_is_transactional_unless_the_owner_says_otherwise(make_shop, host, clock):
    shop = make_shop(only("review_request", marketing_consent_required="true", marketing_consent_key="news",
                          review_request_delay_days="7"))
    customer_account(host, ANN)
    reviewed_order(shop, host, clock)
    [message] = shop.messages("review_request")
    assert message.payload["marketing"] is False and message.payload["unsubscribe_url"] == ""

    shop.configure(**only("review_request", marketing_consent_key="news", transactional_consent_required="true",
                          review_request_delay_days="7"))
    reviewed_order(shop, host, clock)
    assert len(shop.messages("review_request")) == 1
    assert shop.entries("review_request")[-1].result["reason"] == "no marketing consent"


@pytest.mark.parametrize("answer, metadata, sent", [
    (True, None, True),     # the plugin's yes, no key needed
    (False, "yes", False),  # the plugin's no beats the metadata
    (None, "yes", True),    # no say: the metadata decides
    (None, None, False),
])
def test_a_consent_plugin_answers_first(make_shop, host, answer, metadata, sent):
    plugin = Consent(answer)
    settings = {"marketing_consent_required": "true"}
    if metadata is not None:
        settings["marketing_consent_key"] = "news"
    shop = make_shop(only("repeat_purchase", **settings), plugins=[plugin])
    first_order(shop, host, consent=metadata)
    assert (len(shop.messages()) == 1) is sent
    assert (ANN, "repeat_purchase") in plugin.asked


def test_a_failing_consent_plugin_holds_the_message_for_a_retry(make_shop, host):
    plugin = Consent(RuntimeError("CRM down"))
    shop = make_shop(only("repeat_purchase", marketing_consent_required="false"), plugins=[plugin])
    first_order(shop, host)
    assert shop.messages() == []
    assert {e.status for e in shop.entries()} == {ActionStatus.FAILED}
    assert all("CRM down" in e.last_error for e in shop.entries())

    plugin.answer = True
    shop.retry()
    assert len(shop.messages("repeat_purchase")) == 1


def test_no_plugin_overrules_an_unsubscribe(make_shop, host):
    plugin = Consent(True)
    shop = make_shop(only("repeat_purchase"), plugins=[plugin])
    customer_account(host, ANN)
    shop.process(ANN, event="customer_created")  # a lead: nothing to send yet
    MarketingOptOut.objects.create(profile=CustomerProfile.objects.get(email=ANN), opted_out_at=T0, source="page")

    buy(host, ANN, T0)
    shop.process(ANN)
    assert shop.messages() == [] and plugin.asked == []
    assert {e.result["reason"] for e in shop.entries()} == {"no marketing consent"}
