"""Run one GraphQL request for a viewer: parse, limit, validate, check variables, execute, format.

This is the transport-independent entry point; `views.graphql_view` wraps it in
HTTP, and the Saleor plugin's ``webhook()`` calls that view.

Every step before execution is bounded by the limits below, measured before
validation because graphql-core's validation is itself quadratic in the number of
same-named fields and recursive in the nesting of fragments.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from graphql import parse, validate
from graphql.error import GraphQLError, GraphQLSyntaxError
from graphql.execution import execute
from graphql.execution.middleware import MiddlewareManager
from graphql.language import ast
from graphql.type.definition import (
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
)
from graphql.utils.type_from_ast import type_from_ast

from .context import EngineFactory, GraphQLContext
from .errors import (
    BAD_REQUEST,
    BAD_USER_INPUT,
    GRAPHQL_PARSE_FAILED,
    GRAPHQL_VALIDATION_FAILED,
    INTERNAL_SERVER_ERROR,
    QUERY_TOO_COMPLEX,
    QUERY_TOO_DEEP,
    LifecycleError,
    format_error,
    request_error,
)
from .schema import schema
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
    if len(query) > MAX_QUERY_LENGTH:
        message = f"The query is {len(query):,} characters long; at most {MAX_QUERY_LENGTH:,} are allowed."
        return {"errors": [request_error(QUERY_TOO_COMPLEX, message, maxQueryLength=MAX_QUERY_LENGTH)]}
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
        invalid = limit_errors(document) or validate(schema, document)
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


# ---------------------------------------------------------------------- variables

def _scalar_problem(type_name: str, value: Any) -> str | None:
    """What the spec's input coercion of a built-in scalar refuses in `value`, or None.

    graphql-core 2 is looser: it truncates 2.5 to the Int 2, reads "7" as an Int and
    "false" as the Boolean true, and raises a bare Exception for an Int over 32 bits.
    """
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if type_name == "Int":
        whole = number and (isinstance(value, int) or value.is_integer())
        if not (whole and -(2**31) <= value < 2**31):
            return "an Int is a whole number from -2147483648 to 2147483647"
    elif type_name == "Float":
        try:
            finite = number and math.isfinite(value)
        except OverflowError:  # JSON integers have no size limit
            finite = False
        if not finite:
            return "a Float is a finite number"
    elif type_name == "String" and not isinstance(value, str):
        return "a String is a JSON string"
    elif type_name == "Boolean" and not isinstance(value, bool):
        return "a Boolean is true or false"
    elif type_name == "ID" and not (isinstance(value, str) or (number and isinstance(value, int))):
        return "an ID is a string or an integer"
    return None


def variable_errors(
    document: ast.Document, operation_name: str | None, variables: Mapping[str, Any]
) -> list[GraphQLError]:
    """BAD_USER_INPUT errors for variables whose built-in scalars do not meet the spec's input coercion.

    Everything else about variables (missing, null in a non-null, unknown input
    fields, enums) graphql-core checks well when it executes.
    """
    operation = _operation(document, operation_name)
    if operation is None:
        return []  # the executor reports an unknown or ambiguous operation
    errors = []
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        value = variables.get(name)
        variable_type = type_from_ast(schema, definition.type)
        problem = _input_problem(value, variable_type) if variable_type is not None else None
        if problem:
            shown = json.dumps(value, default=str)
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            errors.append(
                GraphQLError(
                    f"Variable \"${name}\" got invalid value {shown}: {problem}.",
                    nodes=[definition],
                    extensions={"code": BAD_USER_INPUT},
                )
            )
    return errors


def _operation(document: ast.Document, operation_name: str | None) -> ast.OperationDefinition | None:
    operations = [d for d in document.definitions if isinstance(d, ast.OperationDefinition)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == operation_name), None)


def _input_problem(value: Any, input_type: Any) -> str | None:
    if isinstance(input_type, GraphQLNonNull):
        input_type = input_type.of_type
    if value is None:
        return None  # graphql-core refuses a null where it is not allowed
    if isinstance(input_type, GraphQLList):
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            problem = _input_problem(item, input_type.of_type)
            if problem:
                return f"at [{index}], {problem}"
        return None
    if isinstance(input_type, GraphQLInputObjectType):
        if not isinstance(value, Mapping):
            return None  # graphql-core refuses it
        for field_name, field in input_type.fields.items():
            problem = _input_problem(value.get(field_name), field.type)
            if problem:
                return f"at {field_name}, {problem}"
        return None
    if isinstance(input_type, GraphQLScalarType):
        return _scalar_problem(input_type.name, value)
    return None


# ---------------------------------------------------------------------- limits

#: The deepest nesting of fields a query may have. Introspection (``__schema``, ``__type``)
#: is measured on its own (`MAX_INTROSPECTION_DEPTH`), so GraphiQL's introspection query works.
MAX_QUERY_DEPTH = 10
#: How deep introspection may nest. GraphiQL's query needs 12 to 16 (its type references
#: nest `ofType` 7 to 10 times, by version); `ofType` chains cost one object per level.
MAX_INTROSPECTION_DEPTH = 20
#: The most selections (fields, fragment spreads, inline fragments) an operation may
#: make once its fragments are inlined. GraphiQL's introspection query makes about 200,
#: a page of customers with every field about 100. Validation compares same-named
#: fields pairwise, so this also bounds its cost.
MAX_SELECTIONS = 500
#: The most aliased fields per operation, fragments inlined. Every alias is one more
#: resolution of a field; without a limit one request can ask for the same expensive
#: field hundreds of times.
MAX_ALIASES = 30
#: The most introspection fields (``__schema``, ``__type``) per operation, fragments
#: inlined. Each resolves the whole schema: GraphiQL's query takes about 80 ms and
#: needs one; thirty aliased copies of it took seconds without a token.
MAX_INTROSPECTIONS = 3
#: How deep fragments (spread or inline) may nest in one another. They add no field
#: depth, so this is what bounds the measuring walk's recursion, and graphql-core's.
MAX_FRAGMENT_NESTING = 30
#: The longest query text, in characters. Parsing is linear but slow in pure Python
#: (about 0.5 MB/s); the longest realistic query is a few kilobytes.
MAX_QUERY_LENGTH = 20_000


@dataclass(frozen=True)
class QueryLimits:
    """The limits a query is measured against (see the constants above)."""

    depth: int
    introspection_depth: int
    selections: int
    aliases: int
    introspections: int
    fragment_nesting: int

    @classmethod
    def in_force(cls, **changes: int) -> QueryLimits:
        """The module's limits, read at call time (tests patch them), with `changes`."""
        limits = cls(
            depth=MAX_QUERY_DEPTH,
            introspection_depth=MAX_INTROSPECTION_DEPTH,
            selections=MAX_SELECTIONS,
            aliases=MAX_ALIASES,
            introspections=MAX_INTROSPECTIONS,
            fragment_nesting=MAX_FRAGMENT_NESTING,
        )
        return replace(limits, **changes)


