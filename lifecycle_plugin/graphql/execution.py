"""Run one GraphQL request for a viewer: parse, limit, validate, check variables, execute, format.

This is the transport-independent entry point; `views.graphql_view` wraps it in
HTTP, and the Saleor plugin's ``webhook()`` calls that view.

Every step before execution is bounded by the limits in limits.py, measured before
validation because graphql-core's validation is itself quadratic in the number of
same-named fields and recursive in the nesting of fragments; variables are checked
against the spec's coercion of built-in scalars (variables.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from graphql import parse, validate
from graphql.error import GraphQLError, GraphQLSyntaxError
from graphql.execution import execute
from graphql.execution.middleware import MiddlewareManager
from graphql.type.definition import GraphQLNonNull

from . import limits
from .context import EngineFactory, GraphQLContext
from .errors import (
    BAD_REQUEST,
    BAD_USER_INPUT,
    GRAPHQL_PARSE_FAILED,
    GRAPHQL_VALIDATION_FAILED,
    INTERNAL_SERVER_ERROR,
    QUERY_TOO_COMPLEX,
    LifecycleError,
    format_error,
    request_error,
)
from .schema import schema
from .variables import variable_errors
from .viewer import Viewer

logger = logging.getLogger(__name__)


class ExpectedErrors:
    """graphql-core middleware: a LifecycleError becomes a null field plus an error.

    graphql-core logs every exception a resolver raises as a bug, with its traceback.
    A permission error or a bad argument is not a bug, so it is taken off that path
    and reported through the context instead. Non-null fields keep the executor's own
    handling (the null must bubble up to the parent).
    """

    def resolve(self, next_resolver: Any, root: Any, info: Any, **arguments: Any) -> Any:
        try:
            return next_resolver(root, info, **arguments)
        except LifecycleError as error:
            if isinstance(info.return_type, GraphQLNonNull):
                raise
            info.context.add_error(error, info)
            return None


def execute_graphql(
    request_body: Mapping[str, Any], viewer: Viewer, *, engine_factory: EngineFactory | None = None
) -> dict[str, Any]:
    """Execute ``{"query", "variables", "operationName"}`` as `viewer`; return the response body.

    Never raises for anything the client sent: every problem is an entry of
    ``errors`` with ``extensions.code``. ``data`` is absent when the request could not
    be executed at all (bad body, syntax, limits, validation, variables).

    :param engine_factory: makes the engine (host, settings, clock); defaults to
        `lifecycle_plugin.runtime.get_engine`. Tests and the sandbox pass their own.
    """
    if not isinstance(request_body, Mapping):
        return {"errors": [request_error(BAD_REQUEST, "The request body must be a JSON object with a query.")]}
    query = request_body.get("query")
    variables = request_body.get("variables")
    operation_name = request_body.get("operationName")
    if not isinstance(query, str) or not query.strip():
        return {"errors": [request_error(BAD_REQUEST, "Send the GraphQL document as the string 'query'.")]}
    if variables is not None and not isinstance(variables, Mapping):
        return {"errors": [request_error(BAD_REQUEST, "'variables' must be a JSON object.")]}
    if operation_name is not None and not isinstance(operation_name, str):
        return {"errors": [request_error(BAD_REQUEST, "'operationName' must be a string.")]}
    max_length = limits.MAX_QUERY_LENGTH
    if len(query) > max_length:
        message = f"The query is {len(query):,} characters long; at most {max_length:,} are allowed."
        return {"errors": [request_error(QUERY_TOO_COMPLEX, message, maxQueryLength=max_length)]}
    variables = dict(variables or {})

    # graphql-core's parser recurses once per nesting level: 20,000 characters of
    # "{ a " nest deeper than Python allows. The limits keep validation far from
    # that, but a RecursionError anywhere here is the client's error, not a 500.
    try:
        document = parse(query)
    except GraphQLSyntaxError as error:
        return {"errors": [format_error(error, phase="parse")]}
    except RecursionError:
        return {"errors": [request_error(GRAPHQL_PARSE_FAILED, "The query nests too deep to be parsed.")]}
    try:
        invalid = limits.limit_errors(document) or validate(schema, document)
    except RecursionError:
        return {"errors": [request_error(GRAPHQL_VALIDATION_FAILED, "The query nests too deep to be validated.")]}
    if invalid:
        return {"errors": [format_error(error, phase="validate") for error in invalid]}
    bad_variables = variable_errors(document, operation_name, variables)
    if bad_variables:
        return {"errors": [format_error(error, phase="variables") for error in bad_variables]}

    context = GraphQLContext(viewer, engine_factory)
    try:
        result = execute(
            schema,
            document,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
            # Not wrapped in promises: the middleware must see a resolver's exception as raised.
            middleware=MiddlewareManager(ExpectedErrors(), wrap_in_promise=False),
        )
    except GraphQLError as error:  # variables that do not fit, an unknown operationName
        return {"errors": [format_error(error, phase="variables")]}
    except (ValueError, TypeError) as error:
        # graphql-core 2 lets some coercions fail with a bare exception ("many" as an Int);
        # resolver errors never get here, the executor catches those.
        message = f"A variable's value does not fit its type: {error}"
        return {"errors": [request_error(BAD_USER_INPUT, message)]}
    except Exception:
        # Resolvers' exceptions are caught by the executor; one that escapes it is a
        # bug, answered as a GraphQL error rather than an HTTP 500.
        logger.exception("The GraphQL executor failed outside any resolver")
        return {"errors": [request_error(INTERNAL_SERVER_ERROR, "Internal server error.")]}

    response: dict[str, Any] = {"data": result.data}
    errors = [*context.errors, *(result.errors or [])]
    if errors:
        response["errors"] = [format_error(error, phase="execute") for error in errors]
    return response
