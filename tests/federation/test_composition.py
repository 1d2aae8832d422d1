"""The plugin's subgraph composes with Saleor's in Apollo's own composition library.

graphql-js parses each SDL (spec-strict, unlike graphql-core 2), @apollo/composition builds
the supergraph and @apollo/query-planner plans the documented gateway query: what
`rover supergraph compose` and Apollo Router or Gateway do with the two subgraphs. The
Saleor side here is a stand-in of its `_service { sdl }`; tests/saleor composes the real one.
"""

from __future__ import annotations

import re

from lifecycle_plugin.graphql.execution import execute_graphql
from lifecycle_plugin.graphql.viewer import Viewer

from .gateway import GATEWAY_QUERY, LIFECYCLE_URL, SALEOR_STAND_IN, SALEOR_URL, compose


def service_sdl() -> str:
    """The SDL as a gateway fetches it: `_service { sdl }`, without a token."""
    return execute_graphql({"query": "{ _service { sdl } }"}, Viewer.anonymous())["data"]["_service"]["sdl"]


def user_type(supergraph_sdl: str) -> str:
    match = re.search(r"^type User\b.*?^\}", supergraph_sdl, re.S | re.M)
    assert match, supergraph_sdl
    return match.group(0)


def test_the_subgraph_composes_with_saleor_and_adds_user_lifecycle():
    result = compose({"saleor": (SALEOR_URL, SALEOR_STAND_IN.read_text()), "lifecycle": (LIFECYCLE_URL, service_sdl())})
    assert result["errors"] == []
    user = user_type(result["supergraphSdl"])
    # Saleor's User, keyed by id in both subgraphs, with the plugin's field resolved by the plugin.
    assert '@join__type(graph: SALEOR, key: "id")' in user and '@join__type(graph: LIFECYCLE, key: "id")' in user
    assert re.search(r"^  lifecycle: CustomerLifecycle @join__field\(graph: LIFECYCLE\)$", user, re.M), user
    assert re.search(r"^  email: String! @join__field\(graph: SALEOR\)$", user, re.M), user
    assert "type CustomerLifecycle" in result["supergraphSdl"]


def test_the_gateway_reads_me_from_saleor_then_the_lifecycle_through_entities():
    result = compose(
        {"saleor": (SALEOR_URL, SALEOR_STAND_IN.read_text()), "lifecycle": (LIFECYCLE_URL, service_sdl())},
        GATEWAY_QUERY,
    )
    assert result["errors"] == []
    saleor, lifecycle = result["fetches"]
    assert (saleor["service"], saleor["path"]) == ("saleor", [])
    assert re.search(r"\{me\{.*\bid\b", saleor["operation"]), saleor  # the key the plugin needs
    assert (lifecycle["service"], lifecycle["path"]) == ("lifecycle", ["me"])
    assert "_entities(representations:$representations){...on User{lifecycle{" in lifecycle["operation"]


def test_graphql_js_refuses_a_description_on_a_type_extension():
    # What the subgraph SDL used to serve; the composition above would see it again.
    described = service_sdl().replace("extend type User", '"""Saleor\'s User."""\nextend type User')
    result = compose({"saleor": (SALEOR_URL, SALEOR_STAND_IN.read_text()), "lifecycle": (LIFECYCLE_URL, described)})
    assert result["supergraphSdl"] is None
    assert result["errors"] == [
        "lifecycle: GraphQLError: Syntax Error: Unexpected description, only GraphQL definitions support descriptions."
    ]