def limit_errors(document: ast.Document, limits: QueryLimits | None = None) -> list[GraphQLError]:
    """One QUERY_TOO_DEEP or QUERY_TOO_COMPLEX error per operation over a limit.

    Fields of the schema may nest `limits.depth` deep. Introspection (``__schema``,
    ``__type``) is measured on its own, because GraphiQL's standard introspection
    query alone is 12 or more deep: up to `limits.introspection_depth`, and no
    introspection field may repeat on its own path (``ofType`` excepted), which
    refuses the cyclic ``fields { type { fields { type ... } } }`` queries whose
    answer grows exponentially with depth. Selections and aliases are counted as if
    every fragment were inlined.

    Runs before validation, so it must survive what validation would refuse: an
    unknown fragment counts as empty, and so does a spread of a fragment inside itself.
    Each fragment is measured once per context (inside introspection or not) and the
    measure stops at the first limit passed, so a query of fragments that each spread
    the previous one twice costs a few steps per fragment, not two to the power of
    their number.
    """
    limits = limits or QueryLimits.in_force()
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, ast.FragmentDefinition)
    }
    measure = _Measure(fragments, limits)
    errors = []
    for definition in document.definitions:
        if not isinstance(definition, ast.OperationDefinition):
            continue
        try:
            measure.selection_set(definition.selection_set, 0, None)
        except _OverLimit as over:
            name = definition.name.value if definition.name else "The query"
            errors.append(GraphQLError(f"{name} {over.problem}", nodes=[definition], extensions=over.extensions))
    return errors


class _OverLimit(Exception):
    def __init__(self, problem: str, code: str, **extensions: int):
        super().__init__(problem)
        self.problem = problem
        self.extensions = {"code": code, **extensions}


@dataclass(frozen=True)
class _Shape:
    """What a selection set costs, relative to where it is used."""

    selections: int = 0
    aliases: int = 0
    #: ``__schema`` and ``__type`` fields (each starts an introspection path).
    introspections: int = 0
    #: Schema fields nested below (introspection not counted).
    depth: int = 0
    #: The longest introspection path below: inside introspection relative to the
    #: path above, outside it the whole path (introspection starts at ``__schema``).
    introspection_depth: int = 0
    #: Introspection fields below, ``ofType`` excepted, for the no-repeat rule.
    names: frozenset[str] = frozenset()


