"""Errors with codes, and how every error becomes a GraphQL error object.

Each error a client can cause carries ``extensions.code``, so clients branch on a
code, not on message text. Codes:

==================  ==========================================================
UNAUTHENTICATED     no credentials where they are needed, or bad credentials
PERMISSION_DENIED   authenticated, but not allowed (e.g. no MANAGE_USERS)
NOT_FOUND           the customer asked for has no lifecycle profile
BAD_USER_INPUT      an argument is malformed (an ID, a cursor, a date range)
INVALID_CONFIG      candidate thresholds (what-if) or the plugin settings are invalid
QUERY_TOO_DEEP      fields or fragments nest deeper than the limits (limits.py)
QUERY_TOO_COMPLEX   too many selections or aliases, or too long a query (limits.py)
PAGE_TOO_LARGE      `first`/`last` or the number of entities is over the limit
UNAVAILABLE         the host cannot answer the field (the KPIs need its SQL), or a
                    delivery channel did not take a test message
RATE_LIMITED        too many requests of one kind (test sends: 20 an hour per sender)
BAD_REQUEST         the HTTP body is not a GraphQL request
GRAPHQL_PARSE_FAILED       the query is not valid GraphQL syntax
GRAPHQL_VALIDATION_FAILED  the query does not match the schema
INTERNAL_SERVER_ERROR      a bug; the message is hidden unless DEBUG is on
==================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from graphql.error import GraphQLError, GraphQLSyntaxError

UNAUTHENTICATED = "UNAUTHENTICATED"
PERMISSION_DENIED = "PERMISSION_DENIED"
NOT_FOUND = "NOT_FOUND"
BAD_USER_INPUT = "BAD_USER_INPUT"
INVALID_CONFIG = "INVALID_CONFIG"
QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
PAGE_TOO_LARGE = "PAGE_TOO_LARGE"
UNAVAILABLE = "UNAVAILABLE"
RATE_LIMITED = "RATE_LIMITED"
BAD_REQUEST = "BAD_REQUEST"
GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class LifecycleError(Exception):
    """An error the client caused or must be told about; never logged as a bug.

    :param details: more ``extensions`` entries (e.g. the invalid fields).
    """

    def __init__(self, code: str, message: str, details: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = dict(details or {})

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.details}


def unauthenticated(message: str = "Sign in: this field needs an access token.") -> LifecycleError:
    return LifecycleError(UNAUTHENTICATED, message)


def permission_denied(message: str) -> LifecycleError:
    return LifecycleError(PERMISSION_DENIED, message)


def bad_input(message: str, **details: Any) -> LifecycleError:
    return LifecycleError(BAD_USER_INPUT, message, details)


def located(error: LifecycleError, nodes: Any, path: list[Any]) -> GraphQLError:
    """A GraphQL error at a field, keeping the original for formatting."""
    graphql_error = GraphQLError(error.message, nodes=nodes, path=path, extensions=error.extensions)
    graphql_error.original_error = error
    return graphql_error


def request_error(code: str, message: str, **details: Any) -> dict[str, Any]:
    """An error about the request as a whole (no location, no path)."""
    return {"message": message, "extensions": {"code": code, **details}}


def format_error(error: Exception, *, phase: str) -> dict[str, Any]:
    """Turn any error from parsing, validation or execution into a GraphQL error object.

    :param phase: "parse", "validate", "variables" or "execute"; decides the code of
        errors that do not carry one.
    """
    original = getattr(error, "original_error", None) or error
    formatted: dict[str, Any] = {"message": str(error)}
    if isinstance(error, GraphQLError):
        if error.locations:
            formatted["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
        if error.path is not None:
            formatted["path"] = list(error.path)

    if isinstance(original, LifecycleError):
        formatted["message"] = original.message
        formatted["extensions"] = original.extensions
    elif isinstance(error, GraphQLSyntaxError):
        formatted["extensions"] = {"code": GRAPHQL_PARSE_FAILED}
    elif isinstance(error, GraphQLError) and error.extensions and "code" in error.extensions:
        formatted["extensions"] = dict(error.extensions)
    elif phase == "validate":
        formatted["extensions"] = {"code": GRAPHQL_VALIDATION_FAILED}
    elif phase == "variables":
        formatted["extensions"] = {"code": BAD_USER_INPUT}
    elif isinstance(original, GraphQLError):
        # Raised by the executor itself (a null in a non-null field): a bug, but its
        # message reveals nothing private.
        formatted["extensions"] = {"code": INTERNAL_SERVER_ERROR}
    else:
        # An unexpected exception from a resolver: graphql-core has logged it with its
        # traceback; the client gets no internals unless the server runs with DEBUG.
        if not settings.DEBUG:
            formatted["message"] = "Internal server error."
        formatted["extensions"] = {"code": INTERNAL_SERVER_ERROR}
    return formatted
