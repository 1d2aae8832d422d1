"""The plugin's HTTP routes under /plugins/global/saleor.lifecycle/."""

from __future__ import annotations

from ..graphql.views import graphql_view
from .auth import authenticate


def handle_request(request, path: str, previous_value):
    """``/graphql/`` serves the lifecycle API, ``/app/…`` the Dashboard pages
    (`dashboard.pages`); any other path is Saleor's 404.

    No GraphiQL page here (a GET is a 405): it would run a CDN's scripts on the
    shop's API origin and keep the tokens pasted into it in that origin's storage.
    The sandbox serves one.
    """
    if path.rstrip("/") == "/graphql":
        return graphql_view(request, authenticate)
    if path == "/app" or path.startswith("/app/"):
        from .dashboard.pages import handle_app_request

        return handle_app_request(request, path.removeprefix("/app")) or previous_value
    return previous_value
