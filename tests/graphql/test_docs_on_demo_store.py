"""Every GraphQL example in docs/ and the README returns data on the demo store.

A reader tries the examples on the store `lifecycle-sandbox demo` made; an example that
answers only nulls, empty lists or zero counts there teaches nothing. The demo runs here
as its command does, with fewer customers (the generator plans customer *i* the same
whatever the count, so this store is the first part of the default one) and the `--now`
the docs' dates are written for; the examples run with the engine's clock at that moment.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from graphql import parse
from graphql.language import ast
from graphql.language.printer import print_ast

from lifecycle_plugin.graphql.execution import execute_graphql
from lifecycle_plugin.graphql.viewer import Viewer
from lifecycle_plugin.models import CustomerProfile
from lifecycle_plugin.sandbox import cli
from lifecycle_plugin.sandbox.commands.common import make_engine
from lifecycle_plugin.sandbox.host import SandboxHost

from .conftest import global_id

ROOT = Path(__file__).resolve().parents[2]
#: docs/graphql.md says so: its dates are written for `lifecycle-sandbox demo --now` this.
DEMO_NOW = "2026-04-01T12:00:00+00:00"
DEMO_CUSTOMERS = 1000


def documented_examples() -> list[tuple[str, str]]:
    """(file, example) for every ```graphql block of docs/*.md and README.md."""
    found = []
    for path in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        found += [(path.name, block) for block in re.findall(r"```graphql\n(.*?)```", path.read_text(), re.S)]
    return found


def is_sdl_excerpt(example: str) -> bool:
    return example.lstrip().startswith("extend type")


def as_entities_query(example: str) -> str:
    """A gateway's `me { lifecycle { ... } }` as the `_entities` call it makes to this subgraph."""
    [operation] = [d for d in parse(example).definitions if isinstance(d, ast.OperationDefinition)]
    [me] = [s for s in operation.selection_set.selections if s.name.value == "me"]
    [lifecycle] = [s for s in me.selection_set.selections if s.name.value == "lifecycle"]
    return ("query($representations: [_Any!]!) { _entities(representations: $representations) "
            f"{{ ... on User {{ id lifecycle {print_ast(lifecycle.selection_set)} }} }} }}")


def has_data(value: Any) -> bool:
    """Whether an answer tells something: not only nulls, empty lists, zeros and false.

    A list of rows counts only when some row has data and no number column is zero in
    every row: stage counts that are all 0 are no data, whatever their stage codes.
    """
    if isinstance(value, dict):
        return any(has_data(v) for v in value.values())
    if isinstance(value, list):
        rows = [row for row in value if isinstance(row, dict)]
        numbers = {key for row in rows for key, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if any(not any(row.get(key) for row in rows) for key in numbers):
            return False
        return any(has_data(item) for item in value)
    return value not in (None, "", 0, False)


def test_has_data_tells_empty_answers_from_full_ones():
    assert not has_data({"a": None, "b": [], "c": {"d": 0, "e": ""}})
    assert not has_data([{"stage": {"code": "LEAD"}, "count": 0}, {"stage": {"code": "NEW"}, "count": 0}])
    assert has_data([{"stage": {"code": "LEAD"}, "count": 0}, {"stage": {"code": "NEW"}, "count": 3}])
    assert has_data({"totalCount": 0, "edges": [{"node": {"email": "a@example.com"}}]})


@pytest.mark.django_db(transaction=True)  # the demo commits, as the command does
def test_every_documented_example_returns_data_on_the_demo_store():
    examples = documented_examples()
    assert len(examples) >= 8
    assert cli.main(["--no-progress", "demo", "--customers", str(DEMO_CUSTOMERS), "--now", DEMO_NOW]) == 0
    now = datetime.fromisoformat(DEMO_NOW)
    engine = make_engine(SandboxHost(as_of=lambda: now), lambda: now, demo_actions=True)
    # The customer whose token the sandbox's `serve` prints: the first with an account.
    customer = CustomerProfile.objects.filter(user__isnull=False).order_by("id").first().user
    shopper = Viewer.customer(customer.pk, customer.email)
    staff = Viewer.app(can_manage_users=True)

    answers = {}
    for source, example in examples:
        if is_sdl_excerpt(example):
            continue  # a schema excerpt, checked against _service in test_docs_examples.py
        query, variables = example, {"id": global_id(customer.pk)} if "$id" in example else {}
        if "me {" in example:  # `me` is Saleor's: a gateway asks this subgraph for the entity
            query, variables = as_entities_query(example), {"representations": [{"__typename": "User", "id": global_id(customer.pk)}]}
        viewer = shopper if "myLifecycle" in example or "me {" in example else staff
        if "lifecycleMessageTestSend" in example:  # a write: MANAGE_PLUGINS
            viewer = Viewer("app", can_manage_users=True, can_manage_plugins=True)
        body = execute_graphql({"query": query, "variables": variables}, viewer, engine_factory=lambda: engine)
        name = f"{source}: {example.strip().splitlines()[0]}"
        answers[name] = body.get("errors") or [field for field, value in (body.get("data") or {}).items()
                                                 if not has_data(value)]
    failing = {name: problem for name, problem in answers.items() if problem}
    assert not failing, "examples with errors, or fields without data, on the demo store:\n" + "\n".join(
        f"- {name}\n  {problem}" for name, problem in failing.items())
