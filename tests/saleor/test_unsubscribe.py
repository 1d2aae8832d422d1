"""Trust in Saleor: the unsubscribe link end to end (the e-mail's headers, then Saleor's own URL
route to the plugin over HTTP with Django's test client, and what the opt-out changes), and
consent required by default."""

from . import require_saleor

require_saleor()

from urllib.parse import urlsplit  # noqa: E402

import pytest  # noqa: E402
from django.test import Client  # noqa: E402
from saleor.discount.models import VoucherCode  # noqa: E402

from lifecycle_plugin.actions.unsubscribe_page import CONFIRM, DONE, INVALID  # noqa: E402
from lifecycle_plugin.models import MarketingOptOut  # noqa: E402

from .test_actions import first_order  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]

SETTINGS = {"repeat_purchase_enabled": True, "repeat_purchase_stages": "new, repeat", "delivery_channel": "email",
            "marketing_consent_key": "marketing_consent"}


def local(url: str) -> str:
    """The link's path and query, for Django's test client (the URL is Saleor's public one)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@pytest.mark.parametrize("lifecycle_settings", [SETTINGS])
def test_the_link_in_a_saleor_email_unsubscribes_over_http(staff_orders, draft_order, customer_user, mailoutbox,
                                                          settings):
    customer_user.store_value_in_private_metadata({"marketing_consent": "granted"})
    customer_user.save(update_fields=["private_metadata"])
    first_order(staff_orders, draft_order)

    (email,) = mailoutbox
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = email.extra_headers["List-Unsubscribe"][1:-1]
    assert urlsplit(url).path == "/plugins/global/saleor.lifecycle/unsubscribe/" and url in email.body

    client = Client()
    page = client.get(local(url))
    assert page.status_code == 200 and CONFIRM in page.content.decode()
    assert not MarketingOptOut.objects.exists()

    for _ in range(2):  # a mail client's one-click POST, retried
        response = client.post(local(url), {"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200 and DONE in response.content.decode()
    (opt_out,) = MarketingOptOut.objects.all()
    assert opt_out.profile.email == customer_user.email and opt_out.source == "one_click"
    customer_user.refresh_from_db()
    assert customer_user.get_value_from_private_metadata("marketing_consent") == "unsubscribed"


@pytest.mark.parametrize("lifecycle_settings", [SETTINGS])
def test_a_forged_link_changes_nothing(staff_orders, draft_order, customer_user, mailoutbox):
    customer_user.store_value_in_private_metadata({"marketing_consent": "granted"})
    customer_user.save(update_fields=["private_metadata"])
    first_order(staff_orders, draft_order)
    url = local(mailoutbox[0].extra_headers["List-Unsubscribe"][1:-1])

    response = Client().post(url[:-3] + "xyz", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 400 and INVALID in response.content.decode()
    assert not MarketingOptOut.objects.exists()
    customer_user.refresh_from_db()
    assert customer_user.get_value_from_private_metadata("marketing_consent") == "granted"
    assert VoucherCode.objects.filter(code__startswith="LC-").count() == 1


@pytest.mark.parametrize("lifecycle_settings", [{"repeat_purchase_enabled": True, "delivery_channel": "email",
                                                 "marketing_consent_required": True}])
def test_by_default_no_marketing_goes_out_without_a_consent_source(staff_orders, draft_order, customer_user,
                                                                  mailoutbox):
    first_order(staff_orders, draft_order)
    assert mailoutbox == [] and not VoucherCode.objects.filter(code__startswith="LC-").exists()


def test_the_language_is_the_accounts_and_a_guests_latest_orders(customer_user, order):
    from lifecycle_plugin.host import CustomerRef
    from lifecycle_plugin.saleor.host import SaleorHost

    customer_user.language_code = "de"
    customer_user.save(update_fields=["language_code"])
    order.user, order.user_email, order.language_code = None, "Guest@Example.com", "pt-br"
    order.save(update_fields=["user", "user_email", "language_code"])
    account, guest = CustomerRef.of(customer_user.email, customer_user.pk), CustomerRef.of("guest@example.com")
    nobody = CustomerRef.of("nobody@example.com")

    assert SaleorHost().customer_languages([account, guest, nobody]) == {account: "de", guest: "pt-br"}
