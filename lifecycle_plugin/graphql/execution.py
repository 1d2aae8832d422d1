"""Run one GraphQL request for a viewer: parse, validate, limit depth, execute, format.

This is the transport-independent entry point; `views.graphql_view` wraps it in
HTTP, and the Saleor plugin's ``webhook()`` calls that view.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import parse, validate
from graphql.error import GraphQLError, GraphQLSyntaxError
from graphql.execution import execute
from graphql.execution.middleware import MiddlewareManager
from graphql.language import ast
from graphql.type.definition import GraphQLNonNull

from .context import EngineFactory, GraphQLContext
from .errors import BAD_REQUEST, BAD_USER_INPUT, QUERY_TOO_DEEP, LifecycleError, format_error, request_error
from .schema import schema
from .viewer import Viewer

#: The deepest nesting of fields a query may have. Introspection (``__schema``, ``__type``)
#: has its own limits (see `depth_errors`), so GraphiQL's introspection query works.
MAX_QUERY_DEPTH = 10


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
    be executed at all (bad body, syntax, validation, depth, variables).

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

    try:
        document = parse(query)
    except GraphQLSyntaxError as error:
        return {"errors": [format_error(error, phase="parse")]}
    invalid = validate(schema, document)
    if invalid:
        return {"errors": [format_error(error, phase="validate") for error in invalid]}
    too_deep = depth_errors(document, MAX_QUERY_DEPTH)
    if too_deep:
        return {"errors": [format_error(error, phase="validate") for error in too_deep]}

    context = GraphQLContext(viewer, engine_factory)
    try:
        result = execute(
            schema,
            document,
            context_value=context,
            variable_values=dict(variables or {}),
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

    response: dict[str, Any] = {"data": result.data}
    errors = [*context.errors, *(result.errors or [])]
    if errors:
        response["errors"] = [format_error(error, phase="execute") for error in errors]
    return response


# ---------------------------------------------------------------------- depth limit


def depth_errors(
    document: ast.Document, max_depth: int, max_introspection_depth: int | None = None
) -> list[GraphQLError]:
    """One QUERY_TOO_DEEP error per operation that nests too deep.

    Fields of the schema may nest `max_depth` deep. Introspection (``__schema``,
    ``__type``) is measured on its own, because GraphiQL's standard introspection
    query alone is 12 or more deep: up to `max_introspection_depth`, and no introspection
    field may repeat on its own path (``ofType`` excepted), which refuses the cyclic
    ``fields { type { fields { type ... } } }`` queries whose size grows
    exponentially with depth. Runs after validation, so every fragment exists and
    none spreads itself.
    """
    if max_introspection_depth is None:
        max_introspection_depth = MAX_INTROSPECTION_DEPTH
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, ast.FragmentDefinition)
    }
    errors = []
    for definition in document.definitions:
        if not isinstance(definition, ast.OperationDefinition):
            continue
        walk = _DepthWalk(fragments)
        walk.selections(definition.selection_set, 0, None)
        name = definition.name.value if definition.name else "The query"
        problem = None
        if walk.deepest > max_depth:
            problem = f"{name} nests fields {walk.deepest} deep; at most {max_depth} are allowed."
        elif walk.introspection_deepest > max_introspection_depth:
            problem = (
                f"{name} nests introspection {walk.introspection_deepest} deep; "
                f"at most {max_introspection_depth} are allowed."
            )
        elif walk.repeated_introspection:
            problem = f"{name} nests the introspection field {walk.repeated_introspection!r} inside itself."
        if problem:
            errors.append(
                GraphQLError(
                    problem,
                    nodes=[definition],
                    extensions={"code": QUERY_TOO_DEEP, "maxDepth": max_depth, "depth": walk.deepest},
                )
            )
    return errors


#: How deep introspection may nest. GraphiQL's query needs 12 to 16 (its type references
#: nest `ofType` 7 to 10 times, by version); `ofType` chains cost one object per level.
MAX_INTROSPECTION_DEPTH = 20


class _DepthWalk:
    def __init__(self, fragments: dict[str, ast.FragmentDefinition]):
        self.fragments = fragments
        self.deepest = 0
        self.introspection_deepest = 0
        self.repeated_introspection: str | None = None

    def selections(self, selection_set: ast.SelectionSet | None, depth: int, introspection: tuple | None) -> None:
        """Walk one selection set at `depth`; `introspection` is the path inside __schema/__type."""
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, ast.InlineFragment):
                self.selections(selection.selection_set, depth, introspection)
            elif isinstance(selection, ast.FragmentSpread):
                self.selections(self.fragments[selection.name.value].selection_set, depth, introspection)
            elif isinstance(selection, ast.Field):
                self.field(selection, depth, introspection)

    def field(self, field: ast.Field, depth: int, introspection: tuple | None) -> None:
        name = field.name.value
        if introspection is None and name.startswith("__"):
            if name != "__typename":  # a leaf anywhere
                self.introspection(field, (name,))
            return
        if introspection is not None:
            if name in introspection and name != "ofType":
                self.repeated_introspection = self.repeated_introspection or name
            self.introspection(field, (*introspection, name))
            return
        self.deepest = max(self.deepest, depth + 1)
        self.selections(field.selection_set, depth + 1, None)

    def introspection(self, field: ast.Field, path: tuple) -> None:
        self.introspection_deepest = max(self.introspection_deepest, len(path))
        self.selections(field.selection_set, 0, path)
