"""The query limits and strict input through Saleor's real route, and no GraphiQL there."""

from . import require_saleor

require_saleor()

import base64  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402
from django.test import Client  # noqa: E402

from .test_flows import gid  # noqa: E402
from .test_graphql_route import ENDPOINT, ENTITIES, codes, raw_post  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]


def doubling_fragments(count: int) -> str:
    fragments = ["fragment F0 on Query { _service { sdl } }"]
    fragments += [f"fragment F{n} on Query {{ ...F{n - 1} ...F{n - 1} }}" for n in range(1, count)]
    return "{ ...F%d }\n%s" % (count - 1, "\n".join(fragments))


def test_22_doubling_fragments_are_refused_at_once_without_a_token(api_client):
    query = doubling_fragments(22)
    best = float("inf")
    for _ in range(3):  # the best of three, so a busy machine does not fail the test
        started = time.perf_counter()
        response = raw_post(api_client, {"query": query})
        best = min(best, time.perf_counter() - started)
    assert response.status_code == 200
    assert codes(response.json()) == ["QUERY_TOO_COMPLEX"]
    assert best < 0.25  # the whole request through Saleor's stack; the refusal itself is under 1 ms


def test_300_aliased_schema_fields_are_refused(api_client):
    query = "{ %s }" % " ".join(f"s{n}: __schema {{ types {{ name }} }}" for n in range(300))
    response = raw_post(api_client, {"query": query})
    assert response.status_code == 200 and codes(response.json()) == ["QUERY_TOO_COMPLEX"]


def test_bad_input_is_a_graphql_error_not_a_500(api_client, staff_api_client, permission_manage_users, customer_user):
    int_query = "query($n: Int) { lifecycleCustomers(first: $n) { totalCount } }"
    for value in (10**12, 2.5):
        response = raw_post(api_client, {"query": int_query, "variables": {"n": value}})
        assert response.status_code == 200 and codes(response.json()) == ["BAD_USER_INPUT"]
    chain = "\n".join(f"fragment F{n} on Query {{ ...F{n + 1} }}" for n in range(1199))
    response = raw_post(api_client, {"query": "{ ...F0 }\n" + chain + "\nfragment F1199 on Query { __typename }"})
    assert response.status_code == 200 and codes(response.json())[0] in ("QUERY_TOO_COMPLEX", "QUERY_TOO_DEEP")
    body = Client().post(ENDPOINT, "[" * 100_000, content_type="application/json")
    assert body.status_code == 400 and codes(body.json()) == ["BAD_REQUEST"]

    staff_api_client.user.user_permissions.add(permission_manage_users)
    squared = base64.b64encode("User:²".encode()).decode()
    reps = [{"__typename": "User", "id": squared}, {"__typename": "User", "id": gid("User", customer_user.pk)}]
    response = raw_post(staff_api_client, {"query": ENTITIES, "variables": {"reps": reps}})
    entities = response.json()["data"]["_entities"]
    assert entities[0] is None and entities[1]["id"] == gid("User", customer_user.pk)
    assert codes(response.json()) == ["BAD_USER_INPUT"]


def test_entities_are_limited_per_request_across_aliases(staff_api_client, permission_manage_users):
    staff_api_client.user.user_permissions.add(permission_manage_users)
    reps = [{"__typename": "User", "id": gid("User", pk)} for pk in range(1, 101)]
    query = """query($r: [_Any!]!) {
      a: _entities(representations: $r) { __typename }
      b: _entities(representations: $r) { __typename }
      c: _entities(representations: $r) { __typename }
    }"""
    body = raw_post(staff_api_client, {"query": query, "variables": {"r": reps}}).json()
    assert body["data"]["a"] == [{"__typename": "User"}] * 100
    assert body["data"]["b"] == body["data"]["c"] == [None] * 100
    assert codes(body) == ["PAGE_TOO_LARGE", "PAGE_TOO_LARGE"]


def test_the_saleor_route_serves_no_graphiql(client):
    page = client.get(ENDPOINT, HTTP_ACCEPT="text/html")
    assert page.status_code == 405
    assert page["Content-Type"] == "application/json"
    assert codes(page.json()) == ["BAD_REQUEST"]
    assert "no GraphiQL" in page.json()["errors"][0]["message"]
