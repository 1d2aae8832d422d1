"""The sandbox's authentication: signed bearer tokens for sandbox accounts.

Saleor issues JWTs; the sandbox has no token endpoint, so it signs the account's id
with Django's ``SECRET_KEY`` (``django.core.signing``, which also timestamps it)::

    Authorization: Bearer <issue_sandbox_token(user)>

A token is valid for ``LIFECYCLE_SANDBOX_TOKEN_MAX_AGE`` seconds (default 3600).
The viewer it gives mirrors the Saleor binding:

- an active non-staff account is a customer;
- an active staff account (``is_staff``) is staff, and holds MANAGE_USERS when it has
  Django's ``auth.change_user`` permission (superusers have every permission): the
  sandbox's stand-in for Saleor's ``AccountPermissions.MANAGE_USERS``.

The sandbox has no apps; ``Viewer.app`` is exercised through `execute_graphql`.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.http import HttpRequest, HttpResponse

from .viewer import AuthError, Viewer

TOKEN_SALT = "lifecycle_plugin.graphql.sandbox_token"
DEFAULT_TOKEN_MAX_AGE = 3600
#: The sandbox's equivalent of Saleor's MANAGE_USERS permission.
MANAGE_USERS_PERMISSION = "auth.change_user"


def issue_sandbox_token(user) -> str:
    """A bearer token for a sandbox account (print it for `lifecycle-sandbox serve` users)."""
    return signing.dumps({"user_id": user.pk}, salt=TOKEN_SALT)


def token_max_age() -> int:
    return int(getattr(settings, "LIFECYCLE_SANDBOX_TOKEN_MAX_AGE", DEFAULT_TOKEN_MAX_AGE))


def authenticate_sandbox_request(request: HttpRequest) -> Viewer:
    """The viewer of a sandbox request; anonymous without an Authorization header."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return Viewer.anonymous()
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("Send the token as 'Authorization: Bearer <token>'.")
    try:
        payload = signing.loads(token, salt=TOKEN_SALT, max_age=token_max_age())
    except signing.SignatureExpired:
        raise AuthError("The access token has expired; get a new one.") from None
    except signing.BadSignature:
        raise AuthError("The access token is not valid for this server.") from None
    user_id = payload.get("user_id") if isinstance(payload, dict) else None
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first() if user_id else None
    if user is None:
        raise AuthError("The access token's account does not exist or is inactive.")
    if user.is_staff:
        return Viewer.staff(user.pk, user.email, can_manage_users=user.has_perm(MANAGE_USERS_PERMISSION))
    return Viewer.customer(user.pk, user.email)


def sandbox_graphql_view(request: HttpRequest) -> HttpResponse:
    """The sandbox's GraphQL endpoint, with GraphiQL for a browser's GET."""
    from .views import graphql_view

    return graphql_view(request, authenticate_sandbox_request, graphiql=True)
