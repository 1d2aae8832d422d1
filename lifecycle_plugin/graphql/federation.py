"""Apollo Federation v1 subgraph support, written by hand for graphene 2.

Saleor's schema is a federation v1 subgraph in which ``User`` is an entity keyed by
``id`` (Saleor's global ID). This schema extends that entity with a ``lifecycle``
field, so a gateway composing both answers ``me { email lifecycle { stage { code } } }``
in one query: it fetches ``me.id`` from Saleor and then asks this subgraph for
``_entities(representations: [{__typename: "User", id: ...}])``.

What the spec asks of a v1 subgraph, and where it is:

- ``scalar _Any``, ``union _Entity = User``, ``type _Service { sdl: String }``: below;
- ``Query._entities(representations: [_Any!]!): [_Entity]!`` and
  ``Query._service: _Service!``: `FederationQuery`, mixed into the schema's Query;
- ``_service { sdl }`` returns the schema without that plumbing, with
  ``extend type User @key(fields: "id") { id: ID! @external ... }``
  (`lifecycle_plugin.graphql.sdl.print_sdl(federation=True)`).

The registry's graphene federation package targets graphene 3 in its maintained
line; the little that is needed here is simpler to own than an unmaintained pin.
"""

from __future__ import annotations

from typing import Any

import graphene
from graphene.types.generic import GenericScalar

from .errors import PAGE_TOO_LARGE, LifecycleError, bad_input, permission_denied, unauthenticated
from .resolvers import decode_user_id, profiles_of_users
from .types import SALEOR_USER_TYPE, CustomerLifecycle

#: Like Saleor's FEDERATED_QUERY_MAX_ENTITIES: the most representations per request,
#: counted over every ``_entities`` field of it (aliases are no way around it).
MAX_ENTITIES = 100


class _Any(GenericScalar):
    """A representation of an entity: ``{"__typename": "User", "id": "<Saleor user ID>"}``."""

    class Meta:
        name = "_Any"


class _Service(graphene.ObjectType):
    """The subgraph's SDL, for a federation gateway."""

    class Meta:
        name = "_Service"

    sdl = graphene.String()

    @staticmethod
    def resolve_sdl(root: Any, info: Any) -> str:
        from .sdl import federation_sdl

        # The schema being executed, so this module need not import the schema that includes it.
        return federation_sdl(info.schema)


class UserReference:
    """A Saleor account this subgraph was asked about, with its profile loaded."""

    def __init__(self, global_id: str, pk: int, profile: Any):
        self.global_id = global_id
        self.pk = pk
        self.profile = profile


class User(graphene.ObjectType):
    """Saleor's User, extended with the customer's lifecycle (a federation entity keyed by `id`)."""

    class Meta:
        name = SALEOR_USER_TYPE

    id = graphene.ID(required=True, description="Saleor's global ID of the account.")
    lifecycle = graphene.Field(
        CustomerLifecycle,
        description="The customer's lifecycle; null when the engine has not seen them yet. "
        "A customer may read only their own; MANAGE_USERS staff and apps anyone's.",
    )

    @staticmethod
    def resolve_id(reference: UserReference, info: Any) -> str:
        return reference.global_id

    @staticmethod
    def resolve_lifecycle(reference: UserReference, info: Any) -> Any:
        # _entities checked this already; a second check costs nothing and keeps the
        # field safe if it is ever reached another way.
        if not info.context.viewer.may_read_user(reference.pk):
            raise permission_denied("You may read only your own lifecycle.")
        return reference.profile


class _Entity(graphene.Union):
    class Meta:
        name = "_Entity"
        types = (User,)

    @classmethod
    def resolve_type(cls, instance: Any, info: Any) -> type:
        return User


class FederationQuery(graphene.ObjectType):
    entities = graphene.Field(
        graphene.NonNull(graphene.List(_Entity)),
        name="_entities",
        representations=graphene.Argument(graphene.NonNull(graphene.List(graphene.NonNull(_Any)))),
    )
    service = graphene.Field(graphene.NonNull(_Service), name="_service")

    @staticmethod
    def resolve_service(root: Any, info: Any) -> _Service:
        return _Service()

    @staticmethod
    def resolve_entities(root: Any, info: Any, representations: list[Any]) -> list[UserReference | None]:
        """One entry per representation, in order; null (with an error) where refused.

        Permissions follow Saleor's own ``User`` resolution: a customer resolves only
        themselves, MANAGE_USERS staff and apps anyone. All profiles load in one query.
        """
        context = info.context
        asked = context.entities_asked + len(representations)
        if asked > MAX_ENTITIES:
            context.add_error(
                LifecycleError(
                    PAGE_TOO_LARGE,
                    f"At most {MAX_ENTITIES} representations per request, got {asked} "
                    "(counting every _entities field of the request).",
                    {"maxEntities": MAX_ENTITIES},
                ),
                info,
            )
            return [None] * len(representations)
        context.entities_asked = asked

        viewer = context.viewer
        wanted: dict[int, tuple[str, int]] = {}
        for index, representation in enumerate(representations):
            try:
                global_id, pk = _user_key(representation)
            except LifecycleError as error:
                context.add_error(error, info, index)
                continue
            if not viewer.is_authenticated:
                context.add_error(unauthenticated("Sign in to read a customer's lifecycle."), info, index)
            elif not viewer.may_read_user(pk):
                context.add_error(permission_denied("You may read only your own lifecycle."), info, index)
            else:
                wanted[index] = (global_id, pk)

        profiles = profiles_of_users([pk for _, pk in wanted.values()]) if wanted else {}
        return [
            UserReference(wanted[index][0], wanted[index][1], profiles.get(wanted[index][1]))
            if index in wanted
            else None
            for index in range(len(representations))
        ]


def _user_key(representation: Any) -> tuple[str, int]:
    if not isinstance(representation, dict):
        raise bad_input("A representation must be an object with __typename and id.")
    typename = representation.get("__typename")
    if typename != SALEOR_USER_TYPE:
        raise bad_input(f"This subgraph resolves only User entities, not {typename!r}.")
    global_id = representation.get("id")
    if not isinstance(global_id, str):
        raise bad_input("A User representation needs its id (Saleor's global ID).")
    return global_id, decode_user_id(global_id, "id")
