"""Registering someone else's e-mail does not show their guest purchases, under each of
Saleor's confirmation settings.

Saleor's accountRegister always saves the account with `is_confirmed` false. With
`enable_account_confirmation_by_email` on, confirmAccount confirms it; with it off,
nothing ever does, and Saleor lets the account sign in as confirmed (`User.can_login`),
so the plugin counts such accounts as confirmed too. `allow_login_without_confirmation`
decides whether an unconfirmed account can sign in (and so call `myLifecycle`) at all.
"""

from . import require_saleor

require_saleor()

from datetime import timedelta  # noqa: E402

import pytest  # noqa: E402
from django.utils import timezone  # noqa: E402
from saleor.account.models import User  # noqa: E402
from saleor.core.tokens import account_confirm_token_generator  # noqa: E402
from saleor.graphql.tests.fixtures import ApiClient  # noqa: E402
from saleor.graphql.tests.utils import get_graphql_content  # noqa: E402

from lifecycle_plugin import tasks  # noqa: E402
from lifecycle_plugin.models import CustomerProfile  # noqa: E402

from .test_flows import ACCOUNT_REGISTER, CONFIRM_ACCOUNT, mutate, projected  # noqa: E402
from .test_graphql_route import post  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]

VICTIM = "victim@example.com"
PASSWORD = "Password-1234"
TOKEN_CREATE = """
mutation ($email: String!, $password: String!) {
  tokenCreate(email: $email, password: $password) { token errors { code } }
}"""
MY_ORDERS = "{ myLifecycle { stage { key } ordersCount } }"


def sign_in(api_client, user) -> ApiClient | None:
    """A client signed in as `user` if Saleor lets them sign in (tokenCreate), else None."""
    answer = get_graphql_content(api_client.post_graphql(TOKEN_CREATE, {"email": user.email, "password": PASSWORD}))
    if answer["data"]["tokenCreate"]["errors"]:
        return None
    return ApiClient(user=user)


@pytest.mark.parametrize("confirmation_by_email, login_unconfirmed", [
    (True, True), (True, False), (False, True), (False, False),
], ids=["confirm+login-unconfirmed", "confirm", "no-confirm+login-unconfirmed", "no-confirm"])
def test_a_registered_email_gets_its_guest_history_only_once_confirmed(
        confirmation_by_email, login_unconfirmed, api_client, site_settings, channel_USD, saleor_store, inbox):
    site_settings.enable_account_confirmation_by_email = confirmation_by_email
    site_settings.allow_login_without_confirmation = login_unconfirmed
    site_settings.save(update_fields=["enable_account_confirmation_by_email", "allow_login_without_confirmation"])
    for days in (20, 10):  # the victim bought twice as a guest
        saleor_store.order(VICTIM, placed_at=timezone.now() - timedelta(days=days))
    tasks.queue_events([(VICTIM, None, "order_created")])
    inbox.drain()
    guest = CustomerProfile.objects.get(email=VICTIM)
    assert (guest.stage, guest.orders_count) == ("repeat", 2)

    # Someone registers the victim's e-mail.
    mutate(api_client, ACCOUNT_REGISTER, {"input": {
        "email": VICTIM, "password": PASSWORD, "redirectUrl": "https://www.example.com/confirm",
        "channel": channel_USD.slug,
    }}, "accountRegister")
    user = User.objects.get(email=VICTIM)
    assert not user.is_confirmed  # whatever the settings
    inbox.drain()
    signed_in = sign_in(api_client, user)
    assert (signed_in is not None) == (login_unconfirmed or not confirmation_by_email)

    if not confirmation_by_email:
        # The store does not confirm e-mails: Saleor treats the account as confirmed, so do we.
        assert CustomerProfile.objects.get(user_id=user.pk).pk == guest.pk
        assert post(signed_in, MY_ORDERS)["data"]["myLifecycle"] == {"stage": {"key": "repeat"}, "ordersCount": 2}
        return

    assert not CustomerProfile.objects.filter(user_id=user.pk).exists()
    assert CustomerProfile.objects.get(email=VICTIM).user_id is None  # still the guest's
    assert projected(user) is None
    if signed_in is not None:
        assert post(signed_in, MY_ORDERS)["data"]["myLifecycle"] is None

    # The owner of the mailbox confirms: the history is theirs now. (Saleor's confirmation
    # token covers `last_login`, which signing in has just changed.)
    user.refresh_from_db()
    token = account_confirm_token_generator.make_token(user)
    mutate(api_client, CONFIRM_ACCOUNT, {"email": VICTIM, "token": token}, "confirmAccount")
    inbox.drain()

    assert CustomerProfile.objects.get(user_id=user.pk).pk == guest.pk
    assert projected(user) == "repeat"
    assert post(ApiClient(user=user), MY_ORDERS)["data"]["myLifecycle"] == {"stage": {"key": "repeat"},
                                                                          "ordersCount": 2}
