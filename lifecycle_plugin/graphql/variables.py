"""Variables checked the way the GraphQL spec coerces built-in scalars, before execution.

graphql-core 2 is looser than the spec (it truncates 2.5 to the Int 2, reads "7" as
an Int); `variable_errors` refuses what the spec refuses, as BAD_USER_INPUT.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from graphql.error import GraphQLError
from graphql.language import ast
from graphql.type.definition import GraphQLInputObjectType, GraphQLList, GraphQLNonNull, GraphQLScalarType
from graphql.utils.type_from_ast import type_from_ast

from .errors import BAD_USER_INPUT
from .schema import schema

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
