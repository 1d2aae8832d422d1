"""The HTTP side: a Django view over `execute_graphql`, with an optional GraphiQL page.

HTTP status: every well-formed GraphQL request is answered ``200`` with
``application/json``, errors included; bad credentials too (``errors[0].extensions.code
== "UNAUTHENTICATED"``, plus a ``WWW-Authenticate`` header). That follows the
GraphQL-over-HTTP convention for ``application/json`` and lets a federation gateway
pass the coded error on next to Saleor's data instead of failing the whole
query on a transport error. Only a request that is not GraphQL at all gets a 4xx
(unsupported method 405, body not JSON 400, wrong content type 415; the sandbox's
view also refuses a POST from another origin with 403, see sandbox/auth.py).

GraphiQL is served on GET only where `graphiql` is set: the sandbox. Saleor's route
does not serve it (its GET is a 405 like any other method but POST).
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse

from .context import EngineFactory
from .errors import BAD_REQUEST, request_error
from .execution import execute_graphql
from .viewer import Authenticate, AuthError

#: What a cross-origin page may send: GraphQL goes by POST (GraphiQL's GET is same-origin).
ALLOWED_METHODS = "POST, OPTIONS"
#: Request headers a browser storefront may send (Saleor's own API accepts the same).
ALLOWED_HEADERS = "Origin, Content-Type, Accept, Authorization, Authorization-Bearer"


def graphql_view(
    request: HttpRequest,
    authenticate: Authenticate,
    *,
    graphiql: bool = False,
    engine_factory: EngineFactory | None = None,
) -> HttpResponse:
    """Serve the lifecycle schema for one request.

    :param authenticate: turns the request into a `Viewer`; raises `AuthError` for
        credentials that are present but bad. It is called only for POST requests.
    :param graphiql: answer a browser's GET with the GraphiQL explorer.
    :param engine_factory: see `execute_graphql`.

    POST a JSON object ``{"query": ..., "variables": {...}, "operationName": ...}``.
    """
    if request.method == "OPTIONS":  # a browser's CORS preflight
        return _cors(request, HttpResponse(status=204))
    if request.method == "GET":
        if graphiql:
            return _cors(request, HttpResponse(graphiql_page(request.path), content_type="text/html; charset=utf-8"))
        message = "Send GraphQL requests with POST; this endpoint serves no GraphiQL page."
        return _cors(request, _error_response(405, message, Allow="POST, OPTIONS"))
    if request.method != "POST":
        allow = "GET, POST, OPTIONS" if graphiql else "POST, OPTIONS"
        return _cors(request, _error_response(405, f"{request.method} is not supported; use POST.", Allow=allow))

    content_type = request.content_type or ""
    if content_type != "application/json":
        return _cors(request, _error_response(415, "Send the request body as application/json."))
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return _cors(request, _error_response(400, "The request body is not valid JSON."))
    except RecursionError:  # the json module recurses into nested arrays and objects
        return _cors(request, _error_response(400, "The request body nests too deep."))

    try:
        viewer = authenticate(request)
    except AuthError as error:
        response = JsonResponse({"data": None, "errors": [request_error(error.code, error.message)]})
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return _cors(request, response)

    result = execute_graphql(body, viewer, engine_factory=engine_factory)
    return _cors(request, JsonResponse(result, encoder=DjangoJSONEncoder))


def _error_response(status: int, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"errors": [request_error(BAD_REQUEST, message)]}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def allowed_origins() -> list[str]:
    """The origins of ``ALLOWED_GRAPHQL_ORIGINS`` (a list, or a comma-separated text)."""
    allowed: Any = getattr(settings, "ALLOWED_GRAPHQL_ORIGINS", "*")
    if isinstance(allowed, str):
        allowed = allowed.split(",")
    return [origin.strip() for origin in allowed if origin.strip()]


def _cors(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Let browser storefronts on other origins call the endpoint.

    Uses Saleor's own ``ALLOWED_GRAPHQL_ORIGINS`` setting (default "*"), so this
    endpoint answers the same origins as Saleor's API. Credentials travel in the
    Authorization header, never in cookies, so "*" does not expose a session. The
    sandbox's settings allow no other origin unless ``serve --cors-origin`` names one.
    """
    allowed = allowed_origins()
    origin = request.headers.get("Origin")
    if "*" in allowed:
        response["Access-Control-Allow-Origin"] = "*"
    elif origin and origin in allowed:
        response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin"
    else:
        return response
    response["Access-Control-Allow-Methods"] = ALLOWED_METHODS
    response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response["Access-Control-Max-Age"] = "86400"
    return response


# The page loads GraphiQL from the sandbox's own vendored copies (sandbox/graphiql.py,
# pinned in scripts/vendor.json): nothing comes from a CDN, so it works offline.
GRAPHIQL_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Lifecycle GraphQL</title>
  <link rel="icon" href="data:,">
  <style>body {{ margin: 0; height: 100vh; }} #graphiql {{ height: 100vh; }}</style>
  <link rel="stylesheet" href="/static/vendor/graphiql/graphiql.min.css">
</head>
<body>
  <div id="graphiql">Loading GraphiQL&hellip;</div>
  <script src="/static/vendor/react/react.production.min.js"></script>
  <script src="/static/vendor/react-dom/react-dom.production.min.js"></script>
  <script src="/static/vendor/graphiql/graphiql.min.js"></script>
  <script>
    const fetcher = GraphiQL.createFetcher({{ url: {endpoint} }});
    const defaultHeaders = JSON.stringify({{ Authorization: "Bearer <token>" }}, null, 2);
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, {{
        fetcher,
        headers: defaultHeaders,
        isHeadersEditorEnabled: true,
        shouldPersistHeaders: true,
        defaultEditorToolsVisibility: "headers",
        defaultQuery: "# Put a token in the Headers tab below, then run:\\n" +
          "query {{\\n  myLifecycle {{\\n    stage {{ code label since }}\\n    tier {{ code }}\\n" +
          "    tierProgress {{ nextTier {{ code label }} remaining {{ amount currency }} }}\\n  }}\\n}}\\n",
      }})
    );
  </script>
</body>
</html>
"""


def graphiql_page(endpoint: str) -> str:
    # The endpoint becomes a JavaScript string literal: json.dumps quotes it, and an
    # escaped "<" keeps a "</script>" in the path from closing the tag.
    return GRAPHIQL_PAGE.format(endpoint=json.dumps(endpoint).replace("<", "\\u003c"))
