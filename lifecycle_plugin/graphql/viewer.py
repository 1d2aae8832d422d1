"""Who is calling: the interface between an authentication scheme and the schema.

The schema never reads tokens or requests. Whoever serves it turns the request
into a `Viewer` first:

- the Saleor binding: a customer JWT gives ``Viewer.customer``; a staff JWT gives
  ``Viewer.staff`` with ``can_manage_users=user.has_perm(AccountPermissions.MANAGE_USERS)``;
  an app token gives ``Viewer.app`` with ``app.has_perm(AccountPermissions.MANAGE_USERS)``;
- the sandbox: a signed token (``lifecycle_plugin.sandbox.auth``).

A token that is present but bad (expired, forged, for an unknown or inactive user)
must raise `AuthError`: the caller gets an UNAUTHENTICATED error, never the
anonymous view, so a client with a stale token learns why it sees nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from django.http import HttpRequest

ViewerKind = Literal["customer", "staff", "app", "anonymous"]
VIEWER_KINDS = ("customer", "staff", "app", "anonymous")


class AuthError(Exception):
    """The request carries credentials that cannot be accepted.

    ``code`` becomes ``extensions.code`` of the GraphQL error.
    """

    def __init__(self, message: str, code: str = "UNAUTHENTICATED"):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Viewer:
    """The authenticated caller of one GraphQL request.

    :param kind: "customer" (a shopper's own token), "staff" (a Dashboard user),
        "app" (a Saleor app token) or "anonymous" (no credentials).
    :param user_id: the account's primary key (Saleor: ``account.User.pk``) for
        customers and staff; None for apps and anonymous callers.
    :param email: the account's e-mail, for customers and staff.
    :param can_manage_users: the caller holds MANAGE_USERS (staff or app). It opens
        the staff API and lets the caller read any customer's lifecycle.
    :param can_manage_plugins: the caller holds MANAGE_PLUGINS, which changing the
        plugin's settings needs (set by the Dashboard pages' app tokens).
    """

    kind: ViewerKind
    user_id: int | None = None
    email: str | None = None
    can_manage_users: bool = False
    can_manage_plugins: bool = False

    def __post_init__(self) -> None:
        if self.kind not in VIEWER_KINDS:
            raise ValueError(f"Viewer kind must be one of {', '.join(VIEWER_KINDS)}, got {self.kind!r}")
        if self.kind in ("customer", "staff") and self.user_id is None:
            raise ValueError(f"a {self.kind} viewer needs the account's user_id")
        if self.kind in ("customer", "anonymous") and (self.can_manage_users or self.can_manage_plugins):
            raise ValueError(f"a {self.kind} viewer cannot hold MANAGE_USERS or MANAGE_PLUGINS; use kind='staff'")
        if self.kind in ("app", "anonymous") and self.user_id is not None:
            raise ValueError(f"a {self.kind} viewer has no user account")

    @classmethod
    def anonymous(cls) -> Viewer:
        return cls("anonymous")

    @classmethod
    def customer(cls, user_id: int, email: str | None = None) -> Viewer:
        return cls("customer", user_id=user_id, email=email)

    @classmethod
    def staff(cls, user_id: int, email: str | None = None, *, can_manage_users: bool,
              can_manage_plugins: bool = False) -> Viewer:
        return cls("staff", user_id=user_id, email=email, can_manage_users=can_manage_users,
                   can_manage_plugins=can_manage_plugins)

    @classmethod
    def app(cls, *, can_manage_users: bool) -> Viewer:
        return cls("app", can_manage_users=can_manage_users)

    @property
    def is_authenticated(self) -> bool:
        return self.kind != "anonymous"

    @property
    def has_account(self) -> bool:
        """Customers and staff have an account (and so a lifecycle of their own); apps do not."""
        return self.user_id is not None

    def may_read_user(self, user_id: int) -> bool:
        """A customer may read only themselves; MANAGE_USERS staff and apps anyone."""
        return self.can_manage_users or (self.has_account and self.user_id == user_id)


#: What a server passes to `graphql_view`: the request in, the caller out (or AuthError).
Authenticate = Callable[["HttpRequest"], Viewer]
