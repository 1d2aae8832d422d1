"""How big a query may be, measured before validation.

graphql-core's validation is itself quadratic in the number of same-named fields and
recursive in the nesting of fragments, so every query is measured against these
limits first (`limit_errors`), by a walk that is bounded itself. The constants are
read at call time (`QueryLimits.in_force`): tests patch them on this module.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace

from graphql.error import GraphQLError
from graphql.language import ast

from .errors import QUERY_TOO_COMPLEX, QUERY_TOO_DEEP

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
