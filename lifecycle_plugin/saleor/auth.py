"""Who is calling the plugin's GraphQL endpoint, from Saleor's own tokens.

The plugin's URL route has no authentication middleware (SALEOR_NOTES §6), so the
request is authenticated here with Saleor's functions: a user JWT through
``load_user_from_request`` (which also checks the token key and the password-login
mode), a 30-character app token through Saleor's app loader.
"""

from __future__ import annotations

import jwt
from saleor.core.auth import get_token_from_request
from saleor.core.auth_backend import load_user_from_request
from saleor.core.jwt import is_saleor_token
from saleor.graphql.app.dataloaders.utils import get_app_promise
from saleor.permission.enums import AccountPermissions

from ..graphql.viewer import AuthError, Viewer


def authenticate(request) -> Viewer:
    token = get_token_from_request(request)
    if not token:
        return Viewer.anonymous()
    if not hasattr(request, "dataloaders"):
        request.dataloaders = {}  # Saleor's loaders cache per request on this attribute
    if is_saleor_token(token):
        try:
            user = load_user_from_request(request)
        except jwt.PyJWTError as exc:
            raise AuthError(f"The access token was refused: {exc}") from exc
        if user is None or not user.is_active:
            raise AuthError("The access token belongs to no active user.")
        if user.is_staff:
            return Viewer.staff(user.pk, user.email,
                                can_manage_users=user.has_perm(AccountPermissions.MANAGE_USERS))
        return Viewer.customer(user.pk, user.email)
    app = get_app_promise(request).get()
    if app is None:
        raise AuthError("The token is neither a Saleor access token nor an active app's token.")
    return Viewer.app(can_manage_users=app.has_perm(AccountPermissions.MANAGE_USERS))
