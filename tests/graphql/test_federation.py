"""Apollo Federation v1: the subgraph SDL and `_entities` with Saleor's permission rules."""

from __future__ import annotations

import re

import pytest
from graphql import parse

from lifecycle_plugin.graphql.viewer import Viewer

from .conftest import codes, customer_viewer, global_id, staff_viewer

pytestmark = pytest.mark.django_db

ENTITIES = """
query($representations: [_Any!]!) {
  _entities(representations: $representations) {
    __typename
    ... on User { id lifecycle { email stage { code } tier { code } } }
  }
}
"""


def user(pk: int) -> dict:
    return {"__typename": "User", "id": global_id(pk)}


def test_service_sdl_declares_the_user_extension(store):
    response = store.run("{ _service { sdl } }", Viewer.anonymous())  # gateways fetch it without a token
    sdl = response["data"]["_service"]["sdl"]
    block = re.search(r'extend type User @key\(fields: "id"\) \{(.*?)\n\}', sdl, re.S)
    assert block, sdl
    fields = [line.strip() for line in block.group(1).splitlines() if line.strip() and '"""' not in line]
    assert fields == ["id: ID! @external", "lifecycle: CustomerLifecycle"]
    # The federation plumbing is not part of the subgraph's own SDL (fed1).
    for plumbing in ("_entities", "_service", "scalar _Any", "union _Entity", "type _Service"):
        assert plumbing not in sdl
    assert "type Query {" in sdl and "myLifecycle: CustomerLifecycle" in sdl
    # The spec allows descriptions on definitions only: none on an extension, its fields may have them.
    assert not re.search(r'"""\n\s*extend ', sdl), sdl
    # It parses as GraphQL (graphql-core 2 cannot read descriptions; drop them first). graphql-js,
    # which every Apollo gateway parses with, reads them: tests/federation composes this SDL.
    parse(re.sub(r'^\s*"""(?:.|\n)*?"""\n', "", sdl, flags=re.M))


def test_the_executable_schema_has_the_spec_fields(store):
    response = store.run(
        "{ __schema { queryType { fields { name"
        " args { name type { kind ofType { kind ofType { kind ofType { name } } } } }"
        " type { kind ofType { kind ofType { name } } } } } }"
        ' entity: __type(name: "_Entity") { kind possibleTypes { name } }'
        ' any: __type(name: "_Any") { kind } }',
        Viewer.anonymous(),
    )
    fields = {f["name"]: f for f in response["data"]["__schema"]["queryType"]["fields"]}
    entities = fields["_entities"]
    # _entities(representations: [_Any!]!): [_Entity]!
    assert entities["type"] == {"kind": "NON_NULL", "ofType": {"kind": "LIST", "ofType": {"name": "_Entity"}}}
    assert entities["args"] == [
        {
            "name": "representations",
            "type": {
                "kind": "NON_NULL",
                "ofType": {"kind": "LIST", "ofType": {"kind": "NON_NULL", "ofType": {"name": "_Any"}}},
            },
        }
    ]
    # _service: _Service!
    assert fields["_service"]["type"] == {"kind": "NON_NULL", "ofType": {"kind": "OBJECT", "ofType": None}}
    assert response["data"]["entity"] == {"kind": "UNION", "possibleTypes": [{"name": "User"}]}
    assert response["data"]["any"] == {"kind": "SCALAR"}


def test_a_customer_resolves_only_themselves(store, ann, bob):
    response = store.run(ENTITIES, customer_viewer(ann), representations=[user(ann.pk), user(bob.pk)])
    own, other = response["data"]["_entities"]
    assert own == {
        "__typename": "User",
        "id": global_id(ann.pk),
        "lifecycle": {"email": "ann@example.com", "stage": {"code": "REPEAT"}, "tier": {"code": "SILVER"}},
    }
    assert other is None  # never another customer's data
    [error] = response["errors"]
    assert error["extensions"]["code"] == "PERMISSION_DENIED"
    assert error["path"] == ["_entities", 1]


def test_staff_with_manage_users_resolves_anyone_in_one_query(store, ann, bob, admin, django_assert_max_num_queries):
    stranger = store.account("stranger@example.com")  # an account the engine has not seen
    viewer = staff_viewer(admin)
    with django_assert_max_num_queries(1):  # every profile in one query
        response = store.run(ENTITIES, viewer, representations=[user(bob.pk), user(ann.pk), user(stranger.pk)])
    assert "errors" not in response
    bob_entity, ann_entity, stranger_entity = response["data"]["_entities"]
    assert bob_entity["lifecycle"]["email"] == "bob@example.com"
    assert ann_entity["lifecycle"]["email"] == "ann@example.com"
    assert stranger_entity == {"__typename": "User", "id": global_id(stranger.pk), "lifecycle": None}


def test_apps_with_manage_users_resolve_anyone_and_others_no_one(store, ann, clerk):
    app = store.run(ENTITIES, Viewer.app(can_manage_users=True), representations=[user(ann.pk)])
    assert app["data"]["_entities"][0]["lifecycle"]["email"] == "ann@example.com"
    for viewer, code in [
        (Viewer.app(can_manage_users=False), "PERMISSION_DENIED"),
        (staff_viewer(clerk), "PERMISSION_DENIED"),
        (Viewer.anonymous(), "UNAUTHENTICATED"),
    ]:
        response = store.run(ENTITIES, viewer, representations=[user(ann.pk)])
        assert response["data"] == {"_entities": [None]}
        assert codes(response) == [code]


def test_bad_representations_fail_one_by_one(store, ann):
    representations = [
        {"__typename": "Order", "id": "T3JkZXI6MQ=="},
        {"__typename": "User", "id": "bm9wZQ=="},
        {"__typename": "User"},
        user(ann.pk),
    ]
    response = store.run(ENTITIES, customer_viewer(ann), representations=representations)
    assert [entity and entity["lifecycle"]["email"] for entity in response["data"]["_entities"]] == [
        None,
        None,
        None,
        "ann@example.com",
    ]
    assert [(e["extensions"]["code"], e["path"]) for e in response["errors"]] == [
        ("BAD_USER_INPUT", ["_entities", 0]),
        ("BAD_USER_INPUT", ["_entities", 1]),
        ("BAD_USER_INPUT", ["_entities", 2]),
    ]


def test_inline_representations_work_too(store, ann):
    query = '{ _entities(representations: [{__typename: "User", id: "%s"}]) { ... on User { lifecycle { email } } } }'
    response = store.run(query % global_id(ann.pk), customer_viewer(ann))
    assert response == {"data": {"_entities": [{"lifecycle": {"email": "ann@example.com"}}]}}


def test_at_most_100_entities(store, admin):
    response = store.run(ENTITIES, staff_viewer(admin), representations=[user(n) for n in range(1, 102)])
    assert response["data"]["_entities"] == [None] * 101
    assert codes(response) == ["PAGE_TOO_LARGE"]
