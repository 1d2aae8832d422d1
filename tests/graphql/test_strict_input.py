"""Input is read strictly: IDs and cursors are ASCII digits, built-in scalars follow the spec.

graphql-core 2 and ``str.isdigit`` are lenient in ways that either fail late (an
internal error that nulls a whole list) or answer something the client did not ask
for (2.5 read as the Int 2).
"""

from __future__ import annotations

import base64

import pytest

from lifecycle_plugin.graphql.viewer import Viewer

from .conftest import codes, customer_viewer, global_id

pytestmark = pytest.mark.django_db

APP = Viewer.app(can_manage_users=True)
ENTITIES = """
query($representations: [_Any!]!) { _entities(representations: $representations) { ... on User { id } } }
"""


def encoded(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("pk", ["²", "٣", "1" * 19, "-1", " 1"])
def test_an_entity_id_that_is_not_ascii_digits_fails_alone(store, ann, pk):
    # "²".isdigit() is True and int("²") raises: that used to null the whole list.
    representations = [
        {"__typename": "User", "id": encoded(f"User:{pk}")},
        {"__typename": "User", "id": global_id(ann.pk)},
    ]
    response = store.run(ENTITIES, customer_viewer(ann), representations=representations)
    assert response["data"]["_entities"] == [None, {"id": global_id(ann.pk)}]
    assert [(error["extensions"]["code"], error["path"]) for error in response["errors"]] == [
        ("BAD_USER_INPUT", ["_entities", 0])
    ]


def test_user_ids_and_cursors_with_other_digits_are_bad_input(store, ann):
    query = "query($id: ID) { customerLifecycle(userId: $id) { email } }"
    assert codes(store.run(query, APP, id=encoded("User:²"))) == ["BAD_USER_INPUT"]
    assert codes(store.run(query, APP, id=encoded(f"User:{ann.pk}"))) == []
    page = "query($after: String) { lifecycleCustomers(after: $after) { totalCount } }"
    assert codes(store.run(page, APP, after=encoded("LifecycleCustomer:²"))) == ["BAD_USER_INPUT"]


INT_QUERY = "query($n: Int) { lifecycleCustomers(first: $n) { totalCount } }"


@pytest.mark.parametrize("value", [2.5, 10**12, 10**400, -(2**31) - 1, "7", True])
def test_a_value_that_is_not_a_32_bit_int_is_refused(store, value):
    response = store.run(INT_QUERY, APP, n=value)
    assert "data" not in response  # refused before execution, never truncated to first: 2
    assert codes(response) == ["BAD_USER_INPUT"]
    assert "an Int is a whole number" in response["errors"][0]["message"]


@pytest.mark.parametrize(("value", "resolver_says"), [(2, []), (2.0, []), (2**31 - 1, ["PAGE_TOO_LARGE"])])
def test_a_32_bit_int_reaches_the_resolver(store, value, resolver_says):
    assert codes(store.run(INT_QUERY, APP, n=value)) == resolver_says


def test_scalars_inside_input_objects_and_lists_are_checked_too(store):
    query = "query($c: LifecycleConfigInput!) { lifecycleWhatIf(config: $c) { customersEvaluated } }"
    response = store.run(query, APP, c={"atRiskDays": 60.5})
    assert codes(response) == ["BAD_USER_INPUT"]
    assert "at atRiskDays" in response["errors"][0]["message"]
    response = store.run(query, APP, c={"countOnlyPaid": "false"})  # graphql-core read it as true
    assert codes(response) == ["BAD_USER_INPUT"]
    tiers = [{"code": "gold", "thresholds": [{"currency": "USD", "amount": "1000"}]}]
    response = store.run(query, APP, c={"tiers": tiers})
    assert codes(response) == ["BAD_USER_INPUT"]
    assert "at tiers, at [0], at thresholds, at [0], at amount, a Float is a finite number" in (
        response["errors"][0]["message"]
    )
    tiers[0]["thresholds"][0]["amount"] = 10**400  # an integer too large for a float
    assert codes(store.run(query, APP, c={"tiers": tiers})) == ["BAD_USER_INPUT"]
    tiers[0]["thresholds"][0]["amount"] = 1000
    assert "errors" not in store.run(query, APP, c={"tiers": tiers, "personalGapMultiplier": 2})
