"""GraphiQL's scripts and style for the sandbox's explorer page, served from the package.

Vendored at pinned versions (scripts/vendor.json, with their licences beside them), so
the explorer works offline; nothing is loaded from a CDN.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from django.http import Http404, HttpRequest, HttpResponse

VENDORED = {
    "react/react.production.min.js": "text/javascript; charset=utf-8",
    "react-dom/react-dom.production.min.js": "text/javascript; charset=utf-8",
    "graphiql/graphiql.min.js": "text/javascript; charset=utf-8",
    "graphiql/graphiql.min.css": "text/css; charset=utf-8",
}


def vendor_view(request: HttpRequest, name: str) -> HttpResponse:
    if name not in VENDORED:
        raise Http404("No such file.")
    response = HttpResponse(_read(name), content_type=VENDORED[name])
    response["Cache-Control"] = "public, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@cache
def _read(name: str) -> bytes:
    return files(__package__).joinpath("static", "vendor", *name.split("/")).read_bytes()