class _Measure:
    """Measures selection sets against `QueryLimits`, raising `_OverLimit` at the first one passed.

    The walk knows where it is (`depth` schema fields above, the introspection `path`
    above), so it stops as soon as the part it has seen is over a limit; what it
    returns is relative, so a fragment's shape is kept and reused wherever it is spread.
    """

    def __init__(self, fragments: dict[str, ast.FragmentDefinition], limits: QueryLimits):
        self.fragments = fragments
        self.limits = limits
        self.shapes: dict[tuple[str, bool], _Shape] = {}
        #: The named fragments being measured, outermost first.
        self.spreading: list[str] = []
        #: Fragments (named or inline) around the selection being measured. Fields are
        #: bounded top-down by the depth limits, fragments by this one, so the walk's
        #: recursion stays far from Python's limit.
        self.fragment_nesting = 0

    def selection_set(self, selection_set: ast.SelectionSet | None, depth: int, path: tuple | None) -> _Shape:
        """Measure `selection_set` below `depth` schema fields; `path` is the introspection path, or None."""
        selections = aliases = introspections = deepest = introspection_deepest = 0
        names: frozenset[str] = frozenset()
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, ast.Field):
                shape = self.field(selection, depth, path)
            elif isinstance(selection, ast.InlineFragment):
                with self.fragment():
                    shape = self.selection_set(selection.selection_set, depth, path)
            else:
                shape = self.spread(selection.name.value, depth, path)
            selections += 1 + shape.selections
            aliases += shape.aliases
            introspections += shape.introspections
            deepest = max(deepest, shape.depth)
            introspection_deepest = max(introspection_deepest, shape.introspection_depth)
            names |= shape.names
            self.check_counts(selections, aliases, introspections)
        return _Shape(selections, aliases, introspections, deepest, introspection_deepest, names)

    def field(self, field: ast.Field, depth: int, path: tuple | None) -> _Shape:
        name = field.name.value
        aliases = 1 if field.alias else 0
        if path is None and name == "__typename":  # a leaf anywhere
            return _Shape(aliases=aliases)
        if path is None and not name.startswith("__"):
            self.check_depth(depth + 1)
            below = self.selection_set(field.selection_set, depth + 1, None)
            return replace(below, aliases=below.aliases + aliases, depth=below.depth + 1)
        # Introspection: __schema or __type starts a path, every field below extends it.
        starts = path is None
        if path and name != "ofType" and name in path:
            raise _OverLimit(f"nests the introspection field {name!r} inside itself.", QUERY_TOO_DEEP)
        path = (name,) if starts else (*path, name)
        self.check_introspection_depth(len(path))
        below = self.selection_set(field.selection_set, depth, path)
        return _Shape(
            selections=below.selections,
            aliases=below.aliases + aliases,
            introspections=1 if starts else 0,
            introspection_depth=below.introspection_depth + 1,
            names=below.names | {name} if name != "ofType" else below.names,
        )

    def spread(self, name: str, depth: int, path: tuple | None) -> _Shape:
        key = (name, path is not None)
        shape = self.shapes.get(key)
        if shape is None:
            definition = self.fragments.get(name)
            if definition is None or name in self.spreading:
                return _Shape()  # validation refuses an unknown fragment or a cycle
            with self.fragment(name):
                shape = self.shapes[key] = self.selection_set(definition.selection_set, depth, path)
        # A kept shape was measured elsewhere: check it where it is spread now.
        self.check_depth(depth + shape.depth)
        if path is not None:
            self.check_introspection_depth(len(path) + shape.introspection_depth)
            repeated = shape.names.intersection(path)
            if repeated:
                raise _OverLimit(f"nests the introspection field {min(repeated)!r} inside itself.", QUERY_TOO_DEEP)
        return shape

    @contextmanager
    def fragment(self, name: str | None = None):
        """Measure inside a fragment (a named one, or inline when `name` is None)."""
        if self.fragment_nesting >= self.limits.fragment_nesting:
            raise _OverLimit(
                f"nests fragments more than {self.limits.fragment_nesting} deep.",
                QUERY_TOO_DEEP,
                maxFragmentNesting=self.limits.fragment_nesting,
            )
        self.fragment_nesting += 1
        if name:
            self.spreading.append(name)
        try:
            yield
        finally:
            self.fragment_nesting -= 1
            if name:
                self.spreading.pop()

    def check_depth(self, depth: int) -> None:
        if depth > self.limits.depth:
            limit = self.limits.depth
            raise _OverLimit(f"nests fields more than {limit} deep.", QUERY_TOO_DEEP, maxDepth=limit)

    def check_introspection_depth(self, depth: int) -> None:
        if depth > self.limits.introspection_depth:
            raise _OverLimit(
                f"nests introspection more than {self.limits.introspection_depth} deep.",
                QUERY_TOO_DEEP,
                maxDepth=self.limits.depth,
                maxIntrospectionDepth=self.limits.introspection_depth,
            )

    def check_counts(self, selections: int, aliases: int, introspections: int) -> None:
        if selections > self.limits.selections:
            raise _OverLimit(
                f"makes more than {self.limits.selections} selections (fields and fragments, fragments inlined).",
                QUERY_TOO_COMPLEX,
                maxSelections=self.limits.selections,
            )
        if aliases > self.limits.aliases:
            raise _OverLimit(
                f"uses more than {self.limits.aliases} aliases (fragments inlined).",
                QUERY_TOO_COMPLEX,
                maxAliases=self.limits.aliases,
            )
        if introspections > self.limits.introspections:
            raise _OverLimit(
                f"asks for __schema or __type more than {self.limits.introspections} times (fragments inlined).",
                QUERY_TOO_COMPLEX,
                maxIntrospections=self.limits.introspections,
            )
