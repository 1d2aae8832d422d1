"""The lifecycle pages (overview, customer card, settings and what-if, messages) and their API.

Served by whoever hosts them with its own authentication: Saleor's plugin route with the
Dashboard's app tokens (saleor/dashboard/pages.py), the sandbox with its local login
(sandbox/dashboard.py). Below the pages' root:

- ``overview/``, ``customer/``, ``settings/``, ``messages/`` and the root: one small HTML
  page each; its scripts (``pages.js`` draws, ``app.js`` does the Dashboard's AppBridge
  handshake and calls the API);
- ``graphql/``: the lifecycle schema for the pages' tokens;
- the vendored Charts.css (``vendor/charts.css/``), pinned in scripts/vendor.json.

The pages load nothing from another origin; the Content-Security-Policy says so to the
browser as well (charts set their sizes through the CSSOM, which that policy allows).
"""

from __future__ import annotations

from functools import cache, lru_cache
from html import escape
from importlib.resources import files

from django.http import HttpResponse

from .viewer import Authenticate
from .views import graphql_view

#: Page paths (below the pages' root) and their titles.
PAGES = {
    "": "Customer lifecycle",
    "overview": "Customer lifecycle",
    "customer": "Customer lifecycle card",
    "settings": "Lifecycle settings",
    "messages": "Lifecycle messages",
}
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "pages.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "vendor/charts.css/charts.min.css": "text/css; charset=utf-8",
    "vendor/charts.css/LICENSE": "text/plain; charset=utf-8",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'"
)


def handle_pages_request(request, path: str, authenticate: Authenticate) -> HttpResponse | None:
    """The response for a path below the pages' root, or None (not found)."""
    name = path.strip("/")
    if name == "graphql":
        return graphql_view(request, authenticate)
    if name in ASSETS:
        return static_response(_asset(name), ASSETS[name], request)
    if name in PAGES:
        # The pages' root as the browser sees it, with any prefix the host is served under.
        root = request.path[: len(request.path) - len(path)].rstrip("/") + "/"
        return static_response(_page(name, root), "text/html; charset=utf-8", request)
    return None


def static_response(body: str, content_type: str, request, *, csp: str = CONTENT_SECURITY_POLICY) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    response = HttpResponse(body, content_type=content_type)
    response["Content-Security-Policy"] = csp
    response["X-Content-Type-Options"] = "nosniff"
    # The Dashboard tells the page who opened it only through the Referer's origin.
    response["Referrer-Policy"] = "strict-origin-when-cross-origin"
    return response


@cache
def _asset(name: str) -> str:
    return files(__package__).joinpath("pages_assets", *name.split("/")).read_text(encoding="utf-8")


@lru_cache(maxsize=32)
def _page(name: str, root: str) -> str:
    return _asset("page.html").format(title=escape(PAGES[name]), page=escape(name or "overview"), assets=escape(root))
