"""The customer API: myLifecycle shows the signed-in customer their own lifecycle only."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import signing
from django.test import Client

from lifecycle_plugin.sandbox import auth as sandbox_auth
from lifecycle_plugin.graphql.viewer import Viewer
from lifecycle_plugin.models import CustomerProfile
from lifecycle_plugin.rules import LifecycleConfig, Tier

from lifecycle_plugin.testing import MemoryHost
from .conftest import T0, Store, codes, customer_viewer, global_id

pytestmark = pytest.mark.django_db

MY_LIFECYCLE = """
query {
  myLifecycle {
    userId
    email
    stage { code key label since }
    tier { code key label rank since }
    tierProgress { currency nextTier { code key rank } spend { amount currency } remaining { amount currency } }
    ordersCount
    ordersByCurrency { currency count }
    lifetimeSpend { currency amount }
    tierWindowSpend { currency amount }
    firstOrderAt
    lastOrderAt
  }
}
"""


def test_customer_sees_their_own_stage_tier_progress_and_counters(store, ann, bob):
    response = store.run(MY_LIFECYCLE, customer_viewer(ann))
    assert "errors" not in response
    mine = response["data"]["myLifecycle"]
    assert mine["userId"] == global_id(ann.pk)
    assert mine["email"] == "ann@example.com"
    assert mine["stage"] == {
        "code": "REPEAT",
        "key": "repeat",
        "label": "Repeat customer",
        "since": (T0 + timedelta(days=30)).isoformat(),
    }
    # 550 USD in the window: silver (500) reached, gold (1500) is 950 away; EUR: 80 of bronze's 100.
    assert mine["tier"] == {
        "code": "SILVER", "key": "silver", "label": "Silver", "rank": 1, "since": (T0 + timedelta(days=30)).isoformat()
    }
    assert mine["tierProgress"] == [
        {
            "currency": "EUR",
            "nextTier": {"code": "GOLD", "key": "gold", "rank": 2},
            "spend": {"amount": 80.0, "currency": "EUR"},
            "remaining": {"amount": 1420.0, "currency": "EUR"},
        },
        {
            "currency": "PLN",
            "nextTier": {"code": "GOLD", "key": "gold", "rank": 2},
            "spend": {"amount": 0.0, "currency": "PLN"},
            "remaining": {"amount": 6000.0, "currency": "PLN"},
        },
        {
            "currency": "USD",
            "nextTier": {"code": "GOLD", "key": "gold", "rank": 2},
            "spend": {"amount": 550.0, "currency": "USD"},
            "remaining": {"amount": 950.0, "currency": "USD"},
        },
    ]
    assert mine["ordersCount"] == 3
    assert mine["ordersByCurrency"] == [{"currency": "EUR", "count": 1}, {"currency": "USD", "count": 2}]
    assert mine["lifetimeSpend"] == [{"currency": "EUR", "amount": 80.0}, {"currency": "USD", "amount": 550.0}]
    assert mine["tierWindowSpend"] == mine["lifetimeSpend"]
    assert mine["firstOrderAt"] == T0.isoformat()


def test_each_customer_gets_only_their_own_profile(store, ann, bob):
    bobs = store.run("{ myLifecycle { email ordersCount } }", customer_viewer(bob))
    assert bobs == {"data": {"myLifecycle": {"email": "bob@example.com", "ordersCount": 1}}}


def test_a_customer_the_engine_has_not_seen_gets_null_without_error(store):
    newcomer = store.account("new@example.com")
    assert store.run("{ myLifecycle { email } }", customer_viewer(newcomer)) == {"data": {"myLifecycle": None}}


def test_a_guest_profile_becomes_theirs_only_once_the_engine_links_it(store):
    store.order("late@example.com")
    store.process("late@example.com")  # a guest order, before the account existed
    user = store.account("late@example.com")
    query = "{ myLifecycle { email ordersCount } }"
    # The same e-mail alone proves nothing (an account's address may be unconfirmed).
    assert store.run(query, customer_viewer(user)) == {"data": {"myLifecycle": None}}
    store.process("late@example.com")  # the account's event: the engine links the guest history
    assert store.run(query, customer_viewer(user))["data"]["myLifecycle"] == {
        "email": "late@example.com",
        "ordersCount": 1,
    }


def test_anonymous_caller_gets_unauthenticated(store, ann):
    response = store.run(MY_LIFECYCLE, Viewer.anonymous())
    assert response["data"] == {"myLifecycle": None}
    assert codes(response) == ["UNAUTHENTICATED"]
    assert response["errors"][0]["path"] == ["myLifecycle"]


def test_an_app_has_no_lifecycle_of_its_own(store, ann):
    response = store.run("{ myLifecycle { email } }", Viewer.app(can_manage_users=True))
    assert codes(response) == ["PERMISSION_DENIED"]


def test_internals_need_manage_users_even_on_ones_own_profile(store, ann):
    response = store.run("{ myLifecycle { email stageRule history { rule } } }", customer_viewer(ann))
    assert response["data"]["myLifecycle"] == {"email": "ann@example.com", "stageRule": None, "history": None}
    assert sorted(codes(response)) == ["PERMISSION_DENIED", "PERMISSION_DENIED"]


def test_a_customer_cannot_use_the_staff_api(store, ann, bob):
    response = store.run(
        "query($id: ID) { customerLifecycle(userId: $id) { email } }", customer_viewer(ann), id=global_id(bob.pk)
    )
    assert response["data"] == {"customerLifecycle": None}
    assert codes(response) == ["PERMISSION_DENIED"]


# ---------------------------------------------------------------------- over HTTP, sandbox tokens


def post(client: Client, query: str, token: str | None = None, **variables):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(
        "/graphql/", {"query": query, "variables": variables}, content_type="application/json", **headers
    )


def test_end_to_end_with_a_sandbox_token(ann, bob):
    response = post(
        Client(), "{ myLifecycle { email stage { code } tier { code } } }", sandbox_auth.issue_sandbox_token(ann)
    )
    assert response.status_code == 200
    assert response.json() == {
        "data": {"myLifecycle": {"email": "ann@example.com", "stage": {"code": "REPEAT"}, "tier": {"code": "SILVER"}}}
    }


def test_no_token_over_http_is_unauthenticated(ann):
    response = post(Client(), "{ myLifecycle { email } }")
    assert response.status_code == 200
    assert codes(response.json()) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(
    "token",
    [
        signing.dumps({"user_id": 1}, salt="another.salt"),  # signed for something else
        signing.dumps({"user_id": 1}, salt=sandbox_auth.TOKEN_SALT, key="another server's key"),
        "not-a-token",
    ],
    ids=["other-salt", "other-key", "garbage"],
)
def test_a_foreign_token_is_refused_with_no_data(ann, token):
    response = post(Client(), "{ myLifecycle { email } }", token)
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert codes(response.json()) == ["UNAUTHENTICATED"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_token_is_refused(ann, settings):
    token = sandbox_auth.issue_sandbox_token(ann)
    settings.LIFECYCLE_SANDBOX_TOKEN_MAX_AGE = -1  # every token is older than that
    response = post(Client(), "{ myLifecycle { email } }", token)
    body = response.json()
    assert body["data"] is None
    assert codes(body) == ["UNAUTHENTICATED"]
    assert "expired" in body["errors"][0]["message"]


def test_a_token_of_an_inactive_account_is_refused(ann):
    token = sandbox_auth.issue_sandbox_token(ann)
    ann.is_active = False
    ann.save(update_fields=["is_active"])
    assert codes(post(Client(), "{ myLifecycle { email } }", token).json()) == ["UNAUTHENTICATED"]


def test_http_protocol_errors():
    client = Client()
    assert client.put("/graphql/").status_code == 405
    not_json = client.post("/graphql/", "{", content_type="application/json")
    assert not_json.status_code == 400 and codes(not_json.json()) == ["BAD_REQUEST"]
    assert client.post("/graphql/", "query { x }", content_type="text/plain").status_code == 415
    no_query = client.post("/graphql/", {"variables": {}}, content_type="application/json")
    assert codes(no_query.json()) == ["BAD_REQUEST"]


def test_graphiql_page_and_cors_preflight(settings):
    client = Client()
    page = client.get("/graphql/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and b"graphiql" in page.content and b'url: "/graphql/"' in page.content
    # Saleor's ALLOWED_GRAPHQL_ORIGINS defaults to "*" (the sandbox's to none: tests/sandbox/test_serve_security.py).
    settings.ALLOWED_GRAPHQL_ORIGINS = "*"
    preflight = client.options("/graphql/", HTTP_ORIGIN="https://shop.example.com")
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in preflight["Access-Control-Allow-Headers"]
    # Another origin may POST; GraphiQL's GET is for the server's own pages only.
    assert preflight["Access-Control-Allow-Methods"] == "POST, OPTIONS"


def test_the_graphiql_starter_query_runs_on_the_schema(ann):
    page = Client().get("/graphql/", HTTP_ACCEPT="text/html").content.decode()
    script = page.split("defaultQuery:")[1].split("}),")[0]
    query = "".join(json.loads(literal) for literal in re.findall(r'"(?:[^"\\]|\\.)*"', script))
    assert "myLifecycle" in query
    body = post(Client(), query, sandbox_auth.issue_sandbox_token(ann)).json()
    assert "errors" not in body and body["data"]["myLifecycle"]["tier"] == {"code": "SILVER"}


def test_a_tier_the_owner_named_is_custom_with_its_key(clock):
    store = Store(MemoryHost(), clock, LifecycleConfig(tiers=(
        Tier("member", {"USD": Decimal("10")}), Tier("vip", {"USD": Decimal("100")}))))
    cy = store.account("cy@example.com")
    store.order("cy@example.com", total="150")
    store.process("cy@example.com")

    mine = store.run("{ myLifecycle { tier { code key label rank } } }", customer_viewer(cy))
    assert mine == {"data": {"myLifecycle": {"tier": {"code": "CUSTOM", "key": "vip", "label": "Vip", "rank": 1}}}}
    staff = Viewer.app(can_manage_users=True)
    listed = store.run("{ lifecycleCustomers(filter: {tiers: [CUSTOM]}) { edges { node { email } } } }", staff)
    assert listed["data"]["lifecycleCustomers"]["edges"] == [{"node": {"email": "cy@example.com"}}]
    listed = store.run("{ lifecycleCustomers(filter: {tiers: [GOLD]}) { edges { node { email } } } }", staff)
    assert listed["data"]["lifecycleCustomers"]["edges"] == []


def test_reading_writes_nothing_and_reads_only_own_tables(store, ann):
    before = CustomerProfile.objects.get(user=ann).version
    store.run(MY_LIFECYCLE, customer_viewer(ann))
    assert CustomerProfile.objects.get(user=ann).version == before
