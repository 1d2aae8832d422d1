"""The Dashboard pages' API accepts only app tokens Saleor minted for the lifecycle app.

Every token here comes from Saleor's own functions (`create_access_token_for_app`,
`create_access_token_for_app_extension`, `create_access_token`), as the Dashboard's
`app.accessToken` and `appExtension.accessToken` resolvers mint them.
"""

from . import require_saleor

require_saleor()

from datetime import timedelta  # noqa: E402

import pytest  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from freezegun import freeze_time  # noqa: E402
from saleor.app.models import App  # noqa: E402
from saleor.core.jwt import (  # noqa: E402
    create_access_token,
    create_access_token_for_app,
    create_access_token_for_app_extension,
)

from lifecycle_plugin.saleor.dashboard import registration  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]

APP_ROOT = "/plugins/global/saleor.lifecycle/app/"
VIEWER = "{ lifecycleViewer { kind email canManageUsers canManagePlugins } }"
STAGE_COUNTS = "{ lifecycleStageCounts { stage { key } count } }"


@pytest.fixture
def lifecycle_app():
    return registration.install("https://shop.example")


@pytest.fixture
def manager(staff_user, permission_manage_users, permission_manage_plugins):
    staff_user.user_permissions.add(permission_manage_users, permission_manage_plugins)
    return staff_user


def call(token: str | None, query: str = VIEWER) -> dict:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    response = Client().post(APP_ROOT + "graphql/", {"query": query}, content_type="application/json", **headers)
    assert response.status_code == 200, response.content
    return response.json()


def refusal(result: dict) -> str:
    (error,) = result["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert result["data"] is None
    return error["message"]


def test_the_dashboards_token_for_the_app_signs_the_staff_member_in(lifecycle_app, manager):
    result = call(create_access_token_for_app(lifecycle_app, manager))
    assert result == {"data": {"lifecycleViewer": {
        "kind": "staff", "email": manager.email, "canManageUsers": True, "canManagePlugins": True}}}
    assert "errors" not in call(create_access_token_for_app(lifecycle_app, manager), STAGE_COUNTS)


def test_permissions_are_the_staff_members_intersected_with_the_apps(
    lifecycle_app, staff_user, permission_manage_users, permission_manage_plugins
):
    staff_user.user_permissions.add(permission_manage_users)  # not MANAGE_PLUGINS
    viewer = call(create_access_token_for_app(lifecycle_app, staff_user))["data"]["lifecycleViewer"]
    assert (viewer["canManageUsers"], viewer["canManagePlugins"]) == (True, False)

    staff_user.user_permissions.add(permission_manage_plugins)
    lifecycle_app.permissions.remove(permission_manage_users)  # the app no longer holds MANAGE_USERS
    token = create_access_token_for_app(lifecycle_app, staff_user)
    viewer = call(token)["data"]["lifecycleViewer"]
    assert (viewer["canManageUsers"], viewer["canManagePlugins"]) == (False, True)
    assert call(token, STAGE_COUNTS)["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


def test_a_widgets_extension_token_is_accepted_with_the_extensions_permissions(lifecycle_app, manager):
    card = lifecycle_app.extensions.get(url__endswith="/customer/")
    token = create_access_token_for_app_extension(card, card.permissions.all(), manager, lifecycle_app)
    viewer = call(token)["data"]["lifecycleViewer"]
    assert (viewer["email"], viewer["canManageUsers"], viewer["canManagePlugins"]) == (manager.email, True, False)


def test_a_token_for_another_app_is_refused(lifecycle_app, manager, permission_manage_users):
    other = App.objects.create(name="Other", identifier="other.app", type="thirdparty", is_active=True)
    other.permissions.add(permission_manage_users)
    assert "another app" in refusal(call(create_access_token_for_app(other, manager)))


def test_an_expired_token_is_refused(lifecycle_app, manager):
    with freeze_time(timezone.now() - timedelta(minutes=10)):
        token = create_access_token_for_app(lifecycle_app, manager)
    assert "expired" in refusal(call(token)).lower()


def test_a_customers_tokens_are_refused(lifecycle_app, customer_user):
    assert "not an app token" in refusal(call(create_access_token(customer_user)))
    # Saleor's resolvers mint app tokens for staff only; one minted anyway is still refused.
    assert "no active staff member" in refusal(call(create_access_token_for_app(lifecycle_app, customer_user)))


def test_a_staff_members_own_access_token_is_refused(lifecycle_app, manager):
    assert "not an app token" in refusal(call(create_access_token(manager)))


def test_a_token_whose_key_was_rotated_or_whose_user_left_is_refused(lifecycle_app, manager):
    token = create_access_token_for_app(lifecycle_app, manager)
    manager.jwt_token_key = "rotated"  # what a password change or deactivateAllUserTokens does
    manager.save(update_fields=["jwt_token_key"])
    assert "refused" in refusal(call(token))

    token = create_access_token_for_app(lifecycle_app, manager)
    manager.is_active = False
    manager.save(update_fields=["is_active"])
    assert "refused" in refusal(call(token))


def test_a_token_for_the_app_after_it_was_switched_off_or_removed_is_refused(lifecycle_app, manager):
    token = create_access_token_for_app(lifecycle_app, manager)
    lifecycle_app.is_active = False
    lifecycle_app.save(update_fields=["is_active"])
    assert "switched off" in refusal(call(token))
    registration.remove()
    assert "not installed" in refusal(call(token))


def test_no_token_and_a_forged_one_are_refused(lifecycle_app):
    assert "Saleor Dashboard" in refusal(call(None))
    assert "not issued by this Saleor" in refusal(call("not-a-jwt"))


def test_the_storefront_endpoint_still_serves_customers(customer_user):
    """The pages' API is a separate endpoint; /graphql/ keeps accepting a customer's token."""
    response = Client().post("/plugins/global/saleor.lifecycle/graphql/", {"query": VIEWER},
                             content_type="application/json",
                             HTTP_AUTHORIZATION=f"JWT {create_access_token(customer_user)}")
    assert response.json()["data"]["lifecycleViewer"]["kind"] == "customer"
