"""One-click unsubscribe: the signed link and headers in marketing messages, and what using it does."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail, signing
from django.test import Client, RequestFactory

from lifecycle_plugin.actions.unsubscribe import SALT, UNSUBSCRIBED, make_token
from lifecycle_plugin.actions.unsubscribe_page import CONFIRM, DONE, INVALID, unsubscribe_view
from lifecycle_plugin.models import ActionLedgerEntry, ActionStatus, CustomerProfile, MarketingOptOut

from .conftest import T0, buy, customer_account, only

pytestmark = pytest.mark.django_db

ANN = "ann@example.com"


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def post(shop, token, one_click=True):
    data = {"List-Unsubscribe": "One-Click"} if one_click else {}
    request = RequestFactory().post(f"/unsubscribe/?token={token}", data)
    return unsubscribe_view(request, shop.host, shop.engine.settings, clock=lambda: T0)


def get(shop, token):
    return unsubscribe_view(RequestFactory().get(f"/unsubscribe/?token={token}"), shop.host, shop.engine.settings)


def test_a_marketing_email_carries_the_link_and_the_rfc_8058_headers(make_shop, host):
    shop = make_shop(only("repeat_purchase", delivery_channel="email"))
    customer_account(host, ANN)
    buy(host, ANN, T0)
    shop.process(ANN)

    [email] = mail.outbox
    url = email.extra_headers["List-Unsubscribe"][1:-1]
    assert email.extra_headers["List-Unsubscribe"] == f"<{url}>"
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url.startswith("http://testserver/unsubscribe/?token=")
    assert url in email.body and url.replace("&", "&amp;") in email.alternatives[0][0]
    profile = CustomerProfile.objects.get(email=ANN)
    assert signing.loads(token_of(url), salt=SALT) == {"p": profile.pk, "e": ANN}


def test_one_click_opts_out_writes_consent_and_stops_waiting_marketing(make_shop, host, clock):
    shop = make_shop(only("winback_reminder", marketing_consent_key="news", winback_reminder_interval_days="10"))
    user = customer_account(host, ANN)
    host.metadata[user.user_id]["news"] = "yes"
    buy(host, ANN, T0)
    shop.process(ANN)
    clock.advance(days=91)
    shop.sweep()
    shop.run_due()
    [message] = shop.messages("winback_reminder")
    token = token_of(message.payload["unsubscribe_url"])
    [pending] = [s for s in shop.scheduled("winback_reminder") if s.status == ActionStatus.PENDING]
    waiting = ActionLedgerEntry.objects.create(dedupe_key="winback_reminder:x:y", action="winback_reminder",
                                               profile=pending.profile, payload={})

    first = post(shop, token)
    second = post(shop, token)  # idempotent: a mail client that retries, the page's button after it

    assert first.status_code == second.status_code == 200
    assert DONE in first.content.decode() and DONE in second.content.decode()
    assert MarketingOptOut.objects.get().source == "one_click"
    assert host.private_metadata[user.user_id]["news"] == "unsubscribed"
    pending.refresh_from_db()
    waiting.refresh_from_db()
    assert pending.status == ActionStatus.CANCELLED and pending.last_error == UNSUBSCRIBED
    assert waiting.status == ActionStatus.SKIPPED and waiting.result["reason"] == UNSUBSCRIBED
    clock.advance(days=10)
    shop.run_due()
    assert len(shop.messages("winback_reminder")) == 1


def test_opting_out_stops_marketing_even_without_a_consent_key(make_shop, host):
    shop = make_shop(only("repeat_purchase"))
    customer_account(host, ANN)
    buy(host, ANN, T0)
    shop.process(ANN)
    [message] = shop.messages("repeat_purchase")
    post(shop, token_of(message.payload["unsubscribe_url"]), one_click=False)
    assert MarketingOptOut.objects.get().source == "page"

    shop.configure(**only("repeat_purchase", repeat_purchase_stages="new, repeat"))
    buy(host, ANN, T0 + timedelta(days=1))
    shop.process(ANN)
    [entry] = [e for e in shop.entries("repeat_purchase") if e.dedupe_key.endswith(":repeat")]
    assert entry.status == ActionStatus.SKIPPED and entry.result["reason"] == "no marketing consent"
    assert len(shop.messages()) == 1


def test_get_only_asks_with_a_button(make_shop, host):
    shop = make_shop(only("repeat_purchase"))
    buy(host, ANN, T0)
    shop.process(ANN)
    token = token_of(shop.messages()[0].payload["unsubscribe_url"])

    page = get(shop, token).content.decode()
    assert CONFIRM in page and '<form method="post"' in page and "<button" in page
    assert not MarketingOptOut.objects.exists()


@pytest.mark.parametrize("forge", [
    lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # altered signature
    lambda token: signing.dumps({"p": 1, "e": ANN}, salt="someone.else"),     # another salt
    lambda token: "",                                                         # none at all
])
def test_a_forged_token_gets_a_clear_page_and_changes_nothing(make_shop, host, forge):
    shop = make_shop(only("repeat_purchase"))
    buy(host, ANN, T0)
    shop.process(ANN)
    token = forge(token_of(shop.messages()[0].payload["unsubscribe_url"]))

    for response in (get(shop, token), post(shop, token)):
        assert response.status_code == 400 and INVALID in response.content.decode()
        assert "not valid" in response.content.decode()
    assert not MarketingOptOut.objects.exists()


def test_an_expired_token_gets_a_clear_page_and_changes_nothing(make_shop, host, monkeypatch):
    shop = make_shop(only("repeat_purchase", unsubscribe_link_valid_days="30"))
    profile = CustomerProfile.objects.create(email=ANN, stage="lead", stage_since=T0, stage_rule="r", history_cutoff=T0, decided_at=T0)
    token = make_token(profile.pk, ANN)
    monkeypatch.setattr(signing, "time", type("T", (), {"time": staticmethod(lambda: 10**10)}))

    response = post(shop, token)
    assert response.status_code == 400 and "expired" in response.content.decode()
    assert not MarketingOptOut.objects.exists()


def test_a_deleted_customer_gets_the_same_confirmation_and_nothing_else(make_shop, host):
    shop = make_shop(only("repeat_purchase"))
    profile = CustomerProfile.objects.create(email=ANN, stage="lead", stage_since=T0, stage_rule="r", history_cutoff=T0, decided_at=T0)
    token = make_token(profile.pk, ANN)
    profile.delete()

    response = post(shop, token)
    assert response.status_code == 200 and DONE in response.content.decode()
    assert not MarketingOptOut.objects.exists()


def test_the_sandbox_serves_the_route(make_shop, host, settings):
    profile = CustomerProfile.objects.create(email=ANN, stage="lead", stage_since=T0, stage_rule="r", history_cutoff=T0, decided_at=T0)
    token = make_token(profile.pk, ANN)
    client = Client()
    assert CONFIRM in client.get("/unsubscribe/", {"token": token}).content.decode()
    response = client.post(f"/unsubscribe/?token={token}", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and DONE in response.content.decode()
    assert MarketingOptOut.objects.filter(profile=profile).exists()
