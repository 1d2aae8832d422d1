"""The Dashboard pages and their API under /plugins/global/saleor.lifecycle/app/.

Saleor's plugin route calls the plugin's `webhook` only while the plugin is switched on
(it returns Saleor's 404 otherwise), so every path here answers 404 while it is off.

- ``overview/``, ``settings/``, ``customer/`` and the App's own URL: one small HTML page
  each; its script (``app.js``) does the Dashboard's AppBridge handshake and calls
- ``graphql/``: the lifecycle schema, for the Dashboard's app tokens only (`auth`).

The pages load nothing from another origin; the Content-Security-Policy says so to the
browser as well.
"""

from __future__ import annotations

from functools import cache, lru_cache
from html import escape
from importlib.resources import files

from django.http import HttpResponse

from ...graphql.views import graphql_view
from .auth import authenticate_dashboard

#: Page paths (below the App's URL) and their titles.
PAGES = {
    "": "Customer lifecycle",
    "overview": "Customer lifecycle",
    "settings": "Lifecycle settings",
    "customer": "Customer lifecycle card",
}
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'"
)


def handle_app_request(request, path: str) -> HttpResponse | None:
    """The response for a path below ``/app``, or None for Saleor's 404."""
    name = path.strip("/")
    if name == "graphql":
        return graphql_view(request, authenticate_dashboard)
    if name in ASSETS:
        return _static(_asset(name), ASSETS[name], request)
    if name in PAGES:
        # The App's root as the browser sees it, with any prefix Saleor is served under.
        app_root = request.path[: len(request.path) - len(path)].rstrip("/") + "/"
        return _static(_page(name, app_root), "text/html; charset=utf-8", request)
    return None


def _static(body: str, content_type: str, request) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    response = HttpResponse(body, content_type=content_type)
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["X-Content-Type-Options"] = "nosniff"
    # The Dashboard tells the page who opened it only through the Referer's origin.
    response["Referrer-Policy"] = "strict-origin-when-cross-origin"
    return response


@cache
def _asset(name: str) -> str:
    return files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


@lru_cache(maxsize=32)
def _page(name: str, app_root: str) -> str:
    return _asset("page.html").format(
        title=escape(PAGES[name]),
        page=escape(name or "overview"),
        assets=escape(app_root),
    )
