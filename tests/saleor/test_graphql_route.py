"""The lifecycle GraphQL API through Saleor's real URL route, with Saleor's real tokens.

Saleor's `ApiClient` sends `Authorization: JWT <access token>` for a user and
`Authorization: Bearer <app token>` for an app on every request, so these tests
authenticate exactly as a storefront, the Dashboard or an app would.
"""

from . import require_saleor

require_saleor()

from datetime import timedelta  # noqa: E402

import pytest  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from freezegun import freeze_time  # noqa: E402
from saleor.core.jwt import create_access_token  # noqa: E402
from saleor.graphql.tests.fixtures import ApiClient  # noqa: E402
from saleor.graphql.tests.utils import get_graphql_content  # noqa: E402

from lifecycle_plugin.models import CustomerProfile, StageTransition  # noqa: E402

from .test_flows import DRAFT_ORDER_COMPLETE, gid, mutate  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]

ENDPOINT = "/plugins/global/saleor.lifecycle/graphql/"

MY_LIFECYCLE = "{ myLifecycle { email stage { key } ordersCount lifetimeSpend { currency amount } } }"
CUSTOMER_LIFECYCLE = """
query ($email: String) {
  customerLifecycle(email: $email) {
    email stage { key } history { fromStage { key } toStage { key } rule reason }
  }
}"""
STAGE_COUNTS = "{ lifecycleStageCounts { stage { key } count } }"
ENTITIES = """
query ($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { id lifecycle { stage { key } } } } }
"""


def raw_post(client, body: dict, **headers):
    """POST to the plugin's route. Saleor's `ApiClient.post` always targets /graphql/,
    so Django's own `Client.post` is called; the client still adds its token header."""
    return Client.post(client, ENDPOINT, body, content_type="application/json", **headers)


