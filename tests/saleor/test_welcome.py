"""The welcome sequence on Saleor, driven by Saleor's own mutations: accountRegister welcomes the
new account (by e-mail, with a first-order voucher as Saleor rows), confirmAccount releases the
welcome of an account that had to be confirmed, and the first order (draftOrderComplete) stops
the nurture messages, with the reason in the ledger."""

from . import require_saleor

require_saleor()

from datetime import timedelta  # noqa: E402

import pytest  # noqa: E402
from django.utils import timezone  # noqa: E402
from freezegun import freeze_time  # noqa: E402
from saleor.account.models import User  # noqa: E402
from saleor.core.tokens import account_confirm_token_generator  # noqa: E402
from saleor.discount.models import VoucherCode  # noqa: E402
from saleor.order.models import Order  # noqa: E402

from lifecycle_plugin.models import ActionLedgerEntry, ScheduledAction  # noqa: E402

from .test_actions import run_periodic_tasks  # noqa: E402
from .test_flows import (  # noqa: E402
    ACCOUNT_REGISTER,
    CONFIRM_ACCOUNT,
    DRAFT_ORDER_COMPLETE,
    gid,
    mutate,
    profile,
    report,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]

EMAIL = "new.shopper@example.com"


@pytest.fixture
def lifecycle_settings(channel_USD):
    return {"welcome_enabled": True, "welcome_voucher": True, "welcome_discount": "15%",
            "welcome_voucher_channel": channel_USD.slug, "welcome_nurture_days": "3, 10",
            "delivery_channel": "email"}


def confirmation(site_settings, on: bool) -> None:
    site_settings.enable_account_confirmation_by_email = on
    site_settings.save(update_fields=["enable_account_confirmation_by_email"])


def register(api_client, channel) -> User:
    mutate(api_client, ACCOUNT_REGISTER, {"input": {
        "email": EMAIL, "password": "Password-1234", "redirectUrl": "https://www.example.com/confirm",
        "channel": channel.slug, "firstName": "Nina",
    }}, "accountRegister")
    return User.objects.get(email=EMAIL)


def ours(mailoutbox, action):
    return [m for m in mailoutbox if m.extra_headers.get("X-Lifecycle-Action") == action]


def test_account_register_sends_the_welcome_with_its_voucher_once(api_client, channel_USD, site_settings, inbox,
                                                                 mailoutbox):
    confirmation(site_settings, False)
    user = register(api_client, channel_USD)
    inbox.drain()

    assert profile(EMAIL).stage == "lead"
    (welcome,) = ours(mailoutbox, "welcome")
    assert welcome.to == [EMAIL] and welcome.subject == "Welcome, Nina! Here is 15% off your first order"
    (code,) = VoucherCode.objects.filter(code__startswith="LC-")
    assert code.code in welcome.body
    (listing,) = code.voucher.channel_listings.all()
    assert listing.channel_id == channel_USD.pk and code.voucher.single_use
    assert code.voucher.private_metadata["lifecycle.customer_id"] == str(user.pk)
    assert welcome.extra_headers["List-Unsubscribe"].startswith("<http")  # marketing

    # Saleor reports the account again: nothing more.
    report(EMAIL, user.pk, "customer_created")
    report(EMAIL, user.pk, "customer_updated")
    run_periodic_tasks()
    assert len(ours(mailoutbox, "welcome")) == 1 and VoucherCode.objects.filter(code__startswith="LC-").count() == 1


def test_an_account_to_confirm_is_welcomed_after_confirm_account(api_client, channel_USD, site_settings, inbox,
                                                                 mailoutbox):
    confirmation(site_settings, True)
    user = register(api_client, channel_USD)
    inbox.drain()
    with freeze_time(timezone.now() + timedelta(hours=2)):
        run_periodic_tasks()
    assert ours(mailoutbox, "welcome") == [] and not VoucherCode.objects.filter(code__startswith="LC-").exists()
    assert ScheduledAction.objects.get(action="welcome_waiting").status == "pending"

    user.refresh_from_db()
    token = account_confirm_token_generator.make_token(user)
    mutate(api_client, CONFIRM_ACCOUNT, {"email": EMAIL, "token": token}, "confirmAccount")
    inbox.drain()
    with freeze_time(timezone.now() + timedelta(hours=3)):
        run_periodic_tasks()
    (welcome,) = ours(mailoutbox, "welcome")
    assert welcome.to == [EMAIL]


