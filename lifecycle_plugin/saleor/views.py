"""The plugin's HTTP routes under /plugins/global/saleor.lifecycle/."""

from __future__ import annotations

from ..actions.unsubscribe_page import unsubscribe_view
from ..graphql.views import graphql_view
from ..runtime import get_engine
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


def handle_unsubscribe(request, path: str) -> object | None:
    """``/unsubscribe/``: the link in marketing messages (`actions.unsubscribe_page`); None for other paths.

    Served even while the plugin is switched off: a customer who got a message before
    that must still be able to stop the next one when it is switched on again.
    """
    if path.rstrip("/") != "/unsubscribe":
        return None
    engine = get_engine()
    return unsubscribe_view(request, engine.host, engine.settings)