def post(client, query: str, variables: dict | None = None) -> dict:
    response = raw_post(client, {"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.content
    return response.json()


def codes(response: dict) -> list[str]:
    return [error["extensions"]["code"] for error in response.get("errors", [])]


@pytest.fixture
def buyer(staff_api_client, permission_group_manage_orders, draft_order, customer_user):
    """customer_user with one counted order, placed through Saleor's own mutations."""
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    mutate(staff_api_client, DRAFT_ORDER_COMPLETE, {"id": gid("Order", draft_order.pk)}, "draftOrderComplete")
    assert CustomerProfile.objects.get(user_id=customer_user.pk).stage == "new"
    return customer_user


def test_a_customer_sees_their_own_lifecycle(buyer, user_api_client, draft_order):
    draft_order.refresh_from_db()
    mine = post(user_api_client, MY_LIFECYCLE)
    assert "errors" not in mine, mine
    assert mine["data"]["myLifecycle"] == {
        "email": buyer.email,
        "stage": {"key": "new"},
        "ordersCount": 1,
        "lifetimeSpend": [{"currency": draft_order.currency, "amount": float(draft_order.total_gross_amount)}],
    }


def test_another_customer_never_sees_it(buyer, user2_api_client, customer_user2):
    theirs = post(user2_api_client, MY_LIFECYCLE)
    # The engine has never seen customer_user2: nothing, and certainly not the buyer's profile.
    assert theirs == {"data": {"myLifecycle": None}}
    # Nor through the federation entry point with the buyer's User id.
    entities = post(user2_api_client, ENTITIES, {"reps": [{"__typename": "User", "id": gid("User", buyer.pk)}]})
    assert codes(entities) == ["PERMISSION_DENIED"]
    assert not entities["data"] or entities["data"]["_entities"] == [None]


def test_a_customer_cannot_use_the_staff_api(buyer, user_api_client):
    assert codes(post(user_api_client, CUSTOMER_LIFECYCLE, {"email": buyer.email})) == ["PERMISSION_DENIED"]
    assert codes(post(user_api_client, STAGE_COUNTS)) == ["PERMISSION_DENIED"]


def test_anonymous_and_bad_tokens_are_refused(buyer, api_client, client):
    assert codes(post(api_client, MY_LIFECYCLE)) == ["UNAUTHENTICATED"]
    assert codes(post(api_client, STAGE_COUNTS)) == ["UNAUTHENTICATED"]
    for header in ("JWT not-a-token", "Bearer not-an-app-token"):
        refused = raw_post(client, {"query": MY_LIFECYCLE}, HTTP_AUTHORIZATION=header)
        assert refused.status_code == 200
        assert codes(refused.json()) == ["UNAUTHENTICATED"]


def test_an_expired_token_is_refused(buyer):
    with freeze_time(timezone.now() - timedelta(days=2)):
        old_token = create_access_token(buyer)
    client = ApiClient(user=None)
    refused = raw_post(client, {"query": MY_LIFECYCLE}, HTTP_AUTHORIZATION=f"JWT {old_token}")
    assert codes(refused.json()) == ["UNAUTHENTICATED"]
    assert "expired" in refused.json()["errors"][0]["message"].lower()


def test_staff_without_manage_users_is_refused(buyer, staff_api_client):
    # staff_api_client has MANAGE_ORDERS through the group (the buyer fixture), not MANAGE_USERS.
    assert codes(post(staff_api_client, CUSTOMER_LIFECYCLE, {"email": buyer.email})) == ["PERMISSION_DENIED"]
    entities = post(staff_api_client, ENTITIES, {"reps": [{"__typename": "User", "id": gid("User", buyer.pk)}]})
    assert codes(entities) == ["PERMISSION_DENIED"]


def test_staff_with_manage_users_gets_the_staff_api(buyer, staff_api_client, permission_manage_users):
    staff_api_client.user.user_permissions.add(permission_manage_users)
    answer = post(staff_api_client, CUSTOMER_LIFECYCLE, {"email": buyer.email.upper()})
    assert "errors" not in answer, answer
    lifecycle = answer["data"]["customerLifecycle"]
    assert lifecycle["stage"] == {"key": "new"}
    stored = StageTransition.objects.get(profile__user_id=buyer.pk, to_stage="new")
    assert lifecycle["history"][-1] == {
        "fromStage": {"key": stored.from_stage} if stored.from_stage else None,
        "toStage": {"key": "new"},
        "rule": stored.rule,
        "reason": stored.reason.upper(),
    }
    counts = {row["stage"]["key"]: row["count"] for row in post(staff_api_client, STAGE_COUNTS)["data"]["lifecycleStageCounts"]}
    assert counts["new"] == CustomerProfile.objects.filter(stage="new").count() >= 1

    entities = post(staff_api_client, ENTITIES, {"reps": [{"__typename": "User", "id": gid("User", buyer.pk)}]})
    assert entities["data"]["_entities"] == [{"id": gid("User", buyer.pk), "lifecycle": {"stage": {"key": "new"}}}]


def test_an_app_with_manage_users_gets_the_staff_api(buyer, app_api_client, permission_manage_users):
    app_api_client.app.permissions.add(permission_manage_users)
    answer = post(app_api_client, CUSTOMER_LIFECYCLE, {"email": buyer.email})
    assert "errors" not in answer, answer
    assert answer["data"]["customerLifecycle"]["stage"] == {"key": "new"}


def test_an_app_without_manage_users_is_refused(buyer, app_api_client):
    assert codes(post(app_api_client, CUSTOMER_LIFECYCLE, {"email": buyer.email})) == ["PERMISSION_DENIED"]


def test_the_service_sdl_extends_saleors_user_by_saleors_own_id(buyer, user_api_client, staff_api_client,
                                                               permission_manage_users):
    sdl = post(user_api_client, "{ _service { sdl } }")["data"]["_service"]["sdl"]
    assert 'extend type User @key(fields: "id")' in sdl
    # A gateway takes the key from Saleor's answer and hands it to this subgraph.
    saleor_id = get_graphql_content(user_api_client.post_graphql("{ me { id } }"))["data"]["me"]["id"]
    staff_api_client.user.user_permissions.add(permission_manage_users)
    entities = post(staff_api_client, ENTITIES, {"reps": [{"__typename": "User", "id": saleor_id}]})
    assert entities["data"]["_entities"] == [{"id": saleor_id, "lifecycle": {"stage": {"key": "new"}}}]