def test_the_first_order_stops_the_nurture(api_client, channel_USD, site_settings, inbox, mailoutbox,
                                           staff_orders, draft_order):
    confirmation(site_settings, False)
    user = register(api_client, channel_USD)
    inbox.drain()
    start = timezone.now()
    with freeze_time(start + timedelta(days=3, hours=1)):
        run_periodic_tasks()
    (nurture,) = ours(mailoutbox, "welcome_nurture")
    code = VoucherCode.objects.get(code__startswith="LC-")
    assert code.code in nurture.body  # the welcome code, recalled

    # Staff complete a draft order for the new account: their first order.
    Order.objects.filter(pk=draft_order.pk).update(user=user, user_email=EMAIL)
    with freeze_time(start + timedelta(days=4)):
        mutate(staff_orders, DRAFT_ORDER_COMPLETE, {"id": gid("Order", draft_order.pk)}, "draftOrderComplete")
        inbox.drain()
    assert profile(EMAIL).stage == "new"
    (stopped,) = ActionLedgerEntry.objects.filter(action="welcome_stopped")
    assert stopped.result["reason"] == "the customer ordered" and stopped.payload["nurture_cancelled"] == 1
    assert not ScheduledAction.objects.filter(action="welcome_nurture", status="pending").exists()

    with freeze_time(start + timedelta(days=11)):
        run_periodic_tasks()
    assert len(ours(mailoutbox, "welcome_nurture")) == 1


PLUGIN_QUERY = """
query ($id: ID!) {
  plugin(id: $id) { globalConfiguration { configuration { name type value } } }
}"""
PLUGIN_UPDATE = """
mutation ($id: ID!, $input: PluginUpdateInput!) {
  pluginUpdate(id: $id, input: $input) { errors { field code message } }
}"""


def test_the_dashboard_shows_the_welcome_settings_and_refuses_bad_ones(staff_api_client, permission_manage_plugins,
                                                                      lifecycle_plugin):
    from saleor.graphql.tests.utils import get_graphql_content
    from saleor.plugins.models import PluginConfiguration

    from lifecycle_plugin.saleor.plugin import PLUGIN_ID

    staff_api_client.user.user_permissions.add(permission_manage_plugins)
    shown = get_graphql_content(staff_api_client.post_graphql(PLUGIN_QUERY, {"id": PLUGIN_ID}))
    fields = {f["name"]: f for f in shown["data"]["plugin"]["globalConfiguration"]["configuration"]}
    assert fields["welcome_enabled"]["type"] == "BOOLEAN"
    assert fields["welcome_nurture_days"]["value"] == "3, 10"
    assert fields["welcome_nurture_text_template"]["type"] == "MULTILINE"
    before = PluginConfiguration.objects.values().get(pk=lifecycle_plugin.pk)

    def update(name, value):
        response = staff_api_client.post_graphql(PLUGIN_UPDATE, {"id": PLUGIN_ID, "input": {
            "configuration": [{"name": name, "value": value}]}})
        return [e["message"] for e in get_graphql_content(response)["data"]["pluginUpdate"]["errors"]]

    (refused,) = update("welcome_text_template", "Hello {{ custmer.first_name }}")
    assert "unknown template variable custmer.first_name" in refused
    (refused,) = update("welcome_nurture_days", "10, 3")
    assert "3 comes after 10" in refused
    assert PluginConfiguration.objects.values().get(pk=lifecycle_plugin.pk) == before
    assert update("welcome_nurture_days", "2, 5, 9") == []

