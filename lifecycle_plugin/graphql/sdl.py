"""Print the schema as SDL, with descriptions (graphql-core 2's printer drops them).

Two forms from one printer:

- the full schema (``schema.graphql``, checked in and drift-tested), what a client
  of this endpoint sees;
- the federation v1 subgraph SDL served by ``_service { sdl }``: without the
  federation plumbing (``_Any``, ``_Entity``, ``_Service``, ``_entities``, ``_service``)
  and with Saleor's User written as an extension of the entity keyed by ``id`` (its
  fields described, the extension itself not: the spec has no description on extensions).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from graphql.language.printer import print_ast
from graphql.type.definition import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
)
from graphql.utils.ast_from_value import ast_from_value

from .types import SALEOR_USER_TYPE

BUILTIN_SCALARS = frozenset({"String", "Boolean", "Int", "Float", "ID"})
FEDERATION_TYPES = frozenset({"_Any", "_Entity", "_Service"})
FEDERATION_QUERY_FIELDS = frozenset({"_entities", "_service"})
#: Fields of the User entity that Saleor owns; this subgraph only references them.
EXTERNAL_USER_FIELDS = frozenset({"id"})


def print_sdl(schema: Any, *, federation: bool = False) -> str:
    blocks = []
    for name, graphql_type in sorted(schema.get_type_map().items()):
        if name.startswith("__") or name in BUILTIN_SCALARS:
            continue
        if federation and name in FEDERATION_TYPES:
            continue
        blocks.append(_print_type(graphql_type, schema, federation))
    return "\n\n".join(blocks) + "\n"


@lru_cache(maxsize=4)
def federation_sdl(schema: Any) -> str:
    """`schema` as a federation subgraph shows itself to a gateway; printed once per schema."""
    return print_sdl(schema, federation=True)


def _description(text: str | None, indent: str = "") -> str:
    if not text:
        return ""
    text = text.strip().replace('"""', '\\"""')
    if "\n" not in text:
        return f'{indent}"""{text}"""\n'
    body = "\n".join(f"{indent}{line}" if line.strip() else "" for line in text.splitlines())
    return f'{indent}"""\n{body}\n{indent}"""\n'


def _deprecated(item: Any) -> str:
    reason = getattr(item, "deprecation_reason", None)
    if reason is None:
        return ""
    return f" @deprecated(reason: {print_ast(ast_from_value(reason))})"


def _input_value(name: str, value: Any) -> str:
    default = ""
    if value.default_value is not None:
        default = " = " + print_ast(ast_from_value(value.default_value, value.type))
    return f"{name}: {value.type}{default}"


def _arguments(field: Any) -> str:
    if not field.args:
        return ""
    if not any(arg.description for arg in field.args.values()):
        return "(" + ", ".join(_input_value(name, arg) for name, arg in field.args.items()) + ")"
    lines = [
        _description(arg.description, "    ") + f"    {_input_value(name, arg)}" for name, arg in field.args.items()
    ]
    return "(\n" + "\n".join(lines) + "\n  )"


def _fields(graphql_type: Any, *, skip: frozenset = frozenset(), external: frozenset = frozenset()) -> str:
    lines = []
    for name, field in graphql_type.fields.items():
        if name in skip:
            continue
        directive = " @external" if name in external else ""
        lines.append(
            _description(field.description, "  ")
            + f"  {name}{_arguments(field)}: {field.type}{directive}{_deprecated(field)}"
        )
    return "\n".join(lines)


def _print_type(graphql_type: Any, schema: Any, federation: bool) -> str:
    head = _description(graphql_type.description)
    name = graphql_type.name
    if isinstance(graphql_type, GraphQLScalarType):
        return f"{head}scalar {name}"
    if isinstance(graphql_type, GraphQLObjectType):
        if federation and name == SALEOR_USER_TYPE:
            # The spec allows no description before an extension (graphql-js and so every
            # Apollo gateway refuse to parse one); User is described by Saleor, its owner.
            fields = _fields(graphql_type, external=EXTERNAL_USER_FIELDS)
            return f'extend type {name} @key(fields: "id") {{\n{fields}\n}}'
        skip = FEDERATION_QUERY_FIELDS if federation and graphql_type is schema.get_query_type() else frozenset()
        interfaces = graphql_type.interfaces
        implements = f" implements {' & '.join(i.name for i in interfaces)}" if interfaces else ""
        return f"{head}type {name}{implements} {{\n{_fields(graphql_type, skip=skip)}\n}}"
    if isinstance(graphql_type, GraphQLInterfaceType):
        return f"{head}interface {name} {{\n{_fields(graphql_type)}\n}}"
    if isinstance(graphql_type, GraphQLUnionType):
        return f"{head}union {name} = {' | '.join(t.name for t in graphql_type.types)}"
    if isinstance(graphql_type, GraphQLEnumType):
        values = "\n".join(
            _description(value.description, "  ") + f"  {value.name}{_deprecated(value)}"
            for value in graphql_type.values
        )
        return f"{head}enum {name} {{\n{values}\n}}"
    assert isinstance(graphql_type, GraphQLInputObjectType), graphql_type
    fields = "\n".join(
        _description(field.description, "  ") + f"  {_input_value(field_name, field)}"
        for field_name, field in graphql_type.fields.items()
    )
    return f"{head}input {name} {{\n{fields}\n}}"
