"""The HTTP view's answers that do not depend on the binding."""

from __future__ import annotations

import json

from django.test import RequestFactory

from lifecycle_plugin.graphql.viewer import Viewer
from lifecycle_plugin.graphql.views import graphql_view

from .conftest import codes


def anonymous(request) -> Viewer:
    return Viewer.anonymous()


def test_without_graphiql_a_get_is_a_405_with_a_graphql_error():
    # Saleor's route serves no GraphiQL page (tests/saleor checks the route itself).
    response = graphql_view(RequestFactory().get("/graphql/", HTTP_ACCEPT="text/html"), anonymous)
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response["Allow"] == "POST, OPTIONS"
    body = json.loads(response.content)
    assert codes(body) == ["BAD_REQUEST"]
    assert "no GraphiQL" in body["errors"][0]["message"]
    put = graphql_view(RequestFactory().put("/graphql/"), anonymous)
    assert put.status_code == 405 and put["Allow"] == "POST, OPTIONS"
    assert graphql_view(RequestFactory().put("/graphql/"), anonymous, graphiql=True)["Allow"] == "GET, POST, OPTIONS"
