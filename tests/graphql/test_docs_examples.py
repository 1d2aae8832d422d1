"""Every GraphQL example in docs/graphql.md runs against the sandbox's endpoint and answers without errors.

The examples are executed over HTTP at the sandbox's ``/graphql/`` with the sandbox's
own tokens, on a store the sandbox engine has decided: a storefront query as the
customer, the staff queries as a staff member with MANAGE_USERS. The gateway
example (``me`` is Saleor's field) runs as the ``_entities`` call a gateway makes
for it, and the SDL excerpt must be part of what ``_service { sdl }`` serves.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from graphql import parse
from graphql.language import ast
from graphql.language.printer import print_ast

from lifecycle_plugin.sandbox.auth import issue_sandbox_token
from lifecycle_plugin.runtime import get_engine
from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.store import SandboxStore

from .conftest import global_id

pytestmark = pytest.mark.django_db

DOC = (Path(__file__).resolve().parents[2] / "docs" / "graphql.md").read_text()
EXAMPLES = re.findall(r"```graphql\n(.*?)```", DOC, re.S)
NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
WRITES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE")


def is_gateway_query(example: str) -> bool:
    return "me {" in example  # `me` is Saleor's; this schema has no such field


def is_sdl_excerpt(example: str) -> bool:
    return example.startswith("extend type")


@pytest.fixture
def shop(settings):
    settings.LIFECYCLE_SETTINGS = {}  # the defaults, as a fresh install has them
    engine = get_engine(SandboxHost(), clock=lambda: NOW)
    store = SandboxStore(engine)
    ann = store.register("ann@example.com", first_name="Ann", at=NOW - timedelta(days=200))
    store.place_order(ann, "300.00", at=NOW - timedelta(days=190))
    store.place_order(ann, "250.00", at=NOW - timedelta(days=120))
    store.place_order("guest@example.com", "40.00", at=NOW - timedelta(days=10))
    staff = store.register("staff@example.com", notify=False)
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    staff.user_permissions.add(Permission.objects.get(codename="change_user", content_type__app_label="auth"))
    owner = store.register("owner@example.com", notify=False)  # a superuser: the sandbox's MANAGE_PLUGINS
    owner.is_staff = owner.is_superuser = True
    owner.save(update_fields=["is_staff", "is_superuser"])
    return {"ann": ann, "staff": staff, "owner": owner}


def post(query: str, token: str, variables: dict | None = None) -> dict:
    response = Client().post(
        "/graphql/",
        json.dumps({"query": query, "variables": variables or {}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200
    return response.json()


def test_the_doc_has_the_examples_this_test_expects():
    storefront = [e for e in EXAMPLES if "myLifecycle" in e]
    staff = [e for e in EXAMPLES if not is_gateway_query(e) and not is_sdl_excerpt(e) and "myLifecycle" not in e]
    assert len(storefront) == 1 and len(staff) >= 5
    assert sum(map(is_gateway_query, EXAMPLES)) == 1 and sum(map(is_sdl_excerpt, EXAMPLES)) == 1


@pytest.mark.parametrize(
    "example",
    [e for e in EXAMPLES if not is_gateway_query(e) and not is_sdl_excerpt(e)],
    ids=lambda e: (re.search(r"(query|mutation)\s*(\w*)", e).group(2) or e.split("{")[1].split("(")[0]).strip(),
)
def test_a_documented_query_runs_without_errors(shop, example):
    customer_query = "myLifecycle" in example
    sends = "lifecycleMessageTestSend" in example  # a write: MANAGE_PLUGINS
    token = issue_sandbox_token(shop["ann"] if customer_query else shop["owner"] if sends else shop["staff"])
    variables = {"id": global_id(shop["ann"].pk)} if "$id" in example else {}

    body = post(example, token, variables)

    assert "errors" not in body, body["errors"]
    assert body["data"] and None not in body["data"].values(), body  # customerLifecycle found ann; myLifecycle is hers


def test_the_gateway_example_resolves_through_entities(shop):
    """A gateway answers `me { lifecycle { ... } }` with Saleor's `me.id` and this subgraph's `_entities`."""
    [example] = [e for e in EXAMPLES if is_gateway_query(e)]
    [operation] = [d for d in parse(example).definitions if isinstance(d, ast.OperationDefinition)]
    [me] = [s for s in operation.selection_set.selections if s.name.value == "me"]
    [lifecycle] = [s for s in me.selection_set.selections if s.name.value == "lifecycle"]
    selection = print_ast(lifecycle.selection_set)
    entities = (
        "query($representations: [_Any!]!) { _entities(representations: $representations) "
        f"{{ ... on User {{ id lifecycle {selection} }} }} }}"
    )
    ann_id = global_id(shop["ann"].pk)

    body = post(entities, issue_sandbox_token(shop["ann"]), {"representations": [{"__typename": "User", "id": ann_id}]})

    assert "errors" not in body, body["errors"]
    [user] = body["data"]["_entities"]
    assert user["id"] == ann_id and user["lifecycle"]["stage"]["code"] == "AT_RISK"


def test_the_documented_sdl_excerpt_is_what_service_serves(shop):
    [excerpt] = [e for e in EXAMPLES if is_sdl_excerpt(e)]
    sdl = post("{ _service { sdl } }", issue_sandbox_token(shop["ann"]))["data"]["_service"]["sdl"]
    served = [line.strip() for line in sdl.splitlines()]
    block = served[served.index(excerpt.splitlines()[0].strip()) :]
    block = block[: block.index("}") + 1]
    documented = [line.strip() for line in excerpt.strip().splitlines()]
    assert [line for line in block if not line.startswith('"""')] == documented


def test_the_documented_error_is_the_one_an_anonymous_storefront_gets():
    documented = next(json.loads(b) for b in re.findall(r"```json\n(.*?)```", DOC, re.S) if '"myLifecycle": null' in b)
    query = next(e for e in EXAMPLES if "myLifecycle" in e)
    response = Client().post("/graphql/", json.dumps({"query": query}), content_type="application/json").json()
    [error] = response["errors"]
    [expected] = documented["errors"]
    assert response["data"] == documented["data"]
    assert (error["message"], error["path"], error["extensions"]) == (
        expected["message"], expected["path"], expected["extensions"])


def test_the_documented_what_if_writes_nothing_on_the_sandbox_host(shop):
    [example] = [e for e in EXAMPLES if "lifecycleWhatIf" in e]
    token = issue_sandbox_token(shop["staff"])
    with CaptureQueriesContext(connection) as captured:
        body = post(example, token)
    assert "errors" not in body, body["errors"]
    writes = [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith(WRITES)]
    assert writes == []
    result = body["data"]["lifecycleWhatIf"]
    assert result["customersEvaluated"] >= 2 and result["complete"]
    assert sum(row["count"] for row in result["stages"]) == result["customersEvaluated"]
