"""The sandbox's authentication: signed bearer tokens for sandbox accounts.

It plugs into the GraphQL view the way the Saleor binding's auth does
(saleor/auth.py): `sandbox_graphql_view` hands `authenticate_sandbox_request` to
`graphql.views.graphql_view`, so graphql/ knows nothing of the sandbox.

Saleor issues JWTs; the sandbox has no token endpoint, so it signs the account's id
with Django's ``SECRET_KEY`` (``django.core.signing``, which also timestamps it), a
random key kept per data folder (sandbox/secret_key.py). Tokens are made only by code
on the machine (`lifecycle-sandbox serve` prints two), never over HTTP::

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
from django.http import HttpRequest, HttpResponse, JsonResponse

from ..graphql.errors import PERMISSION_DENIED, request_error
from ..graphql.viewer import AuthError, Viewer
from ..graphql.views import allowed_origins, graphql_view

#: Kept from the module's old place (graphql/sandbox_auth.py): tokens already printed stay valid.
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
        # A superuser stands in for MANAGE_PLUGINS, as on the sandbox's pages (sandbox/dashboard.py).
        return Viewer.staff(user.pk, user.email, can_manage_users=user.has_perm(MANAGE_USERS_PERMISSION),
                            can_manage_plugins=user.is_superuser)
    return Viewer.customer(user.pk, user.email)


def sandbox_graphql_view(request: HttpRequest) -> HttpResponse:
    """The sandbox's GraphQL endpoint, with GraphiQL for a browser's GET.

    A POST from a page of another origin is refused before anything runs, unless
    that origin is allowed (``serve --cors-origin``). Browsers send ``Origin`` with
    every cross-origin POST, a plain form's too; a client outside a browser sends
    none and is let through (it can read the answer anyway).
    """
    origin = request.headers.get("Origin")
    if request.method == "POST" and origin is not None and not _same_origin(request, origin):
        if origin not in allowed_origins():
            message = f"Requests from pages on {origin} are not allowed; see lifecycle-sandbox serve --cors-origin."
            return JsonResponse({"errors": [request_error(PERMISSION_DENIED, message)]}, status=403)
    return graphql_view(request, authenticate_sandbox_request, graphiql=True)


def _same_origin(request: HttpRequest, origin: str) -> bool:
    # get_host() checks the Host header against ALLOWED_HOSTS (a bad one is a 400).
    return origin == f"{request.scheme}://{request.get_host()}"
