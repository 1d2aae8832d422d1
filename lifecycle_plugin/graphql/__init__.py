"""The lifecycle GraphQL API (graphene 2, Apollo Federation v1 subgraph).

For a server binding, three names matter:

- `Viewer` and `AuthError` (``viewer.py``): turn a request into the caller;
- `execute_graphql(request_body, viewer)` (``execution.py``): run one request;
- `graphql_view(request, authenticate)` (``views.py``): the same over HTTP.

All three can be imported from this package; the schema behind them loads on first
use, so importing the package needs no Django app registry.
"""

from .viewer import Authenticate, AuthError, Viewer

__all__ = ["AuthError", "Authenticate", "Viewer", "execute_graphql", "graphql_view", "schema"]

_LAZY = {"execute_graphql": ".execution", "graphql_view": ".views", "schema": ".schema"}


def __getattr__(name: str):
    # The schema imports the models, so it loads on first use, after Django is set up.
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
