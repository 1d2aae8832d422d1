"""The plugin's HTTP routes under /plugins/global/saleor.lifecycle/."""

from __future__ import annotations

from ..graphql.views import graphql_view
from .auth import authenticate


def handle_request(request, path: str, previous_value):
    """``/graphql/`` serves the lifecycle API; any other path is Saleor's 404."""
    if path.rstrip("/") == "/graphql":
        return graphql_view(request, authenticate, graphiql=True)
    return previous_value
