"""Saleor's real `_service { sdl }` and the plugin's compose into one supergraph.

Both SDLs are fetched as a gateway fetches them (without a token, through Saleor's
/graphql/ and the plugin's route), composed by Apollo's @apollo/composition and the
documented gateway query planned by @apollo/query-planner (tests/federation/compose.mjs,
Node). The plan is then carried out by hand with a shopper's real token: `me` from
Saleor, its `id` handed to the plugin's `_entities`, as Apollo Router would.
"""

from . import require_saleor

require_saleor()

import re  # noqa: E402

import pytest  # noqa: E402
from saleor.graphql.tests.utils import get_graphql_content  # noqa: E402

from tests.federation.gateway import GATEWAY_QUERY, LIFECYCLE_URL, SALEOR_URL, compose  # noqa: E402

from .test_graphql_route import buyer, post  # noqa: E402, F401 (buyer is a fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]

SERVICE = "{ _service { sdl } }"


def subgraphs(api_client) -> dict[str, tuple[str, str]]:
    saleor = get_graphql_content(api_client.post_graphql(SERVICE))["data"]["_service"]["sdl"]
    lifecycle = post(api_client, SERVICE)["data"]["_service"]["sdl"]
    return {"saleor": (SALEOR_URL, saleor), "lifecycle": (LIFECYCLE_URL, lifecycle)}


def test_saleors_real_subgraph_composes_with_the_plugins_and_user_gets_lifecycle(api_client):
    result = compose(subgraphs(api_client))
    assert result["errors"] == []
    user = re.search(r"^type User\b.*?^\}", result["supergraphSdl"], re.S | re.M).group(0)
    assert '@join__type(graph: SALEOR, key: "id")' in user and '@join__type(graph: LIFECYCLE, key: "id")' in user
    assert re.search(r"^  lifecycle: CustomerLifecycle @join__field\(graph: LIFECYCLE\)$", user, re.M), user
    assert re.search(r"^  email: String! @join__field\(graph: SALEOR\)$", user, re.M), user


def test_the_planned_gateway_query_reads_me_from_saleor_then_the_lifecycle(buyer, api_client, user_api_client):
    result = compose(subgraphs(api_client), GATEWAY_QUERY)
    assert result["errors"] == []
    from_saleor, from_plugin = result["fetches"]
    assert (from_saleor["service"], from_saleor["path"]) == ("saleor", [])
    assert (from_plugin["service"], from_plugin["path"]) == ("lifecycle", ["me"])

    # Apollo Router forwards the shopper's Authorization header to both subgraphs.
    me = get_graphql_content(user_api_client.post_graphql(from_saleor["operation"]))["data"]["me"]
    assert me["email"] == buyer.email
    representation = {"__typename": me["__typename"], "id": me["id"]}
    answer = post(user_api_client, from_plugin["operation"], {"representations": [representation]})
    assert "errors" not in answer, answer
    assert answer["data"]["_entities"] == [{"lifecycle": {"stage": {"code": "NEW", "label": "New customer"}, "tier": None}}]
